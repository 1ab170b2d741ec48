"""AccountFunction's like-for-like peer for GET /v1/me, written by hand with botocore (no boto3).

One BatchGetItem of the session (`SESSION#<id>`, the id from the token) and its
user, the session's token hash, expiry and generation checked, the user
answered as JSON.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import botocore.session

TABLE = os.environ["TABLE_NAME"]
dynamodb = botocore.session.get_session().create_client("dynamodb")


def lambda_handler(event, context):
    token = event["headers"]["authorization"].removeprefix("Bearer ")
    user_id, secret = token.split(".")
    pk = {"S": "USER#" + user_id}
    # The token's first 16 bytes name its login, whose digest is the session item's key.
    login_id = base64.urlsafe_b64decode(secret + "=")[:16]
    session_pk = {"S": "SESSION#" + base64.urlsafe_b64encode(hashlib.sha256(login_id).digest()[:12]).decode()}
    found = dynamodb.batch_get_item(
        RequestItems={
            TABLE: {
                "Keys": [{"pk": pk, "sk": {"S": "USER"}}, {"pk": session_pk, "sk": {"S": "SESSION"}}],
                "ConsistentRead": True,
            }
        }
    )["Responses"][TABLE]
    items = {item["sk"]["S"]: item for item in found}
    live = items.get("SESSION")
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    if live is not None and not hmac.compare_digest(live.get("tokenHash", {}).get("S", ""), token_hash):
        live = None  # not this token's session
    user = items.get("USER")
    if user is None or live is None or int(live["expiresAt"]["N"]) <= time.time() or live["gen"] != user["gen"]:
        return {"statusCode": 401}
    body = {"openid": user["openid"]["S"], "createdAt": user["createdAt"]["S"], "lastLoginAt": user["lastLoginAt"]["S"]}
    return {"statusCode": 200, "body": json.dumps(body)}
