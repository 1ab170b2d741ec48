"""WeChat's documented decrypt sample through the local stack, as an outside client sends it to `make run`.

Its own module: the sample's stack serves another appid, and one process holds one stack at a time.
"""

from __future__ import annotations

import requests

from local.stack import LocalStack, Ports

# WeChat's own example in "开放数据校验与解密" (encrypted data decryption), for appid wx4f4bc4dec97d474b:
# https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/signature.html
WECHAT_SAMPLE_APPID = "wx4f4bc4dec97d474b"
WECHAT_SAMPLE_OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
WECHAT_SAMPLE_SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
WECHAT_SAMPLE_IV = "r7BXXKkLb8qrSNn05n0qiA=="
WECHAT_SAMPLE_ENCRYPTED_DATA = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOE"
    "TKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJ"
    "Xwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrX"
    "d2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiK"
    "dYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)


def test_wechats_documented_decrypt_sample_passes_through_the_stack():
    """Login, decrypt and GET /v1/me with WeChat's own sample: its avatar is http (wx.qlogo.cn), which must not
    cost the user the profile; it is kept as https. Its watermark is from 2016, so the age check is off here."""
    overrides = {"WATERMARK_MAX_AGE_SECONDS": "0"}
    with LocalStack(ports=Ports(0, 0, 0), app_id=WECHAT_SAMPLE_APPID, overrides=overrides, quiet=True) as sample:
        session = {"code": "wechat-sample", "openid": WECHAT_SAMPLE_OPENID, "session_key": WECHAT_SAMPLE_SESSION_KEY}
        requests.post(sample.wechat.base_url + "/_sim/sessions", json=session, timeout=5).raise_for_status()
        login = requests.post(sample.api_url + "/v1/auth/login", json={"code": "wechat-sample"}, timeout=30)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        payload = {"encryptedData": WECHAT_SAMPLE_ENCRYPTED_DATA, "iv": WECHAT_SAMPLE_IV}
        decrypt = requests.post(sample.api_url + "/v1/profile/decrypt", headers=headers, json=payload, timeout=30)
        assert decrypt.status_code == 200, decrypt.text
        me = requests.get(sample.api_url + "/v1/me", headers=headers, timeout=30).json()
    assert me["openid"] == WECHAT_SAMPLE_OPENID
    assert me["profile"]["nickName"] == "Band" and me["profile"]["city"] == "Guangzhou"
    assert me["profile"]["avatarUrl"].startswith("https://wx.qlogo.cn/mmopen/")
