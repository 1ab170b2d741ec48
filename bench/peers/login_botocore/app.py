"""LoginFunction's like-for-like peer: the same remote calls with the same libraries, written by hand.

botocore without boto3 and urllib3 (as the layer), the three secrets in one
BatchGetSecretValue, jscode2session, the same read and two writes (GetItem of
the user's generation and listed sessions, UpdateItem of the user on that
condition listing the new session and answering the user as stored, PutItem of
the session item `SESSION#<id>`/`SESSION` where none is, its id a digest of an
HMAC of the code), the session_key sealed with AES-256-GCM under an HKDF subkey
of the data keys for the user item and its generation, and an RS256 access
token signed with cryptography. No Powertools, no routing, no checks beyond
what the calls need: what a careful developer would write for the same work.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import time

import botocore.session
import certifi
import urllib3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

APPID, TABLE = os.environ["PEER_APPID"], os.environ["TABLE_NAME"]
session = botocore.session.get_session()
dynamodb = session.create_client("dynamodb")
answer = session.create_client("secretsmanager").batch_get_secret_value(
    SecretIdList=[
        os.environ["PEER_APP_SECRETS_ID"],
        os.environ["PEER_DATA_KEYS_ID"],
        os.environ["PEER_SIGNING_KEYS_ID"],
    ]
)
by_name = {s["Name"]: json.loads(s["SecretString"]) for s in answer["SecretValues"]}
APP_SECRET = by_name[os.environ["PEER_APP_SECRETS_ID"]][APPID]
data_keys = by_name[os.environ["PEER_DATA_KEYS_ID"]]
KID = data_keys["current"]
SEALING_KEY = HKDF(hashes.SHA256(), 32, None, b"wxlogin session_key").derive(data_keys[KID].encode())
LOGIN_ID_KEY = HKDF(hashes.SHA256(), 32, None, b"wxlogin hash login session").derive(data_keys[KID].encode())
LISTED = 6
signing = by_name[os.environ["PEER_SIGNING_KEYS_ID"]]
SIGNING_KID = signing["signingKeyId"]
PRIVATE_KEY = serialization.load_pem_private_key(
    next(k for k in signing["keys"] if k["kid"] == SIGNING_KID)["privateKey"].encode(),
    password=None,
    unsafe_skip_rsa_key_validation=True,
)
http = urllib3.PoolManager(retries=False, ca_certs=certifi.where())


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def lambda_handler(event, context):
    code = json.loads(event["body"])["code"]
    wechat = json.loads(
        http.request(
            "GET",
            os.environ["WECHAT_API_BASE"] + "/sns/jscode2session",
            fields={"appid": APPID, "secret": APP_SECRET, "js_code": code, "grant_type": "authorization_code"},
            timeout=urllib3.Timeout(connect=1.5, read=4),
        ).data
    )
    openid, now = wechat["openid"], int(time.time())
    user_id = b64url(hashlib.sha256(f"{APPID}\n{openid}".encode()).digest())[:22]
    key = {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}}
    # One session per code: its id comes from the code, and the token carries what leads back to it.
    login_id = hmac.new(LOGIN_ID_KEY, f"{APPID}\n{code}".encode(), hashlib.sha256).digest()[:16]
    session_id = b64url(hashlib.sha256(login_id).digest()[:12])
    token = f"{user_id}.{b64url(login_id + secrets.token_bytes(16))}"
    expires = now + 7 * 86400
    # The generation the session_key is sealed for (the user's own, or a new one for a new user), and its list.
    known = dynamodb.get_item(
        TableName=TABLE,
        Key=key,
        ProjectionExpression="gen, #s",
        ExpressionAttributeNames={"#s": "sessions"},
        ConsistentRead=True,
    ).get("Item")
    gen = known["gen"]["S"] if known else secrets.token_urlsafe(16)
    nonce = os.urandom(12)
    sealed = (
        bytes([2, len(KID)])
        + KID.encode()
        + nonce
        + AESGCM(SEALING_KEY).encrypt(nonce, wechat["session_key"].encode(), f"USER#{user_id}\n{gen}".encode())
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    names, values = {"#s": "sessions", "#new": session_id}, {":e": {"N": str(expires)}}
    listed = {sid: int(v["N"]) for sid, v in (known or {}).get("sessions", {}).get("M", {}).items()}
    if listed:
        kept = sorted((exp, sid) for sid, exp in listed.items() if exp > now)
        oldest = kept[: max(0, len(kept) - (LISTED - 1))]
        dropped = [sid for sid, exp in listed.items() if exp <= now] + [sid for _, sid in oldest]
        names.update({f"#d{i}": sid for i, sid in enumerate(dropped)})
        listing = "#s.#new = :e" + (" REMOVE " + ", ".join(f"#s.#d{i}" for i in range(len(dropped))) if dropped else "")
        condition = "gen = :g AND attribute_exists(#s)"
    else:
        del names["#new"]
        values[":e"] = {"M": {session_id: {"N": str(expires)}}}
        listing = "#s = :e"
        condition = ("gen = :g" if known else "attribute_not_exists(pk)") + " AND attribute_not_exists(#s)"
    user = dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET appid = :a, openid = :o, sessionKey = :k, lastLoginAt = :t, "
        "createdAt = if_not_exists(createdAt, :t), gen = if_not_exists(gen, :g), " + listing,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            ":a": {"S": APPID},
            ":o": {"S": openid},
            ":k": {"B": sealed},
            ":t": {"S": stamp},
            ":g": {"S": gen},
            **values,
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"SESSION#{session_id}"},
            "sk": {"S": "SESSION"},
            "tokenHash": {"S": hashlib.sha256(token.encode()).hexdigest()},
            "gen": user["gen"],
            "expiresAt": {"N": str(expires)},
            "createdAt": {"S": stamp},
        },
        ConditionExpression="attribute_not_exists(tokenHash) AND attribute_not_exists(keyCheck)",
    )
    header = {"alg": "RS256", "kid": SIGNING_KID, "typ": "at+jwt"}
    claims = {"iss": "https://peer", "aud": APPID, "sub": user_id, "openid": openid, "iat": now, "exp": now + 900}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = PRIVATE_KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    body = {"token": token, "openid": openid, "accessToken": f"{signing_input}.{b64url(signature)}"}
    return {"statusCode": 200, "body": json.dumps(body)}
