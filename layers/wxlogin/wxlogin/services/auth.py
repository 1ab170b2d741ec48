"""Authentication: the user behind a request's bearer token.

The token names its user item and its session item (tokens.py, users.py), so one read (BatchGetItem)
brings both; the rules are here: the session must exist and be unexpired (TTL deletes
lazily, so expiry is checked on read), and its user must exist with the generation the session
was issued under (a user erased and made anew is another user: no earlier session opens it).
A blocked user's live session gets 403 user_blocked, not 401: the client then stops retrying a login.
"""

from __future__ import annotations

import time

from wxlogin.errors import AccountBlocked, Unauthorized
from wxlogin.keys.tokens import TokenRef
from wxlogin.models import User
from wxlogin.storage.users import UserStore


class Authenticator:
    def __init__(self, store: UserStore, clock=time.time):
        self.store = store
        self.clock = clock

    def user(self, ref: TokenRef) -> User:
        """The user a live session belongs to, or Unauthorized."""
        session, user = self.store.session_with_user(ref)
        if session is None or user is None or session.expires_at <= self.clock():
            raise Unauthorized()
        if user.blocked is not None:
            raise AccountBlocked()
        if session.generation is None or session.generation != user.generation:
            raise Unauthorized()
        if user.sub is None:
            # A user item from before accounts had an id: its next login gives it one.
            raise Unauthorized()
        return user
