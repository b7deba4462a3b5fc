"""The sweep's calls made bare: what the `cpu` figure compares the sweeper's CPU with.

Run as its own process (`python -m bench.bare SPEC OUT`, from the repository), so its CPU time
is its own, measured like the sandbox's: user + system time of the process (all threads) over
the loop, after the clients are made and warmed (as the sandbox's warm-up sweep warms its).

The same calls a sweep makes, with the same shapes, and nothing else: GetSecretValue once,
the due-index Query pages, per order a conditional claim
UpdateItem (`ReturnValues=ALL_OLD`), one HTTPS POST of the same body to the provider simulator
(JSON parsed), a conditional record UpdateItem (reschedule-and-release, or the terminal
transition with the outcome's fields), then PublishBatch per topic in tens and a conditional
confirmation UpdateItem per published outcome; on a thread pool of the sweep's concurrency,
through a plain botocore client (the product's retry mode, pool size and parameter
validation off, as the product configures its clients) and a plain `requests` session with a
pool of the same size. No logging, no metrics, no decision table, no domain objects.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def s(text: str) -> dict[str, str]:
    return {"S": text}


class Bare:
    def __init__(self, spec: dict[str, Any]) -> None:
        import botocore.session
        import requests
        from botocore.config import Config
        from requests.adapters import HTTPAdapter

        self.spec = spec
        concurrency = int(spec["concurrency"])
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10,
                        max_pool_connections=concurrency + 4, parameter_validation=False)
        session = botocore.session.get_session()
        common = {"region_name": spec["region"], "endpoint_url": spec["endpoint"], "aws_access_key_id": "testing",
                  "aws_secret_access_key": "testing", "config": config}
        self.dynamodb = session.create_client("dynamodb", **common)
        self.sns = session.create_client("sns", **common)
        self.secrets = session.create_client("secretsmanager", **common)
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

    def check(self, order_id: str, sweep_key: str, due_by: str) -> None:
        spec = self.spec
        now = datetime.now(UTC)
        token = f"bare-00000000:{uuid.uuid4().hex[:16]}"
        claimed = self.dynamodb.update_item(
            TableName=spec["table"], Key={"orderId": s(order_id)},
            UpdateExpression="SET #s0 = :s0, #s1 = :s1, #s2 = :s2",
            ConditionExpression="#sk = :sk AND #due <= :due AND (attribute_not_exists(#until) OR #until < :now)",
            ExpressionAttributeNames={"#s0": "leaseOwner", "#s1": "leaseUntil", "#s2": "updatedAt", "#sk": "sweepKey",
                                      "#due": "nextCheckAt", "#until": "leaseUntil"},
            ExpressionAttributeValues={":s0": s(token), ":s1": s(iso(now + timedelta(seconds=spec["leaseSeconds"]))),
                                       ":s2": s(iso(now)), ":sk": s(sweep_key), ":due": s(due_by), ":now": s(iso(now))},
            ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
        self.count("UpdateItem")
        pg_cno = claimed["pgCno"]["S"]
        key = uuid.uuid4().hex
        reply = self.http.post(spec["providerUrl"], data=json.dumps(
            {"mallId": spec["mallId"], "shopTransactionId": key, "pgCno": pg_cno}, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            timeout=(5, 30), verify=True)
        answer = reply.json()
        self.count("POST")
        status_cd = answer.get("statusCd")
        at = iso(datetime.now(UTC))
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
            return
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
        with self._lock:
            self.outcomes[state] += 1
            self._messages.setdefault(state, []).append(
                {"orderId": order_id, "eventId": event_id, "status": state, "body": body, "attributes": attributes})

    # -- publish and confirm ------------------------------------------------------------------

    def publish(self) -> None:
        spec = self.spec
        confirms = []
        for state, messages in self._messages.items():
            for start in range(0, len(messages), 10):
                batch = messages[start : start + 10]
                answer = self.sns.publish_batch(TopicArn=spec["topics"][state], PublishBatchRequestEntries=[
                    {"Id": f"m{i}", "Message": m["body"], "MessageAttributes": {
                        k: {"DataType": "String", "StringValue": v} for k, v in m["attributes"].items()}}
                    for i, m in enumerate(batch)])
                self.count("PublishBatch")
                ok = {entry["Id"] for entry in answer.get("Successful", [])}
                confirms.extend(m for i, m in enumerate(batch) if f"m{i}" in ok)
        list(self.pool.map(self.confirm, confirms))

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
        self.due(iso(datetime.now(UTC) - timedelta(days=1)))
        self.calls.clear()

    def run(self) -> dict[str, Any]:
        self.warm()
        before, started = os.times(), time.monotonic()
        self.secrets.get_secret_value(SecretId=self.spec["secretArn"])
        self.count("GetSecretValue")
        due_by = iso(datetime.now(UTC))
        orders = self.due(due_by)
        futures = [self.pool.submit(self.check, order_id, key, due_by) for order_id, key in orders]
        errors = [repr(error) for error in (f.exception() for f in futures) if error is not None]
        self.publish()
        after, wall = os.times(), time.monotonic() - started
        return {"cpuSeconds": (after.user - before.user) + (after.system - before.system),
                "userSeconds": after.user - before.user, "systemSeconds": after.system - before.system,
                "wallSeconds": wall, "checks": len(orders) - len(errors), "calls": dict(self.calls),
                "outcomes": dict(self.outcomes), "errors": errors[:5], "errorCount": len(errors)}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = Bare(spec).run()
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
