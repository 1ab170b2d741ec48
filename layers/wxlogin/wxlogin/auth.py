"""Authentication: the user behind a request's bearer token.

The token names its user's partition (tokens.py) and the session lives there (users.py), so one
read brings both; the rules are here: the session must exist and be unexpired (TTL deletes
lazily, so expiry is checked on read) and its user must still exist.
"""

from __future__ import annotations

import time

from .errors import Unauthorized
from .models import User
from .tokens import TokenRef
from .users import UserStore


class Authenticator:
    def __init__(self, store: UserStore, clock=time.time):
        self.store = store
        self.clock = clock

    def user(self, ref: TokenRef) -> User:
        """The user a live session belongs to, or Unauthorized."""
        expires_at, user = self.store.session_with_user(ref)
        if expires_at is None or user is None or expires_at <= self.clock():
            raise Unauthorized()
        return user
