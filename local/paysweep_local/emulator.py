"""The local AWS: moto in server mode, behind a middleware that makes it trustworthy for tests.

Why a middleware around moto rather than moto as-is:

* **Serialised requests.** moto's threaded server evaluates a DynamoDB condition and applies
  the write without a lock, so two concurrent conditional writes can both succeed, which real
  DynamoDB never allows. One lock held for the whole request (body materialised inside it)
  makes every API call atomic, so a concurrency test can only blame the product.
* **Fault injection over HTTP.** Rules posted to ``/_paysweep/faults`` make matching requests
  fail with the exact error bodies the real services send, so the product's real botocore
  retry paths run (throttles, 5xx, conditional failures, hangs, delays).
* **Call counters.** ``/_paysweep/stats`` counts requests per ``service.Operation`` and the
  DynamoDB items read, so a benchmark can report AWS calls per order; and ``writeUnits``, the
  write request units every DynamoDB write consumed by DynamoDB's rules, from the item before
  and after the write as moto's backend holds it (table, each index, refused conditional
  writes; see :mod:`paysweep_local.capacity`).

Run ``python -m paysweep_local.emulator --port 5000`` for a foreground emulator; tests use
:class:`Emulator`, which starts the same thing as a subprocess (its own GIL, dies with us).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote

from paysweep_local.capacity import WriteAccountant

REGION = "us-east-1"
SPEEDUPS_ENV = "PAYSWEEP_EMULATOR_SPEEDUPS"
"""`off` serves with moto as shipped (no `moto_speedups`): for comparing answers, or doubting them."""
CONTROL_PREFIX = "/_paysweep/"
ERROR_KINDS = frozenset({"throttle", "internal", "unavailable", "conditional"})
WAIT_KINDS = frozenset({"hang", "delay"})
FAULT_KINDS = ERROR_KINDS | WAIT_KINDS

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

# ----------------------------------------------------------------------------------------
# Which AWS call is this?
# ----------------------------------------------------------------------------------------

TARGET_PREFIXES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "secretsmanager": "secretsmanager",
    "Logs_20140328": "logs",
    "TrentService": "kms",
    "GraniteServiceVersion20100801": "cloudwatch",
    "AWSEvents": "events",
    "AmazonSSM": "ssm",
    "AWSStepFunctions": "stepfunctions",
}
"""X-Amz-Target prefixes of JSON-protocol services, to their botocore service names."""

SIGNING_ALIASES = {"monitoring": "cloudwatch", "states": "stepfunctions", "email": "ses"}
"""Credential-scope (signing) names that differ from botocore's service name."""


@dataclass(frozen=True)
class Call:
    """One AWS request as the middleware sees it: who it is for and what it carries."""

    service: str
    operation: str
    protocol: str
    body: bytes
    query_version: str | None = None
    content_type: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"

    def body_text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def read_body(environ: Environ) -> bytes:
    """Consume the request body and put it back, so both we and moto can read it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def credential_service(environ: Environ) -> str | None:
    """The service named in the SigV4 credential scope (header or presigned query)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=([^,\s]+)", auth)
    scope = match.group(1) if match else None
    if scope is None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("X-Amz-Credential") or [None])[0]
    parts = scope.split("/") if scope else []
    if len(parts) != 5:
        return None
    return SIGNING_ALIASES.get(parts[3].lower(), parts[3].lower())


def credential_region(environ: Environ) -> str:
    """The region named in the SigV4 credential scope (the emulator's default without one)."""
    match = re.search(r"Credential=[^/,\s]+/[^/,\s]+/([^/,\s]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else REGION


def form_params(environ: Environ, body: bytes) -> dict[str, str]:
    """Query-protocol parameters: the urlencoded form body, else the query string."""
    content_type = environ.get("CONTENT_TYPE", "")
    text = body.decode("utf-8", errors="replace") if "x-www-form-urlencoded" in content_type else ""
    params = parse_qs(text or environ.get("QUERY_STRING", ""))
    return {key: values[0] for key, values in params.items()}


def identify(environ: Environ, body: bytes) -> Call:
    """Service and operation of a request, from the same signals AWS's front ends use."""
    scope_service = credential_service(environ)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = TARGET_PREFIXES.get(prefix, scope_service or prefix.lower())
        return Call(service, operation, "json", body, content_type=environ.get("CONTENT_TYPE", ""))
    path = environ.get("PATH_INFO", "")
    cbor = re.fullmatch(r"/service/[^/]+/operation/([A-Za-z0-9]+)", path)
    if cbor and environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
        return Call(scope_service or "unknown", cbor.group(1), "cbor", body)
    params = form_params(environ, body)
    if "Action" in params:
        return Call(scope_service or "unknown", params["Action"], "query", body, params.get("Version"))
    service = scope_service or "unknown"
    method = environ.get("REQUEST_METHOD", "GET")
    operation = rest_operation(service, environ)
    return Call(service, operation or f"{method} {path}", rest_protocol(service), body)


@cache
def _service_model(service: str) -> Any | None:
    """botocore's model of a service, or None when botocore does not know the name."""
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - an unknown service is simply not REST-matchable
        return None


def rest_protocol(service: str) -> str:
    model = _service_model(service)
    return model.protocol if model is not None else "rest-json"


@dataclass(frozen=True)
class RestRoute:
    """How one REST operation looks on the wire, from botocore's model."""

    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]
    """Query keys the request must carry (with the value, where the URI fixes one)."""
    headers: tuple[str, ...]
    """WSGI environ keys of the headers the operation requires (e.g. CopyObject's copy source)."""
    name: str

    @property
    def rank(self) -> tuple[int, int]:
        """More required signals, then a longer literal path, wins a tie."""
        return len(self.query) + len(self.headers), len(self.path.pattern)

    def matches(self, method: str, path: str, query: dict[str, list[str]], environ: Environ) -> bool:
        if method != self.method or not self.path.fullmatch(path):
            return False
        for key, value in self.query:
            if key not in query or (value is not None and value not in query[key]):
                return False
        return all(header in environ for header in self.headers)


def _route(name: str, operation: Any) -> RestRoute:
    http = operation.http
    uri_path, _, uri_query = http.get("requestUri", "/").partition("?")
    fixed = [part.partition("=") for part in uri_query.split("&") if part]
    query = [(key, value if sep else None) for key, sep, value in fixed]
    headers: list[str] = []
    shape = operation.input_shape
    for member in shape.required_members if shape is not None else ():
        where = shape.members[member].serialization
        if where.get("location") == "querystring":
            query.append((where["name"], None))
        elif where.get("location") == "header":
            headers.append("HTTP_" + where["name"].upper().replace("-", "_"))
    pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", re.escape(uri_path))
    pattern = re.sub(r"\\\{[^}]+?\\\}", "[^/]+", pattern)
    return RestRoute(
        http.get("method", "POST"), re.compile(pattern + "/?"), tuple(query), tuple(headers), name
    )


@cache
def _rest_routes(service: str) -> tuple[RestRoute, ...]:
    model = _service_model(service)
    if model is None:
        return ()
    return tuple(_route(name, model.operation_model(name)) for name in model.operation_names)


def rest_operation(service: str, environ: Environ) -> str | None:
    """The operation of a REST-protocol request, by matching botocore's request URIs."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = unquote(environ.get("PATH_INFO", ""))
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    candidates = [route for route in _rest_routes(service) if route.matches(method, path, query, environ)]
    return max(candidates, key=lambda route: route.rank).name if candidates else None


# ----------------------------------------------------------------------------------------
# Error bodies exactly as the real services send them
# ----------------------------------------------------------------------------------------

DEFAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "internal": (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    "unavailable": (503, "ServiceUnavailable", "Service is unavailable. Try again later."),
}
SERVICE_ERRORS: dict[tuple[str, str], tuple[int, str, str]] = {
    ("dynamodb", "throttle"): (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    ("dynamodb", "internal"): (500, "InternalServerError", "Internal server error"),
    ("dynamodb", "conditional"): (400, "ConditionalCheckFailedException", "The conditional request failed"),
    ("sns", "throttle"): (400, "Throttling", "Rate exceeded"),
    ("sns", "internal"): (500, "InternalError", "Internal Error"),
    ("sqs", "internal"): (500, "InternalError", "We encountered an internal error. Please try again."),
    ("secretsmanager", "internal"): (500, "InternalServiceError", "An error occurred on the server side."),
    ("lambda", "throttle"): (429, "TooManyRequestsException", "Rate exceeded"),
    ("scheduler", "throttle"): (429, "ThrottlingException", "Rate exceeded"),
    ("s3", "throttle"): (503, "SlowDown", "Please reduce your request rate."),
    ("s3", "internal"): (500, "InternalError", "We encountered an internal error. Please try again."),
}
QUERY_COMPATIBLE = frozenset({"sqs"})
"""JSON services that also name the query-protocol error code in x-amzn-query-error."""


def error_spec(service: str, kind: str) -> tuple[int, str, str]:
    """(HTTP status, error code, message) a service answers for a fault kind."""
    spec = SERVICE_ERRORS.get((service, kind)) or DEFAULT_ERRORS.get(kind)
    if spec is None:
        raise ValueError(f"error {kind!r} does not exist for service {service!r}")
    return spec


def cbor_text_map(values: dict[str, str]) -> bytes:
    """A tiny CBOR encoder for a map of short text to text, enough for an rpc-v2-cbor error."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    out = head(5, len(values))
    for key, value in values.items():
        for text in (key.encode(), value.encode()):
            out += head(3, len(text)) + text
    return out


def error_response(call: Call, kind: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a fault, in the request's own wire protocol."""
    status, code, message = error_spec(call.service, kind)
    request_id = str(uuid.uuid4())
    fault = "Sender" if status < 500 else "Receiver"
    headers = [("x-amzn-RequestId", request_id)]
    if call.protocol == "json":
        type_name = f"com.amazonaws.dynamodb.v20120810#{code}" if call.service == "dynamodb" else code
        if call.service in QUERY_COMPATIBLE:
            headers.append(("x-amzn-query-error", f"{code};{fault}"))
        body = json.dumps({"__type": type_name, "message": message}).encode()
        content_type = call.content_type if "amz-json" in call.content_type else "application/x-amz-json-1.0"
        return status, [*headers, ("Content-Type", content_type)], body
    if call.protocol == "query":
        namespace = f"http://{call.service}.amazonaws.com/doc/{call.query_version or '2010-03-31'}/"
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, [*headers, ("Content-Type", "text/xml")], body.encode()
    if call.protocol == "cbor":
        body = cbor_text_map({"__type": code, "message": message})
        return (
            status,
            [*headers, ("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")],
            body,
        )
    if call.protocol == "rest-xml":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return status, [*headers, ("Content-Type", "application/xml")], body.encode()
    body = json.dumps({"message": message, "Message": message}).encode()
    return status, [*headers, ("x-amzn-ErrorType", code), ("Content-Type", "application/json")], body


# ----------------------------------------------------------------------------------------
# Fault rules and counters
# ----------------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """Fail (or hold) the next `times` requests of one service/operation whose body has `match`."""

    id: int
    service: str
    operation: str | None
    error: str
    times: int = 1
    match: str | None = None
    seconds: float = 0.0
    after: bool = False
    """For "delay": serve first, then sleep (the call took effect but its answer is late)."""
    probability: float = 1.0
    """Each matching request fires the rule with this probability (chaos tests)."""
    seed: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @classmethod
    def from_spec(cls, rule_id: int, spec: dict[str, Any]) -> FaultRule:
        unknown = set(spec) - {"service", "operation", "match", "times", "error", "seconds", "after", "probability", "seed"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = cls(
            id=rule_id,
            service=str(spec["service"]).lower(),
            operation=spec.get("operation") or None,
            error=str(spec.get("error", "throttle")),
            times=int(spec.get("times", 1)),
            match=spec.get("match") or None,
            seconds=float(spec.get("seconds", 0.0)),
            after=bool(spec.get("after", False)),
            probability=float(spec.get("probability", 1.0)),
            seed=int(spec.get("seed", 0)),
        )
        rule.rng = random.Random(rule.seed)
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.error not in FAULT_KINDS:
            raise ValueError(f"error must be one of {sorted(FAULT_KINDS)}, not {self.error!r}")
        if self.error in ERROR_KINDS:
            error_spec(self.service, self.error)  # raises for e.g. "conditional" outside DynamoDB
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be a positive count or -1 (until cleared)")
        if self.error in WAIT_KINDS and self.seconds <= 0:
            raise ValueError(f"{self.error!r} needs seconds > 0")
        if not 0 < self.probability <= 1:
            raise ValueError("probability must be within (0, 1]")

    @property
    def exhausted(self) -> bool:
        return self.times != -1 and self.fired >= self.times

    def matches(self, call: Call) -> bool:
        if self.exhausted or self.service != call.service:
            return False
        if self.operation not in (None, "*", call.operation):
            return False
        if self.match is not None and self.match not in call.body_text():
            return False
        return self.probability >= 1 or self.rng.random() < self.probability


class FaultBook:
    """The active fault rules; the first live rule matching a request fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> FaultRule:
        with self._lock:
            rule = FaultRule.from_spec(next(self._ids), spec)
            self._rules.append(rule)
            return rule

    def take(self, call: Call) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(call):
                    rule.fired += 1
                    return rule
            return None

    def remove(self, rule_id: int | None = None) -> int:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if rule_id is not None and r.id != rule_id]
            return before - len(self._rules)

    def report(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**{k: v for k, v in asdict(rule).items() if k != "rng"}, "exhausted": rule.exhausted}
                for rule in self._rules
            ]


@dataclass
class Stats:
    """Requests per `service.Operation`, and DynamoDB items read per operation and table."""

    calls: Counter[str] = field(default_factory=Counter)
    faulted: Counter[str] = field(default_factory=Counter)
    items_read: Counter[str] = field(default_factory=Counter)
    items_read_by_table: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_call(self, call: Call, faulted: bool) -> None:
        with self.lock:
            self.calls[call.key] += 1
            if faulted:
                self.faulted[call.key] += 1

    def count_reads(self, call: Call, status: str, body: bytes) -> None:
        if call.service != "dynamodb" or not status.startswith("200"):
            return
        per_table = dynamodb_items_read(call, body)
        with self.lock:
            for table, count in per_table.items():
                self.items_read[call.key] += count
                self.items_read_by_table[table] += count

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "faulted": dict(self.faulted),
                "itemsRead": dict(self.items_read),
                "itemsReadByTable": dict(self.items_read_by_table),
            }

    def reset(self) -> None:
        with self.lock:
            for counter in (self.calls, self.faulted, self.items_read, self.items_read_by_table):
                counter.clear()


def dynamodb_items_read(call: Call, response: bytes) -> dict[str, int]:
    """Items a DynamoDB read returned or examined, keyed by table (and "/index/NAME")."""
    if call.operation not in {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"}:
        return {}
    try:
        request, answer = json.loads(call.body or b"{}"), json.loads(response or b"{}")
    except ValueError:
        return {}
    table = request.get("TableName", "?")
    if request.get("IndexName"):
        table = f"{table}/index/{request['IndexName']}"
    if call.operation in {"Query", "Scan"}:
        return {table: int(answer.get("ScannedCount", answer.get("Count", 0)))}
    if call.operation == "GetItem":
        return {table: 1 if "Item" in answer else 0}
    if call.operation == "BatchGetItem":
        return {name: len(items) for name, items in answer.get("Responses", {}).items()}
    return {"(transaction)": sum(1 for item in answer.get("Responses", []) if item.get("Item"))}


# ----------------------------------------------------------------------------------------
# The middleware
# ----------------------------------------------------------------------------------------


def json_reply(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    body = json.dumps(payload, default=str).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found"}.get(status, "")
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class SerialisingFaultMiddleware:
    """Serialises moto, injects faults and counts calls (see the module docstring for why)."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]], *, speedups: bool = False) -> None:
        self.app = app
        self.speedups = speedups
        """Whether `app` runs with `moto_speedups` (reported by the health endpoint)."""
        self.lock = threading.Lock()
        self.faults = FaultBook()
        self.stats = Stats()
        self.writes = WriteAccountant()
        """DynamoDB write request units, by DynamoDB's rules (reported and reset with the stats)."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self.control(environ, start_response)
        body = read_body(environ)
        call = identify(environ, body)
        rule = self.faults.take(call)
        self.stats.count_call(call, faulted=rule is not None and rule.error in ERROR_KINDS)
        if rule is not None and rule.error in ERROR_KINDS:
            if rule.error == "conditional" and call.service == "dynamodb":
                with self.lock:  # DynamoDB bills a refused conditional write: so is an injected one
                    self.writes.refused(call.operation, call.body, credential_region(environ))
            status, headers, payload = error_response(call, rule.error)
            start_response(f"{status} Fault", [*headers, ("Content-Length", str(len(payload)))])
            return [payload]
        if rule is not None and not rule.after:
            time.sleep(rule.seconds)  # outside the lock: other requests go on meanwhile
        status, headers, payload = self.serve_locked(environ, call)
        if rule is not None and rule.after:
            time.sleep(rule.seconds)
        self.stats.count_reads(call, status, payload)
        start_response(status, headers)
        return [payload]

    def serve_locked(self, environ: Environ, call: Call | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run moto for one request under the global lock, body included; a DynamoDB write's
        units are booked from the item as it was just before and just after (see `capacity`)."""
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return chunks.append

        accounted = call is not None and call.service == "dynamodb"
        with self.lock:
            region = credential_region(environ) if accounted else REGION
            pending = self.writes.before(call.operation, call.body, region) if accounted and call else []
            result = self.app(environ, capture)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            payload = b"".join(chunks)
            if pending:
                self.writes.after(pending, region, captured["status"], payload)
        return captured["status"], captured["headers"], payload

    # -- control endpoints -----------------------------------------------------------------

    def control(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX) :].strip("/")
        body = read_body(environ)
        try:
            status, payload = self.route(method, path, body)
        except (ValueError, KeyError, TypeError) as error:
            status, payload = 400, {"error": f"{type(error).__name__}: {error}"}
        return json_reply(start_response, status, payload)

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path == "health":
            return 200, {"status": "ok", "pid": os.getpid(), "speedups": self.speedups}
        if path == "faults" and method == "POST":
            rule = self.faults.add(json.loads(body or b"{}"))
            return 201, {"id": rule.id}
        if path == "faults" and method == "GET":
            return 200, {"rules": self.faults.report()}
        if path == "faults" and method == "DELETE":
            return 200, {"cleared": self.faults.remove()}
        if path.startswith("faults/") and method == "DELETE":
            return 200, {"cleared": self.faults.remove(int(path.split("/", 1)[1]))}
        if path == "stats" and method == "GET":
            return 200, {**self.stats.snapshot(), "writeUnits": self.writes.book.snapshot()}
        if path == "stats" and method == "DELETE":
            self.stats.reset()
            self.writes.book.reset()
            return 200, {"status": "ok"}
        if path == "cloudformation-types" and method == "GET":
            return 200, {"types": cloudformation_types()}
        if path == "reset" and method == "POST":
            self.reset()
            return 200, {"status": "ok"}
        return 404, {"error": f"no control endpoint {method} /_paysweep/{path}"}

    def reset(self) -> None:
        """moto's own reset (every backend emptied), plus our faults and counters."""
        from moto.moto_api._internal.models import moto_api_backend

        with self.lock:
            moto_api_backend.reset()
        self.faults.remove()
        self.stats.reset()
        self.writes.book.reset()


def cloudformation_types() -> list[str]:
    """Resource types this moto's CloudFormation can create; it skips every other type silently."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return sorted(set(get_model_map()) | set(NULL_MODELS))


# ----------------------------------------------------------------------------------------
# The server process
# ----------------------------------------------------------------------------------------


def build_app() -> SerialisingFaultMiddleware:
    """moto's dispatcher app wrapped in our middleware."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    from paysweep_local import moto_speedups

    app = DomainDispatcherApplication(create_backend_app)
    speedups = os.environ.get(SPEEDUPS_ENV, "on") != "off"
    return SerialisingFaultMiddleware(moto_speedups.install(app) if speedups else app, speedups=speedups)


def watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Exit as soon as the process that started us is gone, so no emulator is orphaned."""

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(interval)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def write_ready_file(path: str, host: str, port: int) -> None:
    """Atomically publish the port we listen on (write then rename, so no half-read)."""
    temporary = f"{path}.tmp"
    Path(temporary).write_text(json.dumps({"host": host, "port": port, "pid": os.getpid()}))
    os.replace(temporary, path)


def serve(host: str, port: int, ready_file: str | None, parent_pid: int | None, quiet: bool) -> None:
    from moto.server import MotoRequestHandler
    from werkzeug.serving import make_server

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    if parent_pid:
        watch_parent(parent_pid)
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, build_app(), threaded=True, request_handler=MotoRequestHandler)
    actual_port = server.server_port
    print(f"paysweep emulator (moto server) listening on http://{host}:{actual_port}", flush=True)
    if ready_file:
        write_ready_file(ready_file, host, actual_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="moto server with request serialisation, faults and counters"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--ready-file", help="write {host, port, pid} here once serving")
    parser.add_argument("--parent-pid", type=int, help="exit when this parent process is gone")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.ready_file, args.parent_pid, args.quiet)


# ----------------------------------------------------------------------------------------
# The client side
# ----------------------------------------------------------------------------------------

CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class EmulatorError(RuntimeError):
    """The emulator did not start, or refused a control request."""


class Emulator:
    """A moto server subprocess (with our middleware) and a client for its control endpoints."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 60.0, *, speedups: bool = True
    ) -> None:
        self.host = host
        self.speedups = speedups
        self.requested_port = port
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Spawn the server subprocess and wait until it answers."""
        if self.process is not None:
            return self
        self._workdir = tempfile.TemporaryDirectory(prefix="paysweep-emulator-")
        ready = Path(self._workdir.name) / "ready.json"
        self.log_path = Path(self._workdir.name) / "emulator.log"
        command = [
            sys.executable,
            "-m",
            "paysweep_local.emulator",
            "--host",
            self.host,
            "--port",
            str(self.requested_port),
            "--ready-file",
            str(ready),
            "--parent-pid",
            str(os.getpid()),
            "--quiet",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._server_env(),
            )
        self.port = self._wait_ready(ready)
        return self

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**env, **CLIENT_ENV, "PYTHONUNBUFFERED": "1", SPEEDUPS_ENV: "on" if self.speedups else "off"}

    def _wait_ready(self, ready: Path) -> int:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EmulatorError(f"emulator exited with {self.process.returncode}:\n{self.log_tail()}")
            if ready.exists():
                port = int(json.loads(ready.read_text())["port"])
                self.port = port
                self.health()
                return port
            time.sleep(0.05)
        self.stop()
        raise EmulatorError(f"emulator did not start within {self.start_timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        self._clients.clear()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmulatorError("emulator not started")
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point a client process's boto3 at this emulator."""
        return {"AWS_ENDPOINT_URL": self.url, **CLIENT_ENV}

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client bound to the emulator (standard retry mode unless `config` says otherwise).

        Cached per service and config: making a boto3 client costs ~0.1 s, and clients are
        thread-safe once made.
        """
        import boto3
        from botocore.config import Config

        settings = {"retries": {"mode": "standard"}, **config}
        key = (service, json.dumps(settings, sort_keys=True, default=repr))
        with self._clients_lock:
            if key not in self._clients:
                session = boto3.session.Session(
                    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
                )
                self._clients[key] = session.client(service, endpoint_url=self.url, config=Config(**settings))
            return self._clients[key]

    # -- control endpoints -----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`{status, pid, speedups}` of the running server."""
        return dict(self._request("GET", "health"))

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{CONTROL_PREFIX}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise EmulatorError(
                f"{method} {path}: {error.code} {error.read().decode(errors='replace')}"
            ) from None

    def add_fault(
        self,
        service: str,
        operation: str | None = None,
        *,
        error: str = "throttle",
        times: int = 1,
        match: str | None = None,
        seconds: float = 0.0,
        after: bool = False,
        probability: float = 1.0,
        seed: int = 0,
    ) -> int:
        """Make the next `times` matching requests fail (or wait), each with `probability`;
        returns the rule id."""
        spec = {
            "service": service,
            "operation": operation,
            "error": error,
            "times": times,
            "match": match,
            "seconds": seconds,
            "after": after,
            "probability": probability,
            "seed": seed,
        }
        return int(self._request("POST", "faults", spec)["id"])

    def remove_fault(self, rule_id: int) -> None:
        self._request("DELETE", f"faults/{rule_id}")

    def clear_faults(self) -> None:
        self._request("DELETE", "faults")

    def fault_report(self) -> list[dict[str, Any]]:
        """Every rule with how many times it fired."""
        return list(self._request("GET", "faults")["rules"])

    def stats(self) -> dict[str, Any]:
        return dict(self._request("GET", "stats"))

    def reset_stats(self) -> None:
        self._request("DELETE", "stats")

    def reset(self) -> None:
        """Empty every moto backend and clear faults and counters."""
        self._request("POST", "reset")

    def cloudformation_types(self) -> frozenset[str]:
        """Resource types the emulator's CloudFormation can create (from moto's model map)."""
        return frozenset(self._request("GET", "cloudformation-types")["types"])


if __name__ == "__main__":
    main()
