"""The Lambda Python runtime in-process: handlers imported once and kept warm, the context object."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.template import FunctionSpec

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
Handler = Callable[[dict[str, Any], Any], Any]


class LambdaRuntime:
    """Warm Lambda containers: a function's handler file is imported on its first call, then reused
    (a failed import is retried). Its layers go on ``sys.path``, its code folder only while it loads.
    """

    _import_lock = threading.Lock()  # sys.path and sys.modules are the process's

    def __init__(self) -> None:
        self._handlers: dict[FunctionSpec, Handler] = {}

    def handler(self, spec: FunctionSpec) -> Handler:
        """``spec``'s handler; threads never see a module that is still being executed."""
        if spec not in self._handlers:  # a warm handler never waits for another function's import
            with self._import_lock:
                if spec not in self._handlers:
                    self._handlers[spec] = _import_handler(spec)
        return self._handlers[spec]

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """``spec``'s answer to ``event``, with a fresh context (its Timeout and MemorySize)."""
        return self.handler(spec)(event, LambdaContext(spec.logical_id, spec.timeout, memory_mb=spec.memory_size))


def region() -> str:
    """The region Lambda and API Gateway would run in: the environment's, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def _import_handler(spec: FunctionSpec) -> Handler:
    for layer in map(str, spec.layer_paths):
        if layer not in sys.path:
            sys.path.append(layer)
    module_spec = importlib.util.spec_from_file_location(spec.module_name, spec.handler_file)
    assert module_spec is not None and module_spec.loader is not None  # a .py file always has both
    module = sys.modules[spec.module_name] = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(spec.code_uri))  # siblings import as in Lambda; functions never shadow each other
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.module_name, None)
        raise
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(spec.code_uri))
    attr = spec.handler.rpartition(".")[2]
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {spec.handler_file} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return]


class LambdaContext:
    """The Python runtime's context object; its clock starts now (``timeout_s``: the Globals Timeout)."""

    function_version = "$LATEST"
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def __init__(self, function_name: str, timeout_s: float = 60, *, memory_mb: int = 256) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{region()}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
