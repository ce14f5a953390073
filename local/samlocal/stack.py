"""Everything ``sam local`` needs around the functions, on a Docker network of this run's own.

* moto (DynamoDB, KMS, Secrets Manager) and the HitKey emulator run as containers from the
  Lambda base image's Python, with the project and a ``pip install --target`` of moto mounted
  read-only. The functions reach them by name (``http://moto:5000``, ``http://hitkey:8080``); the
  host reaches them on 127.0.0.1 ports Docker publishes (the browser needs HitKey's sign-in page).
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
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from local.console import UserError, free_port, say
from local.resources import LocalResources, create_resources
from local.samlocal.docker import CACHE, OWN_SOCKET, Docker, daemon
from local.samlocal.image import can_build_stand_in, ensure_base_image, find_python312, lambda_arch, public_image
from local.template import ROOT

TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
TOOLS_RECIPE = "2"
# moto[server] would pull in every service's dependencies; its server needs only flask and flask-cors.
TOOLS = ["moto[dynamodb]>=5", "flask>=3", "flask-cors>=4", "werkzeug>=3", "pyyaml>=6"]
MOTO_PORT = 5000
EMULATOR_PORT = 8080
CLIENT_ID = "hitkey-bff-sam-local"
REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # moto takes any


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
    app: str  # the origin start-api serves, http://localhost:<port>
    port: int
    hitkey: str  # the emulator as the host (browser) sees it
    moto: str  # moto as the host sees it
    resources: LocalResources
    env_file: Path
    work: Path
    containers: list[str] = field(default_factory=list)

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
        python = find_python312()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if "DOCKER_HOST" in self.docker.env:
            env["DOCKER_HOST"] = self.docker.env["DOCKER_HOST"]
        env.update(LOCAL_CREDENTIALS, AWS_DEFAULT_REGION=REGION, SAM_CLI_TELEMETRY="0")
        # SAM itself asks STS for the account id on every local invoke/start-api: moto answers.
        env["AWS_ENDPOINT_URL"] = self.moto
        # ... and checks pypi.org for a newer SAM CLI weekly: a config dir of the run's own says
        # it just did (SAM_CLI_TELEMETRY=0 already turns telemetry off).
        config = self.work / "sam-cli-config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "metadata.json").write_text(json.dumps({"lastVersionCheck": time.time() + 86400 * 365}))
        env["__SAM_CLI_APP_DIR"] = str(config)
        env["PATH"] = f"{python / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # sam build wants python3.12
        return env

    def sam(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SAM), *args],
            cwd=ROOT,
            env=self.sam_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def build(self, template: Path = TEMPLATE) -> Path:
        """``sam build`` into ``work/build``; returns the built template."""
        say(f"sam build ({self.arch}): the layer's wheels from PyPI, about a minute the first time")
        build_dir = self.work / "build"
        result = self.sam(
            "build",
            "--template",
            str(template),
            "--build-dir",
            str(build_dir),
            "--cached",
            "--cache-dir",
            str(self.work / "cache"),
            "--parameter-overrides",
            *self.parameters(),
        )
        if result.returncode != 0:
            raise UserError(f"sam build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return build_dir / "template.yaml"

    def invoke(self, function: str, event: Path, template: Path, *, app: str | None = None) -> dict[str, Any]:
        """``sam local invoke``: the function's response (or the runtime's error document)."""
        result = self.sam(
            "local", "invoke", function, "--template", str(template), "--event", str(event), *self.common_args(app)
        )
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("{")]
        if result.returncode != 0 and not lines:
            raise UserError(
                f"sam local invoke {function} failed ({result.returncode}):\n{redact(result.stderr[-3000:])}"
            )
        try:
            response: dict[str, Any] = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError) as error:
            raise UserError(
                f"sam local invoke {function}: no response on stdout:\n{redact(result.stderr[-3000:])}"
            ) from error
        return response

    def common_args(self, app: str | None = None) -> list[str]:
        return [
            "--env-vars",
            str(self.env_file),
            "--parameter-overrides",
            *self.parameters(app),
            "--skip-pull-image",
            "--docker-network",
            self.network,
            "--region",
            REGION,
        ]

    def start_api_command(self, template: Path, *, warm: bool = True) -> list[str]:
        command = [str(SAM), "local", "start-api", "--template", str(template), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), *self.common_args()]
        if warm:
            command += ["--warm-containers", "LAZY"]
        return [*command, "--no-watch"]


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
    result = subprocess.run(
        [*pip, *wheels, *TOOLS],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UserError(f"pip install of moto for the containers failed:\n{result.stderr[-2000:]}")
    (site / ".complete").touch()
    return site


def _published(docker: Docker, container: str, port: int) -> int:
    out = docker.run("port", container, f"{port}/tcp").stdout.split()
    return int(out[0].rsplit(":", 1)[1])


def _wait_http(url: str, what: str, docker: Docker, container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2)
            return
        if docker.run("inspect", "-f", "{{.State.Running}}", container, check=False).stdout.strip() != "true":
            break
        time.sleep(0.3)
    logs = docker.run("logs", "--tail", "20", container, check=False)
    raise UserError(f"{what} did not come up; its log:\n{logs.stdout}{logs.stderr}")


def _run_container(stack: Stack, name: str, alias: str, port: int, host_port: int, *command: str) -> int:
    container = f"{stack.network}-{alias}"
    site = _tools_site(stack.arch)
    stack.docker.run(
        "run",
        "--detach",
        "--name",
        container,
        "--network",
        stack.network,
        "--network-alias",
        alias,
        "--publish",
        f"127.0.0.1:{host_port or ''}:{port}",
        "--volume",
        f"{site}:/tools:ro",
        "--volume",
        f"{ROOT / 'local'}:/src/local:ro",
        "--env",
        "PYTHONPATH=/src:/tools",
        "--env",
        "PYTHONDONTWRITEBYTECODE=1",
        "--workdir",
        "/src",
        "--entrypoint",
        "/var/lang/bin/python3.12",
        public_image(stack.arch),
        *command,
    )
    stack.containers.append(container)
    return _published(stack.docker, container, port)


def _cleanup(docker: Docker, network: str) -> None:
    """Every container on the network (ours and SAM's), then the network."""
    ids = docker.run("ps", "--all", "--quiet", "--filter", f"network={network}", check=False).stdout.split()
    if ids:
        docker.run("rm", "--force", "--volumes", *ids, check=False)
    docker.run("network", "rm", network, check=False)


def unavailable() -> str | None:
    """Why ``sam local`` cannot run on this machine, with what to do; None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed: install Docker Desktop, or `apt-get install docker.io`"
    if not SAM.exists():
        return f"the SAM CLI is not in {SAM.parent}: run `make sam-venv`"
    try:
        find_python312()
    except UserError as error:
        return str(error)
    running = Docker().alive() or Docker(env={**os.environ, "DOCKER_HOST": f"unix://{OWN_SOCKET}"}).alive()
    if not running and (shutil.which("dockerd") is None or os.geteuid() != 0):
        return "no Docker daemon is running and this user cannot start one: start Docker, or run as root with docker.io"
    tag = public_image(lambda_arch())
    if can_build_stand_in() and not shutil.which("debootstrap") and os.environ.get("SAM_LOCAL_PULL") != "1":
        docker = Docker() if Docker().alive() else Docker(env={**os.environ, "DOCKER_HOST": f"unix://{OWN_SOCKET}"})
        if not (running and docker.has_image(tag)):
            return f"{tag} is not here and the stand-in needs debootstrap: `apt-get install debootstrap`"
    return None  # the base image is found, built or pulled (see image.ensure_base_image)


@contextlib.contextmanager
def stack(port: int = 0, *, emulator_port: int = 0, work: Path | None = None) -> Iterator[Stack]:
    """Docker (started if need be), the base image, a network with moto and the emulator, the
    resources and env.json. Everything it started is stopped and removed on exit."""
    if not SAM.exists():
        raise UserError(f"the SAM CLI is not in {SAM.parent}: run `make sam-venv` first")
    find_python312()  # fail early: sam build needs a python3.12 on PATH
    port = port or free_port()
    with daemon() as docker:
        arch = lambda_arch()
        ensure_base_image(docker, arch)
        network = f"hitkey-bff-samlocal-{secrets.token_hex(4)}"
        docker.run("network", "create", "--label", "hitkey-bff.samlocal=1", network)
        say(f"Docker network {network}: moto and the HitKey emulator")
        work = work or ROOT / ".aws-sam" / "samlocal"
        work.mkdir(parents=True, exist_ok=True)
        try:
            client_secret = secrets.token_urlsafe(32)
            app = f"http://localhost:{port}"
            partial = Stack(
                docker, arch, network, app, port, "", "", LocalResources("", "", ""), work / "env.json", work
            )
            moto_port = _run_container(
                partial, "moto", "moto", MOTO_PORT, 0, "-m", "moto.server", "--host", "0.0.0.0", "-p", str(MOTO_PORT)
            )
            emu_port = _run_container(
                partial,
                "hitkey",
                "hitkey",
                EMULATOR_PORT,
                emulator_port,
                "-m",
                "local.emulator",
                "--host",
                "0.0.0.0",
                "--port",
                str(EMULATOR_PORT),
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                client_secret,
                "--redirect-uri",
                f"{app}/auth/callback",
            )
            partial.moto = f"http://127.0.0.1:{moto_port}"
            partial.hitkey = f"http://127.0.0.1:{emu_port}"
            _wait_http(f"{partial.moto}/moto-api/", "moto", docker, partial.containers[0])
            _wait_http(f"{partial.hitkey}/_emulator/health", "the HitKey emulator", docker, partial.containers[1])
            session = boto3.Session(
                region_name=REGION,
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            with _endpoint(partial.moto):
                partial.resources = create_resources(session, client_secret, prefix="hitkey-bff-samlocal")
            partial.env_file.write_text(
                json.dumps(
                    {
                        "Parameters": {
                            "AWS_ENDPOINT_URL": f"http://moto:{MOTO_PORT}",
                            "SESSION_TABLE": partial.resources.table,
                            "KMS_KEY_ID": partial.resources.key_id,
                            "HITKEY_CLIENT_SECRET_ARN": partial.resources.secret_id,
                        }
                    },
                    indent=2,
                )
            )
            say(f"moto at {partial.moto}, HitKey emulator at {partial.hitkey}; resources and {partial.env_file} ready")
            yield partial
        finally:
            say(f"removing the containers and network {network}")
            _cleanup(docker, network)


@contextlib.contextmanager
def _endpoint(url: str) -> Iterator[None]:
    """boto3 in this process pointed at moto while the resources are created."""
    before = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = before
