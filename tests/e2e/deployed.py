"""The stack `sam deploy` created in MiniStack, as the e2e tests drive it.

Everything goes through public interfaces: orders are written with the operator command
(`paysweep register` / `redrive`, which find the table and shard count in the stack's outputs),
the functions run in MiniStack (its Lambda Invoke API, or its scheduler), outcomes arrive in SQS
queues subscribed to the four topics, as a subscriber would set them up.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paysweep_local.ministack import MiniStack
from paysweep_local.sam_deploy import Deployment
from paysweep_local.simulators import KiccSimulator, TeemoPaySimulator

PAYSWEEP_CLI = Path(sys.executable).parent / "paysweep"
OUTCOMES = ("APPROVED", "FAILED", "CANCELLED", "REVIEW")
FUNCTION_OUTPUTS = {"kicc-wechatpay": "KiccWechatPayFunctionName", "teemopay": "TeemoPayFunctionName"}
INVOKE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Delivered:
    """One outcome message as a subscriber's queue received it."""

    queue: str
    """The outcome of the topic whose queue it arrived in."""
    message: dict[str, Any]
    body: str
    attributes: dict[str, str]


@dataclass
class Invocation:
    """One Lambda invocation: the handler's summary (or error) and the tail of its log."""

    payload: Any
    function_error: str | None
    log: str

    @property
    def summary(self) -> dict[str, Any]:
        assert self.function_error is None, f"the handler failed ({self.function_error}): {self.payload}\n{self.log}"
        assert isinstance(self.payload, dict), self.payload
        return self.payload


@dataclass
class E2EStack:
    ministack: MiniStack
    deployment: Deployment
    kicc: KiccSimulator
    teemopay: TeemoPaySimulator
    queues: dict[str, str] = field(default_factory=dict)
    """Outcome -> URL of the SQS queue subscribed to that outcome's topic."""

    # -- the deployed stack ------------------------------------------------------------------

    def output(self, name: str) -> str:
        return self.deployment.outputs[name]

    def function_name(self, provider: str) -> str:
        return self.output(FUNCTION_OUTPUTS[provider])

    def topic_arn(self, outcome: str) -> str:
        return self.output(f"{outcome.title()}TopicArn")

    def client(self, service: str) -> Any:
        return self.ministack.client(service)

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe_queues(self) -> None:
        """One queue per outcome topic, with the queue policy SNS needs to deliver into it."""
        sqs, sns = self.client("sqs"), self.client("sns")
        for outcome in OUTCOMES:
            url = sqs.create_queue(QueueName=f"e2e-{outcome.lower()}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            topic = self.topic_arn(outcome)
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }]}
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            self.queues[outcome] = url

    def drain(self) -> list[Delivered]:
        """Everything delivered so far to the four queues (removed from them)."""
        sqs, delivered = self.client("sqs"), []
        for outcome, url in self.queues.items():
            while True:
                batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                messages = batch.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    envelope = json.loads(message["Body"])
                    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                    delivered.append(Delivered(outcome, json.loads(envelope["Message"]), envelope["Message"], attributes))
                sqs.delete_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                )
        return delivered

    # -- the operator command ------------------------------------------------------------------

    def cli_env(self) -> dict[str, str]:
        """`paysweep` pointed at MiniStack; table and shards come from the stack's outputs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("ORDERS_TABLE", "SWEEP_SHARDS")}
        env.update(self.ministack.env())
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(PAYSWEEP_CLI), *args], env=self.cli_env(), capture_output=True, text=True, timeout=60, check=False
        )
        if check:
            assert result.returncode == 0, f"paysweep {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def register(self, order_id: str, provider: str, amount: str, currency: str = "KRW", *,
                 pg_cno: str | None = None) -> None:
        """`paysweep register`, then `paysweep redrive` so the order is due now (not in a minute)."""
        command = ["register", "--order-id", order_id, "--provider", provider, "--amount", amount, "--currency", currency]
        if pg_cno:
            command += ["--pg-cno", pg_cno]
        self.cli(*command)
        self.cli("redrive", order_id)

    def order(self, order_id: str) -> dict[str, Any]:
        return dict(json.loads(self.cli("show", order_id, "--json").stdout))

    # -- the functions -------------------------------------------------------------------------

    def invoke(self, provider: str, event: Mapping[str, Any] | None = None) -> Invocation:
        """One sweep through MiniStack's Invoke API, with the event the schedule would send."""
        payload = dict(event or schedule_event())
        # One attempt: an invocation retried after a read timeout would be a second sweep.
        client = self.ministack.client(
            "lambda", read_timeout=INVOKE_TIMEOUT_SECONDS, connect_timeout=5, retries={"max_attempts": 1}
        )
        answer = client.invoke(
            FunctionName=self.function_name(provider), Payload=json.dumps(payload).encode(), LogType="Tail"
        )
        body = answer["Payload"].read()
        log = base64.b64decode(answer.get("LogResult") or b"").decode("utf-8", "replace")
        return Invocation(json.loads(body) if body else None, answer.get("FunctionError"), log)

    def function_log(self, provider: str, since_ms: int) -> list[dict[str, Any]]:
        """The function's structured log lines since `since_ms`, from CloudWatch Logs."""
        logs = self.client("logs")
        group = f"/aws/lambda/{self.function_name(provider)}"
        records: list[dict[str, Any]] = []
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_ms):
            for event in page.get("events", []):
                try:
                    records.append(json.loads(event["message"]))
                except ValueError:
                    continue
        return records

    # -- schedules -----------------------------------------------------------------------------

    def schedules(self) -> dict[str, dict[str, Any]]:
        """The stack's schedules by target function name."""
        scheduler = self.client("scheduler")
        found: dict[str, dict[str, Any]] = {}
        for summary in scheduler.list_schedules()["Schedules"]:
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            found[schedule["Target"]["Arn"].rsplit(":", 1)[-1]] = schedule
        return found

    def set_schedule(self, provider: str, state: str) -> None:
        schedule = self.schedules()[self.function_name(provider)]
        keep = ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target", "Description",
                "ScheduleExpressionTimezone", "StartDate", "EndDate", "KmsKeyArn", "ActionAfterCompletion")
        self.client("scheduler").update_schedule(**{k: schedule[k] for k in keep if k in schedule}, State=state)

    # -- a clean slate -------------------------------------------------------------------------

    def clear(self) -> None:
        """Empty both tables and the four queues, and forget the simulators' requests."""
        dynamodb = self.client("dynamodb")
        for output in ("OrdersTableName", "CompensationsTableName"):
            table = self.output(output)
            for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="orderId"):
                for item in page.get("Items", []):
                    dynamodb.delete_item(TableName=table, Key={"orderId": item["orderId"]})
        self.drain()
        self.kicc.reset_requests()
        self.teemopay.reset_requests()


def schedule_event(execution_id: str | None = None) -> dict[str, Any]:
    """The Input the template gives both schedules, with the placeholders filled as AWS fills them."""
    return {
        "executionId": execution_id or f"e2e-{uuid.uuid4()}",
        "scheduledTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "shards": "all",
    }


def now_ms() -> int:
    return int(time.time() * 1000)
