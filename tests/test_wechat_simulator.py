"""The WeChat simulator answers as WeChat does, and its dev routes drive it as a Mini Program would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from local.wechat_simulator import WeChatSimulator, encrypt_user_data

ROOT = Path(__file__).resolve().parents[1]
APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
OTHER_APPID = "wxfedcba9876543210"
OTHER_SECRET = "fedcba9876543210fedcba9876543210"
KEY = base64.b64encode(bytes(range(16))).decode()
OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
NOW = 1_800_000_000.0


class FakeClock:
    def __init__(self):
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sim(clock):
    with WeChatSimulator(apps={APPID: SECRET}, clock=clock) as simulator:
        yield simulator


def dev(sim, path: str, body: dict | None = None) -> dict:
    answer = requests.post(sim.base_url + path, json=body or {}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def exchange(sim, code, appid=APPID, secret=SECRET, grant_type="authorization_code") -> dict:
    params = {"appid": appid, "secret": secret, "js_code": code, "grant_type": grant_type}
    answer = requests.get(sim.base_url + "/sns/jscode2session", params=params, timeout=5)
    assert answer.status_code == 200
    return answer.json()


def register(sim, code="code-1", openid=OPENID, session_key=KEY, **extra) -> str:
    return dev(sim, "/_sim/sessions", {"code": code, "openid": openid, "session_key": session_key, **extra})["code"]


def login_code(sim, user="alice", appid=APPID, **extra) -> str:
    return dev(sim, "/_sim/login", {"appid": appid, "user": user, **extra})["code"]


def stable_token(sim, appid=APPID, secret=SECRET, force_refresh=False, grant_type="client_credential") -> dict:
    body = {"grant_type": grant_type, "appid": appid, "secret": secret, "force_refresh": force_refresh}
    return requests.post(sim.base_url + "/cgi-bin/stable_token", json=body, timeout=5).json()


def phone_number(sim, token, code, **body) -> dict:
    url = sim.base_url + "/wxa/business/getuserphonenumber"
    params = {"access_token": token} if token is not None else {}
    return requests.post(url, params=params, json={"code": code, **body}, timeout=5).json()


def check_session(sim, token, openid, session_key) -> dict:
    signature = hmac.new(session_key.encode(), b"", hashlib.sha256).hexdigest()
    params = {"access_token": token, "openid": openid, "signature": signature, "sig_method": "hmac_sha256"}
    return requests.get(sim.base_url + "/wxa/checksession", params=params, timeout=5).json()


def risk_rank(sim, token, user_openid, **change) -> dict:
    body = {"appid": APPID, "openid": user_openid, "scene": 0, "client_ip": "203.0.113.7", **change}
    body = {name: value for name, value in body.items() if value is not None}
    url = sim.base_url + "/wxa/getuserriskrank"
    return requests.post(url, params={"access_token": token}, json=body, timeout=5).json()


def stats(sim) -> dict:
    return requests.get(sim.base_url + "/_sim/stats", timeout=5).json()["calls"]


def decrypt(session_key: str, encrypted: str, iv: str) -> dict:
    decryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(base64.b64decode(iv))).decryptor()
    padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return json.loads(unpadder.update(padded) + unpadder.finalize())


def assert_errcode(answer: dict, errcode: int) -> None:
    assert answer["errcode"] == errcode, answer
    assert ", rid: " in answer["errmsg"]


# jscode2session


def test_exchange_answers_openid_and_session_key_only(sim):
    assert exchange(sim, register(sim)) == {"openid": OPENID, "session_key": KEY}  # no expires_in


def test_unionid_is_answered_only_when_registered(sim):
    answer = exchange(sim, register(sim, code="with-union", unionid="oUnion123"))
    assert answer == {"openid": OPENID, "session_key": KEY, "unionid": "oUnion123"}
    assert "unionid" not in exchange(sim, register(sim, code="without-union"))


@pytest.mark.parametrize(
    "change, errcode",
    [
        ({"secret": "f" * 32}, 40125),
        ({"appid": "wxunknown00000000"}, 40013),
        ({"grant_type": "client_credential"}, 40002),
        ({"code": ""}, 41008),
    ],
)
def test_app_and_request_errors(sim, change, errcode):
    code = register(sim)
    assert_errcode(exchange(sim, **({"code": code} | change)), errcode)
    assert exchange(sim, code)["openid"] == OPENID  # a rejected call leaves the code unused


def test_used_code_is_40163(sim):
    code = register(sim)
    exchange(sim, code)
    answer = exchange(sim, code)
    assert_errcode(answer, 40163)
    assert answer["errmsg"].startswith("code been used")


def test_unknown_code_and_code_of_another_app_are_40029(sim):
    assert_errcode(exchange(sim, "neverIssued"), 40029)
    code = register(sim, appid=OTHER_APPID)
    answer = exchange(sim, code)
    assert_errcode(answer, 40029)
    assert answer["errmsg"].startswith("invalid code, rid: ")


def test_code_expires_after_its_ttl(sim, clock):
    fresh, stale = register(sim, code="fresh"), register(sim, code="stale")
    clock.now += 300
    assert exchange(sim, fresh)["openid"] == OPENID
    clock.now += 1
    assert_errcode(exchange(sim, stale), 40029)


def test_login_openid_is_deterministic_and_session_key_rotates(sim):
    dev(sim, "/_sim/apps", {"appid": OTHER_APPID, "secret": OTHER_SECRET})
    first, second = exchange(sim, login_code(sim)), exchange(sim, login_code(sim))
    assert first["openid"] == second["openid"]
    assert len(first["openid"]) == 28 and first["openid"].startswith("o")
    assert first["session_key"] != second["session_key"]
    assert len(base64.b64decode(first["session_key"], validate=True)) == 16
    assert exchange(sim, login_code(sim, "bob"))["openid"] != first["openid"]
    other_app = exchange(sim, login_code(sim, appid=OTHER_APPID), appid=OTHER_APPID, secret=OTHER_SECRET)
    assert other_app["openid"] != first["openid"]
    assert set(first) == {"openid", "session_key"}


def test_login_unionid_only_when_asked_and_then_kept(sim):
    dev(sim, "/_sim/apps", {"appid": OTHER_APPID, "secret": OTHER_SECRET})
    assert "unionid" not in exchange(sim, login_code(sim))
    assert "unionid" not in exchange(sim, login_code(sim, unionid=False))
    derived = exchange(sim, login_code(sim, unionid=True))["unionid"]
    assert derived.startswith("o") and len(derived) == 28
    assert exchange(sim, login_code(sim))["unionid"] == derived  # kept once known
    other_app = exchange(sim, login_code(sim, appid=OTHER_APPID, unionid=True), appid=OTHER_APPID, secret=OTHER_SECRET)
    assert other_app["unionid"] == derived  # one unionid per user across the apps
    assert exchange(sim, login_code(sim, "bob", unionid="oGivenUnion"))["unionid"] == "oGivenUnion"


# user data


def test_profile_decrypts_with_the_current_key_and_its_signature_verifies(sim, clock):
    session = exchange(sim, login_code(sim))
    data = dev(
        sim,
        "/_sim/user-data",
        {"appid": APPID, "openid": session["openid"], "kind": "profile", "profile": {"city": "Shenzhen"}},
    )
    plain = decrypt(session["session_key"], data["encryptedData"], data["iv"])
    assert list(plain)[0] == "openId" and plain["openId"] == session["openid"]
    assert plain["nickName"] == "微信用户" and plain["city"] == "Shenzhen"
    assert plain["avatarUrl"].startswith("https://")
    assert plain["watermark"] == {"timestamp": int(NOW), "appid": APPID}
    assert "unionId" not in plain
    raw = json.loads(data["rawData"])
    assert raw == {k: v for k, v in plain.items() if k not in ("openId", "watermark")}
    expected = hashlib.sha1((data["rawData"] + session["session_key"]).encode(), usedforsecurity=False).hexdigest()
    assert data["signature"] == expected


def test_profile_options(sim):
    register(sim)
    data = dev(
        sim,
        "/_sim/user-data",
        {
            "openid": OPENID,
            "session_key": KEY,
            "unionid": "oUnionLater",
            "timestamp": 1_600_000_000,
            "watermark_appid": "wxsomeoneelse0000",
        },
    )
    plain = decrypt(KEY, data["encryptedData"], data["iv"])
    assert plain["unionId"] == "oUnionLater"
    assert plain["watermark"] == {"timestamp": 1_600_000_000, "appid": "wxsomeoneelse0000"}
    assert json.dumps(plain, ensure_ascii=False, separators=(",", ":")).startswith('{"openId":"' + OPENID)


def test_wx_login_rotates_the_key_at_once(sim):
    # Data fetched after wx.login decrypts with the key that login's code yields; another wx.login makes it stale.
    openid = exchange(sim, login_code(sim))["openid"]
    code = login_code(sim)
    data = dev(sim, "/_sim/user-data", {"openid": openid})
    session = exchange(sim, code)
    assert decrypt(session["session_key"], data["encryptedData"], data["iv"])["openId"] == openid
    login_code(sim)
    fresh = dev(sim, "/_sim/user-data", {"openid": openid})
    with pytest.raises(ValueError):
        decrypt(session["session_key"], fresh["encryptedData"], fresh["iv"])


def test_phone_kind(sim):
    register(sim)
    exchange(sim, "code-1")
    data = dev(sim, "/_sim/user-data", {"openid": OPENID, "kind": "phone"})
    assert set(data) == {"encryptedData", "iv"}
    plain = decrypt(KEY, data["encryptedData"], data["iv"])
    assert plain == {
        "phoneNumber": "13800138000",
        "purePhoneNumber": "13800138000",
        "countryCode": "86",
        "watermark": {"timestamp": int(NOW), "appid": APPID},
    }
    foreign = dev(sim, "/_sim/user-data", {"openid": OPENID, "kind": "phone", "phone": "+852 61234567"})
    plain = decrypt(KEY, foreign["encryptedData"], foreign["iv"])
    assert (plain["phoneNumber"], plain["purePhoneNumber"], plain["countryCode"]) == ("+85261234567", "61234567", "852")


def test_user_data_needs_a_key(sim):
    answer = requests.post(sim.base_url + "/_sim/user-data", json={"openid": "oNobody"}, timeout=5)
    assert answer.status_code == 404 and "error" in answer.json()
    data = dev(sim, "/_sim/user-data", {"openid": "oNobody", "session_key": KEY})
    assert decrypt(KEY, data["encryptedData"], data["iv"])["openId"] == "oNobody"


@pytest.mark.parametrize(
    "path, body",
    [
        ("/_sim/sessions", {"code": "c", "openid": OPENID}),
        ("/_sim/sessions", {"code": "c", "openid": OPENID, "session_key": base64.b64encode(bytes(24)).decode()}),
        ("/_sim/sessions", {"code": "c", "openid": OPENID, "session_key": "not base64!"}),
        ("/_sim/sessions", {"openid": OPENID, "session_key": KEY}),
        ("/_sim/login", {"appid": APPID}),
        ("/_sim/login", {"user": "alice", "unionid": 5}),
        ("/_sim/user-data", {"openid": OPENID, "session_key": KEY, "kind": "video"}),
        ("/_sim/user-data", {"openid": OPENID, "session_key": KEY, "timestamp": "1"}),
        ("/_sim/faults", {"mode": "explode"}),
        ("/_sim/faults", {"count": 0}),
        ("/_sim/phone-code", {"phone": "12-34"}),
        ("/_sim/apps", {"appid": APPID}),
    ],
)
def test_bad_dev_requests_are_400(sim, path, body):
    answer = requests.post(sim.base_url + path, json=body, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]


def test_bad_json_and_unknown_routes(sim):
    bad = requests.post(sim.base_url + "/_sim/sessions", data=b"{not json", timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]
    assert requests.post(sim.base_url + "/_sim/nope", json={}, timeout=5).status_code == 404
    missing = requests.get(sim.base_url + "/cgi-bin/token", timeout=5)
    assert missing.status_code == 404 and missing.json()["errcode"] == -1


# faults


def test_errcode_fault_leaves_the_code_usable(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"count": 2, "errcode": -1})
    assert_errcode(exchange(sim, code), -1)
    assert_errcode(exchange(sim, code), -1)
    assert exchange(sim, code)["openid"] == OPENID
    assert stats(sim)["jscode2session"] == 3


def test_faults_are_fifo_and_can_target_paths(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"errcode": 45011, "paths": ["/cgi-bin/stable_token"]})
    dev(sim, "/_sim/faults", {"errcode": 40226})
    dev(sim, "/_sim/faults", {"errcode": 40029})
    assert_errcode(exchange(sim, code), 40226)
    assert_errcode(stable_token(sim), 45011)
    assert_errcode(exchange(sim, code), 40029)
    assert exchange(sim, code)["openid"] == OPENID


def test_hang_answers_busy_after_its_seconds(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"mode": "hang", "seconds": 0.3})
    started = time.monotonic()
    assert_errcode(exchange(sim, code), -1)
    assert 0.3 <= time.monotonic() - started < 2
    assert exchange(sim, code)["openid"] == OPENID


def test_slow_answers_as_wechat_after_its_seconds(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"mode": "slow", "seconds": 0.3})
    started = time.monotonic()
    assert exchange(sim, code)["openid"] == OPENID
    assert 0.3 <= time.monotonic() - started < 2
    assert_errcode(exchange(sim, code), 40163)  # the slow answer spent the code


def test_hang_outlasting_the_client_timeout(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"mode": "hang", "seconds": 0.5})
    params = {"appid": APPID, "secret": SECRET, "js_code": code, "grant_type": "authorization_code"}
    with pytest.raises(requests.ReadTimeout):
        requests.get(sim.base_url + "/sns/jscode2session", params=params, timeout=(1, 0.1))
    time.sleep(0.5)  # the handler then writes to a closed socket, quietly
    assert exchange(sim, code)["openid"] == OPENID


def test_drop_closes_without_an_answer(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"mode": "drop"})
    with pytest.raises(requests.ConnectionError):
        exchange(sim, code)
    assert exchange(sim, code)["openid"] == OPENID


def test_http500_and_garbage(sim):
    dev(sim, "/_sim/faults", {"mode": "http500"})
    dev(sim, "/_sim/faults", {"mode": "garbage"})
    url = sim.base_url + "/sns/jscode2session"
    failed = requests.get(url, timeout=5)
    assert failed.status_code == 500 and failed.headers["Content-Type"].startswith("text/html")
    garbage = requests.get(url, timeout=5)
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()


def test_faults_spare_the_dev_routes(sim):
    dev(sim, "/_sim/faults", {"mode": "drop"})
    assert dev(sim, "/_sim/login", {"user": "alice"})["code"]
    assert stats(sim)["jscode2session"] == 0


def test_stop_releases_a_hang_at_once():
    simulator = WeChatSimulator(apps={APPID: SECRET}, quiet=True).start()
    base_url = simulator.base_url
    code = register(simulator)
    dev(simulator, "/_sim/faults", {"mode": "hang", "seconds": 30})
    outcome = []

    def call():
        try:
            outcome.append(exchange(simulator, code))
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    server_thread = simulator._thread  # other simulators of the session may be running: watch this one
    deadline = time.monotonic() + 5
    while stats(simulator)["jscode2session"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    simulator.stop()
    caller.join(timeout=5)
    assert not caller.is_alive() and time.monotonic() - started < 2
    assert outcome and (isinstance(outcome[0], Exception) or outcome[0]["errcode"] == -1)
    assert not server_thread.is_alive()
    simulator.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "/_sim/stats", timeout=1)


# access tokens, phone numbers, checksession


def test_stable_token_is_stable_until_forced(sim, clock):
    first = stable_token(sim)
    assert first["expires_in"] == 7200 and len(first["access_token"]) >= 120
    clock.now += 60
    again = stable_token(sim)
    assert again == {"access_token": first["access_token"], "expires_in": 7140}
    forced = stable_token(sim, force_refresh=True)
    assert forced["access_token"] != first["access_token"] and forced["expires_in"] == 7200
    register(sim)
    exchange(sim, "code-1")
    assert check_session(sim, first["access_token"], OPENID, KEY)["errcode"] == 0  # the old one lives 5 more min
    clock.now += 301
    assert_errcode(check_session(sim, first["access_token"], OPENID, KEY), 40001)
    assert check_session(sim, forced["access_token"], OPENID, KEY)["errcode"] == 0


def test_stable_token_renews_five_minutes_before_expiry(sim, clock):
    first = stable_token(sim)
    clock.now += 7200 - 300
    renewed = stable_token(sim)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200


@pytest.mark.parametrize(
    "change, errcode",
    [({"appid": "wxunknown00000000"}, 40013), ({"secret": "f" * 32}, 40125), ({"grant_type": "password"}, 40002)],
)
def test_stable_token_errors(sim, change, errcode):
    assert_errcode(stable_token(sim, **change), errcode)


def test_expired_tokens_are_40001(sim):
    token = stable_token(sim)["access_token"]
    assert dev(sim, "/_sim/tokens/expire", {"appid": APPID}) == {"expired": 1}
    code = dev(sim, "/_sim/phone-code", {"appid": APPID})["code"]
    assert_errcode(phone_number(sim, token, code), 40001)
    assert_errcode(phone_number(sim, None, code), 41001)
    fresh = stable_token(sim)["access_token"]
    assert fresh != token and phone_number(sim, fresh, code)["errcode"] == 0


def test_getuserphonenumber(sim, clock):
    token = stable_token(sim)["access_token"]
    code = dev(sim, "/_sim/phone-code", {"appid": APPID, "openid": OPENID, "phone": "13912345678"})["code"]
    answer = phone_number(sim, token, code)
    assert answer == {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": "13912345678",
            "purePhoneNumber": "13912345678",
            "countryCode": "86",
            "watermark": {"timestamp": int(NOW), "appid": APPID},
        },
    }
    assert_errcode(phone_number(sim, token, code), 40029)  # single use
    remembered = dev(sim, "/_sim/phone-code", {"appid": APPID, "openid": OPENID})["code"]
    assert phone_number(sim, token, remembered)["phone_info"]["purePhoneNumber"] == "13912345678"
    stale = dev(sim, "/_sim/phone-code", {})["code"]
    clock.now += 301
    assert_errcode(phone_number(sim, token, stale), 40029)


def test_a_phone_code_redeemed_with_another_users_openid_is_refused_and_stays_unused(sim):
    token = stable_token(sim)["access_token"]
    code = dev(sim, "/_sim/phone-code", {"appid": APPID, "openid": OPENID, "phone": "13912345678"})["code"]
    assert_errcode(phone_number(sim, token, code, openid="oSomeoneElse000000000000000"), 40029)
    assert_errcode(phone_number(sim, token, code, openid=""), 40097)
    # The owner still redeems it: the refused attempt did not spend it.
    assert phone_number(sim, token, code, openid=OPENID)["phone_info"]["purePhoneNumber"] == "13912345678"
    # A code made for a user named as /_sim/login names them is bound to that user's openid.
    login = exchange(sim, dev(sim, "/_sim/login", {"appid": APPID, "user": "carol"})["code"])
    named = dev(sim, "/_sim/phone-code", {"appid": APPID, "user": "carol"})["code"]
    assert_errcode(phone_number(sim, token, named, openid=OPENID), 40029)
    assert phone_number(sim, token, named, openid=login["openid"])["errcode"] == 0
    # A code made for nobody belongs to no openid.
    assert_errcode(
        phone_number(sim, token, dev(sim, "/_sim/phone-code", {"appid": APPID})["code"], openid=OPENID), 40029
    )


def test_phone_code_of_another_app_is_40013(sim):
    token = stable_token(sim)["access_token"]
    code = dev(sim, "/_sim/phone-code", {"appid": OTHER_APPID})["code"]
    assert_errcode(phone_number(sim, token, code), 40013)


def test_checksession(sim):
    token = stable_token(sim)["access_token"]
    session = exchange(sim, login_code(sim))
    assert check_session(sim, token, session["openid"], session["session_key"]) == {"errcode": 0, "errmsg": "ok"}
    assert_errcode(check_session(sim, token, session["openid"], KEY), 87009)
    exchange(sim, login_code(sim))  # a new login retires the old key
    assert_errcode(check_session(sim, token, session["openid"], session["session_key"]), 87009)
    assert_errcode(check_session(sim, token, "oNobody", KEY), 87009)


def test_checksession_signs_with_the_key_text_as_wechat_documents(sim):
    # WeChat's documented example: hmac_sha256(key = the session_key's base64 text, message = "").
    token = stable_token(sim)["access_token"]
    exchange(sim, register(sim, session_key="o0q0otL8aEzpcZL/FT9WsQ=="))
    expected = hmac.new(b"o0q0otL8aEzpcZL/FT9WsQ==", b"", hashlib.sha256).hexdigest()
    params = {"access_token": token, "openid": OPENID, "signature": expected, "sig_method": "hmac_sha256"}
    assert requests.get(sim.base_url + "/wxa/checksession", params=params, timeout=5).json()["errcode"] == 0
    decoded = hmac.new(base64.b64decode("o0q0otL8aEzpcZL/FT9WsQ=="), b"", hashlib.sha256).hexdigest()
    params["signature"] = decoded  # keyed with the decoded bytes: not what WeChat checks
    assert_errcode(requests.get(sim.base_url + "/wxa/checksession", params=params, timeout=5).json(), 87009)
    params["sig_method"] = "sha1"
    assert_errcode(requests.get(sim.base_url + "/wxa/checksession", params=params, timeout=5).json(), 40097)


def test_getuserriskrank_answers_the_rank_a_test_chose(sim, clock):
    token = stable_token(sim)["access_token"]
    session = exchange(sim, login_code(sim, user="bob"))
    answer = risk_rank(sim, token, session["openid"])
    assert answer["errcode"] == 0 and answer["errmsg"] == "getuserriskrank succ" and answer["risk_rank"] == 0
    assert isinstance(answer["unoin_id"], int)  # WeChat's spelling
    assert dev(sim, "/_sim/risk-rank", {"openid": session["openid"], "rank": 4}) == {
        "openid": session["openid"],
        "rank": 4,
    }
    assert risk_rank(sim, token, session["openid"])["risk_rank"] == 4


def test_getuserriskrank_refuses_a_user_not_seen_in_two_hours(sim, clock):
    token = stable_token(sim)["access_token"]
    session = exchange(sim, login_code(sim, user="carol"))
    clock.now += 2 * 3600 - 1
    assert risk_rank(sim, token, session["openid"])["errcode"] == 0
    clock.now += 2
    token = stable_token(sim)["access_token"]
    assert_errcode(risk_rank(sim, token, session["openid"]), 61010)
    exchange(sim, login_code(sim, user="carol"))  # used the Mini Program again
    assert risk_rank(sim, token, session["openid"])["errcode"] == 0
    dev(sim, "/_sim/risk-rank", {"openid": session["openid"], "seen_seconds_ago": 7201})
    assert_errcode(risk_rank(sim, token, session["openid"]), 61010)


@pytest.mark.parametrize(
    "change, errcode",
    [
        ({"scene": 7}, 40129),
        ({"scene": None}, 44002),
        ({"client_ip": None}, 44002),
        ({"client_ip": 7}, 47001),
        ({"openid": "oNobodyAtAll"}, 40003),
        ({"appid": OTHER_APPID}, 43104),
    ],
)
def test_getuserriskrank_errors(sim, change, errcode):
    token = stable_token(sim)["access_token"]
    openid = exchange(sim, login_code(sim))["openid"]
    assert_errcode(risk_rank(sim, token, openid, **change), errcode)


def test_getuserriskrank_needs_a_valid_token(sim):
    openid = exchange(sim, login_code(sim))["openid"]
    assert_errcode(risk_rank(sim, "nope", openid), 40001)


@pytest.mark.parametrize("body", [{"rank": 5}, {"rank": True}, {"seen_seconds_ago": -1}, {}])
def test_the_risk_rank_dev_route_checks_its_body(sim, body):
    answer = requests.post(sim.base_url + "/_sim/risk-rank", json=body, timeout=5)
    assert answer.status_code == 400


# stats, reset, apps


def test_stats_count_every_call_and_reset_forgets(sim):
    code = register(sim)
    dev(sim, "/_sim/faults", {"mode": "http500"})
    requests.get(sim.base_url + "/sns/jscode2session", timeout=5)
    exchange(sim, code)
    token = stable_token(sim)["access_token"]
    phone_number(sim, token, "nope")
    check_session(sim, token, OPENID, KEY)
    risk_rank(sim, token, OPENID)
    assert stats(sim) == {
        "jscode2session": 2,
        "stable_token": 1,
        "getuserphonenumber": 1,
        "checksession": 1,
        "getuserriskrank": 1,
    }
    register(sim, code="code-2")
    dev(sim, "/_sim/faults", {"errcode": -1})
    dev(sim, "/_sim/reset")
    assert set(stats(sim).values()) == {0}
    assert_errcode(exchange(sim, "code-2"), 40029)  # codes gone, and no fault left
    assert_errcode(check_session(sim, token, OPENID, KEY), 40001)  # tokens gone
    assert exchange(sim, register(sim))["openid"] == OPENID  # the app is kept


def test_apps_rotation(sim):
    code = register(sim)
    rotated = "9" * 32
    dev(sim, "/_sim/apps", {"appid": APPID, "secret": rotated})
    assert_errcode(exchange(sim, code), 40125)
    assert exchange(sim, code, secret=rotated)["openid"] == OPENID


# logging, the helper, the CLI


def test_request_log_names_no_secret(clock, caplog):
    caplog.set_level(logging.INFO, logger="wxlogin.simulator")
    with WeChatSimulator(apps={APPID: SECRET}, clock=clock) as simulator:
        code = login_code(simulator)
        session = exchange(simulator, code)
        token = stable_token(simulator)["access_token"]
        check_session(simulator, token, session["openid"], session["session_key"])
    lines = [record.getMessage() for record in caplog.records if record.name == "wxlogin.simulator"]
    assert "GET /sns/jscode2session 200" in lines and "POST /_sim/login 200" in lines
    for secret in (SECRET, code, session["session_key"], token):
        assert secret not in caplog.text
    assert "?" not in caplog.text


def test_quiet_logs_nothing(clock, caplog):
    caplog.set_level(logging.DEBUG, logger="wxlogin.simulator")
    with WeChatSimulator(apps={APPID: SECRET}, clock=clock, quiet=True) as simulator:
        exchange(simulator, login_code(simulator))
    assert not [record for record in caplog.records if record.name == "wxlogin.simulator"]


def test_only_loopback():
    with pytest.raises(ValueError):
        WeChatSimulator(host="0.0.0.0")  # noqa: S104 - asserting that it is refused


def test_encrypt_user_data_round_trip():
    payload = {"openId": OPENID, "nickName": "小明", "watermark": {"appid": APPID, "timestamp": int(NOW)}}
    encrypted, iv = encrypt_user_data(KEY, payload)
    assert decrypt(KEY, encrypted, iv) == payload
    assert len(base64.b64decode(iv)) == 16 and encrypt_user_data(KEY, payload)[1] != iv
    fixed = encrypt_user_data(KEY, payload, iv=bytes(16))
    assert fixed == encrypt_user_data(KEY, payload, iv=bytes(16)) and fixed[1] == base64.b64encode(bytes(16)).decode()
    with pytest.raises(ValueError):
        encrypt_user_data(base64.b64encode(bytes(24)).decode(), payload)


def test_cli_serves_until_sigterm():
    process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "local.wechat_simulator", "--port", "0", "--app", f"{APPID}={SECRET}"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert "WeChat simulator on http://127.0.0.1:" in line and SECRET not in line
        base_url = line.split(" on ", 1)[1].split()[0]
        assert requests.get(base_url + "/_sim/stats", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert SECRET not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
