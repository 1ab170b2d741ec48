"""ProfileFunction's like-for-like peer for POST /v1/profile/decrypt, written by hand with the same libraries.

botocore without boto3, the data keys read once from Secrets Manager, then per
request: one BatchGetItem of the session (`SESSION#<id>`, the id from the
token) and its user, the session's token hash, expiry and generation checked,
the session_key opened (AES-256-GCM under an HKDF subkey, the item and its
generation as associated data), the encryptedData decrypted (AES-128-CBC) and
its watermark checked, and one UpdateItem of the profile fields on the
condition of that generation.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import botocore.session
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

APPID, TABLE = os.environ["PEER_APPID"], os.environ["TABLE_NAME"]
session = botocore.session.get_session()
dynamodb = session.create_client("dynamodb")
data_keys = json.loads(
    session.create_client("secretsmanager").get_secret_value(SecretId=os.environ["PEER_DATA_KEYS_ID"])["SecretString"]
)
KEYS = {
    kid: HKDF(hashes.SHA256(), 32, None, b"wxlogin session_key").derive(material.encode())
    for kid, material in data_keys.items()
    if kid != "current"
}
PROFILE = ("nickName", "avatarUrl", "gender", "country", "province", "city", "language")


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
    blob = user["sessionKey"]["B"]
    kid_end = 2 + blob[1]
    nonce, sealed = blob[kid_end : kid_end + 12], blob[kid_end + 12 :]
    associated = f"{pk['S']}\n{user['gen']['S']}".encode()
    session_key = AESGCM(KEYS[blob[2:kid_end].decode()]).decrypt(nonce, sealed, associated)
    body = json.loads(event["body"])
    decryptor = Cipher(
        algorithms.AES(base64.b64decode(session_key)), modes.CBC(base64.b64decode(body["iv"]))
    ).decryptor()
    padded = decryptor.update(base64.b64decode(body["encryptedData"])) + decryptor.finalize()
    data = json.loads(padded[: -padded[-1]])
    if data["watermark"]["appid"] != APPID:
        return {"statusCode": 400}
    fields = {name: data[name] for name in PROFILE if data.get(name) not in (None, "")}
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":f{i}": {"N": str(v)} if isinstance(v, int) else {"S": v} for i, v in enumerate(fields.values())}
    values[":gen"] = user["gen"]
    updated = dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": pk, "sk": {"S": "USER"}},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConditionExpression="gen = :gen",
        ReturnValues="ALL_NEW",
    )["Attributes"]
    profile = {name: next(iter(updated[name].values())) for name in PROFILE if name in updated}
    return {"statusCode": 200, "body": json.dumps({"profile": profile})}
