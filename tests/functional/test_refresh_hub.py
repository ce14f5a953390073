"""A refresh is a hub (``hitkey_bff.refresh``'s docstring): it asks the store, the vault, the
client secret, HitKey and the budgets, and each answers back; none of them calls another, and
none calls back into the hub. Checked on the calls one refresh from userinfo really makes, traced
while the hub's frames are running."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import hitkey_bff
from local.emulator import Emulator
from testkit.aws import Aws
from tests.functional.test_flows import expire_stored_access_token
from tests.harness import Bff, body, signed_in, upstream

LAYER = Path(hitkey_bff.__file__).resolve().parent
HUB = "refresh"
PEERS = {"store", "vault", "secret", "hitkey", "budgets"}  # what the hub asks


def _module(frame: FrameType | None) -> str | None:
    """``vault``, ``proxy.forward``...: the layer's module a frame runs in, else ``None``."""
    if frame is None:
        return None
    path = Path(frame.f_code.co_filename)
    if not path.is_relative_to(LAYER):
        return None
    return ".".join(path.relative_to(LAYER).with_suffix("").parts)


def _under_the_hub(frame: FrameType | None) -> bool:
    while frame is not None:
        if _module(frame) == HUB:
            return True
        frame = frame.f_back
    return False


@contextmanager
def traced() -> Iterator[set[tuple[str, str]]]:
    """Each (caller module, callee module) of the layer that a call crossed inside the block,
    while a frame of the hub was running."""
    edges: set[tuple[str, str]] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            callee, caller = _module(frame), _module(frame.f_back)
            if callee and caller and callee != caller and _under_the_hub(frame.f_back):
                edges.add((caller, callee))

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield edges
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


def test_a_refresh_asks_each_peer_and_no_peer_calls_another(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()
    expire_stored_access_token(aws)
    hitkey.reset_counters()
    with traced() as edges:
        response = browser.call("GET /auth/userinfo")
    assert response["statusCode"] == 200 and upstream(hitkey).get("token.refresh_token") == 1, body(response)
    asked = {callee for caller, callee in edges if caller == HUB}
    assert {"store", "vault", "hitkey"} <= asked, sorted(edges)
    between_peers = sorted((a, b) for a, b in edges if a in PEERS and b in PEERS)
    assert between_peers == [], f"a peer of the refresh hub calls another: {between_peers}"
    back = sorted(a for a, b in edges if b == HUB and a in PEERS)
    assert back == [], f"a peer calls back into the hub: {back}"
