"""A team's own routes through ``EXTRA_TEMPLATES="examples/local-api/template.yaml" make run``, as
a browser meets them: the BffSession authorizer in front (401 / 403 as API Gateway answers), the
user and session id in the function, a fresh HitKey token through the helper, revocation at once,
and no token or cookie value in any answer or log line."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from local.console import free_port
from local.emulator import DEFAULT_ADMIN_TOKEN
from local.emulator.users import SEEDED_USERS
from testkit.processes import drain, stop_group
from tests.harness import SESSION
from tests.integration.test_make_run import sign_in, start_stack, wait_ready

pytestmark = pytest.mark.integration
EXAMPLE = "examples/local-api/template.yaml"
SERVED = "local API example"  # what the example function logs once per invocation
ADA = SEEDED_USERS[0]


@dataclass
class Served:
    app: str
    emulator: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def runs(self, cookie: str) -> int:
        """How often the example function has run so far, counted after one more (allowed) run
        whose log line - found by its request id - comes after every earlier one."""
        fence = self.call("GET", "/api/me", {"cookie": cookie, "x-csrf": "1", "origin": self.app})
        assert fence.status_code == 200, fence.text
        request_id = fence.headers["apigw-requestid"]
        deadline = time.monotonic() + 30
        while not any(request_id in line for line in list(self.lines)):
            assert time.monotonic() < deadline, "the example function's log line never came"
            time.sleep(0.05)
        return sum(SERVED in line for line in list(self.lines)) - 1

    def call(self, method: str, path: str, headers: dict[str, str], **kw: object) -> httpx.Response:
        answer = httpx.request(method, self.app + path, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]
        self.answers.append(f"{answer.headers}\n{answer.text}")
        return answer

    def counters(self) -> dict[str, int]:
        auth = {"authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"}
        counts: dict[str, int] = httpx.get(f"{self.emulator}/_emulator/counters", headers=auth).json()
        return counts


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    port, emulator_port = free_port(), free_port()
    process = start_stack(port, EXTRA_TEMPLATES=EXAMPLE, HITKEY_EMULATOR_PORT=str(emulator_port))
    try:
        ready = wait_ready(process)
        running = Served(f"http://localhost:{port}", f"http://127.0.0.1:{emulator_port}", process, [ready])
        drain(process, running.lines)  # a full pipe would stall the server
        yield running
    finally:
        stop_group(process)


def headers(served: Served, cookie: str | None, **extra: str) -> dict[str, str]:
    sent = {"x-csrf": "1", "origin": served.app, **extra}
    if cookie is not None:
        sent["cookie"] = cookie
    return sent


def current_session_id(served: Served, cookie: str) -> str:
    listed = served.call("GET", "/auth/sessions", headers(served, cookie)).json()["sessions"]
    (mine,) = [s["id"] for s in listed if s["current"]]
    return str(mine)


def test_the_three_routes_for_a_signed_in_user(served: Served) -> None:
    cookie, _ = sign_in(served.app, ADA.sub)
    me = served.call("GET", "/api/me", headers(served, cookie))
    assert me.status_code == 200, me.text
    assert me.json() == {"sub": ADA.sub, "session_id": current_session_id(served, cookie), "name": "Ada Lovelace"}
    echo = served.call("POST", "/api/me/echo", headers(served, cookie), json={"hello": ["world", 1]})
    assert echo.status_code == 200 and echo.json() == {"sub": ADA.sub, "body": {"hello": ["world", 1]}}
    hitkey = served.call("GET", "/api/me/hitkey", headers(served, cookie))
    assert hitkey.status_code == 200 and hitkey.json() == {"sub": ADA.sub}


@pytest.mark.parametrize(
    ("case", "status"),
    [("no cookie", 401), ("no x-csrf", 401), ("foreign origin", 403), ("tampered cookie", 403)],
)
def test_refusals_never_run_the_function(served: Served, case: str, status: int) -> None:
    cookie, _ = sign_in(served.app, ADA.sub)
    name, _, value = cookie.partition("=")
    sent = {
        "no cookie": headers(served, None),
        "no x-csrf": {"cookie": cookie, "origin": served.app},
        "foreign origin": headers(served, cookie, origin="https://evil.example"),
        "tampered cookie": headers(served, f"{name}={value[:-3]}{'AAA' if value[-3:] != 'AAA' else 'BBB'}"),
    }[case]
    before = served.runs(cookie)
    for path in ("/api/me", "/api/me/hitkey"):
        answer = served.call("GET", path, sent)
        assert answer.status_code == status, (case, path, answer.text)
        assert answer.json() == {"message": "Unauthorized" if status == 401 else "Forbidden"}
    assert served.runs(cookie) == before + 1, f"{case}: the function ran"  # + 1: the first count's own run


def test_a_cookie_replayed_after_logout_or_ending_elsewhere_is_refused(served: Served) -> None:
    cookie, _ = sign_in(served.app, ADA.sub)
    witness, _ = sign_in(served.app, SEEDED_USERS[1].sub)  # another user: counts the function's runs
    assert served.call("GET", "/api/me", headers(served, cookie)).status_code == 200
    assert served.call("POST", "/auth/logout", headers(served, cookie)).status_code == 204
    before = served.runs(witness)
    assert served.call("GET", "/api/me", headers(served, cookie)).status_code == 403
    assert served.runs(witness) == before + 1

    laptop, _ = sign_in(served.app, ADA.sub)
    phone, _ = sign_in(served.app, ADA.sub)
    assert served.call("GET", "/api/me", headers(served, laptop)).status_code == 200
    before = served.runs(witness)
    ended = served.call("DELETE", "/auth/sessions", headers(served, phone))  # sign out the other devices
    assert ended.status_code in (200, 204), ended.text
    assert served.call("GET", "/api/me", headers(served, laptop)).status_code == 403
    assert served.call("POST", "/api/me/echo", headers(served, laptop), json={}).status_code == 403
    assert served.runs(witness) == before + 1
    assert served.call("GET", "/api/me", headers(served, phone)).status_code == 200


def test_an_access_token_hitkey_expired_is_refreshed_exactly_once(served: Served) -> None:
    cookie, _ = sign_in(served.app, ADA.sub)
    admin = {"authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"}
    assert httpx.post(f"{served.emulator}/_emulator/expire-access-tokens", headers=admin).status_code == 200
    before = served.counters().get("token.refresh_token", 0)
    answer = served.call("GET", "/api/me/hitkey", headers(served, cookie))
    assert answer.status_code == 200 and answer.json() == {"sub": ADA.sub}
    assert served.counters().get("token.refresh_token", 0) - before == 1
    again = served.call("GET", "/api/me/hitkey", headers(served, cookie))
    assert again.status_code == 200 and served.counters().get("token.refresh_token", 0) - before == 1


def test_zz_no_token_or_cookie_in_any_answer_or_log_line(served: Served) -> None:
    cookie, _ = sign_in(served.app, ADA.sub)
    served.call("GET", "/api/me/hitkey", headers(served, cookie))
    served.call("GET", "/api/me", headers(served, cookie, origin="https://evil.example"))
    secret = cookie.split("=", 1)[1].split(".")[2]
    assert served.runs(cookie) > 0 and "GET /api/me 200" in "".join(served.lines)  # the logs were captured
    seen = "".join(served.lines) + "".join(served.answers)
    assert secret not in seen and SESSION + "=v1." not in seen
    assert "hkat_" not in seen and "hkrt_" not in seen


def test_a_missing_extra_template_is_a_one_line_error(tmp_path: object) -> None:
    from tests.integration.test_make_run import run_stack_module

    result = run_stack_module(PORT=str(free_port()), EXTRA_TEMPLATES=f"{EXAMPLE} nowhere/template.yaml")
    assert result.returncode != 0
    assert "EXTRA_TEMPLATES: nowhere/template.yaml is not a file" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
