"""The floor and one GetItem: the remote work of a protected read (GET /v1/me is one BatchGetItem)."""

import os

import boto3

dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    dynamodb.get_item(TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": "USER#peer"}, "sk": {"S": "USER"}})
    return {"statusCode": 200}
