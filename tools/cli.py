"""Operator commands for hitkey-bff.

``register-client`` registers the app at HitKey and writes the client secret straight into
Secrets Manager, so the secret never passes through a terminal, a shell history or a file::

    export HITKEY_TOKEN=...        # your HitKey API bearer token
    python -m tools.cli register-client --name "My App" \\
        --redirect-uri https://app.example.com/auth/callback \\
        --secret-id <the stack's ClientSecretArn output, or a name to create>

AWS access is checked before HitKey is called: HitKey shows a client secret only once, so a
registration whose secret could not be stored is a registration to delete and redo.

``sessions list|end --sub S`` is an operator's view of one user's sessions in the deployed table
(``--table`` or ``$SESSION_TABLE``, in ``--region`` or ``$AWS_DEFAULT_REGION``; moto or DynamoDB
Local with ``AWS_ENDPOINT_URL``). It prints public ids, devices and times - never a token, a data
key or a cookie secret (the table holds none of the latter, and the listing projects no token
attribute). Ending prints one JSON line per session ended, reason ``revoked`` (ASVS 7.4.2, 7.4.5).

Exit codes: 0 done; 2 usage or configuration error; 1 HitKey or AWS failed (one line on stderr
says what to do next).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from hitkey_bff.store import SessionRecord

__all__ = ["DEFAULT_API_URL", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "CliError", "main"]

DEFAULT_API_URL = "https://api.hitkey.io"
TIMEOUT_SECONDS = 10.0
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_MAX_DETAIL = 200


class CliError(Exception):
    """A failure reported as one line on stderr, with the process's exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    """The ``tools.cli`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m tools.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register = commands.add_parser(
        "register-client",
        help="register this app at HitKey and store its client secret in Secrets Manager",
        description="Register an OAuth client at HitKey (token from $HITKEY_TOKEN) and put its "
        'client_secret into Secrets Manager as {"client_secret": "..."}.',
    )
    add = register.add_argument
    add("--name", required=True, help="the app's name, shown on HitKey's sign-in page")
    add("--redirect-uri", required=True, help="absolute URL of /auth/callback, exactly as the BFF sends it")
    add("--api-url", help=f"HitKey API base URL (default: $HITKEY_API_URL or {DEFAULT_API_URL})")
    add("--secret-id", required=True, help="ARN or name of the secret (created if it does not exist)")
    add("--show-secret", action="store_true", help="also print the client secret (it is stored either way)")
    wait = f"how long to wait for HitKey (default {TIMEOUT_SECONDS:g})"
    add("--timeout", type=float, default=TIMEOUT_SECONDS, metavar="SECONDS", help=wait)
    replace = "replace a client secret already stored in --secret-id (the client using it stops working)"
    add("--force", action="store_true", help=replace)
    sessions = commands.add_parser("sessions", help="list or end a user's sessions (support, disabled accounts)")
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("list", "list a user's sessions"), ("end", "end one (--id) or all of a user's sessions")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--sub", required=True, help="the user's HitKey subject")
        action.add_argument("--table", help="the session table (default: $SESSION_TABLE)")
        action.add_argument("--region", help="the table's AWS region (default: $AWS_DEFAULT_REGION or your AWS config)")
        if name == "end":
            action.add_argument("--id", help="a session's public id (from `sessions list`); default: all")
    return parser


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL without a fragment, https unless to a loopback
    host (the emulator, ``make run``); ``None`` if it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        return "must be an absolute http(s) URL without a fragment"
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" or host == "localhost" or host.endswith(".localhost"):
        return None
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return None
    return "must use https:// (http:// only for a loopback host)"


def _register_args(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Check ``register-client``'s arguments and environment (usage errors exit 2), normalising
    ``args`` in place; returns the HitKey token."""
    token = env.get("HITKEY_TOKEN", "").strip()
    if not token:
        raise CliError("HITKEY_TOKEN is not set: export HITKEY_TOKEN=<your HitKey API token> and run again", 2)
    args.api_url = str(args.api_url or env.get("HITKEY_API_URL") or DEFAULT_API_URL).rstrip("/")
    for option, url in (("--api-url", args.api_url), ("--redirect-uri", args.redirect_uri)):
        if problem := _url_problem(url):
            raise CliError(f"{option} {problem}, got {url!r}", EXIT_USAGE)
    args.name, args.secret_id = args.name.strip(), args.secret_id.strip()
    if not args.name or not args.secret_id:
        raise CliError("--name and --secret-id must not be empty", EXIT_USAGE)
    if not 0 < args.timeout <= 300:
        raise CliError("--timeout must be a number of seconds above 0 and at most 300", EXIT_USAGE)
    return token


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


@contextlib.contextmanager
def _aws(action: str, check: str = "the secret id", region: str = "set AWS_DEFAULT_REGION") -> Iterator[None]:
    """Turn boto3's failures inside the block into one-line :class:`CliError` s about ``action``."""
    try:
        yield
    except NoRegionError:
        raise CliError(
            f"no AWS region configured: {region} (boto3 does not read AWS_REGION) and run again", EXIT_USAGE
        ) from None
    except NoCredentialsError:
        raise CliError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and run again",
            EXIT_USAGE,
        ) from None
    except ClientError as error:
        raise CliError(f"AWS refused to {action} ({_code(error)}): check {check} and your IAM permissions") from None
    except BotoCoreError as error:
        raise CliError(f"could not {action} ({type(error).__name__}): check your AWS region and network") from None


def secret_exists(client: SecretsManagerClient, secret_id: str, force: bool) -> bool:
    """Whether the secret exists (it then takes a new value). Fails early, before HitKey is called: on
    credentials or permissions, a secret scheduled for deletion, or one that holds a client secret a
    deployed client may be using (unless ``force``)."""
    with _aws(f"read secret {secret_id}"):
        try:
            deleted = client.describe_secret(SecretId=secret_id).get("DeletedDate")
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            if secret_id.startswith("arn:"):
                message = f"there is no secret {secret_id}: pass an existing ARN, or a name to create"
                raise CliError(message, EXIT_USAGE) from None
            return False
        if deleted is not None:
            raise CliError(
                f"secret {secret_id} is scheduled for deletion: restore it "
                "(aws secretsmanager restore-secret) or choose another --secret-id"
            )
        try:
            value = "" if force else (client.get_secret_value(SecretId=secret_id).get("SecretString") or "").strip()
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            value = ""  # no version yet
    if value.startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            value = str(json.loads(value).get("client_secret", "") or "").strip()
    if value:
        raise CliError(
            f"secret {secret_id} already holds a client secret, which a deployed client may be using: "
            "pass --force to replace it, or choose another --secret-id"
        )
    return True


def register_at_hitkey(args: argparse.Namespace, token: str) -> tuple[str, str, str]:
    """``POST {api}/oauth/clients``: the new client's id, redirect URI and secret. Every failure
    becomes a one-line :class:`CliError`."""
    api_url = args.api_url
    try:
        response = httpx.post(
            f"{api_url}/oauth/clients",
            json={"name": args.name, "redirect_uri": args.redirect_uri},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=args.timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        raise CliError(
            f"HitKey at {api_url} did not answer within {args.timeout:g} s: check your network and "
            "your HitKey clients (one may have been created), then run again"
        ) from None
    except httpx.HTTPError as error:
        raise CliError(
            f"could not reach HitKey at {api_url} ({type(error).__name__}): check --api-url and your network"
        ) from None
    status, body = response.status_code, None
    with contextlib.suppress(ValueError):
        body = response.json()
    if not isinstance(body, dict):
        body = {}
    if status in (401, 403):
        raise CliError(f"HitKey refused HITKEY_TOKEN (HTTP {status}): set a valid, unexpired token and run again")
    if 400 <= status < 500:
        parts = [str(body[key]) for key in ("error", "error_description", "message") if body.get(key)]
        detail = f": {' '.join(' - '.join(parts).split())[:_MAX_DETAIL]}" if parts else ""
        raise CliError(f"HitKey rejected the registration (HTTP {status}{detail}): check --name and --redirect-uri")
    if status >= 300:
        raise CliError(f"HitKey at {api_url} failed (HTTP {status}): try again later")
    values = [body.get(key) for key in ("client_id", "redirect_uri", "client_secret")]
    if not all(isinstance(value, str) and value for value in values):
        raise CliError(
            f"HitKey at {api_url} answered with an unexpected body: check --api-url; "
            "a client may have been created, so check your HitKey clients before running again"
        )
    client_id, redirect_uri, secret = (str(value) for value in values)
    return client_id, redirect_uri, secret


def register_client(args: argparse.Namespace, token: str, aws: boto3.session.Session | None = None) -> int:
    """Check AWS, register at HitKey, store the secret, print what the deployment needs."""
    with _aws("reach Secrets Manager"):  # a fresh session from the standard AWS configuration by default
        client = (aws or boto3.session.Session()).client("secretsmanager")
    exists = secret_exists(client, args.secret_id, args.force)
    client_id, redirect_uri, secret = register_at_hitkey(args, token)
    value = json.dumps({"client_secret": secret})
    try:
        with _aws(f"store the client secret in {args.secret_id}"):
            if exists:
                arn = client.put_secret_value(SecretId=args.secret_id, SecretString=value)["ARN"]
            else:
                description = f"HitKey client secret for hitkey-bff (client_id {client_id})"
                arn = client.create_secret(Name=args.secret_id, SecretString=value, Description=description)["ARN"]
    except CliError as problem:
        if args.show_secret:
            print(f"client_secret: {secret}")
        raise CliError(
            f"HitKey registered client_id {client_id} but the secret was not stored - {problem}; "
            "then delete that client at HitKey and run again"
        ) from None
    print(f"client_id: {client_id}", f"redirect_uri: {redirect_uri}", f"secret_arn: {arn}", sep="\n")
    if args.show_secret:
        print(f"client_secret: {secret}")
    print(f"next: deploy with HitKeyClientId={client_id} RedirectUri={redirect_uri}", file=sys.stderr)
    return EXIT_OK


def _row(record: SessionRecord) -> dict[str, str]:
    """A session as printed: its public id, device and times (UTC, "-" for none)."""
    times = {"created_at": record.created_at, "last_seen_at": record.last_seen_at, "expires_at": record.expires_at}
    return {"id": record.session_id or "-", "device": record.device or "Unknown device"} | {
        name: datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else "-"
        for name, epoch in times.items()
    }


def run_sessions(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``sessions list|end``: never prints a token or a cookie secret."""
    from hitkey_bff.sessions import recency
    from hitkey_bff.store import Store

    table = str(args.table or env.get("SESSION_TABLE", "")).strip()
    sub = str(args.sub).strip()
    if not table:
        raise CliError("no table: pass --table <the stack's SessionTable> or export SESSION_TABLE", EXIT_USAGE)
    if not sub:
        raise CliError("--sub must not be empty", EXIT_USAGE)
    region = "pass --region (the stack's region) or set AWS_DEFAULT_REGION"
    with _aws(f"read the table {table}", check="--table", region=region):
        dynamodb = boto3.client("dynamodb", region_name=args.region or None)
        store = Store(lambda: dynamodb, table)  # the layer's own store, on a plain boto3 client
        if args.action == "list":
            for record in sorted(store.list_user_sessions(sub), key=recency, reverse=True):
                print(json.dumps(_row(record)))
            return EXIT_OK
        ended = 0
        for record in store.list_user_sessions(sub):
            if args.id in (None, record.session_id) and store.delete_session(sub, record.session_hash):
                ended += 1
                line = {"message": "session ended", "sub": sub, "id": record.session_id, "reason": "revoked"}
                print(json.dumps({**line, "timestamp": int(time.time())}))
    if args.id is not None and not ended:
        raise CliError(f"no session {args.id} for that sub: run `sessions list --sub ...` to see its ids")
    print(f"ended {ended} session(s)", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None, *, aws: boto3.session.Session | None = None) -> int:
    """Run a command; return the exit code (0 ok, 1 HitKey/AWS failed, 2 usage/configuration).
    ``aws`` is the boto3 session for Secrets Manager (default: the standard AWS configuration)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        if args.command == "sessions":
            return run_sessions(args, os.environ)
        return register_client(args, _register_args(args, os.environ), aws)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
