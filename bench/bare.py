"""Plain clients in a process of their own: the sweep's calls made bare, and local AWS's capacity.

Run as `python -m bench.bare SPEC OUT` (from the repository): SPEC's `mode` says which.

`sweep` (what the `cpu` figure compares the sweeper's CPU with): its CPU time is its own,
measured like the sandbox's: user + system time of the process (all threads) over the loop,
after the clients are made and warmed (as the sandbox's warm-up sweep warms its). The same
calls a sweep makes, with the same shapes, and nothing else: GetSecretValue once, the
due-index Query pages, per order a conditional claim
UpdateItem (`ReturnValues=ALL_OLD`), one HTTPS POST of the same body to the provider simulator
(JSON parsed), a conditional record UpdateItem (reschedule-and-release, or the terminal
transition with the outcome's fields), then PublishBatch per topic in tens and a conditional
confirmation UpdateItem per published outcome; on a thread pool of the sweep's concurrency,
through a plain botocore client (the product's retry mode, pool size and parameter validation
off, as the product configures its clients) and a plain `requests` session with a pool of the
same size. Like the sandbox's meters, every DynamoDB call asks for `ReturnConsumedCapacity`
(the same answers to parse). No logging, no metrics, no decision table, no domain objects.

`checks` (what the `check` figure compares a check on demand with): orders checked one at a
time, each when the caller asks (an order id a line on standard input, the answer a line on
standard output), each with the four AWS calls a check on demand makes for a pending order the provider
approves, waited for in turn: the claim under the check's guard (in one of the provider's shards,
no live lease, due or not; `ReturnValues=ALL_OLD`), the provider's POST (timed apart: not an AWS
call), the terminal record, a PublishBatch of its one message, the confirmation; each step's
seconds (`time.perf_counter`), after a few unmeasured checks that make the clients and open their
connections. The same clients and call shapes as `sweep`.

`calibrate`: claim-shaped conditional UpdateItem calls from many threads, timed: what local
AWS serves on the sandboxes' path (the same endpoint, the fault proxy, over HTTPS), and what
MiniStack serves by itself (its own endpoint), measured from another process as the sandboxes
are, so that the client does not share the proxy's GIL.

The sweep reaches MiniStack where the sandboxes do (SPEC's `endpoint`, the fault proxy,
trusting SPEC's `caBundle`), with MiniStack's root keys.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.procstat import CpuMeter


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def s(text: str) -> dict[str, str]:
    return {"S": text}


ROOT_KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
"""MiniStack's root account (AUTH on), as the sandboxes use it."""


def plain_client(spec: dict[str, Any], service: str, pool: int) -> Any:
    """A botocore client as the product configures its own, pointed where the sandboxes point."""
    import botocore.session
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10,
                    max_pool_connections=pool, parameter_validation=False)
    return botocore.session.get_session().create_client(
        service, region_name=spec["region"], endpoint_url=spec["endpoint"], verify=spec["caBundle"],
        config=config, **ROOT_KEYS)


def ask_capacity(params: dict[str, Any], **_: Any) -> None:
    """What the sandbox's meters add to every DynamoDB call (`paysweep_local.sandbox`)."""
    params.setdefault("ReturnConsumedCapacity", "INDEXES")


class Bare:
    def __init__(self, spec: dict[str, Any]) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.spec = spec
        concurrency = int(spec["concurrency"])
        self.dynamodb = plain_client(spec, "dynamodb", concurrency + 4)
        self.dynamodb.meta.events.register("before-parameter-build.dynamodb", ask_capacity)
        self.sns = plain_client(spec, "sns", concurrency + 4)
        self.secrets = plain_client(spec, "secretsmanager", concurrency + 4)
        self.http = requests.Session()
        self.http.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
        os.environ["REQUESTS_CA_BUNDLE"] = spec["caBundle"]  # trusted as the function trusts it
        os.environ.pop("CURL_CA_BUNDLE", None)
        self.pool = ThreadPoolExecutor(concurrency)
        self.calls: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._messages: dict[str, list[dict[str, Any]]] = {}

    def count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1

    # -- reads ----------------------------------------------------------------------------

    def due(self, now: str) -> list[tuple[str, str]]:
        spec = self.spec
        found: list[tuple[str, str]] = []
        for key in spec["sweepKeys"]:
            start: dict[str, Any] | None = None
            while True:
                request: dict[str, Any] = {
                    "TableName": spec["table"], "IndexName": spec["dueIndex"],
                    "KeyConditionExpression": "sweepKey = :k AND nextCheckAt <= :now",
                    "ExpressionAttributeValues": {":k": s(key), ":now": s(now)},
                    "ScanIndexForward": True, "Limit": spec["pageSize"],
                }
                if start:
                    request["ExclusiveStartKey"] = start
                page = self.dynamodb.query(**request)
                self.count("Query")
                found.extend((item["orderId"]["S"], key) for item in page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return found

    # -- one order --------------------------------------------------------------------------

    def now(self) -> datetime:
        """The stack's simulated time (the orders were written at it), as the sandbox's clock is."""
        return datetime.now(UTC) + timedelta(seconds=float(self.spec["clockOffsetSeconds"]))

    def check(self, order_id: str, sweep_key: str, due_by: str) -> None:
        now = self.now()
        token = f"bare-00000000:{uuid.uuid4().hex[:16]}"
        claimed = self.claim(order_id, now, token, "#sk = :sk AND #due <= :due", {"#sk": "sweepKey", "#due": "nextCheckAt"},
                             {":sk": s(sweep_key), ":due": s(due_by)})
        message = self.record(order_id, claimed, now, token, self.ask(claimed))
        if message is not None:
            with self._lock:
                self.outcomes[message["status"]] += 1
                self._messages.setdefault(message["status"], []).append(message)

    def claim(self, order_id: str, now: datetime, token: str, condition: str, names: dict[str, str],
              values: dict[str, Any]) -> dict[str, Any]:
        """The claim: the lease taken if `condition` holds and no lease is live; the order as it was."""
        spec = self.spec
        claimed: dict[str, Any] = self.dynamodb.update_item(
            TableName=spec["table"], Key={"orderId": s(order_id)},
            UpdateExpression="SET #s0 = :s0, #s1 = :s1, #s2 = :s2",
            ConditionExpression=f"{condition} AND (attribute_not_exists(#until) OR #until < :now)",
            ExpressionAttributeNames={"#s0": "leaseOwner", "#s1": "leaseUntil", "#s2": "updatedAt", "#until": "leaseUntil",
                                      **names},
            ExpressionAttributeValues={":s0": s(token), ":s1": s(iso(now + timedelta(seconds=spec["leaseSeconds"]))),
                                       ":s2": s(iso(now)), ":now": s(iso(now)), **values},
            ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
        self.count("UpdateItem")
        return claimed

    def ask(self, claimed: dict[str, Any]) -> dict[str, Any]:
        """The provider's status query (one HTTPS POST, its JSON answer parsed)."""
        spec = self.spec
        reply = self.http.post(spec["providerUrl"], data=json.dumps(
            {"mallId": spec["mallId"], "shopTransactionId": uuid.uuid4().hex, "pgCno": claimed["pgCno"]["S"]},
            separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            timeout=(5, 30), verify=True)
        answer: dict[str, Any] = reply.json()
        self.count("POST")
        return answer

    def record(self, order_id: str, claimed: dict[str, Any], now: datetime, token: str,
               answer: dict[str, Any]) -> dict[str, Any] | None:
        """The record: rescheduled and released (None), or the terminal transition (its message)."""
        spec = self.spec
        pg_cno = claimed["pgCno"]["S"]
        status_cd = answer.get("statusCd")
        at = iso(self.now())
        state = {"TS01": "APPROVED", "TS02": "CANCELLED"}.get(status_cd, "IN_PROGRESS")
        attempts = int(claimed.get("attempts", {}).get("N", "0")) + 1
        history = [entry["S"] for entry in claimed.get("history", {}).get("L", [])][-7:]
        history.append(" ".join(part for part in (at, "status", state, status_cd) if part))
        last_check = {"M": {"at": s(at), "kind": s("status"), "state": s(state),
                            "providerStatus": s(status_cd) if status_cd else {"NULL": True}, "detail": {"NULL": True}}}
        common = {":lc": last_check, ":h": {"L": [s(line) for line in history]}, ":u": s(at),
                  ":a": {"N": str(attempts)}, ":token": s(token)}
        names = {"#lc": "lastCheck", "#h": "history", "#u": "updatedAt", "#a": "attempts", "#lease": "leaseOwner"}
        if state == "IN_PROGRESS":
            self.dynamodb.update_item(
                TableName=spec["table"], Key={"orderId": s(order_id)},
                UpdateExpression="SET #n = :n, #lc = :lc, #h = :h, #u = :u, #a = :a REMOVE #lo, #lu",
                ConditionExpression="#lease = :token",
                ExpressionAttributeNames={**names, "#n": "nextCheckAt", "#lo": "leaseOwner", "#lu": "leaseUntil"},
                ExpressionAttributeValues={**common, ":n": s(iso(now + timedelta(seconds=60)))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            self.count("UpdateItem")
            return None
        event_id = f"{order_id}:{state}"
        amount = claimed["amount"]["N"]
        document = {"schema": "paysweep.outcome/v1", "eventId": event_id, "orderId": order_id,
                    "provider": "kicc-wechatpay", "outcome": state,
                    "reason": "PROVIDER_CANCELLED" if state == "CANCELLED" else None,
                    "requested": {"amount": amount, "currency": claimed["currency"]["S"]},
                    "reported": {"amount": amount, "currency": claimed["currency"]["S"]},
                    "providerStatus": status_cd, "providerRefs": {"pgCno": pg_cno}, "occurredAt": at,
                    "attempts": attempts}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        outcome = {"M": {"outcome": s(state), "reason": s(document["reason"]) if document["reason"] else {"NULL": True},
                         "eventId": s(event_id), "occurredAt": s(at), "requested": {"M": {
                             "amount": s(amount), "currency": s(claimed["currency"]["S"])}},
                         "reported": {"M": {"amount": s(amount), "currency": s(claimed["currency"]["S"])}},
                         "providerStatus": s(status_cd or ""), "providerRefs": {"M": {"pgCno": s(pg_cno)}},
                         "attempts": {"N": str(attempts)}}}
        self.dynamodb.update_item(
            TableName=spec["table"], Key={"orderId": s(order_id)},
            UpdateExpression="SET #st = :st, #oc = :oc, #lo = :lo, #lu = :lu, #lc = :lc, #h = :h, #u = :u, #a = :a",
            ConditionExpression="#lease = :token",
            ExpressionAttributeNames={**names, "#st": "status", "#oc": "outcome", "#lo": "leaseOwner",
                                      "#lu": "leaseUntil"},
            ExpressionAttributeValues={**common, ":st": s(state), ":oc": outcome, ":lo": s(token),
                                       ":lu": s(iso(now + timedelta(seconds=120)))},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        self.count("UpdateItem")
        attributes = {"provider": "kicc-wechatpay", "outcome": state}
        if document["reason"]:
            attributes["reason"] = str(document["reason"])
        return {"orderId": order_id, "eventId": event_id, "status": state, "body": body, "attributes": attributes}

    # -- publish and confirm ------------------------------------------------------------------

    def publish(self) -> None:
        confirms = []
        for state, messages in self._messages.items():
            for start in range(0, len(messages), 10):
                confirms.extend(self.publish_batch(state, messages[start : start + 10]))
        list(self.pool.map(self.confirm, confirms))

    def publish_batch(self, state: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One PublishBatch to the outcome's topic; the messages SNS accepted."""
        answer = self.sns.publish_batch(TopicArn=self.spec["topics"][state], PublishBatchRequestEntries=[
            {"Id": f"m{i}", "Message": m["body"], "MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in m["attributes"].items()}}
            for i, m in enumerate(batch)])
        self.count("PublishBatch")
        ok = {entry["Id"] for entry in answer.get("Successful", [])}
        return [m for i, m in enumerate(batch) if f"m{i}" in ok]

    def confirm(self, message: dict[str, Any]) -> None:
        self.dynamodb.update_item(
            TableName=self.spec["table"], Key={"orderId": s(message["orderId"])},
            UpdateExpression="REMOVE #r0, #r1, #r2, #r3",
            ConditionExpression="#oc.eventId = :e AND #status = :s AND attribute_exists(#sk)",
            ExpressionAttributeNames={"#r0": "sweepKey", "#r1": "nextCheckAt", "#r2": "leaseOwner",
                                      "#r3": "leaseUntil", "#oc": "outcome", "#status": "status", "#sk": "sweepKey"},
            ExpressionAttributeValues={":e": s(message["eventId"]), ":s": s(message["status"])},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        self.count("UpdateItem")

    # -- the loop -----------------------------------------------------------------------------

    def warm(self) -> None:
        """What the sandbox's warm-up sweep did: the clients made, the due queries run once."""
        self.due(iso(self.now() - timedelta(days=1)))
        self.calls.clear()

    def run(self) -> dict[str, Any]:
        self.warm()
        before, started = os.times(), time.monotonic()
        self.secrets.get_secret_value(SecretId=self.spec["secretArn"])
        self.count("GetSecretValue")
        due_by = iso(self.now())
        orders = self.due(due_by)
        futures = [self.pool.submit(self.check, order_id, key, due_by) for order_id, key in orders]
        errors = [repr(error) for error in (f.exception() for f in futures) if error is not None]
        self.publish()
        after, wall = os.times(), time.monotonic() - started
        return {"cpuSeconds": (after.user - before.user) + (after.system - before.system),
                "userSeconds": after.user - before.user, "systemSeconds": after.system - before.system,
                "wallSeconds": wall, "checks": len(orders) - len(errors), "calls": dict(self.calls),
                "outcomes": dict(self.outcomes), "errors": errors[:5], "errorCount": len(errors)}


    # -- checks on demand ---------------------------------------------------------------------

    def check_now(self, order_id: str) -> dict[str, float]:
        """One order checked on demand, bare, each call waited for in turn: the claim (the
        check's guard: in one of the provider's shards, no live lease, due or not), the provider's
        answer, the record, a PublishBatch of its one message, the confirmation. Seconds per step."""
        now = self.now()
        token = f"bare-00000000:{uuid.uuid4().hex[:16]}"
        started = time.perf_counter()
        claimed = self.claim(order_id, now, token, "begins_with(#sk, :prefix)", {"#sk": "sweepKey"},
                             {":prefix": s(self.spec["shardPrefix"])})
        claimed_at = time.perf_counter()
        answer = self.ask(claimed)
        answered_at = time.perf_counter()
        message = self.record(order_id, claimed, now, token, answer)
        recorded_at = time.perf_counter()
        if message is None:
            raise RuntimeError(f"{order_id}: the provider's answer {answer} decided nothing")
        published = self.publish_batch(message["status"], [message])
        published_at = time.perf_counter()
        for accepted in published:
            self.confirm(accepted)
        confirmed_at = time.perf_counter()
        return {"claim": claimed_at - started, "provider": answered_at - claimed_at, "record": recorded_at - answered_at,
                "publish": published_at - recorded_at, "confirm": confirmed_at - published_at}


def checks(spec: dict[str, Any]) -> dict[str, Any]:
    """Orders checked on demand bare, one at a time, each when asked: each line of standard input
    an order id, each answer a line of JSON on standard output (its steps' seconds, its AWS calls,
    its CPU seconds), so that the caller can alternate them with the handler's checks. First the
    orders of `warmUp`, unmeasured: the clients made, their connections open (as a warm sandbox's);
    then a first line says it is ready."""
    bare = Bare(spec | {"concurrency": 1})
    for order_id in spec["warmUp"]:
        bare.check_now(order_id)
    print(json.dumps({"ready": len(spec["warmUp"])}), flush=True)  # nothing runs beside the caller's checks now
    answered = 0
    for line in sys.stdin:
        bare.calls.clear()
        before = time.process_time()  # the sandbox's CPU meter's clock (os.times ticks in 10 ms)
        steps = bare.check_now(line.strip())
        cpu = time.process_time() - before
        print(json.dumps({"steps": steps, "calls": dict(bare.calls), "cpuSeconds": cpu}), flush=True)
        answered += 1
    return {"checks": answered}


def calibrate(spec: dict[str, Any]) -> dict[str, Any]:
    """`calls` claim-shaped conditional UpdateItem calls from `threads` threads, after 50 unmeasured,
    to each of `endpoints` in turn: seconds, the CPU the processes of `pids` (MiniStack's server,
    the fault proxy's) used meanwhile, and the median duration of `sequential` calls made one at
    a time, by endpoint."""
    return {endpoint: claims(spec | {"endpoint": endpoint}) for endpoint in spec["endpoints"]}


def claims(spec: dict[str, Any]) -> dict[str, Any]:
    """One endpoint's calibration (see `calibrate`)."""
    threads, order_ids = int(spec["threads"]), list(spec["orderIds"])
    client = plain_client(spec, "dynamodb", threads)

    def claim_like(i: int) -> None:
        client.update_item(
            TableName=spec["table"], Key={"orderId": s(order_ids[i % len(order_ids)])},
            UpdateExpression="SET #o = :o, #u = :u, #t = :t",
            ConditionExpression="attribute_exists(orderId) AND #s = :s",
            ExpressionAttributeNames={"#o": "leaseOwner", "#u": "leaseUntil", "#t": "updatedAt", "#s": "status"},
            ExpressionAttributeValues={":o": s(f"calibration:{i:016x}"), ":u": s(spec["now"]), ":t": s(spec["now"]),
                                       ":s": s("APPROVED")},
            ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(claim_like, range(50)))  # connections open, code paths warm
        meter = CpuMeter({name: int(pid) for name, pid in spec["pids"].items()}).start()
        started = time.monotonic()
        list(pool.map(claim_like, range(int(spec["calls"]))))
        seconds = time.monotonic() - started
        used = meter.stop()
    latencies = []
    for i in range(int(spec["sequential"])):  # one at a time: what a check waits for each of its calls
        started = time.monotonic()
        claim_like(i)
        latencies.append(time.monotonic() - started)
    return {"seconds": seconds, "cpuSeconds": used, "callSeconds": statistics.median(latencies)}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    modes = {"calibrate": calibrate, "checks": checks, "sweep": lambda spec: Bare(spec).run()}
    result = modes[spec["mode"]](spec)
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
