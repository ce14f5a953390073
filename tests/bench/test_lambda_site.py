"""The benches' measured processes see the packages a Lambda environment has, and no others."""

from __future__ import annotations

import subprocess

from bench.coldstart import child_env, python_command

PROBE = r"""
import importlib.util
names = "httpx httpcore cryptography aws_lambda_powertools botocore boto3 trio pytest moto click"
for name in names.split():
    print(name, importlib.util.find_spec(name) is not None)
"""


def test_a_measured_process_finds_the_layers_and_the_runtimes_packages_only() -> None:
    env = child_env("http://127.0.0.1:9", "session", None)
    done = subprocess.run([*python_command(), "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    found = dict(line.split() for line in done.stdout.splitlines())
    assert {name for name, there in found.items() if there == "True"} == {
        "httpx",
        "httpcore",
        "cryptography",
        "aws_lambda_powertools",
        "botocore",
        "boto3",
    }
