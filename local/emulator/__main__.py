"""``python -m local.emulator``: run the HitKey emulator (docs/local.md), optionally with a client
registered. Its ``--verbose`` log line is method, path and status: never a token."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from local.emulator import DEFAULT_ADMIN_TOKEN, Emulator


def main(argv: list[str] | None = None) -> int:
    """Run until Ctrl-C or SIGTERM; print the base URL as the one line on stdout."""
    parser = argparse.ArgumentParser(prog="python -m local.emulator", description="Run the HitKey emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--client-id", help="pre-register a client with this client_id")
    parser.add_argument("--client-secret", help="... and this client_secret")
    parser.add_argument("--redirect-uri", help="... and this redirect_uri (required to pre-register)")
    parser.add_argument("--client-name", default="Local app", help="name of the pre-registered client")
    parser.add_argument("--admin-token", default=DEFAULT_ADMIN_TOKEN, help="bearer token for admin calls")
    parser.add_argument("--access-token-ttl", type=int, default=3600, help="expires_in of access tokens")
    parser.add_argument("--code-ttl", type=float, default=60.0, help="lifetime of authorization codes (s)")
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)
    if (args.client_id or args.client_secret) and not args.redirect_uri:
        parser.error("--redirect-uri is required to pre-register a client")
    settings = ("access_token_ttl", "admin_token", "code_ttl", "verbose")
    emulator = Emulator(**{setting: getattr(args, setting) for setting in settings})
    if args.redirect_uri:
        client = emulator.register_client(args.client_name, args.redirect_uri, args.client_id, args.client_secret)
        shown = "" if args.client_secret else f" client_secret={client['client_secret']}"
        print(f"hitkey-emulator: registered client_id={client['client_id']}{shown}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print(emulator.start(args.host, args.port), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
