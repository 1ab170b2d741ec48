"""Access tokens: minting, verification against the published JWKS, the key set's format and rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time

import pytest

from scripts import signing_keys
from wxlogin.errors import InternalError, Unauthorized
from wxlogin.keys.signing import (
    AccessTokenSigner,
    InvalidAccessToken,
    mint_access_token,
    openid_configuration,
    verify_access_token,
)
from wxlogin.keys.signing_keys import SigningKeys, SigningKeysUnavailable, parse_key_set
from wxlogin.keys.tokens import TokenRef, bearer_token, mint_token, user_id_for

ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
APPID = "wx0123456789abcdef"
OPENID = "o-alice"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# A PEM's last base64 line can be a few characters long, short enough to turn up in any text by chance;
# the full 64-character lines are what a leak would show.
PEM_LINE = 64


def key_material(document: dict) -> list[str]:
    """The full base64 lines of every PEM in a key set: none may appear anywhere but the secret."""
    lines = []
    for entry in document["keys"]:
        pem = entry.get("privateKey") or entry.get("publicKey")
        lines += [line for line in pem.splitlines() if len(line) == PEM_LINE and not line.startswith("-----")]
    return lines


def private_material(document: dict) -> list[str]:
    return [
        line
        for e in document["keys"]
        if "privateKey" in e
        for line in e["privateKey"].splitlines()[1:-1]
        if len(line) == PEM_LINE
    ]


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def document(request) -> dict:
    return signing_keys.new_key_set(request.param)


def mint(document: dict, **overrides) -> str:
    arguments = {
        "issuer": ISSUER,
        "audience": APPID,
        "subject": "account-1",
        "appid": APPID,
        "openid": OPENID,
        "unionid": "u-alice",
        "ttl_seconds": 900,
    }
    arguments.update(overrides)
    return mint_access_token(parse_key_set(json.dumps(document)), **arguments)


def verify(document: dict, token: str, **overrides) -> dict:
    jwks = parse_key_set(json.dumps(document)).jwks()
    return verify_access_token(token, jwks, **{"issuer": ISSUER, "audience": APPID, **overrides})


def segments(token: str) -> list[dict | bytes]:
    header, payload, signature = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))
    return [json.loads(header), json.loads(payload), signature]


def test_a_minted_token_verifies_and_says_who_the_user_is_and_nothing_more(document):
    before = int(time.time())
    claims = verify(document, mint(document))
    assert claims.keys() == {"iss", "aud", "sub", "client_id", "appid", "openid", "unionid", "iat", "exp", "jti"}
    assert claims["client_id"] == APPID  # RFC 9068, 2.2
    assert claims["sub"] == "account-1" and claims["openid"] == OPENID
    assert claims["iss"] == ISSUER and claims["aud"] == APPID and claims["unionid"] == "u-alice"
    assert before <= claims["iat"] and claims["exp"] == claims["iat"] + 900
    header = segments(mint(document))[0]
    assert header == {
        "alg": parse_key_set(json.dumps(document)).signing_key.algorithm,
        "kid": document["signingKeyId"],
        "typ": "at+jwt",
    }


def test_no_unionid_claim_when_wechat_gave_none_and_every_token_is_distinct(document):
    first, second = verify(document, mint(document, unionid=None)), verify(document, mint(document, unionid=None))
    assert "unionid" not in first
    assert first["jti"] != second["jti"]


def test_the_jwks_and_discovery_publish_public_keys_only(document):
    key_set = parse_key_set(json.dumps(document))
    jwks = key_set.jwks()
    [jwk] = jwks["keys"]
    assert jwk["kid"] == document["signingKeyId"] and jwk["use"] == "sig" and jwk["alg"] == key_set.algorithms[0]
    assert "key_ops" not in jwk  # RFC 7517, 4.3: not both
    assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()
    text = json.dumps(jwks) + json.dumps(openid_configuration(ISSUER, key_set))
    assert not any(line in text for line in key_material(document))
    assert openid_configuration(ISSUER + "/", key_set) == {
        "issuer": ISSUER + "/",
        "jwks_uri": ISSUER + "/.well-known/jwks.json",
        "response_types_supported": [],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": key_set.algorithms,
    }


def test_pyjwt_and_jwcrypto_both_verify_a_genuine_token_from_the_published_jwks(document):
    """Two independent libraries, each given only the published JWKS, accept the token and its RFC 9068 header
    and claims; each refuses it under another key set."""
    import jwt
    from jwcrypto import jwk as jwcrypto_jwk
    from jwcrypto import jwt as jwcrypto_jwt

    token = mint(document)
    published = parse_key_set(json.dumps(document)).jwks()
    [key] = published["keys"]
    algorithm = key["alg"]
    by_pyjwt = jwt.decode(
        token,
        jwt.PyJWKSet.from_dict(published)[key["kid"]],
        algorithms=[algorithm],
        audience=APPID,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "sub", "client_id", "iat", "exp", "jti"]},
    )
    verified = jwcrypto_jwt.JWT(
        jwt=token,
        key=jwcrypto_jwk.JWKSet.from_json(json.dumps(published)),
        algs=[algorithm],
        check_claims={"iss": ISSUER, "aud": APPID, "exp": None, "sub": None, "client_id": APPID, "jti": None},
    )
    by_jwcrypto = json.loads(verified.claims)
    assert by_pyjwt == by_jwcrypto and by_jwcrypto["client_id"] == APPID
    assert json.loads(verified.token.objects["protected"])["typ"] == "at+jwt"
    other = parse_key_set(json.dumps(signing_keys.new_key_set(algorithm))).jwks()
    other["keys"][0]["kid"] = key["kid"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWKSet.from_dict(other)[key["kid"]], algorithms=[algorithm], audience=APPID)
    # With a key set, jwcrypto tries the key of that kid and, its signature refused, finds no key that verifies.
    with pytest.raises(jwcrypto_jwt.JWTMissingKey):
        jwcrypto_jwt.JWT(jwt=token, key=jwcrypto_jwk.JWKSet.from_json(json.dumps(other)), algs=[algorithm])


def test_no_private_key_material_in_repr(document):
    key_set = parse_key_set(json.dumps(document))
    text = repr(key_set) + str(key_set) + repr(key_set.signing_key)
    assert not any(line in text for line in key_material(document))


# --- Bad input and attacks: every one is the same InvalidAccessToken, a 401 unauthorized. ---


def forge(header: dict, payload: dict, sign) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def public_pem(document: dict) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = parse_key_set(json.dumps(document)).signing_key.public_key
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def attacks(document: dict, issuer: str = ISSUER) -> dict[str, str]:
    """Every token the issue lists as an attack, built on a good one from `issuer`."""
    good = mint(document, issuer=issuer)
    header, payload, signature = segments(good)
    head, body, sig = good.split(".")
    tampered_payload = {**payload, "openid": "o-mallory"}
    return {
        "alg none": forge({**header, "alg": "none"}, payload, lambda _: b""),
        "HS256 signed with the public key": forge(
            {**header, "alg": "HS256"},
            payload,
            lambda data: hmac.new(public_pem(document), data, hashlib.sha256).digest(),
        ),
        "unknown kid": f"{b64url(json.dumps({**header, 'kid': 'nobody'}).encode())}.{body}.{sig}",
        "no kid": f"{b64url(json.dumps({k: v for k, v in header.items() if k != 'kid'}).encode())}.{body}.{sig}",
        "not typed as an access token": f"{b64url(json.dumps({**header, 'typ': 'JWT'}).encode())}.{body}.{sig}",
        "wrong iss": mint(document, issuer="https://evil.example.com"),
        "wrong aud": mint(document, issuer=issuer, audience="wxsomeoneelse"),
        "expired": mint(document, issuer=issuer, now=int(time.time()) - 3600, ttl_seconds=900),
        "issued in the future": mint(document, issuer=issuer, now=int(time.time()) + 3600),
        "tampered payload": f"{head}.{b64url(json.dumps(tampered_payload).encode())}.{sig}",
        "tampered signature": f"{head}.{body}.{b64url(bytes([signature[0] ^ 1]) + signature[1:])}",
        "no signature": f"{head}.{body}.",
        "a session token": mint_token(user_id_for(APPID, OPENID), bytes(16))[0],
        "garbage": "not.a.jwt",
        "empty": "",
    }


def test_every_attack_is_refused_by_the_verifier(document):
    for name, token in attacks(document).items():
        with pytest.raises(InvalidAccessToken) as raised:
            verify(document, token)
        assert isinstance(raised.value, Unauthorized), name
        assert raised.value.status == 401 and raised.value.code == "unauthorized", name


def test_a_token_signed_by_another_key_set_is_refused(document):
    stranger = signing_keys.new_key_set("ES256")
    forged = mint(stranger)
    header, _, _ = segments(forged)
    # The stranger's token, relabelled with our kid: the signature is checked with our key and fails.
    relabelled = f"{b64url(json.dumps({**header, 'kid': document['signingKeyId']}).encode())}." + ".".join(
        forged.split(".")[1:]
    )
    for token in (forged, relabelled):
        with pytest.raises(InvalidAccessToken):
            verify(document, token)


def test_an_access_token_is_no_session_token(document):
    with pytest.raises(Unauthorized):
        bearer_token(f"Bearer {mint(document)}")


# --- Rotation: add (published), promote (signs), retire (public only), remove (gone). ---


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_removed():
    first = signing_keys.new_key_set("RS256")
    old_kid = first["signingKeyId"]
    before = mint(first)

    added, new_kid = signing_keys.add_key(first, "RS256")
    assert parse_key_set(json.dumps(added)).signing_key.kid == old_kid  # published, not yet signing
    assert segments(mint(added))[0]["kid"] == old_kid
    assert verify(added, before)["openid"] == OPENID

    promoted = signing_keys.promote(added, new_kid)
    after = mint(promoted)
    assert segments(after)[0]["kid"] == new_kid
    retired = signing_keys.retire(promoted, old_kid)
    assert "privateKey" not in next(e for e in retired["keys"] if e["kid"] == old_kid)
    for key_set in (promoted, retired):
        assert verify(key_set, before)["openid"] == OPENID
        assert verify(key_set, after)["openid"] == OPENID

    removed = signing_keys.remove(retired, old_kid)
    assert [key["kid"] for key in parse_key_set(json.dumps(removed)).jwks()["keys"]] == [new_kid]
    with pytest.raises(InvalidAccessToken):
        verify(removed, before)
    assert verify(removed, after)["openid"] == OPENID


def test_the_signing_key_cannot_be_retired_or_removed_nor_a_retired_key_promoted():
    document, kid = signing_keys.add_key(signing_keys.new_key_set("ES256"), "ES256")
    signing = document["signingKeyId"]
    for step in (signing_keys.retire, signing_keys.remove):
        with pytest.raises(ValueError, match="signs"):
            step(document, signing)
    with pytest.raises(ValueError, match="retired"):
        signing_keys.promote(signing_keys.retire(document, kid), kid)
    with pytest.raises(ValueError, match="no key"):
        signing_keys.promote(document, "nobody")


# --- The secret's format: refused with a message that names no key material. ---


def small_keys() -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def pem(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    return {
        "RSA 1024": pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 - refused
        "P-384": pem(ec.generate_private_key(ec.SECP384R1())),
    }


def test_malformed_key_sets_are_refused_without_quoting_key_material():
    good = signing_keys.new_key_set("ES256")
    entry = good["keys"][0]
    broken_pem = entry["privateKey"].replace("\n", "\n#", 2)
    cases = {
        "not json": "{",
        "not an object": "[]",
        "no keys": json.dumps({"signingKeyId": "a", "keys": []}),
        "unknown signing key": json.dumps({**good, "signingKeyId": "nobody"}),
        "duplicate kid": json.dumps({**good, "keys": [entry, entry]}),
        "bad kid": json.dumps({**good, "signingKeyId": "a b", "keys": [{**entry, "kid": "a b"}]}),
        "both halves": json.dumps({**good, "keys": [{**entry, "publicKey": entry["privateKey"]}]}),
        "neither half": json.dumps({**good, "keys": [{"kid": entry["kid"]}]}),
        "broken PEM": json.dumps({**good, "keys": [{**entry, "privateKey": broken_pem}]}),
        "signing key has no private half": json.dumps(signing_keys.retire({**good, "signingKeyId": "x"}, entry["kid"])),
    }
    for name, pem in small_keys().items():
        cases[name] = json.dumps({"signingKeyId": "k", "keys": [{"kid": "k", "privateKey": pem}]})
    for name, text in cases.items():
        with pytest.raises(ValueError) as raised:
            parse_key_set(text)
        assert not any(line in str(raised.value) for line in key_material(good)), name


# --- scripts/signing_keys.py: key sets in on stdin, out on stdout, key ids only on stderr. ---


def run_script(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = signing_keys.main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_the_script_walks_a_rotation_and_never_prints_key_material_to_stderr():
    status, created, told = run_script("new")
    assert status == 0
    first = json.loads(created)
    old = first["signingKeyId"]
    status, added, told_add = run_script("add", "--algorithm", "ES256", stdin=created)
    new = next(e["kid"] for e in json.loads(added)["keys"] if e["kid"] != old)
    # Key ids start with the day they were made: never with "-", which argparse would take for an option.
    assert old[:8].isdigit() and new[:8].isdigit()
    status, promoted, _ = run_script("promote", new, stdin=added)
    status, retired, _ = run_script("retire", old, stdin=promoted)
    status, shown, _ = run_script("show", stdin=retired)
    assert status == 0
    assert shown.splitlines() == [f"{old}  RS256  retired, published", f"{new}  ES256  signs"]
    status, removed, _ = run_script("remove", old, stdin=retired)
    assert [e["kid"] for e in json.loads(removed)["keys"]] == [new]
    secrets_of_all = private_material(first) + private_material(json.loads(added))
    assert not any(line in told + told_add + shown for line in secrets_of_all)


def test_the_script_refuses_bad_steps_without_output():
    _, created, _ = run_script("new")
    kid = json.loads(created)["signingKeyId"]
    for argv, stdin in ((("remove", kid), created), (("promote", "nobody"), created), (("add",), "{}")):
        status, out, err = run_script(*argv, stdin=stdin)
        assert status == 1 and out == "" and err.startswith("signing_keys: ")
        assert not any(line in err for line in private_material(json.loads(created)))


# --- The signer: issuer, audience and lifetime as configured, keys from a (fake) secrets provider. ---


def signer(document: dict, **settings) -> AccessTokenSigner:
    return AccessTokenSigner(SigningKeys(lambda: json.dumps(document)), 900, **settings)


def test_the_issuer_is_the_configured_one_or_the_domain_the_request_came_in_on(document):
    event = {"requestContext": {"domainName": "abc123.execute-api.us-east-1.amazonaws.com"}}
    assert signer(document).issuer(event) == "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert signer(document, issuer="https://login.example.com").issuer(event) == "https://login.example.com"
    with pytest.raises(InternalError):
        signer(document).issuer({"requestContext": {}})


SESSION = TokenRef("user-1", "hash-of-the-session-token", "session-1")


def session_answer(document: dict, now: float, session: TokenRef = SESSION, **settings) -> dict:
    return signer(document, **settings).answer(
        ISSUER, session=session, subject="account-1", appid=APPID, openid=OPENID, unionid=None, now=now
    )


def test_the_answer_carries_the_configured_audience_or_the_appid(document):
    for audience, expected in ((None, APPID), ("my-api", "my-api")):
        answer = session_answer(document, time.time(), audience=audience)
        assert 3 * 900 / 4 < answer["accessTokenExpiresIn"] <= 900
        assert verify(document, answer["accessToken"], audience=expected)["aud"] == expected


def test_a_session_refreshing_while_its_token_is_young_gets_that_same_token(document):
    """A refresh every 3 seconds for two lifetimes: one new token per quarter lifetime, at most four valid at once,
    each with at least three quarters of its lifetime left when handed out."""
    start = 1_800_000_000
    answers = [(now, session_answer(document, now)) for now in range(start, start + 2 * 900, 3)]
    claims = {now: segments(answer["accessToken"])[1] for now, answer in answers}
    distinct = {c["jti"]: c for c in claims.values()}
    assert len(distinct) in (8, 9)  # 2 lifetimes / (900 / 4 s), plus the slot the loop started in
    for now, answer in answers:
        assert answer["accessTokenExpiresIn"] == claims[now]["exp"] - now > 3 * 900 / 4
        valid = {c["jti"] for c in distinct.values() if c["iat"] <= now < c["exp"]}
        assert len(valid) <= 4
    if parse_key_set(json.dumps(document)).signing_key.algorithm == "RS256":
        assert len({answer["accessToken"] for _, answer in answers}) == len(distinct)  # byte-identical within a slot


def test_two_sessions_get_distinct_tokens_and_roll_over_at_different_moments(document):
    other = TokenRef("user-1", "hash-of-another-session-token", "session-2")
    first, second = session_answer(document, 1_800_000_000), session_answer(document, 1_800_000_000, other)
    assert segments(first["accessToken"])[1]["jti"] != segments(second["accessToken"])[1]["jti"]
    offsets = {
        segments(session_answer(document, 1_800_000_000, TokenRef("u", f"h{i}", f"s{i}"))["accessToken"])[1]["iat"]
        for i in range(20)
    }
    assert len(offsets) > 10


def test_an_empty_secret_publishes_no_keys_and_signs_nothing():
    keys = SigningKeys(lambda: "{}")
    assert keys.published().jwks() == {"keys": []}
    with pytest.raises(SigningKeysUnavailable):
        keys.current()
