"""A login written with wechatpy and boto3: code_to_session, then put_item of the user.

The AppSecret comes from the environment. wechatpy adds an access_token to
every call and would fetch one first; one is given so the peer makes the same
single WeChat call as our login.
"""

import json
import os
import time

import boto3
from wechatpy import WeChatClient

dynamodb = boto3.client("dynamodb")
wechat = WeChatClient(os.environ["PEER_APPID"], os.environ["PEER_APP_SECRET"], access_token="peer")  # noqa: S106 - a placeholder, see the docstring
wechat.wxa.API_BASE_URL = os.environ["WECHAT_API_BASE"] + "/"


def lambda_handler(event, context):
    code = json.loads(event["body"])["code"]
    session = wechat.wxa.code_to_session(code)
    dynamodb.put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={
            "pk": {"S": "PEER#" + session["openid"]},
            "sk": {"S": "USER"},
            "sessionKey": {"S": session["session_key"]},
            "lastLoginAt": {"N": str(int(time.time()))},
        },
    )
    return {"statusCode": 200, "body": json.dumps({"openid": session["openid"]})}
