"""Domain errors, one per row of the contract's error table.

Each carries the HTTP status and the `error.code` the contract gives it, so a
handler maps any of them to an answer without knowing which one it is. The
message is written for the client: it never holds a secret or a stack trace.
"""

from __future__ import annotations


class WxLoginError(Exception):
    status = 500
    code = "internal_error"
    message = "Internal error."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message

    def to_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(WxLoginError):
    status, code, message = 400, "invalid_request", "The request is malformed."


class Unauthorized(WxLoginError):
    status, code, message = 401, "unauthorized", "A valid bearer token is required."


class InvalidCode(WxLoginError):
    status, code, message = 401, "invalid_code", "The login code is invalid or was already used; call wx.login again."


class SessionKeyExpired(WxLoginError):
    # Decided by WeChat's checksession of the stored key alone, never by the data: no decryption oracle.
    status, code, message = (
        401,
        "session_key_expired",
        "WeChat no longer holds this login's session key; call wx.login, log in again, then fetch the data anew.",
    )


class UserBlocked(WxLoginError):
    status, code, message = 403, "user_blocked", "WeChat flags this user as high-risk."


class AccountBlocked(UserBlocked):
    """An operator blocked the account (the same answer as WeChat's 40226, with its own message)."""

    message = "This account is blocked."


class SignUpRefused(WxLoginError):
    # Worded like a refusal, not a verdict: the rank that refused it is not told.
    status, code, message = 403, "signup_refused", "This WeChat user cannot sign up now."


class InvalidEncryptedData(WxLoginError):
    # One message for every cause, so the answer is no decryption oracle.
    status, code, message = (
        422,
        "invalid_encrypted_data",
        "The encrypted data does not match this session; log in again and fetch the data anew.",
    )


class RateLimited(WxLoginError):
    status, code, message = 429, "rate_limited", "Too many requests; retry later."

    def __init__(self, retry_after: int = 60):
        # WeChat's 45011 names no wait; its per-app quota is counted per minute.
        super().__init__()
        self.retry_after = max(1, int(retry_after))


class WeChatError(WxLoginError):
    status, code, message = 502, "wechat_error", "WeChat rejected the request."

    def __init__(self, errcode: int | None = None):
        super().__init__(f"WeChat answered errcode {errcode}." if errcode is not None else None)
        self.errcode = errcode


class WeChatUnavailable(WxLoginError):
    status, code, message = 503, "wechat_unavailable", "WeChat is unavailable; retry later."


class WeChatOutOfTime(WeChatUnavailable):
    """WeChat did not answer before the invocation had to: waiting longer would outlast the function's timeout."""


class ServiceUnavailable(WxLoginError):
    """A dependency of ours (DynamoDB, Secrets Manager) failed; nothing was changed."""

    status, code, message = 503, "service_unavailable", "The service is temporarily unavailable; retry later."


class OutOfTime(ServiceUnavailable):
    """A DynamoDB or Secrets Manager attempt could not end before the invocation had to answer."""


class InternalError(WxLoginError):
    pass
