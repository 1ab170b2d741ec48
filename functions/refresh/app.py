"""POST /v1/auth/token: a session's access token of the moment, apart from login.

A refreshing client (or a looping one) runs here, so its invocations never take the login function's
reserved concurrency, and this function's own reservation bounds them (docs/capacity.md). It reads only
the signing keys and the session with its user: no AppSecret, no data keys, no WeChat.
"""

from wxlogin.config import get_settings
from wxlogin.keys.appsecrets import SecretsManagerProvider
from wxlogin.keys.signing import AccessTokenSigner
from wxlogin.services.auth import Authenticator
from wxlogin.storage.users import UserStore
from wxlogin.web import api
from wxlogin.web.parsing import token_ref

settings = get_settings()
function = api.HttpFunction(settings.tracing)
secrets = SecretsManagerProvider()
auth = Authenticator(UserStore(settings.table_name))
signer = AccessTokenSigner.from_settings(settings, secrets)


@function.route("POST /v1/auth/token")
def refresh_access_token():
    session = token_ref(function.event)
    user = auth.user(session)
    issuer = signer.issuer(function.event)
    # While the session's current token is young this is that same token: a refresh loop mints no more.
    answer = signer.answer(
        issuer, session=session, subject=user.sub, appid=user.appid, openid=user.openid, unionid=user.unionid
    )
    return api.json_response(200, answer)


lambda_handler = function.handler
