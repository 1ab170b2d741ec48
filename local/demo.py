"""A scripted Mini Program against the running local stack: `make demo` (python -m local.demo).

It does what a Mini Program and the WeChat client do, step by step, and prints
each: wx.login, login, the profile the WeChat client encrypts, decrypt, GET /v1/me,
PATCH the nickname, the access token on the example API (refused without it), its
refresh, logout, and the revoked token refused for refresh and for /v1/me. Exits non-zero at the
first step that does not answer as expected.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import requests

from local.stack import DEV_APP_ID


class DemoFailed(RuntimeError):
    pass


@dataclass
class Demo:
    api_url: str
    wechat_url: str
    appid: str = DEV_APP_ID
    user: str = "demo-user"
    out: object = sys.stdout

    def _step(self, title: str, answer: requests.Response, expected: int) -> dict | None:
        body = answer.json() if answer.content else None
        # Tokens are credentials: show that they came, never their values.
        hidden = {name: "<hidden>" for name in ("token", "accessToken") if body and name in body}
        shown = "" if body is None else json.dumps({**body, **hidden}, ensure_ascii=False)
        mark = "ok " if answer.status_code == expected else "BAD"
        print(f"{mark} {title}: {answer.status_code} {shown}", file=self.out)
        if answer.status_code != expected:
            raise DemoFailed(f"{title}: expected {expected}, got {answer.status_code}")
        return body

    def _api(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.api_url + path, json=body, headers=headers, timeout=30)

    def _wechat(self, path: str, body: dict) -> dict:
        answer = requests.post(self.wechat_url + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def run(self) -> None:
        code = self._wechat("/_sim/login", {"appid": self.appid, "user": self.user, "unionid": True})["code"]
        print(f"ok  wx.login: a one-time code ({len(code)} characters)", file=self.out)

        login = self._step("POST /v1/auth/login", self._api("POST", "/v1/auth/login", body={"code": code}), 200)
        token = login["token"]

        data = self._wechat("/_sim/user-data", {"appid": self.appid, "openid": login["openid"], "kind": "profile"})
        print("ok  WeChat client: encryptedData, iv, rawData, signature for the profile", file=self.out)
        fields = {name: data[name] for name in ("encryptedData", "iv", "rawData", "signature")}
        self._step("POST /v1/profile/decrypt", self._api("POST", "/v1/profile/decrypt", token, fields), 200)
        self._step("GET /v1/me", self._api("GET", "/v1/me", token), 200)
        self._step("PATCH /v1/me", self._api("PATCH", "/v1/me", token, {"nickName": "演示用户"}), 200)
        access_token = login["accessToken"]
        whoami = "/v1/examples/whoami"
        self._step(f"GET {whoami} without a token (the JWT authorizer)", self._api("GET", whoami), 401)
        self._step(f"GET {whoami} with the access token", self._api("GET", whoami, access_token), 200)
        refreshed = self._step("POST /v1/auth/token (refresh)", self._api("POST", "/v1/auth/token", token), 200)
        self._step(f"GET {whoami} with the refreshed one", self._api("GET", whoami, refreshed["accessToken"]), 200)
        self._step("POST /v1/auth/logout", self._api("POST", "/v1/auth/logout", token), 204)
        self._step("POST /v1/auth/token after logout", self._api("POST", "/v1/auth/token", token), 401)
        refused = self._step("GET /v1/me with the revoked token", self._api("GET", "/v1/me", token), 401)
        if refused["error"]["code"] != "unauthorized":
            raise DemoFailed("the revoked token was not refused as unauthorized")
        print("demo complete: the whole flow works", file=self.out)


def served_appid(wechat_url: str, asked: str) -> str:
    """The app the running stack serves, asked of its simulator; `asked` (APP_ID) must be one of its apps."""
    appids = requests.get(wechat_url + "/_sim/", timeout=10).json()["appids"]
    if asked and asked not in appids:
        raise DemoFailed(
            f"APP_ID is {asked!r} here, but the running stack serves {appids[0]!r}: "
            f"run `make demo` without APP_ID, or restart the stack with `APP_ID={asked} make run`"
        )
    return asked or appids[0]


def main() -> int:
    api_url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}"
    wechat_url = f"http://127.0.0.1:{os.environ.get('WXSIM_PORT', '3001')}"
    try:
        appid = served_appid(wechat_url, os.environ.get("APP_ID", "").strip())
        Demo(api_url, wechat_url, appid=appid).run()
    except requests.ConnectionError:
        print(f"nothing answers at {api_url} / {wechat_url}: start the stack with `make run` first", file=sys.stderr)
        return 1
    except DemoFailed as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
