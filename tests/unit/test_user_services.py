"""The services behind the protected routes, alone: authentication, profile merge, phone binding, account."""

from __future__ import annotations

import pytest

from tests.support.values import APP_SECRET, APPID, OPENID
from tests.unit.fakes import (
    DEADLINE,
    KEYS,
    NOW,
    WECHAT_PROFILE,
    AccessTokenTable,
    Clock,
    SecretsProvider,
    Users,
    WeChat,
    live,
    payload,
    user,
)
from wxlogin.errors import InvalidEncryptedData, InvalidRequest, RateLimited, Unauthorized, UserBlocked, WeChatError
from wxlogin.keys.appsecrets import AppSecrets
from wxlogin.keys.tokens import TokenRef
from wxlogin.records import replace
from wxlogin.services.account import AccountService
from wxlogin.services.auth import Authenticator
from wxlogin.services.phone import PhoneService
from wxlogin.services.profile import ProfileService
from wxlogin.services.session_keys import StoredSessionKeys
from wxlogin.web.route_requests import DecryptRequest, MeRequest, PhoneRequest, UpdateMeRequest
from wxlogin.wechat.access_token import AccessTokens

REF = TokenRef("u1", "hash", "session-1")
WATERMARK = {"appid": APPID, "timestamp": int(NOW)}
PHONE = {"phoneNumber": "+8613912345678", "purePhoneNumber": "13912345678", "countryCode": "86"}


# ------------------------------------------------------------------------------------------ auth


def test_a_live_session_lets_its_user_in():
    users = Users(user())
    users.sessions[REF] = live(NOW + 1)
    assert Authenticator(users, clock=Clock()).user(REF).user_id == "u1"


@pytest.mark.parametrize("case", ["expired", "no session", "user deleted", "user made anew", "from before generations"])
def test_an_expired_missing_orphaned_or_earlier_users_session_is_unauthorized(case):
    users = Users(*(() if case == "user deleted" else (user(),)))
    if case != "no session":
        users.sessions[REF] = live(NOW if case == "expired" else NOW + 60)
    if case == "user made anew":  # erased, then logged in again: a new user item, a new generation
        users.sessions[REF] = live(NOW + 60, generation="gen-of-the-erased-user")
    if case == "from before generations":
        users.sessions[REF] = live(NOW + 60, generation=None)
    with pytest.raises(Unauthorized):
        Authenticator(users, clock=Clock()).user(REF)


# --------------------------------------------------------------------------------------- profile


def test_decrypted_profile_fields_merge_and_a_missing_unionid_is_kept_as_a_claim():
    users = Users(user(profile={"city": "Shenzhen"}))
    data = {"openId": OPENID, **WECHAT_PROFILE, "unionId": "oUnion", "nickName": "Ann", "watermark": WATERMARK}
    answer = ProfileService(users, StoredSessionKeys(KEYS), 300, clock=Clock()).decrypt_profile(
        users.users["u1"], REF, DecryptRequest(payload(data)), DEADLINE
    )
    assert answer == {
        "profile": {"city": "Shenzhen", "nickName": "Ann", "gender": 0},
        "unionid": None,
        "claimedUnionid": "oUnion",
    }
    assert users.users["u1"].unionid is None and users.users["u1"].claimed_unionid == "oUnion"
    # Later data names the same unionid or none; another one is refused.
    other = {**data, "unionId": "oOther"}
    with pytest.raises(InvalidEncryptedData):
        ProfileService(users, StoredSessionKeys(KEYS), 300, clock=Clock()).decrypt_profile(
            users.users["u1"], REF, DecryptRequest(payload(other)), DEADLINE
        )


@pytest.mark.parametrize(
    "data",
    [
        {"openId": "oSomeoneElse", **WECHAT_PROFILE, "nickName": "Eve", "watermark": WATERMARK},
        {"openId": OPENID, **WECHAT_PROFILE, "watermark": {"appid": APPID, "timestamp": int(NOW) - 301}},
        {"openId": OPENID, **WECHAT_PROFILE, "watermark": {"appid": "wxother", "timestamp": int(NOW)}},
    ],
)
def test_data_for_another_user_app_or_time_is_refused_and_nothing_changes(data):
    users = Users(user())
    with pytest.raises(InvalidEncryptedData):
        ProfileService(users, StoredSessionKeys(KEYS), 300, clock=Clock()).decrypt_profile(
            users.users["u1"], REF, DecryptRequest(payload(data)), DEADLINE
        )
    assert users.users["u1"] == user()


# ----------------------------------------------------------------------------------------- phone


def phone_service(users: Users, wechat: WeChat, table: AccessTokenTable | None = None) -> PhoneService:
    clock = Clock()
    apps = AppSecrets("apps", 300, provider=SecretsProvider(f'{{"{APPID}": "{APP_SECRET}"}}'))
    table = table or AccessTokenTable("token", int(NOW) + 7200)
    return PhoneService(
        users,
        AccessTokens(table, wechat, apps, clock=clock, sleep=clock.sleep),
        wechat,
        StoredSessionKeys(KEYS),
        300,
        clock,
    )


def test_a_button_code_binds_the_number_wechat_gives():
    users, wechat = Users(user()), WeChat(phones=[{**PHONE, "watermark": WATERMARK}])
    assert phone_service(users, wechat).bind(users.users["u1"], REF, PhoneRequest(code="pc"), DEADLINE) == PHONE
    assert users.users["u1"].phone == PHONE and wechat.calls == [("phone_number", "token", "pc", OPENID)]


@pytest.mark.parametrize(
    "errcode, error",
    [(40029, InvalidRequest), (40163, InvalidRequest), (40013, InvalidRequest), (45011, RateLimited),
     (40226, UserBlocked), (61024, WeChatError)],
)  # fmt: skip
def test_a_refused_button_code_is_the_contracts_error_and_binds_nothing(errcode, error):
    users = Users(user())
    with pytest.raises(error):
        phone_service(users, WeChat(phones=[errcode])).bind(users.users["u1"], REF, PhoneRequest(code="pc"), DEADLINE)
    assert users.users["u1"].phone is None


def test_a_number_for_another_app_is_wechat_error():
    users = Users(user())
    info = {**PHONE, "watermark": {"appid": "wxother", "timestamp": int(NOW)}}
    with pytest.raises(WeChatError):
        phone_service(users, WeChat(phones=[info])).bind(users.users["u1"], REF, PhoneRequest(code="pc"), DEADLINE)


def test_a_rejected_access_token_is_refreshed_and_the_number_fetched_again():
    users = Users(user())
    wechat = WeChat(tokens=[("fresh", 7200)], phones=[40001, {**PHONE, "watermark": WATERMARK}])
    table = AccessTokenTable("token", int(NOW) + 7200)
    assert phone_service(users, wechat, table).bind(users.users["u1"], REF, PhoneRequest(code="pc"), DEADLINE) == PHONE
    assert [call[1] for call in wechat.calls if call[0] == "phone_number"] == ["token", "fresh"]


def test_legacy_encrypted_phone_data_binds_after_the_same_checks_as_a_profile():
    users = Users(user())
    legacy = PhoneRequest(encrypted=payload({**PHONE, "watermark": WATERMARK}))
    assert phone_service(users, WeChat()).bind(users.users["u1"], REF, legacy, DEADLINE) == PHONE
    stale = PhoneRequest(encrypted=payload({**PHONE, "watermark": {"appid": APPID, "timestamp": 0}}))
    with pytest.raises(InvalidEncryptedData):
        phone_service(users, WeChat()).bind(users.users["u1"], REF, stale, DEADLINE)


# --------------------------------------------------------------------------------------- account


def test_me_shows_linked_apps_only_when_asked():
    users = Users(user(unionid="oUnion"))
    users.linked = [{"appid": "wxother", "openid": "oOther"}]
    account = AccountService(users)
    assert "linkedApps" not in account.me(users.users["u1"], MeRequest())
    view = account.me(users.users["u1"], MeRequest(include_linked_apps=True))
    assert view["linkedApps"] == users.linked and view["openid"] == OPENID and view["unionid"] == "oUnion"


def test_update_me_answers_the_updated_user():
    users = Users(user())
    view = AccountService(users).update_me(users.users["u1"], UpdateMeRequest({"nickName": "Ann"}))
    assert view["profile"] == {"nickName": "Ann"}


def test_logout_revokes_only_a_live_session_and_delete_erases_every_session():
    other, unlisted = TokenRef("u1", "other", "session-2"), TokenRef("u1", "unlisted", "session-3")
    users = Users(replace(user(), listed_sessions={"session-1": int(NOW + 60), "session-2": int(NOW + 60)}))
    users.sessions = {REF: live(NOW + 60), other: live(NOW + 60), unlisted: live(NOW + 60)}
    account, auth = AccountService(users, clock=Clock()), Authenticator(users, clock=Clock())
    account.logout(auth.user(REF), REF)
    with pytest.raises(Unauthorized):
        account.logout(users.users["u1"], REF)
    with pytest.raises(Unauthorized):
        auth.user(REF)  # ended in place: the item stays (a retry of its login finds it) but lets nobody in
    assert users.sessions[REF].expires_at <= NOW and auth.user(other).user_id == "u1"
    account.delete_me(users.users["u1"], other)
    assert users.users == {}
    for ref in (REF, other, unlisted):
        with pytest.raises(Unauthorized):
            auth.user(ref)
    # The listed sessions and the caller's are ended and no longer name the user; one beyond the list holds
    # the generation of a user item that is gone, and expires by TTL.
    assert users.forgotten == {"session-1", "session-2"}
    assert all(users.sessions[ref].expires_at <= NOW for ref in (REF, other))
    # A user made anew (another login after the erasure) is another generation: no earlier session opens it.
    users.users["u1"] = replace(user(), generation="gen-of-the-new-user")
    with pytest.raises(Unauthorized):
        auth.user(unlisted)


def test_an_erasure_ends_the_callers_session_even_when_the_user_item_does_not_list_it():
    users = Users(user())  # a user item from before lists were kept, or the caller's session beyond the list
    users.sessions = {REF: live(NOW + 60)}
    AccountService(users, clock=Clock()).delete_me(users.users["u1"], REF)
    assert users.forgotten == {"session-1"} and users.sessions[REF].expires_at <= NOW
