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


# A real user's profile data that another project's test kept (a Java test class, `MinappTest`, decrypting a
# getUserInfo payload of appid wx86dfbc2c131a5b8f): like WeChat's sample, its avatar is http on wx.qlogo.cn,
# and its unionId came with the data, not from jscode2session.
FIXTURE_APPID = "wx86dfbc2c131a5b8f"
FIXTURE_OPENID = "oDWH50ET2p9WQvV7XWu6qJk1D3Lc"
FIXTURE_SESSION_KEY = "ba1DGdsllAK3sRaH0HRqmg=="
FIXTURE_IV = "pw6omspmd8gIowRu2QICcA=="
FIXTURE_ENCRYPTED_DATA = (
    "fy1ryK0yf8fiH5YlGjF0wpCbxPOnfOJrsYbVcdP7DSDRxHvrgy9u+InFBum0OmBSaZ7QPWxmK8KINDVaWFqrAV/lOGBkbQDCfH+pYTTRL5Kc"
    "NgofHRTZapjWnr4oaBBpsxYFchUUoILpocjuolbxUDcLpRkUqePKdpELHampihROz0RBIe/dih8O3Axu2+K5Fp9c33o8c4PTU0vi5V9Vaz0q"
    "feQzOahsg3+JlDkXbgPRtfizaHkrCEFNmFkG/LQaVv910iVM2IXzIPJAxpa/JUA5pQWuZFAhEotu+fDDdFNxBSTnMLC2dZnfmo1zG1jpKSpo"
    "MVE9QaHpA2QTSt8DR9NWlvcl2qPPJcUZOyMNTtdJRT/4JYgjtcX6nc9g6er1hUbWirM3vE4IaK2gDpSvhonHa6oy4LIHwNucssOIAtQt6u60"
    "FES3GzgYNMunkSGDcD9eva4rt65T5PGO9NJY5hCxGRi8SwXkLYcFGLXkXZXmvZrr2hGO3LL/w34NQNgvvgrizKwjU6op3UNUCDi3nHMCauKV"
    "WXyo5qD1jCsFKzs="
)


def test_a_real_fixture_with_an_http_avatar_passes_login_with_data_decrypt_and_me():
    """The same path with real data from the field, this time also through a login that carries the data."""
    overrides = {"WATERMARK_MAX_AGE_SECONDS": "0"}
    with LocalStack(ports=Ports(0, 0, 0), app_id=FIXTURE_APPID, overrides=overrides, quiet=True) as stack:
        sim, api = stack.wechat.base_url + "/_sim/sessions", stack.api_url
        payload = {"encryptedData": FIXTURE_ENCRYPTED_DATA, "iv": FIXTURE_IV}
        session = {"openid": FIXTURE_OPENID, "session_key": FIXTURE_SESSION_KEY}
        requests.post(sim, json={"code": "fixture-1", **session}, timeout=5).raise_for_status()
        login = requests.post(api + "/v1/auth/login", json={"code": "fixture-1", **payload}, timeout=30)
        assert login.status_code == 200, login.text
        assert login.json()["profile"]["avatarUrl"].startswith("https://wx.qlogo.cn/mmopen/")
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        decrypt = requests.post(api + "/v1/profile/decrypt", headers=headers, json=payload, timeout=30)
        assert decrypt.status_code == 200, decrypt.text
        me = requests.get(api + "/v1/me", headers=headers, timeout=30).json()
    assert me["openid"] == FIXTURE_OPENID and me["profile"]["city"] == "Haidian"
    assert me["profile"]["avatarUrl"].startswith("https://wx.qlogo.cn/mmopen/vi_32/")
    # Its unionId came only with the data: kept as a claim, not as the user's unionid.
    assert me["unionid"] is None and me["claimedUnionid"] == "oEoEjwSkoftwsyyicEAJAU4vKMiE"
