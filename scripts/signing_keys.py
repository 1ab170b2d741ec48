"""Make and rotate the key set that signs access tokens, as the signing-keys secret holds it.

The key set goes in on stdin and comes out on stdout, so the private keys pass
from Secrets Manager through this script and back without touching a file, a
terminal or an argument list; what was done is told on stderr by key id only.

    new [--algorithm RS256|ES256]      a fresh key set of one key, which signs
    add [--algorithm RS256|ES256]      rotation step 1: a new key, published but not signing
    promote KID                        step 2: KID signs from now on
    retire KID                         step 3: KID stays published, its private half is dropped
    remove KID                         step 4: KID is no longer published
    show                               key ids, algorithms and roles; no key material

With the AWS CLI (the README's "Signing keys" section has the rotation in full):

    python scripts/signing_keys.py new \\
      | aws secretsmanager put-secret-value --secret-id ID --secret-string file:///dev/stdin
    aws secretsmanager get-secret-value --secret-id ID --query SecretString --output text \\
      | python scripts/signing_keys.py add \\
      | aws secretsmanager put-secret-value --secret-id ID --secret-string file:///dev/stdin

RS256 is the default because API Gateway's HTTP API JWT authorizer verifies only
RSA signatures; `--algorithm ES256` makes EC P-256 keys for APIs that verify
tokens themselves.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "wxlogin"))

from wxlogin.keys.signing_keys import parse_key_set  # noqa: E402 - the layer is not an installed package

ALGORITHMS = ("RS256", "ES256")
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def _key_id(public_jwk: dict) -> str:
    """The day the key was made, then its RFC 7638 thumbprint: two keys never share one, an operator sees
    which is older, and it never starts with "-" (base64url may), which the command line would take for
    an option."""
    members = {name: public_jwk[name] for name in THUMBPRINT_MEMBERS[public_jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    thumbprint = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return f"{time.strftime('%Y%m%d', time.gmtime())}-{thumbprint}"


def new_key(algorithm: str = "RS256") -> dict:
    """One key entry of the secret: {"kid", "privateKey"} (PKCS#8 PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
        public_jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"kid": _key_id(public_jwk), "privateKey": pem.decode("ascii")}


def new_key_set(algorithm: str = "RS256") -> dict:
    key = new_key(algorithm)
    return {"signingKeyId": key["kid"], "keys": [key]}


def _entry(document: dict, kid: str) -> dict:
    for entry in document["keys"]:
        if entry["kid"] == kid:
            return entry
    raise ValueError(f"no key {kid} in the key set")


def add_key(document: dict, algorithm: str = "RS256") -> tuple[dict, str]:
    """Step 1 of a rotation: the new key is published; the current one goes on signing."""
    key = new_key(algorithm)
    return {**document, "keys": [*document["keys"], key]}, key["kid"]


def promote(document: dict, kid: str) -> dict:
    """Step 2: the key signs from now on (once verifiers have fetched the JWKS that publishes it)."""
    if "privateKey" not in _entry(document, kid):
        raise ValueError(f"key {kid} is retired (public only) and cannot sign")
    return {**document, "signingKeyId": kid}


def retire(document: dict, kid: str) -> dict:
    """Step 3: keep publishing the key for the tokens it signed, but destroy its private half."""
    from cryptography.hazmat.primitives import serialization

    if kid == document.get("signingKeyId"):
        raise ValueError(f"key {kid} signs; promote another key first")
    entry = _entry(document, kid)
    if "privateKey" not in entry:
        return document
    private_key = serialization.load_pem_private_key(entry["privateKey"].encode(), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys = [{"kid": kid, "publicKey": public_pem.decode("ascii")} if e is entry else e for e in document["keys"]]
    return {**document, "keys": keys}


def remove(document: dict, kid: str) -> dict:
    """Step 4, once every token the key signed has expired: it is no longer published."""
    if kid == document.get("signingKeyId"):
        raise ValueError(f"key {kid} signs; promote another key first")
    _entry(document, kid)
    return {**document, "keys": [e for e in document["keys"] if e["kid"] != kid]}


def describe(document: dict) -> list[str]:
    key_set = parse_key_set(json.dumps(document))
    lines = []
    for key in key_set.keys:
        role = "signs" if key is key_set.signing_key else ("published" if key.private_key else "retired, published")
        lines.append(f"{key.kid}  {key.algorithm}  {role}")
    return lines


def main(argv: list[str] | None = None, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("new", "add"):
        command = commands.add_parser(name)
        command.add_argument("--algorithm", choices=ALGORITHMS, default="RS256")
    for name in ("promote", "retire", "remove"):
        commands.add_parser(name).add_argument("kid")
    commands.add_parser("show")
    args = parser.parse_args(argv)
    try:
        if args.command == "new":
            document = new_key_set(args.algorithm)
            print(f"new key set, signing with {document['signingKeyId']}", file=stderr)
        else:
            document = json.loads(stdin.read())
            parse_key_set(json.dumps(document))
            if args.command == "show":
                print("\n".join(describe(document)), file=stdout)
                return 0
            if args.command == "add":
                document, kid = add_key(document, args.algorithm)
                print(f"added {kid}: published, not yet signing", file=stderr)
            else:
                document = {"promote": promote, "retire": retire, "remove": remove}[args.command](document, args.kid)
                print(f"{args.command}d {args.kid}", file=stderr)
        parse_key_set(json.dumps(document))
    except (ValueError, KeyError, TypeError) as exc:
        # Messages name key ids and shapes only, never key material (parse_key_set's contract).
        print(f"signing_keys: {exc}", file=stderr)
        return 1
    stdout.write(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
