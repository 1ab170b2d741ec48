"""Erasure against what racing logins can leave on the user item, in process (moto and the real handlers).

A login lists its session on the user item from the list it read (storage/users.py, `_list_session`): it drops
the expired and the oldest entries it saw and adds its own. Logins of one user racing on separate instances each
add their entry to a list read before the others wrote, so the list grows by one per racing login until the next
login trims it back to SESSIONS_LISTED. DELETE /v1/me ends every listed session in one TransactWriteItems,
which holds at most 100 actions
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
"""

from __future__ import annotations

import time

from tests.support.values import APPID, OPENID
from wxlogin.keys import tokens
from wxlogin.storage.users import SESSIONS_LISTED

# What about 120 logins of one user at once (a script on the user's own phone, or 120 warm instances each
# serving one of them) leave listed: each added its own entry and removed none the others added.
RACED_ENTRIES = 120


def test_an_account_whose_list_racing_logins_grew_past_a_transaction_is_still_erased(api, aws, login):
    me = login()
    user_id = tokens.user_id_for(APPID, OPENID)
    until = int(time.time()) + 3600
    raced = {f"raced{i:010}": {"N": str(until)} for i in range(RACED_ENTRIES)}
    item = aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}},
        UpdateExpression="SET #sessions = :raced",
        ExpressionAttributeNames={"#sessions": "sessions"},
        ExpressionAttributeValues={":raced": {"M": raced}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert len(item["sessions"]["M"]) > SESSIONS_LISTED
    erased = api.delete("/v1/me", token=me.token)
    # Today: 500 internal_error (a TransactWriteItems of 122 actions), and the user stays until a later login
    # trims the list (storage/users.py, delete_user).
    assert erased.status == 204, erased.body
    assert api.get("/v1/me", token=me.token).status == 401
