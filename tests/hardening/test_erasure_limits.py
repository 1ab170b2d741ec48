"""What racing logins can leave on the user item, and that an operator and an erasure still handle it, in process
(moto and the real handlers).

A login lists its session on the user item from the list it read (storage/users.py, `_list_session`): logins of
one user racing on separate instances each add their entry to a list read before the others wrote, so the list
grows past SESSIONS_LISTED, but only up to MAX_LISTED (a login's write is refused above it, and a login that
reads a list at the ceiling replaces it whole). DELETE /v1/me ends every listed session in one TransactWriteItems
(at most 100 actions,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html), and an operator reads
them in one BatchGetItem (at most 100 keys).
"""

from __future__ import annotations

import time

from tests.support.values import APPID, OPENID
from wxlogin.keys import tokens
from wxlogin.storage.users import MAX_LISTED, SESSIONS_LISTED


def _raced(aws, entries: int) -> int:
    """The user's list as racing logins leave it at most: `entries` live sessions listed. Its length."""
    user_id = tokens.user_id_for(APPID, OPENID)
    until = int(time.time()) + 3600
    raced = {f"raced{i:010}": {"N": str(until + i)} for i in range(entries)}
    item = aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}},
        UpdateExpression="SET #sessions = :raced",
        ExpressionAttributeNames={"#sessions": "sessions"},
        ExpressionAttributeValues={":raced": {"M": raced}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return len(item["sessions"]["M"])


def test_an_account_whose_list_racing_logins_grew_to_its_ceiling_is_still_erased(api, aws, login):
    me = login()
    assert _raced(aws, MAX_LISTED) > SESSIONS_LISTED
    erased = api.delete("/v1/me", token=me.token)
    assert erased.status == 204, erased.body
    assert api.get("/v1/me", token=me.token).status == 401
    assert aws.user_of(me.token) is None


def test_the_next_login_cuts_a_list_at_its_ceiling_back_to_the_newest(api, aws, login):
    login()
    _raced(aws, MAX_LISTED)
    me = login()
    listed = aws.user_of(me.token)["sessions"]["M"]
    assert len(listed) == SESSIONS_LISTED and tokens.parse_token(me.token).session_id in listed
    # The newest of the raced entries stay; the oldest went.
    assert f"raced{MAX_LISTED - 1:010}" in listed and "raced0000000000" not in listed
