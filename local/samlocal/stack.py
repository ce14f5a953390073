"""Everything ``sam local`` needs around the functions, on a Docker network of this run's own.

* moto (DynamoDB, KMS, Secrets Manager) and the HitKey emulator run in one container from the
  Lambda base image's Python, with the project and a ``pip install --target`` of moto mounted
  read-only. The functions reach them by name (``http://moto:5000``, ``http://hitkey:8080``); the
  host reaches them on 127.0.0.1 ports Docker publishes (the browser needs HitKey's sign-in page).
  (Containers cannot reach the host's loopback, where ``make run`` serves them.)
* The table, key and secret are created in moto from template.yaml (:mod:`local.resources`); their
  ids go to ``env.json`` with ``AWS_ENDPOINT_URL``, which is all ``sam local`` passes a function
  besides the template's own variables.
* ``sam build`` and ``sam local invoke``/``start-api`` run from ``.venv-sam`` with
  ``Architecture=<this machine's>``, ``--skip-pull-image`` and ``--docker-network``.

Nothing listens beyond 127.0.0.1 and the run's network; everything is removed on the way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx

from local.console import LOOPBACK, UserError, free_port, say
from local.resources import create_resources
from local.samlocal.docker import CACHE, NO_DAEMON, NO_DOCKER_CLI, Docker, daemon, running
from local.samlocal.image import can_build_stand_in, ensure_base_image, find_python312, lambda_arch, public_image
from local.template import ROOT

TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
NO_SAM = f"the SAM CLI is not in {SAM.parent}: run `make sam-venv`"
TOOLS_RECIPE = "2"
# moto[server] would pull in every service's dependencies; its server needs only flask and flask-cors.
TOOLS = ["moto[dynamodb]>=5", "flask>=3", "flask-cors>=4", "werkzeug>=3", "pyyaml>=6"]
MOTO_PORT = 5000
EMULATOR_PORT = 8080
CLIENT_ID = "hitkey-bff-sam-local"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # moto takes any
_SECRET_QUERY = re.compile(r"\b(code|state|code_verifier|refresh_token|access_token)=[^&\s\"]+")


def redact(line: str) -> str:
    """A log line with OAuth query values blanked (werkzeug in SAM logs every query string)."""
    return _SECRET_QUERY.sub(r"\1=<redacted>", line)


@dataclass
class Stack:
    """A running moto + emulator on network ``network``; what ``sam`` needs to use them."""

    docker: Docker
    arch: str
    network: str
    port: int  # start-api's, on 127.0.0.1
    python: Path  # the CPython 3.12 home sam build uses
    work: Path
    moto: str = ""  # moto as the host sees it
    hitkey: str = ""  # the emulator as the host (browser) sees it

    @property
    def app(self) -> str:
        """The origin start-api serves."""
        return f"http://localhost:{self.port}"

    def parameters(self, app: str | None = None) -> list[str]:
        """``--parameter-overrides`` values: this machine's CPU, the local origin, the emulator."""
        app = app or self.app
        values = {
            "Architecture": self.arch,
            "HitKeyClientId": CLIENT_ID,
            "AppOrigin": app,
            "RedirectUri": f"{app}/auth/callback",
            "HitKeyAuthorizeUrl": f"{self.hitkey}/",
            "HitKeyApiUrl": f"http://hitkey:{EMULATOR_PORT}",
        }
        return [f"ParameterKey={k},ParameterValue={v}" for k, v in values.items()]

    def sam_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({k: v for k, v in self.docker.env.items() if k == "DOCKER_HOST"})
        env.update(CREDENTIALS, AWS_DEFAULT_REGION=REGION)
        # SAM itself asks STS for the account id on every local invoke/start-api: moto answers.
        env["AWS_ENDPOINT_URL"] = self.moto
        # ... and checks pypi.org for a newer SAM CLI weekly: a config dir of the run's own says
        # it just did (SAM_CLI_TELEMETRY=0 turns telemetry off).
        config = self.work / "sam-cli-config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "metadata.json").write_text(json.dumps({"lastVersionCheck": time.time() + 86400 * 365}))
        env.update(__SAM_CLI_APP_DIR=str(config), SAM_CLI_TELEMETRY="0")
        env["PATH"] = f"{self.python / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # sam build wants python3.12
        return env

    def sam(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SAM), *args], cwd=ROOT, env=self.sam_env(), capture_output=True, text=True, timeout=600, check=False
        )

    def build(self, template: Path = TEMPLATE) -> Path:
        """``sam build`` into ``work/build``; returns the built template."""
        say(f"sam build ({self.arch}): the layer's wheels from PyPI, about a minute the first time")
        where = ["--build-dir", str(self.work / "build"), "--cached", "--cache-dir", str(self.work / "cache")]
        result = self.sam("build", "--template", str(template), *where, "--parameter-overrides", *self.parameters())
        if result.returncode != 0:
            raise UserError(f"sam build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return self.work / "build" / "template.yaml"

    def common_args(self, app: str | None = None) -> list[str]:
        """What ``sam local invoke`` and ``start-api`` share: env.json, parameters, the network."""
        return [
            *("--env-vars", str(self.work / "env.json"), "--parameter-overrides", *self.parameters(app)),
            *("--skip-pull-image", "--docker-network", self.network, "--region", REGION),
        ]

    def invoke(self, function: str, event: Path, template: Path, *, app: str | None = None) -> dict[str, Any]:
        """``sam local invoke``: the function's response (or the runtime's error document)."""
        result = self.sam(
            "local", "invoke", function, "--template", str(template), "--event", str(event), *self.common_args(app)
        )
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("{")]
        try:
            response: dict[str, Any] = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError) as error:
            raise UserError(
                f"sam local invoke {function} ({result.returncode}): no response on stdout:\n"
                f"{redact(result.stderr[-3000:])}"
            ) from error
        return response

    @contextlib.contextmanager
    def start_api(self, template: Path) -> Iterator[subprocess.Popen[str]]:
        """``sam local start-api`` on :attr:`port` (listening) until the block ends, its output on
        stderr with OAuth values blanked; stopped with SIGINT, on which SAM removes its containers."""
        command = [str(SAM), "local", "start-api", "--template", str(template), "--port", str(self.port)]
        command += ["--host", LOOPBACK, *self.common_args(), "--warm-containers", "LAZY", "--no-watch"]
        api = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.sam_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=_relay, args=(api,), daemon=True).start()
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self.port), timeout=1):
                    break
                if api.poll() is not None:
                    raise UserError(f"sam local start-api exited with {api.returncode}: see its output above")
                if time.monotonic() > deadline:
                    raise UserError("sam local start-api did not listen within 120 s: see its output above")
                time.sleep(0.5)
            yield api
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(api.pid, signal.SIGINT)
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait()


def _relay(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(redact(line))
    sys.stderr.flush()


def _tools_site(arch: str) -> Path:
    """moto and the emulator's dependencies for the containers' CPython 3.12 (cached)."""
    site = CACHE / f"samlocal-tools-{TOOLS_RECIPE}-{arch}"
    if (site / ".complete").exists():
        return site
    say("installing moto for the containers (pip install --target, once)")
    shutil.rmtree(site, ignore_errors=True)
    platform = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[arch]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(site)]
    wheels = ["--platform", platform, "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:"]
    result = subprocess.run([*pip, *wheels, *TOOLS], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"pip install of moto for the containers failed:\n{result.stderr[-2000:]}")
    (site / ".complete").touch()
    return site


def _start_services(local: Stack, client_secret: str, emulator_port: int) -> None:
    """moto and the emulator in one container (aliases ``moto`` and ``hitkey``), answering."""
    container = f"{local.network}-services"
    python = "/var/lang/bin/python3.12"
    moto = f"{python} -m moto.server --host 0.0.0.0 -p {MOTO_PORT}"
    emulator = (
        f"{python} -m local.emulator --host 0.0.0.0 --port {EMULATOR_PORT} --client-id {CLIENT_ID}"
        f" --client-secret {client_secret} --redirect-uri {local.app}/auth/callback"
    )
    names = ["--name", container, "--network", local.network, "--network-alias", "moto", "--network-alias", "hitkey"]
    ports = ["--publish", f"127.0.0.1::{MOTO_PORT}", "--publish", f"127.0.0.1:{emulator_port or ''}:{EMULATOR_PORT}"]
    mounts = ["--volume", f"{_tools_site(local.arch)}:/tools:ro", "--volume", f"{ROOT / 'local'}:/src/local:ro"]
    env = ["--env", "PYTHONPATH=/src:/tools", "--env", "PYTHONDONTWRITEBYTECODE=1", "--workdir", "/src"]
    image = ["--entrypoint", "/bin/sh", public_image(local.arch), "-c", f"{moto} & exec {emulator}"]
    local.docker.run("run", "--detach", *names, *ports, *mounts, *env, *image)
    published = dict(line.split(" -> ") for line in local.docker.run("port", container).stdout.splitlines())
    local.moto, local.hitkey = (f"http://{published[f'{port}/tcp']}" for port in (MOTO_PORT, EMULATOR_PORT))
    deadline = time.monotonic() + 60
    for url in (f"{local.moto}/moto-api/", f"{local.hitkey}/_emulator/health"):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=2)
                break
            state = local.docker.run("inspect", "-f", "{{.State.Running}}", container, check=False).stdout
            if state.strip() != "true" or time.monotonic() > deadline:
                logs = local.docker.run("logs", "--tail", "20", container, check=False)
                raise UserError(f"{url} did not answer; the container's log:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.3)


def unavailable() -> str | None:
    """Why ``sam local`` cannot run on this machine, with what to do; None when it can."""
    if shutil.which("docker") is None:
        return NO_DOCKER_CLI
    if not SAM.exists():
        return NO_SAM
    try:
        find_python312()
    except UserError as error:
        return str(error)
    docker = running()
    if docker is None and (shutil.which("dockerd") is None or os.geteuid() != 0):  # else stack() starts one
        return NO_DAEMON
    tag = public_image(lambda_arch())
    have_or_pull = os.environ.get("SAM_LOCAL_PULL") == "1" or (docker is not None and docker.has_image(tag))
    if can_build_stand_in() and not shutil.which("debootstrap") and not have_or_pull:
        return f"{tag} is not here and the stand-in needs debootstrap: `apt-get install debootstrap`"
    return None  # the base image is found, built or pulled (see image.ensure_base_image)


@contextlib.contextmanager
def stack(port: int = 0, *, emulator_port: int = 0, work: Path | None = None) -> Iterator[Stack]:
    """Docker (started if need be), the base image, a network with moto and the emulator, the
    resources and env.json. Everything it started is stopped and removed on exit."""
    reason = unavailable()  # fail before anything starts, saying what to install or start
    if reason:
        raise UserError(reason)
    python = find_python312()  # sam build needs a python3.12 on PATH
    with daemon() as docker:
        arch = lambda_arch()
        ensure_base_image(docker, arch)
        network = f"hitkey-bff-samlocal-{secrets.token_hex(4)}"
        docker.run("network", "create", "--label", "hitkey-bff.samlocal=1", network)
        say(f"Docker network {network}: moto and the HitKey emulator")
        local = Stack(docker, arch, network, port or free_port(), python, work or ROOT / ".aws-sam" / "samlocal")
        local.work.mkdir(parents=True, exist_ok=True)
        try:
            client_secret = secrets.token_urlsafe(32)
            _start_services(local, client_secret, emulator_port)
            with mock.patch.dict(os.environ, AWS_ENDPOINT_URL=local.moto, **CREDENTIALS):  # boto3 here, for now
                made = create_resources(boto3.Session(region_name=REGION), client_secret, prefix="hitkey-bff-samlocal")
            ids = {"SESSION_TABLE": made.table, "KMS_KEY_ID": made.key_id, "HITKEY_CLIENT_SECRET_ARN": made.secret_id}
            variables = {"AWS_ENDPOINT_URL": f"http://moto:{MOTO_PORT}", **ids}
            (local.work / "env.json").write_text(json.dumps({"Parameters": variables}, indent=2))
            say(f"moto at {local.moto}, HitKey emulator at {local.hitkey}; resources and {local.work}/env.json ready")
            yield local
        finally:
            say(f"removing the containers and network {network}")  # ours and SAM's
            on_it = docker.run("ps", "--all", "--quiet", "--filter", f"network={network}", check=False).stdout.split()
            if on_it:
                docker.run("rm", "--force", "--volumes", *on_it, check=False)
            docker.run("network", "rm", network, check=False)
