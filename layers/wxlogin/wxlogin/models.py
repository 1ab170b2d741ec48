"""What the layer keeps, as plain values: the user and the app's WeChat access token.

Storage turns them into DynamoDB items (users.py, access_token_store.py); services and handlers
only see these.
"""

from __future__ import annotations

from wxlogin.records import hidden, record

PROFILE_FIELDS = ("nickName", "avatarUrl", "gender", "country", "province", "city", "language")
PHONE_FIELDS = ("phoneNumber", "purePhoneNumber", "countryCode")


@record
class User:
    user_id: str
    appid: str
    openid: str
    unionid: str | None
    # Sealed by serverkeys.py (only the functions that decrypt open it); None on items from before sealing.
    sealed_session_key: bytes | None = hidden()
    profile: dict | None
    phone: dict | None
    created_at: str
    last_login_at: str
    # Written when the user item is created: a session counts only under the generation it was issued for.
    generation: str | None = None
    # The account's id, the access tokens' `sub`: random, written when the user item is created, so an account
    # made after an erasure is another account to every API behind the tokens, though its openid is the same.
    sub: str | None = None
    # A unionid only decrypted data names (jscode2session gave none yet): the client's relay of WeChat's word, so
    # it links no accounts and goes into no access token until a jscode2session answer confirms it. None once
    # `unionid` is known.
    claimed_unionid: str | None = None
    # Set by an operator's block: {"reason", "blockedAt", "blockedBy"}; None while the user may log in.
    blocked: dict | None = None
    # The session_key the latest login replaced (sealed like the current one), and until when it still opens data.
    sealed_previous_session_key: bytes | None = hidden(None)
    previous_session_key_until: int | None = None
    # WeChat's getuserriskrank at sign-up (0 to 4), when the deployment asks for it.
    risk_rank: int | None = None
    # The user's newest sessions, session id -> expiresAt (users.py): where an operator and an erasure find them.
    listed_sessions: dict | None = None


@record
class StoredAccessToken:
    # None when the sealed token does not open (sealed for another item, or under a retired data key): a token
    # to replace, found by its id.
    token: str | None = hidden()
    expires_at: int
    token_id: str
