"""Operator actions on one wxlogin user, through the admin API with your AWS credentials (IAM, SigV4).

    find      list the users an identifier matches (a unionid or a phone number may match several)
    show      one user: what GET /v1/me shows, plus sub, live sessions, block, created and last login
    block     403 user_blocked on login, refresh and every protected route; every session ends now
    unblock   the user may log in again (sessions ended by the block stay ended)
    signout   end every session now; the account stays and may log in again
    export    everything kept about the user, as one JSON document (no secret, no token)
    erase     the erasure DELETE /v1/me makes: the user and every session (asks unless --yes)
    trail     the user's audit trail, newest first (an erased user's too, named by --sub or --appid/--openid)

A user is named by exactly one of: --sub, --appid with --openid, --unionid, --phone (E.164 like
+8613800138000; a number without a country code is taken as +86). The admin API's URL comes from
--url, $WXLOGIN_ADMIN_URL, or the AdminApiUrl output of --stack. Credentials and region come from the
usual AWS places (environment, --profile, SSO); the identity needs execute-api:Invoke on the admin API
and is written into the audit trail with each action. Against `make run`:

    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
      python scripts/admin.py --url http://127.0.0.1:3000 show --appid wx0123456789abcdef --openid OPENID

Answers print as JSON on stdout; errors print one line on stderr (exit 1: refused or failed; exit 2: usage,
credentials or configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request

ACTIONS = {
    "find": "list the users an identifier matches",
    "show": "show one user: profile, phone, sub, live sessions, block, created and last login",
    "block": "block the user (403 user_blocked everywhere) and end every session now; needs --reason",
    "unblock": "let a blocked user log in again; needs --reason",
    "signout": "end every session of the user now (sign out everywhere); the account stays",
    "export": "everything kept about the user as one JSON document (the right of access)",
    "erase": "erase the user and every session, as DELETE /v1/me does (asks unless --yes)",
    "trail": "the user's audit trail, newest first",
}
REASON_REQUIRED = {"block", "unblock"}
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
TIMEOUT_SECONDS = 30


class Failure(Exception):
    """What went wrong, for one line on stderr; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="admin.py",
        description=__doc__.split("\n\n")[0],
        epilog="Run `admin.py ACTION --help` for an action's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--url", help="the admin API's base URL (default: $WXLOGIN_ADMIN_URL)")
    top.add_argument("--stack", help="read the URL from this CloudFormation stack's AdminApiUrl output")
    top.add_argument("--profile", help="the AWS profile to sign with (default: the usual AWS credential chain)")
    top.add_argument("--region", help="the API's region (default: from the URL, else your AWS configuration)")
    actions = top.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, summary in ACTIONS.items():
        sub = actions.add_parser(action, help=summary, description=summary)
        who = sub.add_argument_group("the user (exactly one way)")
        who.add_argument("--sub", help="the account's sub (the access token's subject)")
        who.add_argument("--appid", help="the Mini Program's appid (with --openid)")
        who.add_argument("--openid", help="the user's openid in that Mini Program (with --appid)")
        who.add_argument("--unionid", help="the user's unionid (may match one user per Mini Program)")
        who.add_argument("--phone", help="a bound phone number, e.g. +8613800138000")
        if action in REASON_REQUIRED:
            sub.add_argument("--reason", required=True, help="why, kept in the audit trail (and the UserBlocked event)")
        elif action in ("signout", "erase"):
            sub.add_argument("--reason", help="why, kept in the audit trail")
        if action == "erase":
            sub.add_argument("--yes", action="store_true", help="erase without asking")
    return top


def selector(args: argparse.Namespace) -> dict:
    given = {name: getattr(args, name) for name in ("sub", "appid", "openid", "unionid", "phone")}
    given = {name: value for name, value in given.items() if value is not None}
    if set(given) not in ({"sub"}, {"appid", "openid"}, {"unionid"}, {"phone"}):
        raise Failure("name the user by exactly one of: --sub, --appid with --openid, --unionid, --phone", 2)
    return given


def admin_url(args: argparse.Namespace, session) -> str:
    url = args.url or os.environ.get("WXLOGIN_ADMIN_URL")
    if url is None and args.stack:
        url = _stack_output(session, args.stack, args.region)
    if not url:
        raise Failure("no admin API URL: give --url, set WXLOGIN_ADMIN_URL, or give --stack", 2)
    if not url.startswith(("https://", "http://")):
        raise Failure(f"--url must be an http(s) URL, got {url!r}", 2)
    return url.rstrip("/")


def _stack_output(session, stack: str, region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = session.create_client("cloudformation", region_name=region)
        outputs = client.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except (BotoCoreError, ClientError) as exc:
        raise Failure(f"cannot read stack {stack}: {exc}", 2) from None
    for output in outputs:
        if output["OutputKey"] == "AdminApiUrl":
            return output["OutputValue"]
    raise Failure(f"stack {stack} has no AdminApiUrl output (deployed before the admin API?)", 2)


def region_of(url: str, args: argparse.Namespace, session) -> str:
    host = url.split("://", 1)[1].split("/", 1)[0]
    match = EXECUTE_API_HOST.match(host)
    region = (
        args.region
        or (match.group(1) if match else None)
        or session.get_config_variable("region")
        or os.environ.get("AWS_REGION")
    )
    if not region:
        raise Failure("no region: give --region or set AWS_REGION", 2)
    return region


def call(session, url: str, region: str, action: str, body: dict) -> dict:
    """POST the action, signed with SigV4 for execute-api; the JSON answer, or Failure."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials()
    if credentials is None:
        raise Failure(
            "no AWS credentials: configure them (aws configure, AWS_PROFILE, SSO) or, against the local "
            "stack, set AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
            2,
        )
    data = json.dumps(body).encode("utf-8")
    request = AWSRequest(
        method="POST", url=f"{url}/admin/users/{action}", data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    prepared = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked to be http(s)
        request.url, data=data, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise Failure(_refusal(exc.code, exc.read())) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Failure(f"cannot reach {url}: {reason}") from None


def _refusal(status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # wxlogin's own answer
        return f"{status} {error.get('code')}: {error.get('message')}"
    message = body.get("message") if isinstance(body, dict) else None
    if status == 403:  # API Gateway's IAM check
        return f"403 refused by API Gateway ({message}): sign with an identity allowed execute-api:Invoke on it"
    return f"{status}: {message or raw[:200].decode('utf-8', 'replace')}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError

        body = selector(args)
        if getattr(args, "reason", None):
            body["reason"] = args.reason
        try:
            session = botocore.session.Session(profile=args.profile)
            url = admin_url(args, session)
            region = region_of(url, args, session)
            if args.action == "erase" and not args.yes:
                who = ", ".join(f"{name} {value}" for name, value in selector(args).items())
                if input(f"erase the user with {who} and every session? type yes: ").strip() != "yes":
                    raise Failure("not erased", 1)
            answer = call(session, url, region, args.action, body)
        except BotoCoreError as exc:  # a profile that does not exist, SSO expired, ...
            raise Failure(f"AWS configuration: {exc}", 2) from None
    except Failure as failure:
        print(f"admin.py: {failure}", file=sys.stderr)
        return failure.code
    except (KeyboardInterrupt, EOFError):
        print("admin.py: interrupted", file=sys.stderr)
        return 1
    json.dump(answer, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
