"""WeChat's error codes, named once, and the one map from them to the contract's errors.

Every service that calls WeChat (login, phone numbers, access tokens, AppSecrets) catches
WeChatApiError, handles the codes its own flow can recover from (a busy WeChat, a rotated
AppSecret, a rejected access token, a replayed login) and turns the rest into the contract's
answer with `contract_error`. The meaning of each code is in docs/wechat.md.
"""

from __future__ import annotations

from enum import IntEnum

from wxlogin.errors import InvalidCode, InvalidRequest, RateLimited, UserBlocked, WeChatError, WxLoginError


class WeChatErrcode(IntEnum):
    BUSY = -1
    INVALID_CREDENTIAL = 40001
    INVALID_APPID = 40013
    INVALID_ACCESS_TOKEN = 40014
    INVALID_CODE = 40029
    INVALID_APPSECRET = 40125
    CODE_USED = 40163
    HIGH_RISK_USER = 40226
    ACCESS_TOKEN_EXPIRED = 42001
    RATE_LIMITED = 45011
    # checksession: the session_key is not the user's current one.
    INVALID_SIGNATURE = 87009


# The access token the call carried is no good: refreshing it may help.
ACCESS_TOKEN_REJECTED = frozenset(
    {WeChatErrcode.INVALID_CREDENTIAL, WeChatErrcode.INVALID_ACCESS_TOKEN, WeChatErrcode.ACCESS_TOKEN_EXPIRED}
)

_CONTRACT_ERRORS = {
    WeChatErrcode.INVALID_CODE: InvalidCode,
    WeChatErrcode.CODE_USED: InvalidCode,
    WeChatErrcode.HIGH_RISK_USER: UserBlocked,
    WeChatErrcode.RATE_LIMITED: RateLimited,
}
# For the phone API these mean the button's code is bad, not the login: the page asks the user again.
_PHONE_CODE_REFUSED = {
    WeChatErrcode.INVALID_CODE: "invalid or expired",
    WeChatErrcode.CODE_USED: "already used",
    WeChatErrcode.INVALID_APPID: "from another Mini Program",
}


class WeChatApiError(Exception):
    """WeChat answered an errcode; the caller decides what it means for its flow."""

    def __init__(self, errcode: int):
        super().__init__(f"WeChat errcode {errcode}")
        self.errcode = errcode


def contract_error(errcode: int, phone_code: bool = False) -> WxLoginError:
    """The contract's error for a WeChat errcode; `phone_code` when the code sent was a getPhoneNumber one."""
    if phone_code and errcode in _PHONE_CODE_REFUSED:
        return InvalidRequest(
            f"The phone number code is {_PHONE_CODE_REFUSED[errcode]}; ask the user to tap the button again."
        )
    known = _CONTRACT_ERRORS.get(errcode)
    return known() if known is not None else WeChatError(errcode)
