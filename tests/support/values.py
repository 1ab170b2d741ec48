"""The fixed apps and user every suite logs in with (fake secrets, never real ones)."""

APPID = "wx0123456789abcdef"
APP_SECRET = "0123456789abcdef0123456789abcdef"
OTHER_APPID = "wxfedcba9876543210"
OTHER_APP_SECRET = "fedcba9876543210fedcba9876543210"
SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="  # base64 of bytes 0..15
OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"

# What a refused decryption may leave, apart from the user's data, which it must leave as it was: when its
# session last asked WeChat's checksession (on the session item), and the app's WeChat access token (APP#
# items) that asking needed.
BOOKKEEPING = "keyCheckedAt"
