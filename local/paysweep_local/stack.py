"""The whole system, locally: emulator, simulators, the deployed template, the real handlers.

`LocalStack` is what `make run`, the integration tests and the benchmark share:
- the AWS emulator (moto server) with the real `template.yaml` deployed into it;
- the provider secrets in the emulator's Secrets Manager;
- both provider simulators, wired in through the template's base-URL parameters;
- the deployed functions, each run by AWS's runtime client (`awslambdaric`) in local sandboxes
  with the handler, environment, timeout and memory the template gave it;
- simulated time (`advance`): the sandboxes' wall clock and both simulators follow `now()`;
- an SQS queue subscribed to the four outcome topics, to read what subscribers would see.
"""

from __future__ import annotations

import json
import ssl
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from paysweep.aws.dynamodb import from_item
from paysweep.writer import register_order

from paysweep_local.deploy import DeployedStack, FunctionInfo, create_secret, deploy_stack
from paysweep_local.emulator import Emulator
from paysweep_local.functions import InvocationResult, LocalFunction, schedule_event
from paysweep_local.keys import (
    kicc_secret,
    kicc_simulator_kwargs,
    merchant_keys,
    teemopay_secret,
    teemopay_simulator_kwargs_for,
)
from paysweep_local.simulators import KiccSimulator, TeemoPaySimulator

REPO = Path(__file__).resolve().parents[2]
PROVIDER_FOLDERS = {"kicc-wechatpay": "kicc_wechatpay", "teemopay": "teemopay"}
OUTCOME_OUTPUTS = {"APPROVED": "ApprovedTopicArn", "FAILED": "FailedTopicArn",
                   "CANCELLED": "CancelledTopicArn", "REVIEW": "ReviewTopicArn"}


@dataclass(frozen=True)
class Delivered:
    """One outcome message as a subscriber receives it (through SNS, into SQS)."""

    topic: str
    """APPROVED, FAILED, CANCELLED or REVIEW: which topic carried it."""
    body: str
    message: dict[str, Any]
    attributes: dict[str, str]


class OutcomeFeed:
    """An SQS queue subscribed to every outcome topic, as a subscriber would set one up."""

    def __init__(self, emulator: Emulator, topics: dict[str, str], name: str = "paysweep-local-outcomes") -> None:
        self._sqs = emulator.client("sqs")
        self._url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._topic_names = {topic_arn: outcome for outcome, topic_arn in topics.items()}
        sns = emulator.client("sns")
        for topic_arn in topics.values():
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def drain(self) -> list[Delivered]:
        """Everything delivered so far (and removed from the queue)."""
        delivered: list[Delivered] = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                return delivered
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                delivered.append(Delivered(self._topic_names.get(envelope["TopicArn"], "?"), envelope["Message"],
                                           json.loads(envelope["Message"]), attributes))
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def purge(self) -> None:
        self.drain()


class LocalStack:
    """Start with `LocalStack().start()` (or as a context manager); `stop()` ends everything."""

    def __init__(
        self,
        *,
        parameters: dict[str, str] | None = None,
        function_env: dict[str, str] | None = None,
        teemopay_check_timestamp: bool = True,
        log_dir: Path | None = None,
        kicc_credentials: dict[str, str] | None = None,
        teemopay_credentials: dict[str, str] | None = None,
        simulator_tls: ssl.SSLContext | None = None,
    ) -> None:
        """`kicc_credentials` / `teemopay_credentials`: the providers' secrets as the product reads
        them from Secrets Manager (CONTRACT.md section 4); the simulators are set up to accept
        exactly these. By default, the fixed local ones (`paysweep_local.keys`).

        `simulator_tls`: both simulators serve HTTPS with this server context (`paysweep_local.tls`);
        the functions must then trust its CA (`REQUESTS_CA_BUNDLE` in `function_env`), and
        `AllowInsecureHttp=false` in `parameters` deploys the template as in AWS."""
        self.simulator_tls = simulator_tls
        self.parameter_overrides = dict(parameters or {})
        self.function_env = dict(function_env or {})
        self.teemopay_check_timestamp = teemopay_check_timestamp
        self.log_dir = log_dir
        self.clock_offset_seconds = 0.0
        """Simulated time: the functions' sandboxes (their whole wall clock, shifted from outside
        by libfaketime) and both simulators run this far ahead of the real clock, so TeemoPay's
        timestamp check compares the time the product signed with against the same shifted time."""
        self.kicc_credentials = dict(kicc_credentials or kicc_secret())
        self.teemopay_credentials = dict(teemopay_credentials or teemopay_secret(merchant_keys()))
        self.emulator = Emulator()
        self.kicc = KiccSimulator(**kicc_simulator_kwargs(self.kicc_credentials), clock=self.now)
        self.teemopay = TeemoPaySimulator(
            **teemopay_simulator_kwargs_for(self.teemopay_credentials),
            check_timestamp=teemopay_check_timestamp,
            clock=self.now,
        )
        self.deployed: DeployedStack | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.outcomes: OutcomeFeed | None = None

    # -- simulated time ---------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    def advance(self, seconds: float) -> None:
        self.clock_offset_seconds += seconds

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.emulator.start()
        self.kicc.start(self.simulator_tls)
        self.teemopay.start(self.simulator_tls)
        parameters = {
            "KiccBaseUrl": self.kicc.base_url,
            "KiccSecretArn": create_secret(self.emulator, "paysweep/kicc-wechatpay", self.kicc_credentials),
            "TeemoPayBaseUrl": self.teemopay.base_url,
            "TeemoPaySecretArn": create_secret(self.emulator, "paysweep/teemopay", self.teemopay_credentials),
            "AllowInsecureHttp": "true",
            "TableDeletionProtection": "false",
            **self.parameter_overrides,
        }
        self.deployed = deploy_stack(self.emulator, template_path=REPO / "template.yaml", parameters=parameters)
        for provider, folder in PROVIDER_FOLDERS.items():
            self.functions[provider] = self.local_function(self.deployed.function(folder))
        self.outcomes = OutcomeFeed(self.emulator, {o: self.output(k) for o, k in OUTCOME_OUTPUTS.items()})
        return self

    def local_function(self, info: FunctionInfo, **options: Any) -> LocalFunction:
        """A deployed function run in sandboxes that follow this stack's clock (not started).

        `options` go to LocalFunction (log_dir, extra_env: added to the stack's function_env).
        """
        extra_env = {**self.function_env, **options.pop("extra_env", {})}
        options.setdefault("log_dir", self.log_dir)
        return LocalFunction(info, self.emulator, clock=self.now, extra_env=extra_env, **options)

    def stop(self) -> None:
        for function in self.functions.values():
            function.stop()
        self.kicc.stop()
        self.teemopay.stop()
        self.emulator.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the stack -------------------------------------------------------------------------

    def output(self, name: str) -> str:
        assert self.deployed is not None, "start() the stack first"
        return self.deployed.outputs[name]

    @property
    def table(self) -> str:
        return self.output("OrdersTableName")

    @property
    def shards(self) -> int:
        return int(self.output("SweepShards"))

    def operator_env(self) -> dict[str, str]:
        """Environment variables that point the `paysweep` command at this stack: the emulator's
        endpoint and test credentials, and the settings the functions get from the template."""
        return {
            **self.emulator.env(),
            "ORDERS_TABLE": self.table,
            "SWEEP_SHARDS": str(self.shards),
            "AUDIT_SCHEDULE_SECONDS": self.output("AuditScheduleSeconds"),
            **{f"{outcome}_TOPIC_ARN": self.output(key) for outcome, key in OUTCOME_OUTPUTS.items()},
        }

    def register(
        self,
        order_id: str,
        provider: str,
        amount: Decimal | int | str,
        currency: str = "KRW",
        *,
        pg_cno: str | None = None,
        created_at: datetime | None = None,
        expires_at: datetime | None = None,
        first_check_after: timedelta = timedelta(0),
    ) -> dict[str, Any]:
        """Write a pending order with the writer helper, due `first_check_after` after creation."""
        return register_order(
            table_name=self.table,
            shards=self.shards,
            order_id=order_id,
            provider=provider,
            amount=amount,
            currency=currency,
            pg_cno=pg_cno,
            created_at=created_at or self.now(),
            expires_at=expires_at,
            first_check_after=first_check_after,
            client=self.emulator.client("dynamodb"),
        )

    def schedule_event(self, provider: str, shards: list[int] | None = None) -> dict[str, Any]:
        """The event the provider's deployed schedule delivers, at the simulated time."""
        assert self.deployed is not None
        arn = self.functions[provider].info.arn
        schedule = next((s for s in self.deployed.schedules if s.target_arn == arn), None)
        if schedule is None:
            raise KeyError(f"no schedule targets the {provider} function")
        event = schedule_event(schedule, clock_offset_seconds=self.clock_offset_seconds)
        if shards is not None:
            event["shards"] = shards
        return event

    def sweep(
        self, provider: str, *, shards: list[int] | None = None, timeout_seconds: float | None = None
    ) -> InvocationResult:
        """One schedule tick at the simulated time: the provider's real handler and its schedule's event."""
        return self.sweep_async(provider, shards=shards, timeout_seconds=timeout_seconds).result()

    def sweep_async(
        self, provider: str, *, shards: list[int] | None = None, timeout_seconds: float | None = None
    ) -> Future[InvocationResult]:
        """A tick that overlaps others: each concurrent sweep runs in its own sandbox."""
        return self.functions[provider].invoke_async(self.schedule_event(provider, shards), timeout_seconds)

    def order(self, order_id: str) -> dict[str, Any] | None:
        item = self.emulator.client("dynamodb").get_item(
            TableName=self.table, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def orders(self) -> list[dict[str, Any]]:
        """Every item of the orders table (a Scan: tests and the demo only)."""
        client, items, start = self.emulator.client("dynamodb"), [], None
        while True:
            page = client.scan(TableName=self.table, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(from_item(i) for i in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def clear(self) -> None:
        """Empty both tables and the outcome queue and drop every fault: a clean slate per test."""
        client = self.emulator.client("dynamodb")
        self.emulator.clear_faults()
        for output in ("OrdersTableName", "CompensationsTableName"):
            table = self.output(output)
            for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="orderId"):
                for item in page.get("Items", []):
                    client.delete_item(TableName=table, Key={"orderId": item["orderId"]})
        assert self.outcomes is not None
        self.outcomes.purge()
        self.kicc.reset_requests()
        self.teemopay.reset_requests()
