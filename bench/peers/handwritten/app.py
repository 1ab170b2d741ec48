"""A login written by hand with requests, cryptography and boto3: jscode2session, then put_item of the user.

The AppSecret comes from Secrets Manager (PEER_APP_SECRETS_ID) or, in the
leaner variant, from the environment (PEER_APP_SECRET). cryptography is what
such a handler decrypts encryptedData with, so it is imported as it would be.
"""

import json
import os
import time

import boto3
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: F401 - see the docstring

APPID = os.environ["PEER_APPID"]
dynamodb = boto3.client("dynamodb")
if "PEER_APP_SECRETS_ID" in os.environ:
    secrets = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["PEER_APP_SECRETS_ID"])
    APP_SECRET = json.loads(secrets["SecretString"])[APPID]
else:
    APP_SECRET = os.environ["PEER_APP_SECRET"]
http = requests.Session()


def lambda_handler(event, context):
    code = json.loads(event["body"])["code"]
    answer = http.get(
        os.environ["WECHAT_API_BASE"] + "/sns/jscode2session",
        params={"appid": APPID, "secret": APP_SECRET, "js_code": code, "grant_type": "authorization_code"},
        timeout=(1.5, 4),
    ).json()
    dynamodb.put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={
            "pk": {"S": "PEER#" + answer["openid"]},
            "sk": {"S": "USER"},
            "sessionKey": {"S": answer["session_key"]},
            "lastLoginAt": {"N": str(int(time.time()))},
        },
    )
    return {"statusCode": 200, "body": json.dumps({"openid": answer["openid"]})}
