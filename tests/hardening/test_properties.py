"""Properties of the crypto and request parsing, checked on generated input (hypothesis).

Each function under test may answer or raise its domain error, and nothing else, whatever it is given:
any other exception would reach a handler as a 500. Round trips hold, the strict decoders accept
exactly the documented shapes, and any change to the ciphertext, iv or key is either refused or
yields data that no longer passes as the session's user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st

from local.http_events import http_api_event
from wxlogin.errors import InvalidEncryptedData, InvalidRequest, Unauthorized
from wxlogin.keys import crypto, tokens
from wxlogin.services.userdata import SessionIdentity, open_profile_data
from wxlogin.web import parsing

APPID = "wx0123456789abcdef"
OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
NOW = 1_800_000_000
B64_ALPHABET = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

# Text as a JSON body can carry it: any code point, lone surrogates included (JSON escapes them as \ud800).
# st.text() all but never draws surrogates, even from an alphabet that has them: join characters instead.
any_text = st.one_of(
    st.text(max_size=64),
    st.lists(st.one_of(st.characters(), st.characters(codec=None, categories=["Cs"])), max_size=64).map("".join),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), any_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(any_text, json_values, max_size=6)
keys = st.binary(min_size=16, max_size=16)
ivs = st.binary(min_size=16, max_size=16)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def aes_cbc(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def pkcs7(data: bytes) -> bytes:
    pad = 16 - len(data) % 16
    return data + bytes([pad]) * pad


PROFILE = {"nickName": "微信用户", "gender": 0, "language": "zh_CN", "city": "", "province": "", "country": ""}


def user_data(openid: str = OPENID, timestamp: int = NOW, **extra) -> dict:
    profile = {**PROFILE, "avatarUrl": "https://thirdwx.qlogo.cn/mmopen/vi_32/a/132"}
    return {"openId": openid, **profile, **extra, "watermark": {"appid": APPID, "timestamp": timestamp}}


def _strict_json(text: str):
    """What the decryption accepts: JSON without NaN/Infinity or a key given twice (at any depth), else None."""

    def unique(pairs):
        if len(dict(pairs)) != len(pairs):
            raise ValueError("duplicate key")
        return dict(pairs)

    def refuse(name):
        raise ValueError(name)

    try:
        return json.loads(text, object_pairs_hook=unique, parse_constant=refuse)
    except ValueError:
        return None


def sealed(payload: dict, key: bytes, iv: bytes) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return aes_cbc(key, iv, pkcs7(text))


def identity(key: bytes, unionid: str | None = None) -> SessionIdentity:
    return SessionIdentity(APPID, OPENID, unionid, b64(key))


# ---------------------------------------------------------------------------------------------- base64


@given(st.binary(max_size=200))
def test_strict_base64_round_trips(raw):
    assert crypto.b64decode_strict(b64(raw)) == raw


@given(any_text)
def test_strict_base64_accepts_only_padded_standard_alphabet(text):
    try:
        raw = crypto.b64decode_strict(text)
    except ValueError:
        return
    assert B64_ALPHABET.match(text) and len(text) % 4 == 0
    assert len(b64(raw)) == len(text)


@given(st.binary(min_size=1, max_size=120), st.data())
def test_strict_base64_refuses_what_lenient_decoders_take(raw, data):
    encoded = b64(raw)
    position = data.draw(st.integers(0, len(encoded)))
    junk = data.draw(st.sampled_from([" ", "\n", "\r\n", "\t", "*", "é"]))
    with pytest.raises(ValueError):
        crypto.b64decode_strict(encoded[:position] + junk + encoded[position:])
    if "+" in encoded or "/" in encoded:
        with pytest.raises(ValueError):
            crypto.b64decode_strict(encoded.translate(str.maketrans("+/", "-_")))
    if encoded.endswith("="):
        with pytest.raises(ValueError):
            crypto.b64decode_strict(encoded.rstrip("="))


# ---------------------------------------------------------------------------------------------- decryption


@given(keys, ivs, json_objects)
def test_decryption_round_trips(key, iv, payload):
    text = json.dumps(payload)  # ASCII with \u escapes: any string, surrogates included
    # A pair of escaped surrogates is one character to every JSON reader, so two keys may become one.
    expected = _strict_json(text)
    ciphertext = aes_cbc(key, iv, pkcs7(text.encode()))
    if expected is None:
        with pytest.raises(InvalidEncryptedData):
            crypto.decrypt_user_data(b64(key), ciphertext, iv)
    else:
        assert crypto.decrypt_user_data(b64(key), ciphertext, iv) == expected


@given(st.one_of(any_text, st.builds(b64, st.binary(max_size=40))), st.binary(max_size=80), st.binary(max_size=40))
def test_decryption_of_anything_is_a_dict_or_invalid_encrypted_data(session_key, ciphertext, iv):
    try:
        assert isinstance(crypto.decrypt_user_data(session_key, ciphertext, iv), dict)
    except InvalidEncryptedData:
        pass


@given(keys, ivs, st.binary(min_size=1, max_size=64).map(lambda b: b + bytes(-len(b) % 16)))
def test_padding_is_checked_exactly(key, iv, plaintext):
    """Whatever the last block holds, decryption answers exactly what strict PKCS#7 and JSON allow."""
    pad = plaintext[-1]
    valid = 1 <= pad <= 16 and plaintext.endswith(bytes([pad]) * pad)
    try:
        expected = _strict_json(plaintext[:-pad].decode("utf-8")) if valid else None
    except UnicodeDecodeError:
        expected = None
    ciphertext = aes_cbc(key, iv, plaintext)
    if isinstance(expected, dict):
        assert crypto.decrypt_user_data(b64(key), ciphertext, iv) == expected
    else:
        with pytest.raises(InvalidEncryptedData):
            crypto.decrypt_user_data(b64(key), ciphertext, iv)


@given(st.sampled_from([24, 32]), ivs)
def test_only_aes_128_keys_are_taken(key_length, iv):
    """cryptography would happily run AES-192/256 with a longer key; the session_key is AES-128 only."""
    key = bytes(range(key_length))
    with pytest.raises(InvalidEncryptedData):
        crypto.decrypt_user_data(b64(key), sealed(user_data(), key, iv), iv)


@given(keys, ivs, st.integers(0, 15), st.booleans())
def test_ill_shaped_ciphertext_and_iv_are_refused(key, iv, cut, cut_iv):
    ciphertext = sealed(user_data(), key, iv)
    if cut_iv:
        iv = iv[: cut or 1] if cut else iv + b"\x00"
    else:
        ciphertext = ciphertext[: len(ciphertext) - cut - 1] if cut else b""
    with pytest.raises(InvalidEncryptedData):
        crypto.decrypt_user_data(b64(key), ciphertext, iv)


@given(keys, ivs, st.sampled_from(["ciphertext", "iv", "key"]), st.data())
def test_any_bit_flip_is_refused_or_no_longer_the_sessions_data(key, iv, target, data):
    payload = user_data(unionId="oUnion000000000000000000000")
    ciphertext = sealed(payload, key, iv)
    fields = {"ciphertext": bytearray(ciphertext), "iv": bytearray(iv), "key": bytearray(key)}
    mutated = fields[target]
    bit = data.draw(st.integers(0, len(mutated) * 8 - 1))
    mutated[bit // 8] ^= 1 << (bit % 8)
    session = SessionIdentity(APPID, OPENID, "oUnion000000000000000000000", b64(bytes(fields["key"])))
    try:
        opened = crypto.decrypt_user_data(session.session_key, bytes(fields["ciphertext"]), bytes(fields["iv"]))
    except InvalidEncryptedData:
        return
    assert opened != payload
    try:
        accepted = open_profile_data(session, _payload(fields["ciphertext"], fields["iv"]), 300, NOW)
    except InvalidEncryptedData:
        return
    # CBC lets an iv change rewrite the first block; what passes is exactly the genuine profile.
    assert accepted.unionid == session.unionid and accepted.fields == {
        name: value for name, value in payload.items() if name in PROFILE and value != ""
    } | {"avatarUrl": payload["avatarUrl"]}


@given(keys, ivs, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=5))
def test_an_iv_that_rewrites_the_openid_is_refused(key, iv, forged):
    """The attack docs/wechat.md describes: `{"openId":"oGZUI` becomes `{"openId":"<forged>` without knowing the key."""
    ciphertext = sealed(user_data(), key, iv)
    original = b'{"openId":"' + OPENID[:5].encode()
    target = b'{"openId":"' + forged.encode()
    assume(target != original)
    evil_iv = bytes(a ^ b ^ c for a, b, c in zip(iv, original, target, strict=True))
    opened = crypto.decrypt_user_data(b64(key), ciphertext, evil_iv)
    assert opened["openId"] == forged + OPENID[5:]  # the attack works on the cipher...
    with pytest.raises(InvalidEncryptedData):  # ...and is refused by the identity check
        open_profile_data(identity(key), _payload(ciphertext, evil_iv), 300, NOW)


def _payload(ciphertext, iv):
    from wxlogin.services.userdata import EncryptedPayload

    return EncryptedPayload(ciphertext=bytes(ciphertext), iv=bytes(iv))


# ---------------------------------------------------------------------------------------------- signature


@given(st.text(max_size=64), st.builds(b64, keys))
def test_the_right_signature_verifies_in_either_case(raw_data, session_key):
    digest = hashlib.sha1((raw_data + session_key).encode("utf-8"), usedforsecurity=False).hexdigest()
    crypto.verify_signature(raw_data, digest, session_key)
    crypto.verify_signature(raw_data, digest.upper(), session_key)


@given(any_text, st.one_of(any_text, st.none(), st.integers()), st.builds(b64, keys))
def test_any_other_signature_is_invalid_encrypted_data(raw_data, signature, session_key):
    """Including every signature of a rawData that is not Unicode text (a lone surrogate): WeChat signs UTF-8."""
    expected = hashlib.sha1((raw_data + session_key).encode("utf-8", "surrogatepass"), usedforsecurity=False)
    assume(not isinstance(signature, str) or signature.lower() != expected.hexdigest())
    # A lone surrogate in rawData (sent as "\ud800" in JSON) must be InvalidEncryptedData, not UnicodeEncodeError.
    with pytest.raises(InvalidEncryptedData):
        crypto.verify_signature(raw_data, signature, session_key)


# ---------------------------------------------------------------------------------------------- watermark

watermark_values = st.one_of(
    st.integers(NOW - 1000, NOW + 1000), st.integers(), st.floats(), st.booleans(), st.none(), any_text
)


@given(
    st.one_of(
        st.fixed_dictionaries({"appid": st.sampled_from([APPID, "wxother", None, 1]), "timestamp": watermark_values}),
        json_values,
    ),
    st.integers(0, 3600),
)
def test_the_watermark_check_is_exactly_the_documented_rule(watermark, max_age):
    ok = (
        isinstance(watermark, dict)
        and watermark.get("appid") == APPID
        and type(watermark.get("timestamp")) is int
        and watermark["timestamp"] <= NOW + 60
        and (max_age == 0 or watermark["timestamp"] >= NOW - max_age)
    )
    if ok:
        crypto.check_watermark({"watermark": watermark}, APPID, max_age, NOW)
    else:
        with pytest.raises(InvalidEncryptedData):
            crypto.check_watermark({"watermark": watermark}, APPID, max_age, NOW)


# ---------------------------------------------------------------------------------------------- request parsing


def _event(body, content_type="application/json", headers=None):
    return http_api_event(
        "POST", "/v1/auth/login", headers={"Content-Type": content_type, **(headers or {})}, body=body
    )


def _depth(value) -> int:
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(child) for child in children), default=0)
    return 1


@given(json_objects, st.booleans())
def test_a_json_object_body_round_trips(body, as_bytes_base64):
    text = json.dumps(body)
    event = _event(text)
    if as_bytes_base64:
        event = {**event, "body": b64(text.encode("utf-8")), "isBase64Encoded": True}
    assert parsing.json_body(event) == json.loads(text)


@given(
    st.one_of(st.binary(max_size=300), any_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.none()),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "", "APPLICATION/JSON"]),
    st.booleans(),
)
def test_any_body_is_an_object_or_invalid_request(raw, content_type, required):
    try:
        body = parsing.json_body(_event(raw, content_type), required=required)
    except InvalidRequest:
        return
    assert isinstance(body, dict) and _depth(body) <= parsing.MAX_JSON_DEPTH


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_the_depth_limit_is_exact():
    assert parsing.json_body(_event(_nested(parsing.MAX_JSON_DEPTH - 1)))
    with pytest.raises(InvalidRequest):
        parsing.json_body(_event(_nested(parsing.MAX_JSON_DEPTH)))


@given(st.integers(parsing.MAX_JSON_DEPTH, 3000))
@example(1000)
# Without shrinking: a failure here is a RecursionError, and shrinking those takes minutes.
@settings(max_examples=30, phases=[Phase.explicit, Phase.generate])
def test_deep_bodies_are_refused(depth):
    try:
        parsing.json_body(_event(_nested(depth)))
        outcome = "was accepted"
    except InvalidRequest:
        return
    except RecursionError:
        # A recursive depth count raised this from about 500 levels, after json.loads had succeeded.
        outcome = "raised RecursionError, not InvalidRequest"
    # Outside the except block: a chained 1000-frame RecursionError takes pytest seconds to print.
    pytest.fail(f"a body {depth} levels deep {outcome}")


@given(st.integers(1, 4096), st.booleans())
def test_the_body_limit_is_32_kib_of_utf8(extra, wide):
    filler = ("码" if wide else "x") * (parsing.MAX_BODY_BYTES // (3 if wide else 1) + extra)
    with pytest.raises(InvalidRequest):
        parsing.json_body(_event(json.dumps({"pad": filler}, ensure_ascii=False)))


@given(json_values, st.booleans(), st.integers(1, 200))
def test_a_string_field_is_a_bounded_string_or_invalid_request(value, required, max_length):
    try:
        field = parsing.string_field({"f": value}, "f", required=required, max_length=max_length)
    except InvalidRequest:
        return
    assert field is None if value is None else (field == value and 0 < len(field) <= max_length)


@given(st.one_of(any_text, st.from_regex(parsing.CODE_PATTERN)))
def test_a_patterned_field_matches_the_whole_documented_pattern(value):
    try:
        field = parsing.code_field({"code": value})
    except InvalidRequest:
        return
    # The layer's patterns end in `$`, which re.match also satisfies before a trailing newline: fullmatch.
    assert re.fullmatch(parsing.CODE_PATTERN.pattern.rstrip("$"), field)


@given(st.one_of(any_text, st.from_regex(parsing.IDEMPOTENCY_KEY_PATTERN), st.none()))
def test_an_idempotency_key_is_absent_well_formed_or_invalid_request(value):
    headers = {} if value is None else {"idempotency-key": value}
    try:
        key = parsing.idempotency_key({"headers": headers})
    except InvalidRequest:
        return
    assert key == value
    # See test_a_patterned_field_matches_the_whole_documented_pattern.
    assert key is None or re.fullmatch(r"[A-Za-z0-9_-]{22,128}", key)
    assert key is None or len(set(key)) >= 5 and not (re.fullmatch("[0-9a-fA-F]+", key) and len(key) < 32)


@given(st.binary(min_size=16, max_size=160).map(lambda b: b[: len(b) // 16 * 16]), ivs)
def test_an_encrypted_payload_round_trips(ciphertext, iv):
    payload = parsing.encrypted_payload({"encryptedData": b64(ciphertext), "iv": b64(iv)})
    assert (payload.ciphertext, payload.iv, payload.raw_data, payload.signature) == (ciphertext, iv, None, None)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "encryptedData": st.one_of(json_values, st.builds(b64, st.binary(max_size=64))),
            "iv": st.one_of(json_values, st.builds(b64, st.binary(max_size=20))),
            "rawData": json_values,
            "signature": json_values,
        },
    )
)
def test_any_encrypted_payload_body_is_well_shaped_or_invalid_request(body):
    try:
        payload = parsing.encrypted_payload(body)
    except InvalidRequest:
        return
    assert len(payload.iv) == 16 and payload.ciphertext and len(payload.ciphertext) % 16 == 0
    assert (payload.raw_data is None) == (payload.signature is None)


@given(st.binary(min_size=16, max_size=64).map(lambda b: b[: len(b) // 16 * 16]), ivs, st.data())
def test_mangled_base64_in_a_payload_is_invalid_request(ciphertext, iv, data):
    """What transport does to base64 (URL decoding's '+' to ' ', stripped padding, line breaks) is refused."""
    field = data.draw(st.sampled_from(["encryptedData", "iv"]))
    body = {"encryptedData": b64(ciphertext), "iv": b64(iv)}
    mangle = data.draw(st.sampled_from(["space", "strip", "newline", "urlsafe"]))
    original = body[field]
    body[field] = {
        "space": original.replace("+", " "),
        "strip": original.rstrip("="),
        "newline": original[:8] + "\n" + original[8:],
        "urlsafe": original.translate(str.maketrans("+/", "-_")),
    }[mangle]
    assume(body[field] != original)
    with pytest.raises(InvalidRequest):
        parsing.encrypted_payload(body)


# ---------------------------------------------------------------------------------------------- tokens

user_ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=22, max_size=22)
login_ids = st.binary(min_size=tokens.LOGIN_ID_BYTES, max_size=tokens.LOGIN_ID_BYTES)


@given(
    user_ids,
    login_ids,
    st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]),
    st.sampled_from([" ", "  "]),
)
def test_a_minted_token_parses_back_to_its_user_hash_and_session(user_id, login_id, scheme, gap):
    token, ref = tokens.mint_token(user_id, login_id)
    expected = tokens.TokenRef(user_id, tokens.hash_token(token), tokens.session_id_for(login_id))
    assert tokens.parse_token(token) == ref == expected
    assert tokens.bearer_token(f"{scheme}{gap}{token}") == ref


@given(user_ids, login_ids, login_ids)
def test_two_logins_of_one_code_name_one_session_and_two_of_different_codes_never_do(user_id, login_id, other_id):
    """The session item a retry finds is its code's alone: the same login id leads to the same session item (a
    second token for it never passes its tokenHash), another login id never to that item."""
    (first, ref), (second, again) = tokens.mint_token(user_id, login_id), tokens.mint_token(user_id, login_id)
    assert ref.session_id == again.session_id and first != second and ref.token_hash != again.token_hash
    if other_id != login_id:
        assert tokens.mint_token(user_id, other_id)[1].session_id != ref.session_id


@given(
    st.one_of(
        any_text,
        st.none(),
        st.text(max_size=20).map(lambda t: "Bearer " + t),
        # Any token of the right shape, its last character's spare bits set or not: parsed, never a 500.
        st.from_regex(tokens.TOKEN_PATTERN, fullmatch=True).map(lambda t: "Bearer " + t),
    )
)
def test_any_authorization_header_is_a_token_ref_or_unauthorized(header):
    try:
        ref = tokens.bearer_token(header)
    except Unauthorized:
        return
    assert len(ref.user_id) == tokens.USER_ID_LENGTH and len(ref.token_hash) == 64
    assert len(ref.session_id) == len(tokens.session_id_for(bytes(tokens.LOGIN_ID_BYTES)))


@given(user_ids, login_ids, st.data())
def test_a_changed_token_never_points_at_the_same_session(user_id, login_id, data):
    token, ref = tokens.mint_token(user_id, login_id)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii"))
    assume(replacement != token[position])
    changed = token[:position] + replacement + token[position + 1 :]
    for header in (f"Bearer {changed}", f"Bearer {token} {token}", f"Bearer {token},{token}", f"Basic {token}"):
        try:
            assert tokens.bearer_token(header) != ref
        except Unauthorized:
            pass
