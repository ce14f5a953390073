"""``make sam-local``: ``sam build`` + ``sam local start-api`` against moto and the emulator.

Environment (optional): ``PORT`` (default 3000) for the API, ``HITKEY_EMULATOR_PORT`` (default: a
free one) for the emulator's sign-in page, ``SAM_LOCAL_PULL=1`` to pull the public Lambda image
instead of building a stand-in, ``SAM_LOCAL_PYTHON`` for the CPython 3.12 the stand-in copies.
"""

from __future__ import annotations

import signal
import sys

from local.console import UserError, ensure_free, port_from_env, say
from local.samlocal.stack import stack


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    try:
        port = port_from_env("PORT", 3000)
        emulator_port = port_from_env("HITKEY_EMULATOR_PORT", 0)
        ensure_free(port, "PORT")
        ensure_free(emulator_port, "HITKEY_EMULATOR_PORT")
        with stack(port, emulator_port=emulator_port) as local:
            template = local.build()
            say(f"sam local start-api on {local.app} (each function's first request builds its container)")
            with local.start_api(template) as api:
                print(
                    f"sam-local ready: {local.app} - sign in at {local.app}/auth/login"
                    f" (HitKey emulator {local.hitkey}); Ctrl-C stops everything",
                    flush=True,
                )
                api.wait()
        raise UserError(f"sam local start-api exited with {api.returncode}: see its output above")
    except KeyboardInterrupt:
        say("stopped")
        return 130
    except UserError as error:
        print(f"sam-local: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
