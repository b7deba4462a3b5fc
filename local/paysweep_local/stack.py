"""The whole system, locally: MiniStack with the README's deploy in it, the simulators, the handlers.

What `make run`, `make deploy-local`, the integration and e2e suites and the benchmark share; the
README's "The local stack" describes it. The functions' schedules are disabled after the deploy,
so that only the caller decides when a sweep runs.
"""

from __future__ import annotations

import atexit
import json
import shutil
import ssl
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import trustme
from paysweep.aws.dynamodb import from_item
from paysweep.writer import register_order
from samtranslator.yaml_helper import yaml_parse

from paysweep_local.faults import FaultProxy
from paysweep_local.ministack import REGION, MiniStack
from paysweep_local.providers import BY_ID, PROVIDERS, LocalProvider
from paysweep_local.sam_deploy import Build, Deployment, build, create_secret, deploy
from paysweep_local.sandbox import FunctionInfo, InvocationResult, LocalFunction
from paysweep_local.simulators import SimulatorBase

OUTCOMES = ("APPROVED", "FAILED", "CANCELLED", "REVIEW")
LOCAL_PARAMETERS = {"AllowInsecureHttp": "false", "TableDeletionProtection": "false"}
"""Every local stack is deployed as in AWS (HTTPS only), and can be deleted."""
ROOT_KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
RECENT_SWEEPS = 5
"""How many finished sweeps `LocalStack.recent_sweeps` keeps."""
_BUILDS: list[Build] = []
_BUILD_LOCK = threading.Lock()


def shared_build() -> Build:
    """The process's one `make build` (a test session deploys it as often as it likes)."""
    with _BUILD_LOCK:
        if not _BUILDS:
            folder = Path(tempfile.mkdtemp(prefix="paysweep-build-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _BUILDS.append(build(folder))
        return _BUILDS[0]


@dataclass(frozen=True)
class Delivered:
    """One outcome message as a subscriber receives it (through SNS, into SQS)."""

    topic: str
    """APPROVED, FAILED, CANCELLED or REVIEW: which topic carried it."""
    body: str
    message: dict[str, Any]
    attributes: dict[str, str]


class OutcomeFeed:
    """An SQS queue subscribed to every outcome topic, with the queue policy SNS needs."""

    def __init__(self, sqs: Any, sns: Any, topics: Mapping[str, str], name: str) -> None:
        self._sqs = sqs
        self._url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": list(topics.values())}},
        }]}
        sqs.set_queue_attributes(QueueUrl=self._url, Attributes={"Policy": json.dumps(policy)})
        self._topic_names = {topic_arn: outcome for outcome, topic_arn in topics.items()}
        for topic_arn in topics.values():
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def drain(self) -> list[Delivered]:
        """Everything delivered so far (and removed from the queue)."""
        delivered: list[Delivered] = []
        while messages := self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                delivered.append(Delivered(self._topic_names.get(envelope["TopicArn"], "?"), envelope["Message"],
                                           json.loads(envelope["Message"]), attributes))
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return delivered

    def purge(self) -> None:
        self.drain()


class LocalStack:
    """Start with `LocalStack().start()` (or as a context manager); `stop()` ends everything.

    `parameters` override the template's; `function_env` is added to the sandboxes' environment
    (and MiniStack's function workers'); `credentials` replace a provider's local secret by id;
    `simulator_options` go to a provider's simulator by id.
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, str] | None = None,
        function_env: Mapping[str, str] | None = None,
        credentials: Mapping[str, Mapping[str, Any]] | None = None,
        simulator_options: Mapping[str, Mapping[str, Any]] | None = None,
        log_dir: Path | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="paysweep-stack-"))
        self.log_dir = log_dir or self.work_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.parameter_overrides = {**LOCAL_PARAMETERS, **(parameters or {})}
        self.function_env = dict(function_env or {})
        self.credentials = {p.id: dict((credentials or {}).get(p.id) or p.secret()) for p in PROVIDERS}
        self.clock_offset_seconds = 0.0
        """Simulated time: sandboxes (time-machine) and simulators run this far ahead of the real clock."""
        self.ca = trustme.CA()
        self.ca_file = self.work_dir / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._tls)
        options = simulator_options or {}
        self.simulators: dict[str, SimulatorBase] = {
            p.id: p.simulator(self.credentials[p.id], self.now, dict(options.get(p.id, {}))) for p in PROVIDERS
        }
        self.ministack = MiniStack(auth=True, extra_env={"REQUESTS_CA_BUNDLE": str(self.ca_file), **self.function_env})
        self.faults: FaultProxy | None = None
        self.deployment: Deployment | None = None
        self.parameters: dict[str, str] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.outcomes: OutcomeFeed | None = None
        self._inputs: dict[str, str] = {}
        self.recent_sweeps: deque[dict[str, Any]] = deque(maxlen=RECENT_SWEEPS)
        """What the last sweeps since `clear()` returned (provider, cold start, summary or error), for
        a failing test to say what its sweeps did."""

    def __getattr__(self, name: str) -> SimulatorBase:
        """`stack.kicc`, `stack.teemopay`: a provider's simulator by its `attribute`."""
        for provider in PROVIDERS:
            if provider.attribute == name:
                return self.__dict__["simulators"][provider.id]
        raise AttributeError(name)

    # -- simulated time ---------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    def advance(self, seconds: float) -> None:
        self.clock_offset_seconds += seconds

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        try:
            for simulator in self.simulators.values():
                simulator.start(self._tls)
            self.ministack.start()
            self.faults = FaultProxy(self.ministack.port, self._tls).start()
            self.parameters = {**self._provider_parameters(), **self.parameter_overrides}
            self.deployment = deploy(self.ministack, shared_build(), self.parameters)
            for provider in PROVIDERS:
                self._inputs[provider.id] = self.set_schedule(provider.id, "DISABLED")
                self.functions[provider.id] = self.local_function(provider)
            sqs, sns = self.client("sqs"), self.client("sns")
            topics = {outcome: self.output(f"{outcome.title()}TopicArn") for outcome in OUTCOMES}
            self.outcomes = OutcomeFeed(sqs, sns, topics, "paysweep-local-outcomes")
        except BaseException:
            self.stop()
            raise
        return self

    def _provider_parameters(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for provider in PROVIDERS:
            values[provider.base_url_parameter] = self.simulators[provider.id].base_url
            values[provider.secret_parameter] = create_secret(self.ministack, provider.secret_name,
                                                              self.credentials[provider.id])
        return values

    def schedules(self) -> dict[str, dict[str, Any]]:
        """The stack's schedules by the name of the function they invoke."""
        scheduler, found = self.client("scheduler"), {}
        for summary in scheduler.list_schedules()["Schedules"]:
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            found[schedule["Target"]["Arn"].rsplit(":", 1)[-1]] = schedule
        return found

    def set_schedule(self, provider: str, state: str) -> str:
        """ENABLED or DISABLED the provider's schedule; returns its Input (the events' template)."""
        schedule = self.schedules()[self.function_name(provider)]
        keep = ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target", "Description", "StartDate",
                "ScheduleExpressionTimezone", "EndDate", "KmsKeyArn", "ActionAfterCompletion")  # UpdateSchedule replaces all
        self.client("scheduler").update_schedule(**{k: schedule[k] for k in keep if k in schedule}, State=state)
        return str(schedule["Target"]["Input"])

    def local_function(self, provider: LocalProvider, extra_env: Mapping[str, str] | None = None,
                       log_dir: Path | None = None) -> LocalFunction:
        """The provider's deployed function, run in local sandboxes that follow this stack's clock."""
        assert self.deployment is not None and self.faults is not None
        name = self.function_name(provider.id)
        config = self.client("lambda").get_function_configuration(FunctionName=name)
        info = FunctionInfo(name, config["FunctionArn"], config["Handler"], int(config["Timeout"]),
                            int(config["MemorySize"]), dict(config.get("Environment", {}).get("Variables", {})),
                            self._import_path(provider))
        env = {
            "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            **info.environment, **ROOT_KEYS,
            "AWS_ENDPOINT_URL": self.faults.url, "AWS_CA_BUNDLE": str(self.ca_file),
            "REQUESTS_CA_BUNDLE": str(self.ca_file), "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config['Runtime']}", "LAMBDA_TASK_ROOT": str(info.import_path[0]),
            "_HANDLER": info.handler, "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": ":".join(str(path) for path in info.import_path),
            **self.function_env, **(extra_env or {}),
        }
        return LocalFunction(info, env, clock=self.now, log_dir=log_dir or self.log_dir)

    def _import_path(self, provider: LocalProvider) -> tuple[Path, ...]:
        """The built code folder, then the built layers' python/ folders (/var/task, /opt/python)."""
        assert self.deployment is not None
        folder = self.deployment.build_folder
        built = yaml_parse((folder / "template.yaml").read_text(encoding="utf-8"))
        logical_id = built["Outputs"][provider.function_output]["Value"]["Ref"]
        layers = [lid for lid, r in built["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"]
        return (folder / logical_id, *(folder / layer / "python" for layer in layers))

    def stop(self) -> None:
        for function in self.functions.values():
            function.stop()
        if self.faults is not None:
            self.faults.stop()
        self.ministack.stop()
        for simulator in self.simulators.values():
            simulator.stop()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the stack -------------------------------------------------------------------------

    def output(self, name: str) -> str:
        assert self.deployment is not None, "start() the stack first"
        return self.deployment.outputs[name]

    def function_name(self, provider: str) -> str:
        return self.output(next(p.function_output for p in PROVIDERS if p.id == provider))

    def client(self, service: str, **config: Any) -> Any:
        """A root client of MiniStack itself (not through the fault proxy: a test's own calls never fail)."""
        return self.ministack.client(service, **config)

    @property
    def table(self) -> str:
        return self.output("OrdersTableName")

    @property
    def shards(self) -> int:
        return int(self.output("SweepShards"))

    def operator_env(self) -> dict[str, str]:
        """Environment variables that point the `paysweep` command at this stack."""
        return {
            **self.ministack.env(),
            "ORDERS_TABLE": self.table,
            "SWEEP_SHARDS": str(self.shards),
            "AUDIT_SCHEDULE_SECONDS": self.output("AuditScheduleSeconds"),
            **{f"{outcome}_TOPIC_ARN": self.output(f"{outcome.title()}TopicArn") for outcome in OUTCOMES},
            "PROVIDER_FUNCTIONS": json.dumps({p.id: self.output(p.function_output) for p in PROVIDERS}),
        }

    def register(self, order_id: str, provider: str, amount: Decimal | int | str, currency: str = "KRW",
                 **options: Any) -> dict[str, Any]:
        """Write a pending order with the writer helper, checked against the provider's profile
        (`refs`, `expires_at`, `first_check_after`, `created_at`: the simulated now unless given)."""
        options.setdefault("created_at", self.now())
        options.setdefault("first_check_after", timedelta(0))
        return register_order(table_name=self.table, shards=self.shards, order_id=order_id, provider=provider,
                              amount=amount, currency=currency, client=self.client("dynamodb"),
                              profile=BY_ID[provider].profile, **options)

    # -- sweeps ----------------------------------------------------------------------------

    def schedule_event(self, provider: str, shards: list[int] | None = None) -> dict[str, Any]:
        """The event the provider's deployed schedule delivers, at the simulated time."""
        text = (self._inputs[provider].replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
                .replace("<aws.scheduler.scheduled-time>", self.now().strftime("%Y-%m-%dT%H:%M:%SZ")))
        event: dict[str, Any] = json.loads(text)
        if shards is not None:
            event["shards"] = shards
        return event

    def sweep(self, provider: str, *, shards: list[int] | None = None,
              timeout_seconds: float | None = None) -> InvocationResult:
        """One schedule tick at the simulated time: the provider's real handler in a local sandbox."""
        return self.sweep_async(provider, shards=shards, timeout_seconds=timeout_seconds).result()

    def sweep_async(self, provider: str, *, shards: list[int] | None = None,
                    timeout_seconds: float | None = None) -> Future[InvocationResult]:
        """A tick that overlaps others: each concurrent sweep runs in its own sandbox."""
        running = self.functions[provider].invoke_async(self.schedule_event(provider, shards), timeout_seconds)
        running.add_done_callback(lambda done: self._remember_sweep(provider, done))
        return running

    def _remember_sweep(self, provider: str, done: Future[InvocationResult]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        run = done.result()
        self.recent_sweeps.append({"provider": provider, "requestId": run.request_id, "coldStart": run.cold_start,
                                   "durationMs": run.duration_ms, "summary": run.result, "error": run.error})

    # -- the tables ------------------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(
            TableName=self.table, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def orders(self) -> list[dict[str, Any]]:
        """Every item of the orders table (a Scan: tests and the demo only)."""
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.table)
        return [from_item(item) for page in pages for item in page.get("Items", [])]

    def clear(self) -> None:
        """Empty both tables and the outcome queue, drop every fault, forget simulator requests."""
        client = self.client("dynamodb")
        assert self.faults is not None and self.outcomes is not None
        self.faults.clear_faults()
        for output in ("OrdersTableName", "CompensationsTableName"):
            table = self.output(output)
            for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="orderId"):
                for item in page.get("Items", []):
                    client.delete_item(TableName=table, Key={"orderId": item["orderId"]})
        self.outcomes.purge()
        for simulator in self.simulators.values():
            simulator.reset_requests()
        self.recent_sweeps.clear()
