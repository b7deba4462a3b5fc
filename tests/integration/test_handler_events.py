"""The deployed stack's side of the Lambda contract (tests/unit/test_lambda_contract.py has the rest).

What the product's handlers receive in AWS, checked on the local stack that `sam deploy` built:
the deployed schedules hold the template's Input and the stack fills it in as EventBridge
Scheduler does, and each real handler, run by awslambdaric in a sandbox against MiniStack,
returns a summary for each sample event in `events/`.
"""

from __future__ import annotations

import pytest
from paysweep_local.providers import PROVIDERS
from paysweep_local.stack import LocalStack
from support.lambda_events import (
    SAMPLE_EVENTS,
    expected_schedule_event,
    mismatches,
    read_event,
    schedule_inputs,
)

SUMMARY_KEYS = {"checked", "outcomes", "leftDue", "complete", "errors"}


def deployed_schedule_inputs(stack: LocalStack) -> list[str]:
    """The Input of every schedule MiniStack holds (the stack disabled them; they still exist)."""
    scheduler = stack.client("scheduler")
    return [
        scheduler.get_schedule(Name=s["Name"], GroupName=s.get("GroupName", "default"))["Target"]["Input"]
        for s in scheduler.list_schedules()["Schedules"]
    ]


def test_the_deployed_schedules_hold_the_templates_input(stack: LocalStack) -> None:
    template_inputs = set(schedule_inputs().values())
    deployed = deployed_schedule_inputs(stack)
    assert len(deployed) == len(PROVIDERS) and set(deployed) == template_inputs, deployed


@pytest.mark.parametrize("provider", [p.id for p in PROVIDERS])
def test_the_stacks_schedule_event_is_the_sample_schedule_event(stack: LocalStack, provider: str) -> None:
    """The local stack fills the deployed Input in as Scheduler does: the events tests sweep with."""
    assert mismatches(expected_schedule_event(), stack.schedule_event(provider)) == []


@pytest.mark.parametrize("provider", [p.id for p in PROVIDERS])
@pytest.mark.parametrize("sample", SAMPLE_EVENTS)
def test_each_real_handler_returns_a_summary_for_each_sample_event(
    stack: LocalStack, provider: str, sample: str
) -> None:
    event = read_event(sample)
    answer = stack.functions[provider].invoke(event, timeout_seconds=60)
    assert answer.ok, f"{sample}: {answer.error}"
    assert answer.result["provider"] == provider
    assert SUMMARY_KEYS <= set(answer.result), answer.result
    records = answer.log_records("sweep finished")
    assert len(records) == 1 and records[0]["correlation_id"] == event.get("executionId", event.get("id"))
