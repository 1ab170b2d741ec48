"""WeChat's risk rank of a user at sign-up (optional): stored on the user, and sign-ups ranked too high refused.

With SIGNUP_RISK_CHECK on, the first login of a user this deployment does not know yet asks WeChat's
getUserRiskRank once (scene 0, sign-up; WeChat requires the client's address, which it is sent and nowhere
kept). The rank (0 lowest to 4) is stored on the user item in the login's own write and shown by GET /v1/me;
a rank above SIGNUP_MAX_RISK_RANK refuses the sign-up (403 signup_refused) before anything is stored, so a
refused user stays unknown and is ranked again on a later attempt, which takes another real wx.login. Knowing
whether the user is new costs one read of the user item's key; a plain login without the setting pays nothing.
Whatever goes wrong while asking (WeChat down or refusing, 61010 for a user it has not seen in two hours, no
access token, the read) leaves the user unranked and never fails the login.
"""

from __future__ import annotations

import time

from wxlogin.errors import SignUpRefused, WxLoginError
from wxlogin.storage.users import UserStore
from wxlogin.wechat.errors import WeChatApiError

SIGN_UP_SCENE = 0
# The rank is optional: a slow WeChat may delay a sign-up this long at most (then the user stays unranked).
RISK_RANK_SECONDS = 3.0


class SignUpRisk:
    def __init__(self, store: UserStore, access_tokens, wechat, max_rank: int):
        self.store = store
        self.access_tokens = access_tokens
        self.wechat = wechat
        self.max_rank = max_rank

    @classmethod
    def from_settings(cls, settings, store: UserStore, wechat, app_secrets, keys) -> SignUpRisk | None:
        """None unless the setting is on; the access-token modules are loaded only then (cold start)."""
        if not settings.signup_risk_check:
            return None
        from wxlogin.storage.access_token_store import AccessTokenStore
        from wxlogin.wechat.access_token import AccessTokens

        access_tokens = AccessTokens(AccessTokenStore(settings.table_name, keys), wechat, app_secrets)
        return cls(store, access_tokens, wechat, settings.signup_max_risk_rank)

    def fields_at_sign_up(self, appid: str, openid: str, user_id: str, client_ip: str | None, deadline: float) -> dict:
        """`{"riskRank": rank}` for a new user WeChat ranked, `{}` otherwise; SignUpRefused above the limit.
        WeChat is waited for RISK_RANK_SECONDS at most, and never past `deadline` (epoch seconds)."""
        rank = self._rank(appid, openid, user_id, client_ip, min(deadline, time.time() + RISK_RANK_SECONDS))
        if rank is None:
            return {}
        if rank > self.max_rank:
            raise SignUpRefused()
        return {"riskRank": rank}

    def _rank(self, appid: str, openid: str, user_id: str, client_ip: str | None, deadline: float) -> int | None:
        if not client_ip:
            return None  # WeChat requires it; API Gateway always gives one
        try:
            if self.store.is_known(user_id):
                return None
            return self.access_tokens.call(
                appid,
                lambda token: self.wechat.user_risk_rank(token, appid, openid, client_ip, SIGN_UP_SCENE, deadline),
                deadline,
            )
        except (WeChatApiError, WxLoginError):
            return None
