"""One Lambda execution environment: a process that imports a handler and runs invocations.

moto cannot execute Lambda code (no Docker here), so this stands in for the Python runtime:
the code folder then the layer folders go first on ``sys.path`` (like ``/var/task`` and
``/opt/python``), the handler module is imported once (cold start), and every invocation
reuses it (warm), exactly what makes per-container caches in the product behave as in AWS.

Protocol (one JSON object per line):

* worker -> parent, once after init: ``{"ready": true, "init_ms": n, "init_error": null|{...}}``
* parent -> worker: ``{"event": {...}, "timeout_ms": 120000, "clock_offset_seconds": 0}``
* worker -> parent: ``{"result": ..., "error": null|{"type", "message", "traceback"}, "duration_ms": n}``

The protocol owns a private duplicate of the original stdout; file descriptor 1 (and so
every ``print`` and Powertools log line) is pointed at stderr, the log stream the parent
reads. ``clock_offset_seconds`` shifts ``paysweep.domain.clock.utc_now`` for simulated-time tests.

Lambda's advanced logging controls (``AWS_LAMBDA_LOG_LEVEL``, ``AWS_LAMBDA_LOG_FORMAT``) are
honoured as the Python runtime honours them: a handler on the root logger at that level, so
libraries' own loggers (botocore, urllib3, the X-Ray SDK) write to the log stream too. Without
them the root logger keeps Python's default (WARNING), which is what Lambda does as well.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TextIO

from paysweep_local.emulator import watch_parent

CLOCK_FUNCTION = "paysweep.domain.clock:utc_now"
PLATFORM_PREFIXES = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_REPORT")
"""Lines the runtime itself writes to the log (as Lambda does), not the handler."""

clock_offset_seconds: float = 0.0
"""Read on every call of the shifted clock, so each invocation can move time."""

current_request_id: str = ""
"""The invocation being served, for the runtime's own log lines (its `aws_request_id`)."""

RUNTIME_LOG_LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
                      "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
                      "FATAL": logging.CRITICAL, "CRITICAL": logging.CRITICAL}

Handler = Callable[[Any, Any], Any]


class LocalLambdaContext:
    """The context object the Python runtime passes to a handler."""

    def __init__(self, function_arn: str, timeout_ms: int, request_id: str | None = None) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{self.function_name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ----------------------------------------------------------------------------------------
# Process set-up
# ----------------------------------------------------------------------------------------


def take_protocol_streams() -> tuple[TextIO, TextIO]:
    """(requests in, responses out) on private fds; fd 0 becomes /dev/null and fd 1 the log."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    responses = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return requests, responses


def set_import_path(code_dir: str, layer_dirs: list[str]) -> None:
    """Code first, then layers (a layer's python/ folder if it has one, as /opt/python)."""
    paths = [os.path.abspath(code_dir)]
    for layer in layer_dirs:
        python = os.path.join(layer, "python")
        paths.append(os.path.abspath(python if os.path.isdir(python) else layer))
    sys.path[:0] = [p for p in paths if p not in sys.path[:0]]


def install_clock(spec: str = CLOCK_FUNCTION) -> bool:
    """Replace the product's clock function with one shifted by `clock_offset_seconds`.

    Done before the handler is imported, so even a `from ... import utc_now` sees the shift.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    real = getattr(module, attribute)

    def shifted() -> Any:
        return real() + timedelta(seconds=clock_offset_seconds)

    shifted.__doc__ = f"{spec}, shifted by the local Lambda worker's clock offset."
    setattr(module, attribute, shifted)
    return True


class _RuntimeJsonFormatter(logging.Formatter):
    """The runtime's JSON log line (AWS_LAMBDA_LOG_FORMAT=JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", ""),
        }
        if record.exc_info:
            line["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(line, default=str)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = current_request_id
        return True


def install_runtime_logging(environ: Mapping[str, str] | None = None) -> bool:
    """Set up the root logger as Lambda's Python runtime does under advanced logging controls.

    Only when `AWS_LAMBDA_LOG_LEVEL` or `AWS_LAMBDA_LOG_FORMAT` is set: otherwise Python's
    default (WARNING and above reach stderr) already matches the runtime's default.
    """
    env = os.environ if environ is None else environ
    level, log_format = env.get("AWS_LAMBDA_LOG_LEVEL", "").upper(), env.get("AWS_LAMBDA_LOG_FORMAT", "").upper()
    if not level and not log_format:
        return False
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "JSON":
        handler.setFormatter(_RuntimeJsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        ))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    if level in RUNTIME_LOG_LEVELS:
        root.setLevel(RUNTIME_LOG_LEVELS[level])
    root.addHandler(handler)
    return True


def error_info(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "type": error_type or type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }


def load_handler(spec: str) -> Handler:
    """Import "module.function" as the runtime does, with its error types for failures."""
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as error:
        raise InitError(error, "Runtime.ImportModuleError") from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise InitError(
            AttributeError(f"Handler '{function_name}' missing on module '{module_name}'"),
            "Runtime.HandlerNotFound",
        )
    return handler


class InitError(Exception):
    """The handler could not be loaded; every invocation answers with this error."""

    def __init__(self, cause: BaseException, error_type: str) -> None:
        super().__init__(str(cause))
        self.info = error_info(cause, error_type)


# ----------------------------------------------------------------------------------------
# Invocations
# ----------------------------------------------------------------------------------------


def invoke(handler: Handler, request: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """Run one invocation; the answer always serialises (an unserialisable result is an error)."""
    global clock_offset_seconds, current_request_id
    clock_offset_seconds = float(request.get("clock_offset_seconds", 0) or 0)
    context = LocalLambdaContext(
        function_arn, int(request.get("timeout_ms", 3000)), request.get("request_id")
    )
    current_request_id = context.aws_request_id
    print(f"START RequestId: {context.aws_request_id} Version: {context.function_version}", file=sys.stderr)
    started = time.monotonic()
    result, error = None, None
    try:
        result = handler(request.get("event"), context)
    except Exception as failure:  # noqa: BLE001 - reported to the caller, as Lambda does
        error = error_info(failure)
    else:
        try:
            json.dumps(result)
        except (TypeError, ValueError) as failure:
            result, error = None, error_info(failure, "Runtime.MarshalError")
    duration_ms = int((time.monotonic() - started) * 1000)
    print(f"END RequestId: {context.aws_request_id}", file=sys.stderr)
    print(f"REPORT RequestId: {context.aws_request_id}\tDuration: {duration_ms} ms", file=sys.stderr)
    return {
        "result": result,
        "error": error,
        "duration_ms": duration_ms,
        "request_id": context.aws_request_id,
    }


def serve(
    requests: TextIO,
    responses: TextIO,
    handler: Handler | None,
    init_error: dict[str, Any] | None,
    function_arn: str,
) -> None:
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        if handler is None:
            answer = {"result": None, "error": init_error, "duration_ms": 0, "request_id": str(uuid.uuid4())}
        else:
            answer = invoke(handler, request, function_arn)
        sys.stdout.flush()
        sys.stderr.flush()
        responses.write(json.dumps(answer, default=str) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run a Lambda handler locally, one JSON line per invocation")
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer-dir", action="append", default=[])
    parser.add_argument("--handler", required=True, help="module.function, e.g. app.lambda_handler")
    parser.add_argument("--function-arn", default="arn:aws:lambda:us-east-1:123456789012:function:local")
    parser.add_argument(
        "--clock", default=CLOCK_FUNCTION, help="module:function to shift by clock_offset_seconds"
    )
    parser.add_argument("--parent-pid", type=int, help="exit when this parent process is gone")
    args = parser.parse_args(argv)

    if args.parent_pid:
        watch_parent(args.parent_pid)
    requests, responses = take_protocol_streams()
    install_runtime_logging()
    started = time.monotonic()
    set_import_path(args.code_dir, args.layer_dir)
    install_clock(args.clock)
    handler, init_error = None, None
    try:
        handler = load_handler(args.handler)
    except InitError as error:
        init_error = error.info
    except Exception as error:  # noqa: BLE001 - module-level code failed: Lambda reports it per invoke
        init_error = error_info(error)
    init_ms = int((time.monotonic() - started) * 1000)
    print(f"INIT_REPORT Init Duration: {init_ms} ms", file=sys.stderr)
    responses.write(json.dumps({"ready": True, "init_ms": init_ms, "init_error": init_error}) + "\n")
    serve(requests, responses, handler, init_error, args.function_arn)


if __name__ == "__main__":
    main()
