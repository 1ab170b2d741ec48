"""wxlogin's shared layer: configuration, WeChat client, crypto, storage and HTTP glue.

Nothing here opens a connection at import time; clients are made on first use.
"""
