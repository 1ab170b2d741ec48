"""Each kind of decrypted data has one exact shape; anything else is the one InvalidEncryptedData."""

from __future__ import annotations

import base64

import pytest

from local.wechat_simulator import DEFAULT_PROFILE, encrypt_user_data
from tests.cbc_forgery import Genuine
from wxlogin.errors import InvalidEncryptedData
from wxlogin.services.userdata import (
    EncryptedPayload,
    SessionIdentity,
    open_phone_data,
    open_profile_data,
    phone_fields,
    profile_data,
)

KEY = base64.b64encode(bytes(range(16))).decode()
APPID = "wx0123456789abcdef"
OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
UNIONID = "oUnion00000000000000000000000"
NOW = 1_800_000_000
WATERMARK = {"timestamp": NOW, "appid": APPID}
IDENTITY = SessionIdentity(APPID, OPENID, None, KEY)
PROFILE = {"openId": OPENID, **DEFAULT_PROFILE, "watermark": WATERMARK}
PHONE = {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "86", "watermark": WATERMARK}


def _refused(opener, *args):
    with pytest.raises(InvalidEncryptedData):
        opener(*args)


# ---------------------------------------------------------------------------------------------- profile


def test_a_genuine_profile_keeps_its_filled_in_fields_and_drops_empty_ones():
    data = profile_data(IDENTITY, {**PROFILE, "unionId": UNIONID, "city": "Shenzhen"})
    assert data.unionid == UNIONID
    assert data.fields == {
        "nickName": "微信用户",
        "avatarUrl": DEFAULT_PROFILE["avatarUrl"],
        "gender": 0,
        "city": "Shenzhen",
        "language": "zh_CN",
    }


@pytest.mark.parametrize("host", ["wx.qlogo.cn", "thirdwx.qlogo.cn", "WX.QLOGO.CN"])
def test_an_http_avatar_of_wechats_own_hosts_is_kept_as_https(host):
    """WeChat's decryption sample and older clients hand http avatars of its image hosts, served over https too."""
    data = profile_data(IDENTITY, {**PROFILE, "avatarUrl": f"http://{host}/mmopen/vi_32/a/0"})
    assert data.fields["avatarUrl"] == f"https://{host}/mmopen/vi_32/a/0"


def test_language_and_unionid_may_be_absent():
    data = profile_data(IDENTITY, {key: value for key, value in PROFILE.items() if key != "language"})
    assert "language" not in data.fields and data.unionid is None


@pytest.mark.parametrize("key", ["openId", "nickName", "gender", "country", "province", "city", "avatarUrl"])
def test_every_key_wechat_always_sends_is_required(key):
    _refused(profile_data, IDENTITY, {name: value for name, value in PROFILE.items() if name != key})


@pytest.mark.parametrize(
    "change",
    [
        {"openIe": OPENID},  # a key renamed through the iv
        {"phoneNumber": "13912345678"},
        {"is_demote": True},
        {"openId": "oSomeoneElse0000000000000000"},
        {"openId": None},
        {"unionId": ""},
        {"unionId": 5},
        {"unionId": "o\u0000union"},
        {"unionId": "x" * 65},
        {"gender": "XXXXX13800138000"},
        {"gender": True},
        {"gender": 1.0},
        {"gender": 3},
        {"gender": -1},
        {"gender": 10**400},
        {"avatarUrl": "//13800138000"},
        {"avatarUrl": "http://example.com/a.png"},
        {"avatarUrl": "http://qlogo.cn.example.com/a.png"},
        {"avatarUrl": "http://evilqlogo.cn/a.png"},
        {"avatarUrl": "http://user@wx.qlogo.cn/a.png"},
        {"avatarUrl": "javascript:alert(1)"},
        {"avatarUrl": 0},
        {"nickName": "x" * 65},
        {"nickName": "   "},
        {"nickName": "a\u0007b"},
        {"nickName": ["a"]},
        {"city": "\ud800abc"},
        {"city": "a\nb"},
        {"city": "x" * 65},
        {"city": {"nested": "object"}},
        {"language": None},
        {"country": 86},
    ],
)
def test_any_other_profile_shape_is_refused(change):
    _refused(profile_data, IDENTITY, {**PROFILE, **change})


def test_a_unionid_must_match_the_known_one():
    known = SessionIdentity(APPID, OPENID, UNIONID, KEY)
    assert profile_data(known, {**PROFILE, "unionId": UNIONID}).unionid == UNIONID
    _refused(profile_data, known, {**PROFILE, "unionId": "oUnionOther000000000000000000"})


# ---------------------------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    "number, pure, country",
    [
        ("13800138000", "13800138000", "86"),
        ("+8613800138000", "13800138000", "86"),
        ("+85261234567", "61234567", "852"),
        ("+852 61234567", "61234567", "852"),
        ("+1 415-555-0100", "4155550100", "1"),
        ("61234567", "61234567", "852"),
    ],
)
def test_phone_numbers_as_wechat_writes_them(number, pure, country):
    data = {"phoneNumber": number, "purePhoneNumber": pure, "countryCode": country, "watermark": WATERMARK}
    assert phone_fields(data) == {"phoneNumber": number, "purePhoneNumber": pure, "countryCode": country}


@pytest.mark.parametrize(
    "change",
    [
        {"phoneNumber": "13912345678"},  # not the pure number
        {"phoneNumber": "+4413800138000"},  # not this country code
        {"phoneNumber": "+86  13800138000"},
        {"phoneNumber": "+86 13800138000 "},
        {"phoneNumber": "+86-"},
        {"phoneNumber": "UfwVJJE"},
        {"phoneNumber": 13800138000},
        {"purePhoneNumber": "١٣٨٠٠١٣٨٠٠٠", "phoneNumber": "١٣٨٠٠١٣٨٠٠٠"},  # digits, but not ASCII ones
        {"purePhoneNumber": "", "phoneNumber": "+86"},
        {"countryCode": 86},  # a number only in WeChat's API answer
        {"countryCode": "+86"},
        {"countryCode": "86\ud800"},
        {"nickName": "x"},
        {"openId": OPENID},
    ],
)
def test_any_other_phone_shape_is_refused(change):
    _refused(phone_fields, {**PHONE, **change})


@pytest.mark.parametrize("key", ["phoneNumber", "purePhoneNumber", "countryCode", "watermark"])
def test_every_phone_key_is_required(key):
    _refused(phone_fields, {name: value for name, value in PHONE.items() if name != key})


def test_the_api_answer_may_give_the_country_code_as_a_number():
    assert phone_fields({**PHONE, "countryCode": 86}, country_code_may_be_number=True)["countryCode"] == "86"
    _refused(phone_fields, {**PHONE, "countryCode": True}, True)


# ---------------------------------------------------------------------------------------------- forgeries

SHAPED = [
    {"openId": OPENID, **DEFAULT_PROFILE, "unionId": UNIONID, "watermark": WATERMARK},
    {"openId": OPENID, **DEFAULT_PROFILE, "nickName": "nnnnnnnnnnn13912345678", "watermark": WATERMARK},
    {"openId": OPENID, **DEFAULT_PROFILE, "nickName": "nnnnnnnnnnn" + OPENID[5:], "watermark": WATERMARK},
    PHONE,
    {"phoneNumber": "+852 61234567", "purePhoneNumber": "61234567", "countryCode": "852", "watermark": WATERMARK},
]


@pytest.mark.parametrize("payload", SHAPED, ids=["profile", "nickname-number", "nickname-openid", "phone", "phone-hk"])
def test_every_cut_and_key_opens_as_nothing_or_the_genuine_data(payload):
    """Every start block, every key of either kind with every value opening, through both openers."""
    data, iv = encrypt_user_data(KEY, payload)
    genuine = Genuine.of({"encryptedData": data, "iv": iv}, KEY)
    if payload.get("nickName", "").startswith("n"):
        genuine.start_of(payload["nickName"][11:])  # the chosen part of the nickname starts a block
    profile = profile_data(IDENTITY, payload) if "openId" in payload else None
    phone = phone_fields(payload) if "phoneNumber" in payload else None
    tried = 0
    for start, chosen in genuine.forgeries(fills=(b" ", b"1")):
        forged = genuine.forge(start, chosen)
        encrypted = EncryptedPayload(base64.b64decode(forged["encryptedData"]), base64.b64decode(forged["iv"]))
        for opener, expected in ((open_profile_data, profile), (open_phone_data, phone)):
            try:
                assert opener(IDENTITY, encrypted, 300, NOW) == expected
            except InvalidEncryptedData:
                pass
        tried += 1
    assert tried >= 10
