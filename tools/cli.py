"""Operator commands for hitkey-bff.

``register-client`` registers the app at HitKey and writes the client secret straight into
Secrets Manager, so the secret never passes through a terminal, a shell history or a file::

    export HITKEY_TOKEN=...        # your HitKey API bearer token
    python -m tools.cli register-client --name "My App" \\
        --redirect-uri https://app.example.com/auth/callback \\
        --secret-id <the stack's ClientSecretArn output, or a name to create>

AWS access is checked before HitKey is called: HitKey shows a client secret only once, so a
registration whose secret could not be stored is a registration to delete and redo.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

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


@dataclass(frozen=True)
class RegisterOptions:
    """The validated arguments of ``register-client``."""

    name: str
    redirect_uri: str
    api_url: str
    secret_id: str
    show_secret: bool
    token: str = field(repr=False)
    force: bool = False
    timeout: float = TIMEOUT_SECONDS


@dataclass(frozen=True)
class RegisteredClient:
    """What HitKey returned; the secret stays out of ``repr``."""

    client_id: str
    redirect_uri: str
    client_secret: str = field(repr=False)


# -- arguments -------------------------------------------------------------------------------


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
    register.add_argument("--name", required=True, help="the app's name, shown on HitKey's sign-in page")
    register.add_argument(
        "--redirect-uri", required=True, help="absolute URL of /auth/callback, exactly as the BFF sends it"
    )
    register.add_argument(
        "--api-url",
        help=f"HitKey API base URL (default: $HITKEY_API_URL or {DEFAULT_API_URL})",
    )
    register.add_argument("--secret-id", required=True, help="ARN or name of the secret (created if it does not exist)")
    register.add_argument(
        "--show-secret", action="store_true", help="also print the client secret (it is stored either way)"
    )
    register.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for HitKey (default {TIMEOUT_SECONDS:g})",
    )
    register.add_argument(
        "--force",
        action="store_true",
        help="replace a client secret already stored in --secret-id (the client using it stops working)",
    )
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


def run_sessions(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``sessions list|end``: never prints a token or a cookie secret."""
    from tools import sessions_admin

    table = str(args.table or env.get("SESSION_TABLE", "")).strip()
    sub = str(args.sub).strip()
    if not table:
        raise CliError("no table: pass --table <the stack's SessionTable> or export SESSION_TABLE", EXIT_USAGE)
    if not sub:
        raise CliError("--sub must not be empty", EXIT_USAGE)
    try:
        store = sessions_admin.store_for(table, args.region)
    except NoRegionError:
        raise CliError(
            "no AWS region configured: pass --region (the stack's region) or set AWS_DEFAULT_REGION", EXIT_USAGE
        ) from None
    try:
        if args.action == "list":
            for row in sessions_admin.list_sessions(store, sub):
                print(json.dumps(row))
            return EXIT_OK
        ended = sessions_admin.end_sessions(store, sub, args.id)
    except (ClientError, BotoCoreError) as error:
        raise _aws_problem(error, f"read the table {table}") from None
    if args.id is not None and not ended:
        raise CliError(f"no session {args.id} for that sub: run `sessions list --sub ...` to see its ids")
    print(f"ended {len(ended)} session(s)", file=sys.stderr)
    return EXIT_OK


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secure(url: str) -> bool:
    """HTTPS, or plain HTTP to this machine (the emulator, ``make run``)."""
    return urlsplit(url).scheme == "https" or _loopback(url)


def register_options(args: argparse.Namespace, env: Mapping[str, str]) -> RegisterOptions:
    """Validate ``register-client``'s arguments and environment (usage errors exit 2)."""
    token = env.get("HITKEY_TOKEN", "").strip()
    if not token:
        raise CliError("HITKEY_TOKEN is not set: export HITKEY_TOKEN=<your HitKey API token> and run again", 2)
    api_url = str(args.api_url or env.get("HITKEY_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not _is_http_url(api_url):
        raise CliError(f"--api-url must be an http(s) URL, got {api_url!r}", EXIT_USAGE)
    if not _secure(api_url):
        raise CliError("--api-url must use https:// (http:// only for a loopback host)", EXIT_USAGE)
    redirect_uri = str(args.redirect_uri)
    if not _is_http_url(redirect_uri):
        raise CliError("--redirect-uri must be an absolute http(s) URL without a fragment", EXIT_USAGE)
    if not _secure(redirect_uri):
        raise CliError("--redirect-uri must use https:// (http:// only for a loopback host)", EXIT_USAGE)
    name, secret_id = str(args.name).strip(), str(args.secret_id).strip()
    if not name or not secret_id:
        raise CliError("--name and --secret-id must not be empty", EXIT_USAGE)
    timeout = float(args.timeout)
    if not 0 < timeout <= 300:
        raise CliError("--timeout must be a number of seconds above 0 and at most 300", EXIT_USAGE)
    return RegisterOptions(
        name, redirect_uri, api_url, secret_id, bool(args.show_secret), token, force=bool(args.force), timeout=timeout
    )


# -- Secrets Manager -------------------------------------------------------------------------


def _aws_problem(error: Exception, action: str) -> CliError:
    if isinstance(error, NoCredentialsError):
        return CliError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and run again",
            EXIT_USAGE,
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        return CliError(f"Secrets Manager refused to {action} ({code}): check the secret id and your IAM permissions")
    return CliError(f"could not {action} ({type(error).__name__}): check your AWS region and network")


def secrets_manager(aws: boto3.session.Session | None = None) -> SecretsManagerClient:
    """A Secrets Manager client from ``aws``, by default a fresh session from the standard AWS
    configuration (no cached state)."""
    try:
        return (aws or boto3.session.Session()).client("secretsmanager")
    except NoRegionError:
        raise CliError(
            "no AWS region configured: set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION) and run again", 2
        ) from None


def secret_exists(client: SecretsManagerClient, secret_id: str) -> bool:
    """Whether the secret exists and can take a new value; fails early on credentials or permissions."""
    try:
        description = client.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise _aws_problem(error, f"read secret {secret_id}") from None
        if secret_id.startswith("arn:"):
            raise CliError(f"there is no secret {secret_id}: pass an existing ARN, or a name to create", 2) from None
        return False
    except BotoCoreError as error:
        raise _aws_problem(error, f"read secret {secret_id}") from None
    if description.get("DeletedDate") is not None:
        raise CliError(
            f"secret {secret_id} is scheduled for deletion: restore it "
            "(aws secretsmanager restore-secret) or choose another --secret-id"
        )
    return True


def secret_has_value(client: SecretsManagerClient, secret_id: str) -> bool:
    """Whether the secret already holds a client secret (a live client may be using it)."""
    try:
        raw = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False  # no version yet
        raise _aws_problem(error, f"read secret {secret_id}") from None
    except BotoCoreError as error:
        raise _aws_problem(error, f"read secret {secret_id}") from None
    value = raw.strip()
    if value.startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            value = str(json.loads(value).get("client_secret", "") or "").strip()
    return bool(value)


def store_client_secret(
    client: SecretsManagerClient, secret_id: str, exists: bool, registered: RegisteredClient
) -> str:
    """Put ``{"client_secret": ...}`` into the secret (creating it if needed); return its ARN."""
    value = json.dumps({"client_secret": registered.client_secret})
    if exists:
        return client.put_secret_value(SecretId=secret_id, SecretString=value)["ARN"]
    description = f"HitKey client secret for hitkey-bff (client_id {registered.client_id})"
    return client.create_secret(Name=secret_id, SecretString=value, Description=description)["ARN"]


# -- HitKey ----------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DETAIL]


def _error_detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("error", "error_description", "message") if body.get(key)]
    return f": {_one_line(' - '.join(parts))}" if parts else ""


def _check_status(response: httpx.Response, api_url: str) -> None:
    status = response.status_code
    if status in (401, 403):
        raise CliError(f"HitKey refused HITKEY_TOKEN (HTTP {status}): set a valid, unexpired token and run again")
    if 400 <= status < 500:
        raise CliError(
            f"HitKey rejected the registration (HTTP {status}{_error_detail(response)}): "
            "check --name and --redirect-uri"
        )
    if status >= 300:
        raise CliError(f"HitKey at {api_url} failed (HTTP {status}): try again later")


def _registered_client(response: httpx.Response, api_url: str) -> RegisteredClient:
    unexpected = CliError(
        f"HitKey at {api_url} answered with an unexpected body: check --api-url; "
        "a client may have been created, so check your HitKey clients before running again"
    )
    try:
        body: Any = response.json()
    except ValueError:
        raise unexpected from None
    if not isinstance(body, dict):
        raise unexpected
    values = [body.get(key) for key in ("client_id", "client_secret", "redirect_uri")]
    if not all(isinstance(value, str) and value for value in values):
        raise unexpected
    client_id, client_secret, redirect_uri = (str(value) for value in values)
    return RegisteredClient(client_id=client_id, redirect_uri=redirect_uri, client_secret=client_secret)


def register_at_hitkey(options: RegisterOptions) -> RegisteredClient:
    """``POST {api}/oauth/clients``; every failure becomes a one-line :class:`CliError`."""
    url = f"{options.api_url}/oauth/clients"
    try:
        response = httpx.post(
            url,
            json={"name": options.name, "redirect_uri": options.redirect_uri},
            headers={"Authorization": f"Bearer {options.token}", "Accept": "application/json"},
            timeout=options.timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        raise CliError(
            f"HitKey at {options.api_url} did not answer within {options.timeout:g} s: check your network and "
            "your HitKey clients (one may have been created), then run again"
        ) from None
    except httpx.HTTPError as error:
        raise CliError(
            f"could not reach HitKey at {options.api_url} ({type(error).__name__}): check --api-url and your network"
        ) from None
    _check_status(response, options.api_url)
    return _registered_client(response, options.api_url)


# -- the command -----------------------------------------------------------------------------


def register_client(options: RegisterOptions, aws: boto3.session.Session | None = None) -> int:
    """Check AWS, register at HitKey, store the secret, print what the deployment needs."""
    client = secrets_manager(aws)
    exists = secret_exists(client, options.secret_id)
    if exists and not options.force and secret_has_value(client, options.secret_id):
        raise CliError(
            f"secret {options.secret_id} already holds a client secret, which a deployed client may be using: "
            "pass --force to replace it, or choose another --secret-id"
        )
    registered = register_at_hitkey(options)
    try:
        arn = store_client_secret(client, options.secret_id, exists, registered)
    except (ClientError, BotoCoreError) as error:
        if options.show_secret:
            print(f"client_secret: {registered.client_secret}")
        problem = _aws_problem(error, f"store the client secret in {options.secret_id}")
        raise CliError(
            f"HitKey registered client_id {registered.client_id} but the secret was not stored - {problem}; "
            "then delete that client at HitKey and run again"
        ) from None
    print(f"client_id: {registered.client_id}")
    print(f"redirect_uri: {registered.redirect_uri}")
    print(f"secret_arn: {arn}")
    if options.show_secret:
        print(f"client_secret: {registered.client_secret}")
    print(
        f"next: deploy with HitKeyClientId={registered.client_id} RedirectUri={registered.redirect_uri}",
        file=sys.stderr,
    )
    return EXIT_OK


def main(argv: list[str] | None = None, *, aws: boto3.session.Session | None = None) -> int:
    """Run a command; return the exit code (0 ok, 1 HitKey/AWS failed, 2 usage/configuration).
    ``aws`` is the boto3 session for Secrets Manager (default: the standard AWS configuration)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        if args.command == "sessions":
            return run_sessions(args, os.environ)
        return register_client(register_options(args, os.environ), aws)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
