"""The WeChat server API client: code exchange, access tokens, phone numbers, session-key checks, risk ranks.

Retries are ours, not the HTTP library's, because a login code is single-use:
only a failure to connect and WeChat's "system busy" (-1) are retried (WeChat
did not take the code then); a read timeout or a reset connection is not, since
the code may already be consumed. Every call takes the moment the invocation
must answer by (`deadline`, epoch seconds): an attempt's timeouts are cut to end
before it, and a retry that cannot start in time is not made (WeChatOutOfTime,
503 `wechat_unavailable`), so no WeChat fault outlasts the function's timeout.
The AppSecret travels in the query string,
so a transport exception's text (which holds the URL) is never logged, kept or
chained: only its type name survives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from random import SystemRandom
from urllib.parse import urlencode

from wxlogin.errors import WeChatError, WeChatOutOfTime, WeChatUnavailable
from wxlogin.records import hidden, record
from wxlogin.wechat.errors import WeChatApiError, WeChatErrcode

_jitter = SystemRandom()
# Less time than this left, an attempt is not started: it could only time out.
MIN_ATTEMPT_SECONDS = 0.1


@record
class WeChatSession:
    openid: str
    session_key: str = hidden()  # out of repr, and so of any accidental log line
    unionid: str | None = None


class WeChatClient:
    def __init__(
        self,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        busy_retries: int,
        clock=time.time,
        sleep=time.sleep,
        on_call=None,
    ):
        """`on_call(milliseconds)`, if given, hears how long each API call took, its retries included."""
        self.base_url = base_url.rstrip("/")
        self.on_call = on_call
        self.timeout = (connect_timeout, read_timeout)
        self.busy_retries = busy_retries
        self.clock = clock
        self.sleep = sleep
        self._http = None

    @classmethod
    def from_settings(cls, settings, on_call=None) -> WeChatClient:
        return cls(
            settings.wechat_api_base,
            settings.wechat_connect_timeout,
            settings.wechat_read_timeout,
            settings.wechat_busy_retries,
            on_call=on_call,
        )

    def _pool(self):
        if self._http is None:
            # urllib3, not requests: botocore has loaded it already, so WeChat calls add no module to a cold
            # start (requests added about 0.07x the floor). No retries of its own (ours are above), no redirects,
            # no proxies from the environment; certificates checked against certifi's bundle, as requests did.
            import certifi
            import urllib3

            self._http = urllib3.PoolManager(maxsize=4, retries=False, ca_certs=certifi.where())
        return self._http

    def _time_left(self, deadline: float | None) -> float | None:
        """Seconds an attempt may take: None without a deadline; WeChatOutOfTime when too few are left."""
        if deadline is None:
            return None
        left = deadline - self.clock()
        if left < MIN_ATTEMPT_SECONDS:
            raise WeChatOutOfTime()
        return left

    def _once(self, method: str, path: str, params: dict, json_body: dict | None, time_left: float | None) -> dict:
        from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        body = None if json_body is None else json.dumps(json_body).encode("utf-8")
        headers = {} if body is None else {"Content-Type": "application/json"}
        try:
            response = self._pool().request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeouts(time_left),
                redirect=False,
                retries=False,
            )
        except ConnectTimeoutError as exc:  # refused, unreachable, unresolvable (NewConnectionError) or timed out
            raise _ConnectFailed(type(exc).__name__) from None
        except ReadTimeoutError:
            cut = time_left is not None and time_left < sum(self.timeout)  # the deadline's cut, not WeChat's
            raise (WeChatOutOfTime if cut else WeChatUnavailable)() from None
        except HTTPError:
            raise WeChatUnavailable() from None
        if response.status >= 500:
            raise WeChatUnavailable()
        try:
            reply = json.loads(response.data)
        except ValueError:
            raise WeChatError() from None
        if response.status != 200 or not isinstance(reply, dict):
            raise WeChatError()
        errcode = reply.get("errcode", 0)
        if errcode not in (0, None):
            raise WeChatApiError(errcode if isinstance(errcode, int) else 0)
        return reply

    def _timeouts(self, time_left: float | None):
        """The configured timeouts, with connecting and reading together cut to `time_left` when it is shorter."""
        from urllib3 import Timeout

        connect, read = self.timeout
        if time_left is None or time_left >= connect + read:
            return Timeout(connect=connect, read=read)
        return Timeout(connect=min(connect, time_left), read=min(read, time_left), total=time_left)

    def _call(self, method: str, path: str, params: dict, json_body: dict | None, deadline: float | None) -> dict:
        started = time.monotonic()
        try:
            return self._attempts(method, path, params, json_body, deadline)
        finally:
            if self.on_call is not None:
                self.on_call((time.monotonic() - started) * 1000)

    def _attempts(self, method: str, path: str, params: dict, json_body: dict | None, deadline: float | None) -> dict:
        for attempt in range(self.busy_retries + 1):
            last = attempt == self.busy_retries
            try:
                return self._once(method, path, params, json_body, self._time_left(deadline))
            except _ConnectFailed:
                if last:
                    raise WeChatUnavailable() from None
            except WeChatApiError as exc:
                if exc.errcode != WeChatErrcode.BUSY:
                    raise
                if last:
                    raise WeChatUnavailable() from None
            # Full jitter: concurrent Lambdas retrying a busy WeChat must not synchronise.
            pause = _jitter.uniform(0, 0.1 * 2**attempt)
            if deadline is not None and self.clock() + pause + MIN_ATTEMPT_SECONDS > deadline:
                raise WeChatOutOfTime()
            self.sleep(pause)
        raise AssertionError("unreachable")

    def code_to_session(self, appid: str, secret: str, code: str, deadline: float | None) -> WeChatSession:
        reply = self._call(
            "GET",
            "/sns/jscode2session",
            {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"},
            None,
            deadline,
        )
        openid, session_key = reply.get("openid"), reply.get("session_key")
        unionid = reply.get("unionid") or None
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str) or not session_key:
            raise WeChatError()
        if unionid is not None and not isinstance(unionid, str):
            raise WeChatError()
        return WeChatSession(openid=openid, session_key=session_key, unionid=unionid)

    def stable_token(
        self, appid: str, secret: str, deadline: float | None, force_refresh: bool = False
    ) -> tuple[str, int]:
        """(access_token, seconds it stays valid) from the stable-token API; the secret travels in the body."""
        reply = self._call(
            "POST",
            "/cgi-bin/stable_token",
            {},
            {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force_refresh},
            deadline,
        )
        token, expires_in = reply.get("access_token"), reply.get("expires_in")
        if not isinstance(token, str) or not token or isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise WeChatError()
        return token, expires_in

    def phone_number(self, access_token: str, code: str, openid: str, deadline: float | None) -> dict:
        """The phone_info WeChat gives for a getPhoneNumber button code of the user `openid`: given the openid,
        WeChat checks that the code was issued to that user, so a code tapped by someone else is refused
        (https://developers.weixin.qq.com/miniprogram/dev/server/API/user-info/phone-number/api_getphonenumber.html)."""
        reply = self._call(
            "POST",
            "/wxa/business/getuserphonenumber",
            {"access_token": access_token},
            {"code": code, "openid": openid},
            deadline,
        )
        info = reply.get("phone_info")
        if not isinstance(info, dict):
            raise WeChatError()
        return info

    def check_session_key(self, access_token: str, openid: str, session_key: str, deadline: float | None) -> None:
        """Returns when WeChat still holds `session_key` as the user's; WeChatApiError 87009 when it does not.

        WeChat's checkSessionKey: the signature is HMAC-SHA256 of the empty string keyed with the session_key's
        base64 text (not its bytes), so the key itself never travels
        (https://developers.weixin.qq.com/miniprogram/dev/server/API/user-login/api_checksessionkey)."""
        signature = hmac.new(session_key.encode("utf-8"), b"", hashlib.sha256).hexdigest()
        params = {"access_token": access_token, "openid": openid, "signature": signature, "sig_method": "hmac_sha256"}
        self._call("GET", "/wxa/checksession", params, None, deadline)

    def user_risk_rank(
        self, access_token: str, appid: str, openid: str, client_ip: str, scene: int, deadline: float | None
    ) -> int:
        """WeChat's getUserRiskRank for a scene (0: sign-up): 0 (lowest) to 4
        (https://developers.weixin.qq.com/miniprogram/dev/server/API/sec-center/safety-control-capability/api_getuserriskrank.html)."""
        body = {"appid": appid, "openid": openid, "scene": scene, "client_ip": client_ip}
        reply = self._call("POST", "/wxa/getuserriskrank", {"access_token": access_token}, body, deadline)
        rank = reply.get("risk_rank")
        if isinstance(rank, bool) or rank not in RISK_RANKS:
            raise WeChatError()
        return rank


RISK_RANKS = (0, 1, 2, 3, 4)


class _ConnectFailed(Exception):
    """The request never reached WeChat, so repeating it cannot spend a code twice."""
