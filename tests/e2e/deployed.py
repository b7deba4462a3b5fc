"""The stack `sam deploy` created in MiniStack, as the e2e tests drive it.

`E2EStack` wraps the shared `LocalStack` (simulators over HTTPS, MiniStack with AUTH=true, the
secrets and the README's deploy are set up there, once for every suite) and adds only what the
e2e suite needs on top. Everything goes through public interfaces: orders are written with the
operator command (`paysweep register` / `redrive`, which find the table and shard count in the
stack's outputs), the functions run in MiniStack (its Lambda Invoke API, or its scheduler), never
in the local sandboxes; outcomes arrive in one SQS queue per outcome topic, as a subscriber would
set them up.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paysweep_local.ministack import MiniStack
from paysweep_local.providers import BY_ID, PROVIDERS
from paysweep_local.sam_deploy import Deployment
from paysweep_local.simulators import KiccSimulator, SimulatorBase, TeemoPaySimulator, TossSimulator
from paysweep_local.stack import OUTCOMES, LocalStack

PAYSWEEP_CLI = Path(sys.executable).parent / "paysweep"
KICC = BY_ID["kicc-wechatpay"].id
TEEMO = BY_ID["teemopay"].id
TOSS = BY_ID["toss-payments"].id
"""The providers whose scripted answers (KICC's and Toss's cancels, TeemoPay's REVIEW) the tests name."""
PROVIDER_IDS = tuple(provider.id for provider in PROVIDERS)
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
    local: LocalStack
    queues: dict[str, str] = field(default_factory=dict)
    """Outcome -> URL of the SQS queue subscribed to that outcome's topic."""

    # -- the deployed stack ------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        assert self.local.deployment is not None, "start() the LocalStack first"
        return self.local.deployment

    @property
    def ministack(self) -> MiniStack:
        return self.local.ministack

    def simulator(self, provider: str) -> SimulatorBase:
        return self.local.simulators[provider]

    @property
    def kicc(self) -> KiccSimulator:
        simulator = self.simulator(KICC)
        assert isinstance(simulator, KiccSimulator)
        return simulator

    @property
    def teemopay(self) -> TeemoPaySimulator:
        simulator = self.simulator(TEEMO)
        assert isinstance(simulator, TeemoPaySimulator)
        return simulator

    @property
    def toss(self) -> TossSimulator:
        simulator = self.simulator(TOSS)
        assert isinstance(simulator, TossSimulator)
        return simulator

    def output(self, name: str) -> str:
        return self.local.output(name)

    def function_name(self, provider: str) -> str:
        return self.local.function_name(provider)

    def topic_arn(self, outcome: str) -> str:
        return self.output(f"{outcome.title()}TopicArn")

    def client(self, service: str) -> Any:
        """A root client of MiniStack (the tests' own calls are never refused)."""
        return self.local.client(service)

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe_queues(self) -> None:
        """One queue per outcome topic, each with the queue policy SNS needs to deliver into it,
        so a message that arrives shows which topic carried it."""
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
        sqs = self.client("sqs")
        return [delivered for outcome, url in self.queues.items() for delivered in _drain_queue(sqs, outcome, url)]

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
            command += ["--ref", f"pgCno={pg_cno}"]
        self.cli(*command)
        self.cli("redrive", order_id)

    def order(self, order_id: str) -> dict[str, Any]:
        return dict(json.loads(self.cli("show", order_id, "--json").stdout))

    # -- the functions -------------------------------------------------------------------------

    def invoke(self, provider: str, event: Mapping[str, Any] | None = None) -> Invocation:
        """One sweep through MiniStack's Invoke API, by default with the event the deployed
        schedule sends; with the log's tail, which `LocalStack.invoke` does not ask for."""
        payload = dict(event or self.local.schedule_event(provider))
        # One attempt: an invocation retried after a read timeout would be a second sweep.
        client = self.local.client(
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
        return self.local.schedules()

    def set_schedule(self, provider: str, state: str) -> None:
        """ENABLED or DISABLED (LocalStack deploys them disabled: only a test decides when a sweep runs)."""
        self.local.set_schedule(provider, state)

    # -- a clean slate -------------------------------------------------------------------------

    def clear(self) -> None:
        """LocalStack's clean slate (tables, its queue, faults, simulator requests), and the four queues."""
        self.local.clear()
        self.drain()


def _drain_queue(sqs: Any, outcome: str, url: str) -> list[Delivered]:
    delivered: list[Delivered] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for message in messages:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            delivered.append(Delivered(outcome, json.loads(envelope["Message"]), envelope["Message"], attributes))
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )
    return delivered


def now_ms() -> int:
    return int(time.time() * 1000)
