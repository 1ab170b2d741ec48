"""Several Mini Programs on one deployment: users and access tokens per appid, linked by unionid."""

from __future__ import annotations

from tests.support.values import APP_SECRET, APPID, OTHER_APP_SECRET, OTHER_APPID


def _two_apps(aws, wechat) -> None:
    aws.set_apps({APPID: APP_SECRET, OTHER_APPID: OTHER_APP_SECRET})
    wechat.set_app(OTHER_APPID, OTHER_APP_SECRET)


def _login(api, wechat, user: str, appid: str, unionid=None) -> dict:
    answer = api.post("/v1/auth/login", {"code": wechat.login_code(user, appid=appid, unionid=unionid), "appid": appid})
    assert answer.status == 200, answer.body
    return answer.body


def test_one_person_in_two_apps_is_two_users_linked_by_unionid(api, aws, wechat):
    _two_apps(aws, wechat)
    here = _login(api, wechat, "hana", APPID, unionid=True)
    there = _login(api, wechat, "hana", OTHER_APPID, unionid=True)
    assert here["openid"] != there["openid"] and here["unionid"] == there["unionid"] is not None
    assert here["token"].split(".")[0] != there["token"].split(".")[0]  # separate users, separate sessions

    plain = api.get("/v1/me", token=here["token"])
    assert "linkedApps" not in plain.body and plain.body["appid"] == APPID
    linked = api.get("/v1/me?include=linkedApps", token=here["token"])
    assert linked.status == 200
    assert linked.body["linkedApps"] == [{"appid": OTHER_APPID, "openid": there["openid"]}]
    back = api.get("/v1/me?include=linkedApps", token=there["token"]).body["linkedApps"]
    assert back == [{"appid": APPID, "openid": here["openid"]}]


def test_a_user_without_unionid_has_no_linked_apps(api, aws, wechat):
    _two_apps(aws, wechat)
    _login(api, wechat, "ivan", OTHER_APPID)
    me = _login(api, wechat, "ivan", APPID)
    assert api.get("/v1/me?include=linkedApps", token=me["token"]).body["linkedApps"] == []


def test_an_unknown_include_is_400(api, aws, wechat):
    me = _login(api, wechat, "jo", APPID)
    answer = api.get("/v1/me?include=everything", token=me["token"])
    assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request"


def test_a_token_of_one_app_is_not_a_user_of_the_other(api, aws, wechat):
    _two_apps(aws, wechat)
    here = _login(api, wechat, "kim", APPID)
    there = _login(api, wechat, "kim", OTHER_APPID)
    assert api.get("/v1/me", token=here["token"]).body["openid"] == here["openid"]
    assert api.get("/v1/me", token=there["token"]).body["openid"] == there["openid"]
    api.delete("/v1/me", token=here["token"])
    assert api.get("/v1/me", token=here["token"]).status == 401
    assert api.get("/v1/me", token=there["token"]).status == 200  # erasing one app's user leaves the other


def test_each_app_gets_its_own_access_token(api, aws, wechat):
    _two_apps(aws, wechat)
    for appid in (APPID, OTHER_APPID):
        me = _login(api, wechat, "lee", appid)
        code = wechat.phone_code(me["openid"], appid=appid)
        assert api.post("/v1/profile/phone", {"code": code}, token=me["token"]).status == 200
    keys = {item["pk"]["S"] for item in aws.items() if item["sk"]["S"] == "ACCESS_TOKEN"}
    assert keys == {f"APP#{APPID}", f"APP#{OTHER_APPID}"}
    assert wechat.stats()["stable_token"] == 2


def _claims(api, token: str, appid: str) -> dict:
    from wxlogin.keys.signing import verify_access_token

    jwks = api.get("/.well-known/jwks.json").body
    return verify_access_token(token, jwks, issuer="https://localhost", audience=appid)


def test_a_unionid_only_decrypted_data_claims_links_nothing_and_goes_into_no_access_token(api, aws, wechat):
    """A client that knows its own session_key (a hooked WeChat client) can make decrypted data name any
    unionid. Before, the server stored it as the user's: the attacker saw the victim's openids in other apps and
    its access tokens carried the victim's unionid."""
    _two_apps(aws, wechat)
    victim_here = _login(api, wechat, "victim", APPID, unionid=True)
    victim_there = _login(api, wechat, "victim", OTHER_APPID, unionid=True)
    unionid = victim_here["unionid"]
    attacker = _login(api, wechat, "mallory", APPID)  # jscode2session names no unionid for this user
    forged = wechat.user_data(attacker["openid"], unionid=unionid)  # encrypted with the attacker's own key
    answer = api.post("/v1/profile/decrypt", forged, token=attacker["token"])
    assert answer.status == 200 and answer.body["unionid"] is None and answer.body["claimedUnionid"] == unionid

    view = api.get("/v1/me?include=linkedApps", token=attacker["token"]).body
    assert view["linkedApps"] == [] and view["unionid"] is None
    refreshed = api.post("/v1/auth/token", token=attacker["token"]).body["accessToken"]
    assert "unionid" not in _claims(api, refreshed, APPID)
    # Nor does the claim show the attacker to the victim.
    assert api.get("/v1/me?include=linkedApps", token=victim_there["token"]).body["linkedApps"] == [
        {"appid": APPID, "openid": victim_here["openid"]}
    ]
    # The same claim through a login with encryptedData: no unionid in the answer or the access token either.
    code = wechat.login_code("mallory", appid=APPID)
    forged = wechat.user_data(attacker["openid"], unionid=unionid)  # under the new login's session_key
    again = api.post("/v1/auth/login", {"code": code, "appid": APPID, **forged}).body
    assert again["unionid"] is None and again["claimedUnionid"] == unionid
    assert "unionid" not in _claims(api, again["accessToken"], APPID)
