"""GET /v1/examples/whoami: THE EXAMPLE TO COPY of a developer's own function behind API Gateway's JWT authorizer.

API Gateway has already verified the access token (signature, iss, aud, exp) before this runs; the
function only reads the claims it passes on, every value a string. `sub` is the stable user id to key
your own data by; `openid` (and `unionid` when WeChat gave one) say who it is in WeChat's terms.
"""

import json


def lambda_handler(event, context):
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    answer = {name: claims[name] for name in ("sub", "appid", "openid", "unionid", "exp") if name in claims}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        "body": json.dumps(answer),
    }
