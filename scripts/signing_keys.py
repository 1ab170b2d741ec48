"""Make and rotate the key set that signs access tokens, as the signing-keys secret holds it.

The key set goes in on stdin and comes out on stdout, so the private keys pass
from Secrets Manager through this script and back without touching a file, a
terminal or an argument list; what was done, and what to do next, is told on
stderr by key id only.

Run it with the project's environment, which has cryptography and PyJWT
(`make build` or `make run` creates it): `.venv/bin/python scripts/signing_keys.py`.
The first key set: docs/deploying.md#going-live (step 4). A rotation, with the
AWS CLI commands that carry the key set: docs/operating.md#rotating-the-signing-keys.

Every command that changes the published keys (new, add, remove) is followed by
`publish`, which writes the set's public halves for the published-keys secret,
all that the function serving the JWKS and discovery can read.

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


def _public_half(entry: dict) -> dict:
    """A key entry as {"kid", "publicKey"} (SubjectPublicKeyInfo PEM), whichever half it holds."""
    from cryptography.hazmat.primitives import serialization

    if "privateKey" not in entry:
        return {"kid": entry["kid"], "publicKey": entry["publicKey"]}
    private_key = serialization.load_pem_private_key(entry["privateKey"].encode(), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"kid": entry["kid"], "publicKey": public_pem.decode("ascii")}


def retire(document: dict, kid: str) -> dict:
    """Step 3: keep publishing the key for the tokens it signed, but destroy its private half."""
    if kid == document.get("signingKeyId"):
        raise ValueError(f"key {kid} signs; promote another key first")
    entry = _entry(document, kid)
    if "privateKey" not in entry:
        return document
    keys = [_public_half(e) if e is entry else e for e in document["keys"]]
    return {**document, "keys": keys}


def publish(document: dict) -> dict:
    """The published-keys secret's value: every key's public half, no private key, nothing that signs."""
    return {"keys": [_public_half(entry) for entry in document["keys"]]}


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


# What each command does, for --help; the order is a rotation's.
COMMANDS = {
    "new": "a fresh key set of one key, which signs (the deployment's first; reads nothing)",
    "add": "rotation step 1: a new key, published in the JWKS but not signing yet",
    "promote": "rotation step 2: KID signs from now on (wait 10 minutes after step 1)",
    "retire": "rotation step 3: KID's private half is destroyed; it stays published for the tokens it signed",
    "remove": "rotation step 4: KID is no longer published (wait the token lifetime + 5 minutes after step 2)",
    "show": "key ids, algorithms and roles of the key set on stdin; no key material",
    "publish": "the public halves of the key set on stdin, to put in the secret the JWKS is served from",
}
READS_STDIN = {"add", "promote", "retire", "remove", "show", "publish"}
WRITES_KEYS = {"new", "add", "promote", "retire", "remove"}
PROJECT_PYTHON = ".venv/bin/python scripts/signing_keys.py"
FETCH_KEY_SET = "aws secretsmanager get-secret-value --region REGION --secret-id ID --query SecretString --output text"


class UsageError(Exception):
    """A mistake in how the script was called: one line of usage, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signing_keys.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, what in COMMANDS.items():
        command = commands.add_parser(name, help=what, description=what)
        if name in ("new", "add"):
            command.add_argument("--algorithm", choices=ALGORITHMS, default="RS256", help="default RS256")
        elif name not in ("show", "publish"):
            command.add_argument("kid", metavar="KID", help="the key's id, as `show` or the last step printed it")
    return parser


def _read_key_set(command: str, stdin) -> dict:
    usage = f"usage: {FETCH_KEY_SET} | {PROJECT_PYTHON} {command} ... (see --help)"
    if stdin.isatty():
        raise UsageError(f"{command} reads the key set on stdin, not from a terminal; {usage}")
    text = stdin.read()
    if not text.strip():
        raise UsageError(f"{command} got nothing on stdin; {usage}")
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("stdin is not a key set: it is not JSON") from None
    if document == {}:  # the secret as the stack creates it
        raise ValueError("the secret holds no key set yet: make the first with `new` (docs/deploying.md, step 4)")
    parse_key_set(text)  # a ValueError naming what is wrong, never key material
    return document


def _run(args, stdin, stdout, stderr) -> dict | None:
    """The new key set to write, or None when no key set is written (show, publish)."""
    if args.command == "new":
        document = new_key_set(args.algorithm)
        kid = document["signingKeyId"]
        print(
            f"new key set: {kid} signs. Next: put it in the signing-keys secret (docs/deploying.md, step 4);",
            file=stderr,
        )
        print("and its public halves (`publish`) in the published-keys secret; logins sign with it within", file=stderr)
        print("5 minutes of it reaching the secret.", file=stderr)
        return document
    document = _read_key_set(args.command, stdin)
    if args.command == "show":
        print("\n".join(describe(document)), file=stdout)
        return None
    if args.command == "publish":
        stdout.write(json.dumps(publish(document)))
        print("public halves only. Next: put them in the published-keys secret.", file=stderr)
        return None
    if args.command == "add":
        document, kid = add_key(document, args.algorithm)
        print(f"added {kid}: not signing yet; `publish` it. Next, in 10 minutes (the functions' 5-minute", file=stderr)
        print(f"secret cache, then verifiers' 5-minute JWKS cache): promote {kid}", file=stderr)
    elif args.command == "promote":
        old = document["signingKeyId"]
        document = promote(document, args.kid)
        print(f"promoted {args.kid}: it signs within 5 minutes. Next: retire {old}; then, once the", file=stderr)
        print(f"access-token lifetime + 5 minutes have passed since this step: remove {old}", file=stderr)
    elif args.command == "retire":
        document = retire(document, args.kid)
        print(
            f"retired {args.kid}: its private half is gone; it stays published. Next, once the access-token",
            file=stderr,
        )
        print(f"lifetime + 5 minutes have passed since the promotion: remove {args.kid}", file=stderr)
    else:
        document = remove(document, args.kid)
        print(f"removed {args.kid}: `publish` the set without it. The rotation is done.", file=stderr)
    return document


def main(argv: list[str] | None = None, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in WRITES_KEYS and stdout.isatty():
            raise UsageError(
                f"{args.command} writes private keys on stdout: pipe them into "
                "aws secretsmanager put-secret-value, never to a terminal (see --help)"
            )
        document = _run(args, stdin, stdout, stderr)
        if document is None:
            return 0
        parse_key_set(json.dumps(document))
    except UsageError as exc:
        print(f"signing_keys: {exc}", file=stderr)
        return 2
    except ImportError as exc:
        print(
            f"signing_keys: it needs the project's packages ({exc}); run it as {PROJECT_PYTHON} "
            "(make build or make run creates .venv)",
            file=stderr,
        )
        return 2
    except (ValueError, KeyError, TypeError) as exc:
        # Messages name key ids and shapes only, never key material (parse_key_set's contract).
        print(f"signing_keys: {exc}", file=stderr)
        return 1
    stdout.write(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
