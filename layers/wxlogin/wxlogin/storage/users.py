"""The users-and-sessions repository: users and their sessions (login_records.py keeps what a login leaves).

Items (pk, sk):
- user          USER#<userId>  USER            appid, openid, unionid? (jscode2session's, indexed),
                                                claimedUnionid? (decrypted data's only), sessionKey (sealed),
                                                previousSessionKey (sealed) and previousKeyUntil, riskRank?,
                                                profile + phone fields, gen, sub, createdBy, createdAt, lastLoginAt
- session       USER#<userId>  SESSION#<hash>  gen, expiresAt (TTL), createdAt, keyCheckedAt?

A session lives in its user's partition, so one BatchGetItem reads a session with its user
(auth.py decides whether it lets the caller in). A session counts only under the generation (`gen`)
of the user item it was issued for: a login racing DELETE /v1/me may write its session after the
delete, but the next user item has a new generation, so that session never works.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

from wxlogin.errors import AccountBlocked, InvalidEncryptedData, ServiceUnavailable, Unauthorized
from wxlogin.keys.tokens import TokenRef
from wxlogin.models import PHONE_FIELDS, PROFILE_FIELDS, User
from wxlogin.records import record
from wxlogin.storage.dynamodb import ConditionFailed, Table, iso_time, plain, set_expression, to_attr

USER_SK = "USER"
# Items one TransactWriteItems may hold
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
MAX_TRANSACTION_ITEMS = 100
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


def _session_sk(ref: TokenRef) -> str:
    return f"SESSION#{ref.token_hash}"


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
    )


@record
class Session:
    expires_at: int
    generation: str | None


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
        same write: DynamoDB reads every operand of an update expression from the item as it was before it."""
        for _ in range(LOGIN_WRITE_ATTEMPTS):
            found, current, unionid, claimed, blocked = self._login_state(user_id)
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
            remove = None
            if "unionid" in fields:
                remove = "claimedUnionid"  # WeChat's own answer: it confirms the claim or overrules it
            elif claimed_unionid is not None and unionid is None:
                names["#claimed"], values[":claimed"] = "claimedUnionid", to_attr(claimed_unionid)
                expression += ", #claimed = :claimed"
                condition = (
                    f"({condition}) AND attribute_not_exists(unionid)"
                    " AND (attribute_not_exists(#claimed) OR #claimed = :claimed)"
                )
            try:
                attributes = self._set_on_user(user_id, expression, names, values, condition, remove)
            except ConditionFailed:
                continue  # created, erased or given a unionid meanwhile (or our own lost write landed): read again
            return user_from_item(attributes), attributes["createdBy"]["S"] == login_id
        raise ServiceUnavailable()

    def _login_state(self, user_id: str) -> tuple[bool, str | None, str | None, str | None, bool]:
        """(whether the user item exists, its generation, its unionid, its claimed unionid, whether it is blocked),
        read consistently."""
        response = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": USER_SK}},
            ProjectionExpression="#gen, unionid, claimedUnionid, blockedAt",
            ExpressionAttributeNames={"#gen": "gen"},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return False, None, None, None, False
        data = plain(item)
        return True, data.get("gen"), data.get("unionid"), data.get("claimedUnionid"), "blockedAt" in data

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

    def _session_item(self, user_id: str, ref: TokenRef, generation: str, expires_at: int, now: float) -> dict:
        return {
            "pk": {"S": user_pk(user_id)},
            "sk": {"S": _session_sk(ref)},
            "gen": {"S": generation},
            "expiresAt": to_attr(expires_at),
            "createdAt": to_attr(iso_time(now)),
        }

    def put_session(self, user_id: str, ref: TokenRef, generation: str, expires_at: int, now: float) -> None:
        """The new session, under the user item's generation; a retried put writes the same item."""
        item = self._session_item(user_id, ref, generation, expires_at, now)
        self.call("put_item", TableName=self.table_name, Item=item)

    def session_with_user(self, ref: TokenRef) -> tuple[Session | None, User | None]:
        """(the session, its user), each None when absent, read in one request."""
        pk = {"S": user_pk(ref.user_id)}
        response = self.call(
            "batch_get_item",
            RequestItems={
                self.table_name: {
                    "Keys": [{"pk": pk, "sk": {"S": USER_SK}}, {"pk": pk, "sk": {"S": _session_sk(ref)}}],
                    "ConsistentRead": True,
                }
            },
        )
        if response.get("UnprocessedKeys"):
            raise ServiceUnavailable()
        items = {item["sk"]["S"]: item for item in response.get("Responses", {}).get(self.table_name, [])}
        session, user = items.get(_session_sk(ref)), items.get(USER_SK)
        return (
            Session(int(session["expiresAt"]["N"]), session.get("gen", {}).get("S")) if session is not None else None,
            user_from_item(user) if user is not None else None,
        )

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
                Key={"pk": {"S": user_pk(ref.user_id)}, "sk": {"S": _session_sk(ref)}},
                UpdateExpression="SET keyCheckedAt = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND gen = :gen"
                    " AND (attribute_not_exists(keyCheckedAt) OR keyCheckedAt <= :before)"
                ),
                ExpressionAttributeValues={
                    ":now": to_attr(int(now)),
                    ":before": to_attr(int(now) - interval),
                    ":gen": {"S": generation or ""},
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

    def revoke_session(self, ref: TokenRef, now: float) -> None:
        try:
            self.call(
                "delete_item",
                TableName=self.table_name,
                Key={"pk": {"S": user_pk(ref.user_id)}, "sk": {"S": _session_sk(ref)}},
                ConditionExpression="attribute_exists(pk) AND expiresAt > :now",
                ExpressionAttributeValues={":now": to_attr(int(now))},
            )
        except ConditionFailed:
            raise Unauthorized() from None

    def delete_user(self, user: User, current: TokenRef | None) -> None:
        """Erase `user` (as the caller's session found it) and every session of its generation. Other
        sessions go first, so a failure part-way leaves the caller's token working for a retry; the user and
        the caller's session then go together (with the last of the others), the user on the condition that
        it is still that generation: an erasure by a session of an account that was erased and made anew
        meanwhile erases nothing of the new account (Unauthorized). Sessions of other generations never
        work and expire by TTL. `current` is None when an operator erases: every session of the generation
        goes first, then the user.

        Every delete is a Delete in a TransactWriteItems, which IAM checks as dynamodb:DeleteItem on each
        item: the account role needs no BatchWriteItem, which would also let it put items
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)."""
        pk = user_pk(user.user_id)
        current_sk = _session_sk(current) if current is not None else None
        others = [
            self._delete({"pk": item["pk"], "sk": item["sk"]})
            for item in self._partition_items(pk)
            if item["sk"]["S"] not in (USER_SK, current_sk) and item.get("gen", {}).get("S") == user.generation
        ]
        last = [
            self._delete(
                {"pk": {"S": pk}, "sk": {"S": USER_SK}},
                ConditionExpression="#gen = :gen",
                ExpressionAttributeNames={"#gen": "gen"},
                ExpressionAttributeValues={":gen": to_attr(user.generation)},
            ),
        ]
        if current_sk is not None:
            last.append(self._delete({"pk": {"S": pk}, "sk": {"S": current_sk}}))
        first = len(others) - (MAX_TRANSACTION_ITEMS - len(last))
        for start in range(0, max(first, 0), MAX_TRANSACTION_ITEMS):
            self._delete_together(others[start : min(start + MAX_TRANSACTION_ITEMS, first)])
        try:
            self._delete_together(others[max(first, 0) :] + last)
        except ConditionFailed:
            raise Unauthorized() from None

    def _delete(self, key: dict, **condition) -> dict:
        return {"Delete": {"TableName": self.table_name, "Key": key, **condition}}

    def _delete_together(self, deletes: list[dict]) -> None:
        self.call(
            "transact_write_items",
            # The same token on botocore's own retries: a retried transaction that already landed succeeds.
            ClientRequestToken=str(uuid.uuid4()),
            TransactItems=deletes,
        )

    def _partition_items(self, pk: str) -> list[dict]:
        """Every item of the partition: its key and generation."""
        keys, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            response = self.call(
                "query",
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="pk, sk, #gen",
                ExpressionAttributeNames={"#gen": "gen"},
                ConsistentRead=True,
                **kwargs,
            )
            keys.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return keys

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
