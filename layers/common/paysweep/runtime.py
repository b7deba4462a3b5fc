"""Building a provider function's dependencies once per container, and running what its event
asks: a sweep, a check on demand, or a batch of queued checks (`paysweep.invocation`).

A handler builds one `Runtime` on its first invocation and reuses it: configuration
parsed once, AWS clients and the provider's HTTP session kept warm between invocations.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from paysweep.aws import clients
from paysweep.aws.journal import DynamoDBCompensationJournal
from paysweep.aws.publisher import SnsOutcomePublisher
from paysweep.aws.secrets import secret_source
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.config import SweepConfig
from paysweep.invocation import Trigger, checked_order_ids, trigger_of
from paysweep.observability import logger, metrics, tracer
from paysweep.provider.accounts import SecretAccounts
from paysweep.provider.client import AdapterFactory, ProviderClient
from paysweep.provider.guard import GuardedAdapter
from paysweep.provider.http import build_session
from paysweep.queued import check_batch
from paysweep.sweep.check import CheckResult
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.request import SweepRequest
from paysweep.sweep.summary import SweepSummary


class Runtime(NamedTuple):
    config: SweepConfig
    engine: SweepEngine

    @classmethod
    def from_environment(cls, adapter_factory: AdapterFactory, environ: Mapping[str, str] | None = None) -> Runtime:
        """Everything a function needs, built from its environment: the one place that knows
        which implementation stands behind each of the sweep's ports. The adapter gets the same
        environment for its own settings."""
        env = os.environ if environ is None else environ
        config = SweepConfig.from_env(env)
        aws = clients.sweep_client_config(config.concurrency)
        dynamodb = clients.dynamodb(aws)
        client = ProviderClient(
            base_url=config.provider_base_url,
            session=build_session(config.concurrency, config.connect_retries),
            credentials=secret_source(config.provider_secret_arn, config.secret_max_age),
            connect_timeout=config.connect_timeout,
            read_timeout=config.http_timeout,
            max_answer_bytes=config.max_answer_bytes,
        )
        engine = SweepEngine(
            adapter=GuardedAdapter(adapter_factory(client, env)),
            store=DynamoDBOrderStore(
                dynamodb, config.table_name, due_index=config.due_index, audit_index=config.audit_index
            ),
            journal=DynamoDBCompensationJournal(dynamodb, config.compensations_table),
            publisher=SnsOutcomePublisher(clients.sns(aws), config.topic_arns),
            config=config,
            accounts=SecretAccounts(client.credentials),
        )
        return cls(config, engine)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """What the event asks (`UnrecognisedEvent` when it asks nothing this function does)."""
        trigger = trigger_of(event)
        if trigger is Trigger.INVOKE:
            return self.check(event, context)
        if trigger is Trigger.QUEUE:
            return self.check_queued(event, context)
        return self.sweep(event, context)

    def sweep(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Run one sweep for a schedule event and return its summary."""
        summary = self.engine.sweep(SweepRequest.from_event(event), context.get_remaining_time_in_millis)
        record_metrics(summary)
        logger.info("sweep finished", extra={"summary": summary.to_dict()})
        return summary.to_dict()

    def check(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """A synchronous check: `{"checks": [...]}`, one answer per distinct order id."""
        results = self._check(checked_order_ids(event), context, Trigger.INVOKE)
        return {"checks": [result.to_dict() for result in results]}

    def check_queued(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Queued checks, all at once; the messages whose check is not settled (malformed, not
        found, out of time, ...) are reported as failed items, for SQS to retry and then move to
        the dead-letter queue (`paysweep.queued`)."""
        return check_batch(event, context, lambda order_ids: self._check(order_ids, context, Trigger.QUEUE))

    def _check(self, order_ids: list[str], context: LambdaContext, trigger: Trigger) -> list[CheckResult]:
        run = self.engine.check(order_ids, context.get_remaining_time_in_millis, trigger=trigger)
        record_metrics(run.summary)
        logger.info("check finished", extra={"summary": run.summary.to_dict()})
        return run.results


def record_metrics(summary: SweepSummary) -> None:
    """EMF metrics of one sweep (flushed by the handler's `log_metrics` decorator)."""
    metrics.add_dimension("provider", summary.provider)
    metrics.add_metric(name="OrdersChecked", unit=MetricUnit.Count, value=summary.checked)
    metrics.add_metric(name="OrdersLeftDue", unit=MetricUnit.Count, value=summary.left_due)
    metrics.add_metric(name="OutboxRepublished", unit=MetricUnit.Count, value=summary.republished)
    metrics.add_metric(name="CancelsRequested", unit=MetricUnit.Count, value=summary.cancels_requested)
    metrics.add_metric(name="AuditsChecked", unit=MetricUnit.Count, value=summary.audited)
    metrics.add_metric(name="LatePayments", unit=MetricUnit.Count, value=summary.late_payments)
    for outcome in ("APPROVED", "FAILED", "CANCELLED", "REVIEW"):
        metrics.add_metric(name=f"Outcome{outcome.title()}", unit=MetricUnit.Count, value=summary.outcomes.get(outcome, 0))
    metrics.add_metric(name="ProviderErrors", unit=MetricUnit.Count, value=sum(summary.provider_errors.values()))
    metrics.add_metric(name="ProviderMisconfigured", unit=MetricUnit.Count, value=summary.misconfigured)
    metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=sum(summary.errors.values()))
    if summary.oldest_due_age_seconds is not None:
        metrics.add_metric(name="OldestDueAge", unit=MetricUnit.Seconds, value=summary.oldest_due_age_seconds)
    for latency in summary.latencies_ms[:100]:
        metrics.add_metric(name="ProviderLatency", unit=MetricUnit.Milliseconds, value=latency)
    record_provider_errors_by_kind(summary)
    record_checks_by_trigger(summary)


def record_checks_by_trigger(summary: SweepSummary) -> None:
    """`OrdersCheckedByTrigger` with a `trigger` dimension (schedule, invoke, queue): how much
    of the provider's traffic each way in makes (`OrdersChecked` keeps its one dimension)."""
    with single_metric(
        name="OrdersCheckedByTrigger", unit=MetricUnit.Count, value=summary.checked, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="provider", value=summary.provider)
        metric.add_dimension(name="trigger", value=summary.trigger)


def record_provider_errors_by_kind(summary: SweepSummary) -> None:
    """`ProviderErrorsByKind` with a `kind` dimension (timeout, http_5xx, bad_answer, ...).

    A dimension of its own means a metric set of its own: one EMF line per kind, written
    now, beside the sweep's main set.
    """
    for kind, count in sorted(summary.provider_errors.items()):
        with single_metric(
            name="ProviderErrorsByKind", unit=MetricUnit.Count, value=count, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="provider", value=summary.provider)
            metric.add_dimension(name="kind", value=kind)


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def lambda_handler_for(adapter_factory: AdapterFactory) -> Handler:
    """The Lambda handler of one provider function.

    Dependencies, the Tracer among them, are built on the first invocation of a container and
    reused by every later one. The correlation id is the schedule's execution id (EventBridge
    Scheduler input) or the event id (EventBridge rule event).
    """

    @cache
    def runtime() -> Runtime:
        return Runtime.from_environment(adapter_factory)

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return runtime().handle(event, context)

    @cache
    def traced() -> Handler:
        """The handler inside the Tracer's `## lambda_handler` subsegment, where tracing is on."""
        active = tracer()
        return active.capture_lambda_handler(capture_response=False)(lambda_handler) if active else lambda_handler

    @logger.inject_lambda_context(correlation_id_path="executionId || id", clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return traced()(event, context)

    return handler
