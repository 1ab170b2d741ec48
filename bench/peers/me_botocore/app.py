"""AccountFunction's like-for-like peer for GET /v1/me, written by hand with botocore (no boto3).

One BatchGetItem of the session and its user, the session's expiry and
generation checked, the user answered as JSON.
"""

import hashlib
import json
import os
import time

import botocore.session

TABLE = os.environ["TABLE_NAME"]
dynamodb = botocore.session.get_session().create_client("dynamodb")


def lambda_handler(event, context):
    token = event["headers"]["authorization"].removeprefix("Bearer ")
    pk = {"S": "USER#" + token.split(".")[0]}
    session_sk = {"S": "SESSION#" + hashlib.sha256(token.encode()).hexdigest()}
    found = dynamodb.batch_get_item(
        RequestItems={
            TABLE: {"Keys": [{"pk": pk, "sk": {"S": "USER"}}, {"pk": pk, "sk": session_sk}], "ConsistentRead": True}
        }
    )["Responses"][TABLE]
    items = {item["sk"]["S"]: item for item in found}
    user, live = items.get("USER"), items.get(session_sk["S"])
    if user is None or live is None or int(live["expiresAt"]["N"]) <= time.time() or live["gen"] != user["gen"]:
        return {"statusCode": 401}
    body = {"openid": user["openid"]["S"], "createdAt": user["createdAt"]["S"], "lastLoginAt": user["lastLoginAt"]["S"]}
    return {"statusCode": 200, "body": json.dumps(body)}
