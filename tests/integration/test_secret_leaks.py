"""Nothing secret in logs, traces, metrics or messages (GitHub issue 6, item 2).

Both providers' real handlers run over real HTTP (the AWS emulator with the real template
deployed, the provider simulators) through sweeps that take as many paths as possible:
approvals, pending orders, declines, provider cancellations, integrity cancels signed with the
KICC secretKey (accepted, refused for a bad HMAC, retryable), a TeemoPay mismatch sent to review,
provider errors of every kind (error codes, 5xx, junk, oversized answers, timeouts), answers
refusing our configuration (KICC unknown mallId, TeemoPay signature refused / app unknown),
unreadable secrets (not JSON, malformed key, wrong key), a PEM key, an invalid order, expiry, an
approval the table refuses (compensating cancel, then the compensation journal), an SNS outage
and the outbox re-publish.

At the most verbose settings a deployment can have: the template's `LogLevel=DEBUG`, plus
Lambda's advanced logging controls at DEBUG (`AWS_LAMBDA_LOG_LEVEL`, so the root logger, and
with it botocore, urllib3 and the X-Ray SDK, logs at DEBUG too), and X-Ray tracing on, its
documents sent to a stand-in daemon.

Everything a sweep writes is captured and scanned: every line of the functions' log streams
(Powertools logs, EMF metrics, library logs, tracebacks, runtime lines), every trace document,
every outcome message as subscribers receive it (body and attributes), every handler result or
error, every item of the orders table and of the compensation journal, and the functions'
environment. The secrets are fresh for this module, so a hit cannot be a coincidence; canary
values planted in ordinary fields prove each channel really is captured, and the scanner is
checked against every spelling of every secret before its silence is believed.

What is secret: CONTRACT.md section 4 lists the providers' secrets. The credentials (KICC
`secretKey`, TeemoPay `privateKey`) and the account identifiers kept with them (KICC `mallId`,
TeemoPay `appCode`) must never appear; nor may values derived from them for the provider
(`msgAuthValue`, the request `sign`), which belong in provider requests only. `country` ("KR")
and `platformPublicKey` (a public key) are public by nature and are not scanned for.
"""

from __future__ import annotations

import base64
import json
import secrets as random_secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from paysweep_local.sandbox import InvocationResult, parse_log_lines
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.simulators.keys import RsaKeyPair, generate_rsa_keypair
from paysweep_local.stack import LocalStack
from support.leaks import SecretScanner, XRayDaemon
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay

TRACE_HEADER = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


# ----------------------------------------------------------------------------------------
# Fresh secrets for this module
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshSecrets:
    mall_id: str
    secret_key: str
    app_code: str
    merchant: RsaKeyPair
    wrong_merchant: RsaKeyPair
    """A second private key, put in the secret by mistake: refused by TeemoPay, still secret."""
    platform: RsaKeyPair

    @property
    def kicc(self) -> dict[str, str]:
        return {"mallId": self.mall_id, "secretKey": self.secret_key}

    def teemopay(self, private_key: str | None = None) -> dict[str, str]:
        return {
            "appCode": self.app_code,
            "country": "KR",
            "privateKey": self.merchant.private_pkcs8_b64 if private_key is None else private_key,
            "platformPublicKey": self.platform.public_b64,
        }

    def scanner(self) -> SecretScanner:
        scanner = SecretScanner()
        scanner.add_value("KICC secretKey", self.secret_key)
        scanner.add_value("KICC mallId", self.mall_id)
        scanner.add_value("TeemoPay appCode", self.app_code)
        scanner.add_private_key("TeemoPay privateKey", self.merchant.private_pkcs8_b64)
        scanner.add_value("TeemoPay privateKey (PEM)", self.merchant.private_pkcs8_pem)
        scanner.add_private_key("TeemoPay privateKey (wrong key)", self.wrong_merchant.private_pkcs8_b64)
        scanner.add_value("TeemoPay privateKey (wrong key, PEM)", self.wrong_merchant.private_pkcs8_pem)
        return scanner


def _unlike_hex(length: int) -> str:
    """Letters and digits that cannot occur by chance in hex ids (no a-f), mixed case."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c.lower() not in "abcdef0123456789")
    return "".join(random_secrets.choice(alphabet) for _ in range(length))


pytestmark = pytest.mark.xdist_group("secret-leaks")
"""One worker runs this file: its module stack is deployed once (make test: --dist loadgroup)."""

@pytest.fixture(scope="module")
def fresh() -> FreshSecrets:
    return FreshSecrets(
        mall_id="M" + _unlike_hex(7),  # KICC allows 8 characters
        secret_key="kicc-sk-" + random_secrets.token_urlsafe(32),
        app_code="TP-" + _unlike_hex(12),
        merchant=generate_rsa_keypair(),
        wrong_merchant=generate_rsa_keypair(),
        platform=generate_rsa_keypair(),
    )


# ----------------------------------------------------------------------------------------
# The scanner is checked first: a silent scanner proves nothing unless it can hear
# ----------------------------------------------------------------------------------------


def test_the_scanner_finds_every_spelling_of_every_secret(fresh: FreshSecrets) -> None:
    scanner = fresh.scanner()
    body = fresh.merchant.private_pkcs8_b64
    pem = fresh.merchant.private_pkcs8_pem
    pem_lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    der = base64.b64decode(body)
    # Pieces are cut past the modulus (the first ~220 Base64 characters hold it): the modulus is
    # the public key's too, so the scanner rightly ignores it.
    leaks = {
        "secretKey in a log line": json.dumps({"message": "signing", "key": fresh.secret_key}),
        "secretKey percent-encoded": "memo=" + fresh.secret_key.replace("-", "%2D"),
        "secretKey in a repr of the secret": repr({"mallId": "x", "secretKey": fresh.secret_key}),
        "secretKey Base64-encoded": base64.b64encode(fresh.secret_key.encode()).decode(),
        "mallId in an error": f"mallId {fresh.mall_id} is not registered",
        "appCode in a header dump": f"{{'app_code': '{fresh.app_code}'}}",
        "the whole PEM, JSON-escaped": json.dumps({"privateKey": pem}),
        "the whole Base64 body": f"privateKey={body}",
        "one 40-char piece of the body": f"detail: ...{body[300:340]}...",
        "one PEM line": f"line {pem_lines[5]}",
        "a piece of the body, percent-encoded": "x=" + body[400:460].replace("/", "%2F").replace("+", "%2B"),
        "a piece of the body, URL-safe alphabet": body[500:560].replace("+", "-").replace("/", "_"),
        "the DER in hex": "der " + der[-60:-20].hex(),
        "the DER in upper-case hex": "der " + der[300:330].hex().upper(),
        "the wrong key's piece": fresh.wrong_merchant.private_pkcs8_b64[500:545],
        "PEM armour of any key": "-----BEGIN PRIVATE KEY-----",
        "a traceback quoting the secret": f'ValueError: bad secret \'{{"mallId": "x", "secretKey": "{fresh.secret_key}"}}\'',
    }
    for what, text in leaks.items():
        padded = "noise " * 50 + text + " noise" * 50
        assert scanner.scan("sample", padded), f"the scanner misses {what}"

    derived = SecretScanner()
    hmac_hex = "9f" * 32
    signature = base64.b64encode(bytes(range(128))).decode()
    derived.add_derived("msgAuthValue", [hmac_hex])
    derived.add_derived("sign", [signature])
    assert derived.scan("sample", f"msgAuthValue={hmac_hex}")
    assert derived.scan("sample", f"sign piece {signature[50:95]}")


def test_the_scanner_stays_quiet_on_what_is_not_secret(fresh: FreshSecrets) -> None:
    scanner = fresh.scanner()
    harmless = [
        fresh.merchant.public_b64,  # shares its modulus with the private key: public all the same
        fresh.merchant.public_pem,
        fresh.platform.public_b64,
        generate_rsa_keypair().private_pkcs8_b64,  # somebody else's key: not one of ours
        json.dumps({"requestId": random_secrets.token_hex(26), "traceId": "1-67a1b2c3-" + random_secrets.token_hex(12)}),
        '{"level": "INFO", "message": "order checked", "country": "KR"}',
    ]
    for text in harmless:
        assert scanner.scan("sample", text) == [], f"false alarm on {text[:60]}"


# ----------------------------------------------------------------------------------------
# The stack, at its most verbose, with every channel captured
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon() -> Iterator[XRayDaemon]:
    daemon = XRayDaemon()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def leak_stack(fresh: FreshSecrets, daemon: XRayDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    function_env = {
        # Lambda's advanced logging controls at their most verbose: root logger at DEBUG.
        "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        # X-Ray on, as `Tracing: Active` has it in AWS, its documents sent to the stand-in daemon.
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        # Read the secret on every use, so a changed secret takes effect without a restart.
        "SECRET_MAX_AGE_SECONDS": "0",
    }
    stack = LocalStack(
        parameters={"HttpTimeoutSeconds": "3", "LogLevel": "DEBUG"},
        function_env=function_env,
        log_dir=tmp_path_factory.mktemp("leak-logs"),
        credentials={KICC: fresh.kicc, TEEMO: fresh.teemopay()},
    )
    with stack:
        yield stack


@dataclass
class Sweeps:
    """Every sweep run, and the canaries planted in ordinary fields."""

    stack: LocalStack
    runs: list[tuple[str, InvocationResult]] = field(default_factory=list)
    canaries: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[str]] = field(default_factory=dict)
    """Both tables after every sweep: later writes overwrite `lastCheck`, and the journal's
    entries are deleted once the table converges."""

    def sweep(self, *providers: str) -> None:
        for provider in providers or (KICC, TEEMO):
            run = self.stack.sweep(provider)
            assert run.ok, f"{provider} sweep failed: {run.error}"
            self.runs.append((provider, run))
            self.snapshot()

    def snapshot(self) -> None:
        dynamodb = self.stack.client("dynamodb")
        for output in ("OrdersTableName", "CompensationsTableName"):
            pages = dynamodb.get_paginator("scan").paginate(TableName=self.stack.output(output))
            items = [item for page in pages for item in page["Items"]]
            self.tables.setdefault(output, []).append(json.dumps(items, ensure_ascii=False))

    def summaries(self, provider: str | None = None) -> list[dict[str, Any]]:
        return [run.result for p, run in self.runs if provider in (None, p)]


def _corrupt_currency(stack: LocalStack, order_id: str) -> None:
    """A writer's mistake the sweep must send to REVIEW INVALID_ORDER (and log every problem of)."""
    stack.client("dynamodb").update_item(
        TableName=stack.table,
        Key={"orderId": {"S": order_id}},
        UpdateExpression="SET currency = :c",
        ExpressionAttributeValues={":c": {"S": "EUR"}},
    )


def _put_secret(stack: LocalStack, parameter: str, value: str) -> None:
    stack.client("secretsmanager").put_secret_value(SecretId=stack.parameters[parameter], SecretString=value)


def _every_path(stack: LocalStack, fresh: FreshSecrets) -> Sweeps:
    sweeps = Sweeps(stack)
    now = stack.now()

    # -- first tick: every kind of answer, the table refusing two approvals, SNS down for KICC
    add_kicc(stack, "K-OK", [kicc.approved()])
    add_kicc(stack, "K-WAIT", [kicc.pending()])
    add_kicc(stack, "K-VOID", [kicc.cancelled("TS02")])
    add_kicc(stack, "K-PART", [kicc.partial_cancel()])
    add_kicc(stack, "K-OFF", [kicc.approved(amount=999)])  # cancel accepted, confirmed later
    add_kicc(stack, "K-USD", [kicc.approved(currency="USD")],
             cancel_script=[kicc.refuse(detail="cancellation not allowed for this merchant")])
    add_kicc(stack, "K-RETRY", [kicc.approved(amount=990)], cancel_script=[kicc.retryable(), kicc.accept()])
    add_kicc(stack, "K-ERR", [kicc.error(), kicc.pending()])
    add_kicc(stack, "K-502", [kicc.http_error(502), kicc.pending()])
    add_kicc(stack, "K-JUNK", [kicc.non_json(), kicc.pending()])
    add_kicc(stack, "K-BIG", [kicc.oversized(400 * 1024), kicc.pending()])
    add_kicc(stack, "K-ECHO", [kicc.wrong_key(), kicc.pending()])
    add_kicc(stack, "K-TS99", [kicc.unknown_status(), kicc.pending()])
    add_kicc(stack, "K-SLOW", [kicc.slow(5), kicc.pending()])  # beyond the 3 s timeout
    stack.kicc.add_payment("PG-K-OLD", "K-OLD", 1000, script=[kicc.pending()])
    stack.register("K-OLD", KICC, "1000", "KRW", refs={"pgCno": "PG-K-OLD"},
                   created_at=now - timedelta(days=3), expires_at=now - timedelta(days=2))
    add_kicc(stack, "K-BAD", [kicc.approved()])
    _corrupt_currency(stack, "K-BAD")
    add_kicc(stack, "K-DBF", [kicc.approved()])  # the approval write fails: compensating cancel
    canary_pg_cno = "PGCANARY" + random_secrets.token_hex(12)
    sweeps.canaries["KICC pgCno canary"] = canary_pg_cno
    stack.kicc.add_payment(canary_pg_cno, "K-CANARY", 1000, script=[kicc.approved()])
    stack.register("K-CANARY", KICC, "1000", "KRW", refs={"pgCno": canary_pg_cno})

    add_teemopay(stack, "T-OK", [teemopay.paid()])
    add_teemopay(stack, "T-WAIT", [teemopay.pending()])
    add_teemopay(stack, "T-DECL", [teemopay.failed()])
    add_teemopay(stack, "T-OVER", [teemopay.paid(amount="1100.00")])
    add_teemopay(stack, "T-404", [teemopay.not_found()])
    add_teemopay(stack, "T-412", [teemopay.retry_later(), teemopay.pending()])
    add_teemopay(stack, "T-500", [teemopay.business_error(), teemopay.pending()])
    add_teemopay(stack, "T-414", [teemopay.bad_parameter(), teemopay.pending()])
    add_teemopay(stack, "T-416", [teemopay.app_not_found(), teemopay.pending()])
    add_teemopay(stack, "T-OTHER", [teemopay.other_order(), teemopay.pending()])
    add_teemopay(stack, "T-UNK", [teemopay.unknown_status(), teemopay.pending()])
    add_teemopay(stack, "T-502", [teemopay.http_error(502), teemopay.pending()])
    add_teemopay(stack, "T-JUNK", [teemopay.non_json(), teemopay.pending()])
    add_teemopay(stack, "T-SLOW", [teemopay.slow(5), teemopay.pending()])
    add_teemopay(stack, "T-DBF", [teemopay.paid()])  # the approval write fails: REVIEW
    canary_order = "TCANARY" + random_secrets.token_hex(8)
    sweeps.canaries["TeemoPay order canary"] = canary_order
    add_teemopay(stack, canary_order, [teemopay.paid()])

    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match="K-DBF:APPROVED")
    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match="T-DBF:APPROVED")
    sns_down = stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)
    sweeps.sweep(KICC)
    stack.faults.remove_fault(sns_down)
    sweeps.sweep(TEEMO)
    stack.faults.clear_faults()

    # -- the table refuses every write of an approval: cancel anyway, publish, journal
    add_kicc(stack, "K-DBJ", [kicc.approved()])
    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match="K-DBJ:APPROVED")
    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match='"CANCELLING"')
    sweeps.sweep(KICC)
    stack.faults.clear_faults()

    # -- the provider refuses our configuration
    stack.kicc.mall_id = "M" + _unlike_hex(7)  # KICC no longer knows our mallId
    add_kicc(stack, "K-MALL", [kicc.approved()])
    sweeps.sweep(KICC)
    stack.kicc.mall_id = fresh.mall_id
    stack.kicc.secret_key = "kicc-sk-rotated-" + random_secrets.token_urlsafe(16)  # our HMAC no longer verifies
    add_kicc(stack, "K-AUTH", [kicc.approved(amount=900)])
    sweeps.sweep(KICC)
    stack.kicc.secret_key = fresh.secret_key
    stack.teemopay.app_code = "TP-" + _unlike_hex(12)  # TeemoPay no longer knows our appCode
    add_teemopay(stack, "T-APP", [teemopay.paid()])
    sweeps.sweep(TEEMO)
    stack.teemopay.app_code = fresh.app_code

    # -- unreadable or wrong secrets (each read afresh: SECRET_MAX_AGE_SECONDS=0)
    kicc_variants = {
        "K-SEC-TEXT": f"mallId={fresh.mall_id}\nsecretKey={fresh.secret_key}",  # not JSON
        "K-SEC-MALL": json.dumps({"mallId": fresh.secret_key, "secretKey": fresh.secret_key}),  # mallId too long
        "K-SEC-LIST": json.dumps([fresh.mall_id, fresh.secret_key]),  # not an object
    }
    for order_id, value in kicc_variants.items():
        _put_secret(stack, "KiccSecretArn", value)
        add_kicc(stack, order_id, [kicc.approved()])
        sweeps.sweep(KICC)
    _put_secret(stack, "KiccSecretArn", json.dumps(fresh.kicc))

    body, pem = fresh.merchant.private_pkcs8_b64, fresh.merchant.private_pkcs8_pem
    teemopay_variants = {
        "T-SEC-WRONG": json.dumps(fresh.teemopay(fresh.wrong_merchant.private_pkcs8_b64)),  # signature refused
        "T-SEC-CUT": json.dumps(fresh.teemopay(body[:-40])),  # Base64, but not a key
        "T-SEC-JUNK": json.dumps(fresh.teemopay("not base64! " + body)),
        "T-SEC-TEXT": f"appCode={fresh.app_code}\nprivateKey={body}",  # not JSON
        "T-SEC-PEM": json.dumps(fresh.teemopay(pem)),  # a PEM key: valid, approves
    }
    for order_id, value in teemopay_variants.items():
        _put_secret(stack, "TeemoPaySecretArn", value)
        add_teemopay(stack, order_id, [teemopay.paid()])
        sweeps.sweep(TEEMO)
    _put_secret(stack, "TeemoPaySecretArn", json.dumps(fresh.teemopay()))

    # -- later ticks: cancels confirmed, the outbox re-published, the journal converged
    for seconds in (180, 600):
        stack.advance(seconds)
        sweeps.sweep()
    return sweeps


@dataclass
class Captured:
    sweeps: Sweeps
    channels: dict[str, str]
    """Where it was written -> everything written there, as text."""
    published: list[Any]
    traces: list[dict[str, Any]]
    log_lines: list[dict[str, Any] | str]
    derived: dict[str, list[str]]


@pytest.fixture(scope="module")
def captured(leak_stack: LocalStack, fresh: FreshSecrets, daemon: XRayDaemon) -> Captured:
    stack = leak_stack
    sweeps = _every_path(stack, fresh)
    assert stack.outcomes is not None
    published = stack.outcomes.drain()
    channels: dict[str, str] = {}

    log_lines: list[dict[str, Any] | str] = []
    for path in sorted(stack.log_dir.glob("*.log")):  # every sandbox's stream, whole: init and handler lines
        text = path.read_text(encoding="utf-8", errors="replace")
        channels[f"log stream {path.name}"] = text
        log_lines += parse_log_lines(text)

    time.sleep(0.3)  # the last trace datagrams
    channels["traces (X-Ray documents)"] = "\n".join(p.decode("utf-8", errors="replace") for p in daemon.packets)
    channels["outcome messages (as subscribers receive them)"] = "\n".join(
        json.dumps({"topic": d.topic, "body": d.body, "attributes": d.attributes}, ensure_ascii=False) for d in published
    )
    channels["handler results and errors"] = "\n".join(
        json.dumps({"result": run.result, "error": run.error}, ensure_ascii=False) for _, run in sweeps.runs
    )
    for output, snapshots in sweeps.tables.items():
        channels[f"DynamoDB {output} after every sweep"] = "\n".join(snapshots)
    channels["function environment"] = json.dumps({p: f.env for p, f in stack.functions.items()})

    derived = {
        "KICC msgAuthValue": [r.body["msgAuthValue"] for r in stack.kicc.requests_for(kicc.REVISE_PATH) if r.body],
        "TeemoPay request sign": [r.body["sign"] for r in stack.teemopay.requests if r.body and "sign" in r.body],
    }
    return Captured(sweeps, channels, published, daemon.documents(), log_lines, derived)


# ----------------------------------------------------------------------------------------
# The paths were really taken, and every channel really captured
# ----------------------------------------------------------------------------------------


def _answer(request: Any) -> dict[str, Any]:
    """A simulator's answer as JSON, or {} for the scripted junk."""
    try:
        answer = request.response_json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def test_the_sweeps_took_every_path(captured: Captured, leak_stack: LocalStack) -> None:
    outcomes = {(d.message["outcome"], d.message["reason"]) for d in captured.published}
    assert {
        ("APPROVED", None),
        ("FAILED", "PROVIDER_DECLINED"),
        ("FAILED", "EXPIRED"),
        ("CANCELLED", "PROVIDER_CANCELLED"),
        ("CANCELLED", "AMOUNT_MISMATCH"),
        ("CANCELLED", "DB_UPDATE_FAILED"),
        ("REVIEW", "PARTIAL_CANCEL"),
        ("REVIEW", "CANCEL_REFUSED"),
        ("REVIEW", "AMOUNT_MISMATCH"),
        ("REVIEW", "DB_UPDATE_FAILED"),
        ("REVIEW", "INVALID_ORDER"),
    } <= outcomes, outcomes
    errors: set[str] = set()
    for summary in captured.sweeps.summaries():
        errors |= set(summary["providerErrors"])
    assert {"timeout", "http_5xx", "bad_answer", "too_large", "provider_error", "secret", "code_414", "code_416",
            "code_412", "code_500"} <= errors, errors
    for provider in (KICC, TEEMO):
        assert sum(s["misconfigured"] for s in captured.sweeps.summaries(provider)) >= 3, provider
    assert sum(s["republished"] for s in captured.sweeps.summaries(KICC)) >= 1, "the outbox was never re-published"

    revise = [_answer(r).get("resCd") for r in leak_stack.kicc.requests_for(kicc.REVISE_PATH)]
    assert revise.count("0000") >= 2 and "E105" in revise and "A211" in revise, revise  # signed, refused, retryable
    assert any(_answer(r).get("resCd") == "E102" for r in leak_stack.kicc.requests_for(kicc.FIND_PATH))
    teemo_answers = [_answer(r) for r in leak_stack.teemopay.requests]
    assert any(a.get("msg") == teemopay.MSG_SIGN_FAILED for a in teemo_answers), "the wrong key was never refused"
    assert any(a.get("msg") == teemopay.MSG_APP_NOT_FOUND for a in teemo_answers)
    assert leak_stack.order("T-SEC-PEM")["status"] == "APPROVED", "the PEM key was not used"
    assert len(captured.derived["KICC msgAuthValue"]) >= 4 and len(captured.derived["TeemoPay request sign"]) >= 20


def test_every_channel_was_captured(captured: Captured, fresh: FreshSecrets, leak_stack: LocalStack) -> None:
    canaries = SecretScanner()
    for name, value in captured.sweeps.canaries.items():
        canaries.add_value(name, value)
    for channel in ("log stream", "outcome messages", "DynamoDB OrdersTableName"):
        text = "\n".join(t for where, t in captured.channels.items() if where.startswith(channel))
        found = {f.secret for f in canaries.scan(channel, text)} & set(captured.sweeps.canaries)
        assert found == set(captured.sweeps.canaries), f"{channel}: canaries seen {found}"
    assert "K-DBJ" in captured.channels["DynamoDB CompensationsTableName after every sweep"], "the journal was not captured"

    # The logs are the most verbose a deployment can produce.
    for function in leak_stack.functions.values():
        assert function.info.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"  # the template's LogLevel
    records = [r for r in captured.log_lines if isinstance(r, dict)]
    assert any(r.get("level") == "DEBUG" for r in records), "no DEBUG line: the log level did not take"
    assert any(r.get("logger", "").startswith(("botocore", "urllib3")) for r in records), "library loggers are silent"
    emf = [r for r in records if "_aws" in r]
    assert {r.get("provider") for r in emf} == {KICC, TEEMO}, "EMF metrics missing"

    # Traces: real X-Ray documents of both handlers, the secret reads and the provider calls.
    traces = captured.traces
    handlers = [d for d in traces if d.get("name") == "## lambda_handler"]
    assert len(handlers) >= len(captured.sweeps.runs) - 1
    assert all("metadata" not in d for d in handlers), "the handler's response was captured in the trace"
    assert any(d.get("aws", {}).get("operation") == "GetSecretValue" for d in traces)
    urls = {d.get("http", {}).get("request", {}).get("url", "") for d in traces}
    assert any(u.endswith(kicc.REVISE_PATH) for u in urls) and any(u.endswith(teemopay.QUERY_PATH) for u in urls)

    assert all(run.result and run.result["provider"] == provider for provider, run in captured.sweeps.runs)


# ----------------------------------------------------------------------------------------
# The verdict
# ----------------------------------------------------------------------------------------


CHANNEL_KINDS = ["log stream", "traces", "outcome messages", "handler results", "DynamoDB", "function environment"]


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_nothing_secret_was_written(captured: Captured, fresh: FreshSecrets, kind: str) -> None:
    scanner = fresh.scanner()
    for name, values in captured.derived.items():
        scanner.add_derived(name, values)
    channels = {where: text for where, text in captured.channels.items() if where.startswith(kind)}
    assert channels and all(channels.values()), f"nothing captured for {kind}"
    findings = [finding for where, text in channels.items() for finding in scanner.scan(where, text)]
    assert not findings, "secrets leaked:\n" + "\n".join(str(f) for f in findings[:20])


def test_the_provider_requests_do_carry_what_the_secrets_sign(
    captured: Captured, fresh: FreshSecrets, leak_stack: LocalStack
) -> None:
    """The other side of the coin: derived values go where they must (so the scan for them means something)."""
    accepted = [r for r in leak_stack.kicc.requests_for(kicc.REVISE_PATH) if _answer(r).get("resCd") == "0000"]
    assert accepted
    for request in accepted:
        body = request.body
        assert body["msgAuthValue"] == kicc.msg_auth_value(fresh.secret_key, body["pgCno"], body["shopTransactionId"])
    assert all(r.body["mallId"] == fresh.mall_id for r in leak_stack.kicc.requests if r.body and "mallId" in r.body)
    assert any(r.headers.get("app_code") == fresh.app_code for r in leak_stack.teemopay.requests)
