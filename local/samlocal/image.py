"""The Lambda base image ``sam local`` builds its function containers from.

On a machine that has (or may pull) ``public.ecr.aws/lambda/python:3.12-<arch>`` that image is
used as it is. Where it cannot be had (no registry but PyPI and Debian), a stand-in is built once
and tagged with the public name, so ``sam local --skip-pull-image`` finds it:

* a Debian ``minbase`` root file system from ``debootstrap`` (the host's release and mirror),
* a CPython 3.12 built ``--enable-shared`` (the host's, e.g. pyenv's) copied to ``/var/lang``,
* ``awslambdaric`` and ``boto3`` in ``/var/runtime`` (as in the real image) and a ``bootstrap``
  with the real runtime's ``sys.path``: ``/var/task``, ``/opt/python``, ``/var/runtime``,

then ``docker import``. SAM adds its own copy of ``aws-lambda-rie`` on top. The stand-in carries
the label ``hitkey-bff.stand-in`` (its recipe version): a newer recipe rebuilds it.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.console import UserError, say
from local.samlocal.docker import CACHE, Docker

RECIPE = "1"
LABEL = "hitkey-bff.stand-in"
# What CPython's extension modules link against (ldd of lib-dynload), tkinter aside.
DEBIAN_LIBS = (
    "libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libexpat1,libuuid1,libnsl2,"
    "libtirpc3,libgdbm6"
)
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages", "lib2to3"}
# The image's settings, as the public image has them (``docker import --change``, Dockerfile syntax).
CHANGES = f"""ENV LANG=en_US.UTF-8
ENV TZ=:/etc/localtime
ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin
ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
ENV LAMBDA_TASK_ROOT=/var/task
ENV LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
LABEL {LABEL}={RECIPE}"""
BOOTSTRAP = """#!/bin/sh
# Stand-in for the python3.12 runtime's bootstrap: the same interpreter and sys.path order.
export AWS_EXECUTION_ENV=AWS_Lambda_python3.12
export PYTHONPATH=/var/task:/opt/python/lib/python3.12/site-packages:/opt/python:/var/runtime
cd /var/task
exec /var/lang/bin/python3.12 -m awslambdaric "$_HANDLER"
"""
PYTHON_PROBE = (
    "import sys, sysconfig; print(sys.version_info[:2] == (3, 12), sysconfig.get_config_var('Py_ENABLE_SHARED'),"
    " sys.base_prefix)"
)
HOW = "(Linux x86_64, as root, with debootstrap and a CPython 3.12 built --enable-shared)"
NO_PYTHON = (
    "building the stand-in Lambda image needs a CPython 3.12 built with --enable-shared: install one"
    " (e.g. `env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.12`) or point SAM_LOCAL_PYTHON"
    " at its python3.12; or pull public.ecr.aws/lambda/python:3.12-x86_64 where a registry is reachable"
)


def lambda_arch() -> str:
    """``x86_64`` or ``arm64``, as Lambda names this machine's CPU."""
    return "arm64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"


def public_image(arch: str) -> str:
    return f"public.ecr.aws/lambda/python:3.12-{arch}"


def find_python312() -> Path:
    """A CPython 3.12 home built ``--enable-shared`` (``$SAM_LOCAL_PYTHON``, pyenv's, or PATH's)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12.*/bin/python3.12"), reverse=True)
    for candidate in [os.environ.get("SAM_LOCAL_PYTHON"), *pyenv, shutil.which("python3.12")]:
        if candidate and shutil.which(candidate):  # a SAM_LOCAL_PYTHON that is no program is skipped
            probe = subprocess.run([candidate, "-c", PYTHON_PROBE], capture_output=True, text=True, check=False)
            fields = probe.stdout.split()
            if probe.returncode == 0 and fields[:2] == ["True", "1"]:
                return Path(fields[2])
    raise UserError(NO_PYTHON)


def _mirror_and_suite() -> tuple[str, str]:
    """The host's Debian release and the mirror its apt uses (deb822 or one-line sources)."""
    found = re.search(r"^VERSION_CODENAME=(\w+)", Path("/etc/os-release").read_text(), re.MULTILINE)
    suite = found.group(1) if found else "bookworm"
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = source.read_text() if source.is_file() else ""
        found = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.MULTILINE) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+" + suite + r"\s", text, re.MULTILINE
        )
        if found:
            return found.group(1), suite
    return "http://deb.debian.org/debian", suite


def _check(what: str, *cmd: str, **kwargs: object) -> None:
    if shutil.which(cmd[0]) is None:
        raise UserError(f"{what} needs {cmd[0]}: install it (Debian: `apt-get install {cmd[0]}`)")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise UserError(f"{what} failed:\n{tail}")


def build_stand_in(docker: Docker, tag: str) -> None:
    """Build the stand-in base image and tag it ``tag``."""
    python_home = find_python312()
    mirror, suite = _mirror_and_suite()
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambda-image-", dir=CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"building a stand-in for {tag}: debootstrap {suite} from {mirror} (about a minute)")
        _check(
            "debootstrap", "debootstrap", "--variant=minbase", f"--include={DEBIAN_LIBS}", suite, str(rootfs), mirror
        )
        say(f"stand-in image: CPython from {python_home} into /var/lang, awslambdaric into /var/runtime")
        shutil.copytree(
            python_home,
            rootfs / "var/lang",
            symlinks=True,
            ignore=lambda folder, names: [n for n in names if n in SKIP and folder.endswith("python3.12")],
        )
        (rootfs / "var/lang/lib/python3.12/site-packages").mkdir()
        (rootfs / "etc/ld.so.conf.d/var-lang.conf").write_text("/var/lang/lib\n")
        _check("ldconfig in the image", "chroot", str(rootfs), "/sbin/ldconfig")
        pip = [str(python_home / "bin/python3.12"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        target = ["--no-compile", "--target", str(rootfs / "var/runtime")]
        _check("pip install awslambdaric boto3", *pip, *target, "awslambdaric>=3,<4", "boto3>=1.34,<2")
        (rootfs / "var/runtime/bootstrap").write_text(BOOTSTRAP)
        (rootfs / "var/runtime/bootstrap").chmod(0o755)
        for folder in ("var/task", "opt"):
            (rootfs / folder).mkdir(parents=True, exist_ok=True)
        for junk in ("var/cache/apt/archives", "usr/share/doc", "usr/share/man", "usr/share/locale"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        say("stand-in image: docker import")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for change in CHANGES.splitlines() for arg in ("--change", change)]
        _check("docker import", "docker", "import", *changes, "-", tag, stdin=tar.stdout, env=docker.env)
        tar.wait()
    size = docker.run("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()
    say(f"built {tag} in {time.monotonic() - started:.0f} s ({int(size) // 1_000_000} MB)")


def ensure_base_image(docker: Docker, arch: str) -> str:
    """The public base image's tag, present locally: as found, or else a stand-in built here, or
    pulled where no stand-in can be built (or with ``SAM_LOCAL_PULL=1``). A machine that can
    build the stand-in never reaches a registry unless asked to."""
    tag = public_image(arch)
    if docker.has_image(tag):
        label = docker.run("image", "inspect", tag, "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}').stdout
        if label.strip() in ("", "<no value>", RECIPE):
            return tag
        say(f"{tag} is an older stand-in (recipe {label.strip()}): rebuilding it")
    if os.environ.get("SAM_LOCAL_PULL") == "1" or not can_build_stand_in():
        say(f"pulling {tag}")
        pulled = docker.run("pull", tag, check=False)
        if pulled.returncode != 0:
            raise UserError(
                f"docker pull failed: {pulled.stderr.strip()}\n"
                f"pull it where a registry is reachable, or build a stand-in {HOW}"
            )
        return tag
    build_stand_in(docker, tag)
    return tag


def can_build_stand_in() -> bool:
    """Where :func:`build_stand_in` works (or says what to install): see ``HOW``."""
    return sys.platform == "linux" and lambda_arch() == "x86_64" and os.geteuid() == 0
