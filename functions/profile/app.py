"""POST /v1/profile/decrypt: open the profile the WeChat client encrypted with the session_key."""

from wxlogin import api
from wxlogin.config import get_settings
from wxlogin.profile import ProfileService
from wxlogin.store import UserStore

settings = get_settings()
function = api.HttpFunction()
app = function.app
store = UserStore(settings.table_name)
service = ProfileService(store, settings.watermark_max_age_seconds)


@app.post("/v1/profile/decrypt")
def decrypt_profile():
    event = function.event
    user, _ = api.authenticate(event, store)
    payload = api.encrypted_payload(api.json_body(event))
    return api.json_response(200, service.decrypt_profile(user, payload))


lambda_handler = function.handler
