"""What a provider function is asked to do, read from its event (CONTRACT.md sections 5 and 6).

Three events reach a function: its schedule's input (a sweep), `{"check": [...]}` invoked
synchronously (a check on demand), and SQS batches from its check queue (queued checks). Anything
else is refused with an error, never taken for a sweep: an empty event or another function's
test event is somebody's mistake, and a sweep it started would hide it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from paysweep.domain.orders import order_id_problems

MAX_CHECKED_ORDERS = 20
"""Order ids one synchronous check takes: each is checked at once, on the sweep's pool."""


class Trigger(StrEnum):
    """What asked, as the summary and the `OrdersCheckedByTrigger` metric name it."""

    SCHEDULE = "schedule"
    INVOKE = "invoke"
    QUEUE = "queue"


class UnrecognisedEvent(ValueError):
    """An event that is neither a schedule's, a check request, nor an SQS batch."""


class InvalidCheckRequest(ValueError):
    """A check request or a queued check message that breaks CONTRACT.md section 6."""


def trigger_of(event: object) -> Trigger:
    """Which of the three events this is; `UnrecognisedEvent` for anything else."""
    if isinstance(event, Mapping):
        if "check" in event:
            return Trigger.INVOKE
        records = event.get("Records")
        if isinstance(records, list) and records and all(_from_sqs(record) for record in records):
            return Trigger.QUEUE
        if "shards" in event or "scheduledTime" in event or _eventbridge_schedule(event):
            return Trigger.SCHEDULE
    keys = sorted(event)[:5] if isinstance(event, Mapping) else type(event).__name__
    raise UnrecognisedEvent(
        "not a schedule's input, a check request ({\"check\": [order ids]}) nor an SQS batch of the "
        f"check queue; nothing was done (event keys: {keys})"
    )


def checked_order_ids(event: Mapping[str, Any]) -> list[str]:
    """The order ids of a synchronous check request, each valid by the contract's rule."""
    ids = event.get("check")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_CHECKED_ORDERS:
        raise InvalidCheckRequest(
            f"'check' must be a list of 1 to {MAX_CHECKED_ORDERS} order ids, got "
            f"{f'{len(ids)} ids' if isinstance(ids, list) else type(ids).__name__}; nothing was checked"
        )
    problems = [f"{order_id!r}: {'; '.join(found)}" for order_id in ids if (found := order_id_problems(order_id))]
    if problems:
        raise InvalidCheckRequest(f"invalid order ids, nothing was checked: {' | '.join(problems[:5])}")
    return [str(order_id) for order_id in ids]


def queued_order_id(body: str) -> str:
    """The order id of one check queue message, `{"orderId": "ORD-1"}` (other keys are ignored)."""
    try:
        message = json.loads(body)
    except ValueError:
        raise InvalidCheckRequest("the message body is not JSON; expected {\"orderId\": \"...\"}") from None
    order_id = message.get("orderId") if isinstance(message, dict) else None
    problems = order_id_problems(order_id)
    if problems:
        raise InvalidCheckRequest(f"expected {{\"orderId\": \"...\"}}: {'; '.join(problems)}")
    return str(order_id)


def _from_sqs(record: object) -> bool:
    return isinstance(record, Mapping) and record.get("eventSource") == "aws:sqs"


def _eventbridge_schedule(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"
