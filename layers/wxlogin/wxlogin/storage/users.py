"""The users-and-sessions repository: users and their sessions, a keyed login's retry record among them.

Items (pk, sk):
- user          USER#<userId>        USER     appid, openid, unionid? (jscode2session's, indexed),
                                               claimedUnionid? (decrypted data's only), sessionKey (sealed),
                                               previousSessionKey (sealed) and previousKeyUntil, riskRank?,
                                               profile + phone fields, gen, sub, createdBy, createdAt,
                                               lastLoginAt, sessions (the newest sessions: id -> expiresAt)
- session       SESSION#<sessionId>  SESSION  tokenHash, gen, expiresAt (TTL), createdAt, keyCheckedAt?, endedAt?
                                               and uid (a logout's, for its audit entry); for a login with an
                                               Idempotency-Key also keyCheck, kid, sealed (its answer), retryUntil
  or a failed keyed login's record (same key)    keyCheck, kid, expiresAt, retryUntil
  or a retry's waiting record                    waitKey, waitUntil, waiters, expiresAt

A session's key comes from its login's code (tokens.py: the token carries the login id), so the session item
is also what a retry of the login finds, with one read, and a code makes exactly one session: the session is
written only where none of its code is. One BatchGetItem reads a session with its user (auth.py decides whether
it lets the caller in). A session counts only under the generation (`gen`) of the user item it was issued for:
a login racing DELETE /v1/me may write its session after the delete, but the next user item has a new
generation, so that session never works.

The user item lists its newest sessions (SESSIONS_LISTED), written by the login's own UpdateItem of the user,
so keeping the list costs no request: an operator counts, exports and ends sessions from it, and an erasure ends
them. A session beyond the list still works until it expires, and ends like every other with a new generation
(sign-out, block) or with the user item (erasure). Logout and erasure end a session in place (expired, its
answer gone) until the TTL removes it, so a retry of its login finds it and is refused at once; an erasure's
end writes its Update whether or not the session is still there (a transaction's Update makes the item), which
leaves an expired stub, naming nobody, where the TTL had removed one.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable

from wxlogin.errors import AccountBlocked, InvalidEncryptedData, ServiceUnavailable, Unauthorized
from wxlogin.keys.tokens import TokenRef
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS, User
from wxlogin.records import record
from wxlogin.storage.dynamodb import ConditionFailed, Table, iso_time, plain, set_expression, to_attr

USER_SK = "USER"
SESSION_SK = "SESSION"
# How many of a user's sessions its item lists: an entry is 23 bytes, and 6 keep a user item with a full profile
# and a phone number (about 810 bytes) within one 1 KB write unit (docs/performance.md, item sizes). The client
# keeps its session, so a person has about one live session per device; one that logs in on every launch leaves
# older sessions unlisted, where they still work until they expire.
SESSIONS_LISTED = 6
# The longest the list gets while logins of one user race each other (each adds to the list it read): well within
# one BatchGetItem (100 keys) and one transaction (100 actions) of the operator's reads and an erasure's ends.
MAX_LISTED = 3 * SESSIONS_LISTED
# A session item may replace only what holds no token hash and no key check: a retry's waiting record (put_waiting),
# or what an erasure's end left where a session had already expired.
NO_SESSION_HERE = "attribute_not_exists(tokenHash) AND attribute_not_exists(keyCheck)"
# How many requests may wait for one code's login in flight (a client's resends of it, with its key): each holds a
# function instance for the wait, so a client resending a used code holds at most this many, once.
MAX_WAITERS = 8
# A login reads the user's generation and writes on that condition; each lost race (an erasure, another login
# creating the user) costs one more try, and three in a row is DynamoDB being too contended to answer now.
LOGIN_WRITE_ATTEMPTS = 3
UNIONID_INDEX = "unionid-index"
# An operator's block (storage/operator.py writes it, with a new generation): no login of the user passes.
BLOCK_ATTRIBUTES = {"reason": "blockedReason", "at": "blockedAt", "by": "blockedBy"}


def new_account_id() -> str:
    """128 random bits, base64url: an account's `sub`, which nothing about the WeChat user predicts."""
    return secrets.token_urlsafe(16)


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def session_item_key(session_id: str) -> dict:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": SESSION_SK}}


def user_from_item(item: dict) -> User:
    data = plain(item)
    profile = {k: data[k] for k in PROFILE_FIELDS if k in data}
    phone = {k: data[k] for k in PHONE_FIELDS if k in data}
    sealed, previous = data.get("sessionKey"), data.get("previousSessionKey")
    return User(
        user_id=data["pk"].removeprefix("USER#"),
        appid=data["appid"],
        openid=data["openid"],
        unionid=data.get("unionid"),
        sealed_session_key=sealed if isinstance(sealed, bytes) else None,
        profile=profile or None,
        phone=phone or None,
        created_at=data["createdAt"],
        last_login_at=data["lastLoginAt"],
        generation=data.get("gen"),
        sub=data.get("sub"),
        claimed_unionid=data.get("claimedUnionid") if data.get("unionid") is None else None,
        blocked={key: data.get(name) for key, name in BLOCK_ATTRIBUTES.items()} if "blockedAt" in data else None,
        # A user's first login had no key to keep: previousSessionKey is NULL then.
        sealed_previous_session_key=previous if isinstance(previous, bytes) else None,
        previous_session_key_until=data.get("previousKeyUntil"),
        risk_rank=data.get("riskRank"),
        listed_sessions=data.get("sessions"),
    )


def _list_session(
    expression: str, names: dict, values: dict, condition: str, listed: dict | None, session: NewSession, now: float
) -> tuple[str, str, list[str]]:
    """Add `session` to the user item's list in a login's update: (expression, condition, paths to remove).

    A list the read found gets one entry set and its expired and oldest entries removed (paths apart, so
    logins of the same user racing each other both land), on the condition that it is still below MAX_LISTED:
    racing logins each add an entry to the list they read, and the ceiling bounds what they can grow it to. A
    list at the ceiling is replaced whole by its newest entries and this one, on the condition that it still is;
    a user item without one (new, or its list cleared with a new generation) gets the whole list, on the
    condition that it still has none."""
    names["#sessions"] = "sessions"
    if listed is None:
        values[":listed"] = {"M": {session.session_id: to_attr(session.expires_at)}}
        return f"{expression}, #sessions = :listed", f"({condition}) AND attribute_not_exists(#sessions)", []
    kept = sorted((expires, sid) for sid, expires in listed.items() if expires > now and sid != session.session_id)
    newest = kept[max(0, len(kept) - (SESSIONS_LISTED - 1)) :]
    values[":ceiling"] = to_attr(MAX_LISTED)
    if len(listed) >= MAX_LISTED:
        entries = {sid: to_attr(expires) for expires, sid in newest} | {session.session_id: to_attr(session.expires_at)}
        values[":listed"] = {"M": entries}
        return f"{expression}, #sessions = :listed", f"({condition}) AND size(#sessions) >= :ceiling", []
    names["#listed"], values[":listedUntil"] = session.session_id, to_attr(session.expires_at)
    expression = f"{expression}, #sessions.#listed = :listedUntil"
    keep = {sid for _, sid in newest} | {session.session_id}
    removes = []
    for i, sid in enumerate(sid for sid in listed if sid not in keep):
        names[f"#drop{i}"] = sid
        removes.append(f"#sessions.#drop{i}")
    return expression, f"({condition}) AND size(#sessions) < :ceiling", removes


@record
class Session:
    expires_at: int
    generation: str | None


@record
class LoginRetry:
    """What a login with an Idempotency-Key adds to its session item: its answer, sealed for a retry."""

    key_check: str
    kid: str
    sealed: bytes | None
    retry_until: int


@record
class SessionRecord:
    """A session item as a retry of its login reads it: `retry` None for a login made without a key."""

    token_hash: str | None
    expires_at: int
    retry: LoginRetry | None

    @property
    def waiting(self) -> bool:
        """A retry's waiting record (put_waiting): neither a session nor a failed login's record."""
        return self.token_hash is None and self.retry is None


@record
class NewSession:
    """The session a login is about to write: the user item lists it in the same write."""

    session_id: str
    expires_at: int


class UserStore(Table):
    def record_login(
        self,
        user_id: str,
        fields: dict,
        login_id: str,
        generation: str,
        now: float,
        seal_session_key: Callable[[str], bytes],
        claimed_unionid: str | None = None,
        previous_key_until: int | None = None,
        session: NewSession | None = None,
    ) -> tuple[User, bool]:
        """Upsert the user from a login; (the user as stored, whether this login created it).

        `fields` are set as given (WeChat's unionid included: WeChat is trusted, and its unionid settles any
        claim). `claimed_unionid` comes from decrypted data only: it is kept apart, as `claimedUnionid` (not in
        the unionid index, so it links nothing), and only when the user has no unionid or claim yet or the same:
        a known unionid never changes (InvalidEncryptedData, nothing written). The creator is decided by DynamoDB itself
        (`createdBy` is set once), so exactly one login of a new user, however many race, and also a
        login whose first attempt landed but whose answer botocore lost, learns it created the user. The
        account's `sub` is set once too: a new random id, so a user made anew after an erasure is a new account.

        The session_key is sealed for the user item's generation (`seal_session_key(generation)`), which a
        login of a known user reads first: the write is conditional on the item still being what was read
        (absent, or of that generation), so a login racing an erasure never seals for an account it does not
        write; one that loses the race reads again.

        With `previous_key_until`, the session_key this login replaces is kept, sealed as it was (for the same
        item and generation, which the condition holds), as previousSessionKey until then, copied inside the
        same write: DynamoDB reads every operand of an update expression from the item as it was before it.

        `session` is listed on the user item in the same write, with the expired and the oldest entries dropped
        so that at most SESSIONS_LISTED remain."""
        for _ in range(LOGIN_WRITE_ATTEMPTS):
            found, current, unionid, claimed, blocked, listed = self._login_state(user_id)
            if blocked:
                # Nothing written, not even the session_key. A block made after this read gives the user a new
                # generation, so the write below fails its condition and the next read sees the block.
                raise AccountBlocked()
            if claimed_unionid is not None and (unionid or claimed) not in (None, claimed_unionid):
                raise InvalidEncryptedData()
            sealed_for = current or generation
            expression, names, values = set_expression(
                {**fields, "sessionKey": seal_session_key(sealed_for), "lastLoginAt": iso_time(now)}
            )
            if previous_key_until is not None:
                names.update(
                    {"#key": "sessionKey", "#previousKey": "previousSessionKey", "#keyUntil": "previousKeyUntil"}
                )
                values.update({":noKey": {"NULL": True}, ":keyUntil": to_attr(previous_key_until)})
                # First, for a reader that applies the actions in order: the old key is copied before it is replaced.
                expression = f"#previousKey = if_not_exists(#key, :noKey), #keyUntil = :keyUntil, {expression}"
            once = {"createdAt": iso_time(now), "gen": generation, "createdBy": login_id, "sub": new_account_id()}
            for i, (name, value) in enumerate(once.items()):
                names[f"#once{i}"], values[f":once{i}"] = name, to_attr(value)
                expression += f", #once{i} = if_not_exists(#once{i}, :once{i})"
            if not found:
                condition = "attribute_not_exists(pk)"
            elif current is None:  # an item from before generations: this login gives it one
                condition = "attribute_exists(pk) AND attribute_not_exists(#gen)"
                names["#gen"] = "gen"
            else:
                condition = "#gen = :readgen"
                names["#gen"], values[":readgen"] = "gen", to_attr(current)
            removes = []
            if session is not None:
                listing = _list_session(expression, names, values, condition, listed, session, now)
                expression, condition, dropped = listing
                removes.extend(dropped)
            if "unionid" in fields:
                removes.append("claimedUnionid")  # WeChat's own answer: it confirms the claim or overrules it
            elif claimed_unionid is not None and unionid is None:
                names["#claimed"], values[":claimed"] = "claimedUnionid", to_attr(claimed_unionid)
                expression += ", #claimed = :claimed"
                condition = (
                    f"({condition}) AND attribute_not_exists(unionid)"
                    " AND (attribute_not_exists(#claimed) OR #claimed = :claimed)"
                )
            try:
                attributes = self._set_on_user(user_id, expression, names, values, condition, ", ".join(removes))
            except ConditionFailed:
                continue  # created, erased or given a unionid meanwhile (or our own lost write landed): read again
            return user_from_item(attributes), attributes["createdBy"]["S"] == login_id
        raise ServiceUnavailable()

    def _login_state(self, user_id: str) -> tuple[bool, str | None, str | None, str | None, bool, dict | None]:
        """(whether the user item exists, its generation, its unionid, its claimed unionid, whether it is blocked,
        its listed sessions), read consistently."""
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ProjectionExpression="#gen, unionid, claimedUnionid, blockedAt, #sessions",
            ExpressionAttributeNames={"#gen": "gen", "#sessions": "sessions"},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return False, None, None, None, False, None
        data = plain(item)
        return (
            True,
            data.get("gen"),
            data.get("unionid"),
            data.get("claimedUnionid"),
            "blockedAt" in data,
            data.get("sessions"),
        )

    def _set_on_user(
        self, user_id: str, expression: str, names: dict, values: dict, condition: str | None, remove: str | None = None
    ) -> dict:
        """`SET expression` (and `REMOVE remove`) on the user item (under `condition`, if any); the item's
        attributes afterwards."""
        response = self.call(
            "update_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            UpdateExpression=f"SET {expression}" + (f" REMOVE {remove}" if remove else ""),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            **({"ConditionExpression": condition} if condition else {}),
        )
        return response["Attributes"]

    def put_session(
        self, ref: TokenRef, generation: str, expires_at: int, now: float, retry: LoginRetry | None = None
    ) -> bool:
        """The new session, under the user item's generation, written only where no session of its login is:
        whether it is stored (a retried put that had landed finds its own item, and is)."""
        item = {
            **session_item_key(ref.session_id),
            "tokenHash": {"S": ref.token_hash},
            "gen": {"S": generation},
            "expiresAt": to_attr(expires_at),
            "createdAt": to_attr(iso_time(now)),
        }
        if retry is not None:
            item.update(
                {
                    "keyCheck": {"S": retry.key_check},
                    "kid": {"S": retry.kid},
                    "sealed": {"B": retry.sealed},
                    "retryUntil": to_attr(retry.retry_until),
                }
            )
        try:
            # Over a retry's waiting record (put_waiting), never over a session.
            self.call("put_item", TableName=self.table_name, Item=item, ConditionExpression=NO_SESSION_HERE)
        except ConditionFailed:
            there = self.session_record(ref.session_id)
            return there is not None and there.token_hash == ref.token_hash
        return True

    def put_failed_login(self, session_id: str, key_check: str, kid: str, expires_at: int) -> None:
        """Where a keyed login that failed would have put its session: its retry is answered at once."""
        item = {
            **session_item_key(session_id),
            "keyCheck": {"S": key_check},
            "kid": {"S": kid},
            "expiresAt": to_attr(expires_at),
            "retryUntil": to_attr(expires_at),
        }
        try:
            self.call("put_item", TableName=self.table_name, Item=item, ConditionExpression=NO_SESSION_HERE)
        except ConditionFailed:
            pass  # a session of this login is there after all: a retry finds it

    def put_waiting(self, session_id: str, key_check: str, wait_until: float, expires_at: int) -> bool:
        """Where no session of a code is yet, the record of the requests that may wait for it (a client's retries
        of a login in flight, all with its key): False when something is there already. A session, or its login's
        failure, replaces it; a record no login replaced stays until `expires_at` and refuses every later use of
        the code at once."""
        item = {
            **session_item_key(session_id),
            "waitKey": {"S": key_check},
            "waitUntil": to_attr(wait_until),
            "waiters": to_attr(1),
            "expiresAt": to_attr(expires_at),
        }
        try:
            self.call("put_item", TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def join_wait(self, session_id: str, key_check: str, now: float) -> float | None:
        """Wait with the requests of a waiting record (put_waiting): until when, or None when this request may not
        (another key, the wait over, MAX_WAITERS waiting already, or the session there by now)."""
        try:
            response = self.call(
                "update_item",
                TableName=self.table_name,
                Key=session_item_key(session_id),
                UpdateExpression="ADD waiters :one",
                ConditionExpression=f"{NO_SESSION_HERE} AND waitKey = :key AND waitUntil > :now AND waiters < :most",
                ExpressionAttributeValues={
                    ":one": to_attr(1),
                    ":key": {"S": key_check},
                    ":now": to_attr(now),
                    ":most": to_attr(MAX_WAITERS),
                },
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return plain(response["Attributes"])["waitUntil"]

    def session_record(self, session_id: str) -> SessionRecord | None:
        """The session item of a login's code, as a retry of that login reads it."""
        response = self.call(
            "get_item", TableName=self.table_name, Key=session_item_key(session_id), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        data = plain(item)
        retry = None
        if "keyCheck" in data:
            retry = LoginRetry(data["keyCheck"], data["kid"], data.get("sealed"), int(data["retryUntil"]))
        return SessionRecord(data.get("tokenHash"), int(data["expiresAt"]), retry)

    def session_with_user(self, ref: TokenRef) -> tuple[Session | None, User | None]:
        """(the session the token names, its user), each None when absent, read in one request."""
        user_key = {"pk": {"S": user_pk(ref.user_id)}, "sk": {"S": USER_SK}}
        response = self.call(
            "batch_get_item",
            RequestItems={
                self.table_name: {"Keys": [user_key, session_item_key(ref.session_id)], "ConsistentRead": True}
            },
        )
        if response.get("UnprocessedKeys"):
            raise ServiceUnavailable()
        items = {item["sk"]["S"]: item for item in response.get("Responses", {}).get(self.table_name, [])}
        session, user = items.get(SESSION_SK), items.get(USER_SK)
        # The item is this token's only if it holds the token's hash (a failed login's item holds none); the hash
        # covers the whole token, its user id included, so the session names no user itself.
        if session is not None and not hmac.compare_digest(session.get("tokenHash", {}).get("S", ""), ref.token_hash):
            session = None
        return (
            Session(int(session["expiresAt"]["N"]), session.get("gen", {}).get("S")) if session is not None else None,
            user_from_item(user) if user is not None else None,
        )

    def listed_sessions(self, user: User) -> list[dict]:
        """The session items the user item lists, as plain values, read in one request (at most MAX_LISTED keys);
        keys DynamoDB left unprocessed are ServiceUnavailable, as for session_with_user."""
        if not user.listed_sessions:
            return []
        keys = [session_item_key(sid) for sid in sorted(user.listed_sessions)]
        response = self.call("batch_get_item", RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}})
        if response.get("UnprocessedKeys"):
            raise ServiceUnavailable()
        return [plain(item) for item in response.get("Responses", {}).get(self.table_name, [])]

    def is_known(self, user_id: str) -> bool:
        """Whether the user item exists: one strongly consistent read of its key alone."""
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ProjectionExpression="pk",
            ConsistentRead=True,
        )
        return "Item" in response

    def claim_key_check(self, ref: TokenRef, generation: str | None, now: float, interval: int) -> bool:
        """Mark the session as having asked WeChat about its user's session_key; False when it did so less than
        `interval` seconds ago (or the session is gone, or of another generation): then it may not ask again."""
        try:
            self.call(
                "update_item",
                TableName=self.table_name,
                Key=session_item_key(ref.session_id),
                UpdateExpression="SET keyCheckedAt = :now",
                ConditionExpression=(
                    "tokenHash = :hash AND gen = :gen"
                    " AND (attribute_not_exists(keyCheckedAt) OR keyCheckedAt <= :before)"
                ),
                ExpressionAttributeValues={
                    ":now": to_attr(int(now)),
                    ":before": to_attr(int(now) - interval),
                    ":gen": {"S": generation or ""},
                    ":hash": {"S": ref.token_hash},
                },
            )
        except ConditionFailed:
            return False
        return True

    def update_user(self, user: User, fields: dict) -> User:
        """Set fields on `user` as a session found it, on the condition that the item is still that user's
        generation: a write that loses to an erasure (and maybe a new sign-up of the same person) stores
        nothing and is Unauthorized, like any request of a session that no longer works."""
        expression, names, values = set_expression(fields)
        names["#gen"], values[":gen"] = "gen", to_attr(user.generation)
        try:
            return user_from_item(self._set_on_user(user.user_id, expression, names, values, "#gen = :gen"))
        except ConditionFailed:
            raise Unauthorized() from None

    def _end_session(self, session_id: str, now: float, logout_of: str | None = None) -> dict:
        """The update that ends a session at once: expired now (the TTL removes it later) and its answer gone, so a
        retry of its login finds it and is refused at once. A logout names its user (`logout_of`) for the audit
        entry the events function writes; an erasure also takes the generation, so the item keeps nothing of the
        user."""
        values = {":now": to_attr(int(now))}
        if logout_of is None:
            update = "SET expiresAt = :now, endedAt = :now REMOVE sealed, gen, uid"
        else:
            update = "SET expiresAt = :now, endedAt = :now, uid = :uid REMOVE sealed"
            values[":uid"] = {"S": logout_of}
        return {
            "TableName": self.table_name,
            "Key": session_item_key(session_id),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }

    def revoke_session(self, ref: TokenRef, generation: str | None, now: float) -> None:
        """Log the session out, on the condition that it is still live and of the user's `generation` (as read
        when the caller was let in): a logout that loses to an erasure or a sign-out writes nothing."""
        end = self._end_session(ref.session_id, now, logout_of=ref.user_id)
        end["ConditionExpression"] = "tokenHash = :hash AND expiresAt > :now AND gen = :gen"
        end["ExpressionAttributeValues"].update({":hash": {"S": ref.token_hash}, ":gen": {"S": generation or ""}})
        try:
            self.call("update_item", **end)
        except ConditionFailed:
            raise Unauthorized() from None

    def delete_user(self, user: User, current: TokenRef | None, now: float) -> None:
        """Erase `user` (as the caller's session found it) and end its sessions, in one TransactWriteItems (at
        most MAX_LISTED + 2 actions of the 100 one may hold): the user item on the condition that it is still
        that generation, so an erasure by a session of an account that was erased and made anew meanwhile erases
        nothing of the new account (Unauthorized); one that finds the user already gone has nothing left to do.
        Each listed session and the caller's (`current`; None when an operator erases) is ended in place and
        keeps nothing that names the user; a session beyond the list holds the generation of a user item that is
        gone, never works again, and expires by TTL.

        Ending a session is an Update, which IAM checks as dynamodb:UpdateItem on its item; erasing the user is a
        Delete: the account role needs no BatchWriteItem, which would also let it put items
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)."""
        others = sorted(set(user.listed_sessions or {}) - ({current.session_id} if current is not None else set()))
        erase = {
            "Delete": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": user_pk(user.user_id)}, "sk": {"S": USER_SK}},
                "ConditionExpression": "#gen = :gen",
                "ExpressionAttributeNames": {"#gen": "gen"},
                "ExpressionAttributeValues": {":gen": to_attr(user.generation)},
            }
        }
        # Unconditional: a session that ended meanwhile (its logout raced this) is ended again.
        ends = [{"Update": self._end_session(sid, now)} for sid in others]
        if current is not None:
            ends.append({"Update": self._end_session(current.session_id, now)})
        try:
            self._write_together([erase, *ends])
        except ConditionFailed:
            # Gone, not made anew: this erasure's own transaction landed on an attempt whose answer was lost (a
            # store that ignores ClientRequestToken, as moto does, refuses the retry), or another erasure did it.
            if self.is_known(user.user_id):
                raise Unauthorized() from None

    def _write_together(self, actions: list[dict]) -> None:
        self.call(
            "transact_write_items",
            # The same token on botocore's own retries: a retried transaction that already landed succeeds.
            ClientRequestToken=str(uuid.uuid4()),
            TransactItems=actions,
        )

    def linked_users(self, user: User) -> list[dict]:
        """The same person's users in the developer's other Mini Programs: those sharing the unionid."""
        if user.unionid is None:
            return []
        response = self.call(
            "query",
            TableName=self.table_name,
            IndexName=UNIONID_INDEX,
            KeyConditionExpression="unionid = :u",
            ExpressionAttributeValues={":u": {"S": user.unionid}},
            ProjectionExpression="appid, openid",
            Limit=50,
        )
        linked = [plain(item) for item in response.get("Items", [])]
        return sorted(
            ({"appid": item["appid"], "openid": item["openid"]} for item in linked if item["appid"] != user.appid),
            key=lambda item: item["appid"],
        )
