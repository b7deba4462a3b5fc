"""Queued checks: a batch from the provider's check queue, answered with a partial batch response.

A webhook receiver sends `{"orderId": "ORD-1"}` to the check queue and returns at once; the
event-source mapping hands the function up to ten messages. Their orders are checked together
(one `SweepEngine.check`, at once on the pool, so a batch takes one provider call's time, not
ten), then Powertools' batch utility builds the answer: a message is reported failed when it is
malformed or its check is not settled (not found, another provider's, out of time, the table
unavailable, an unexpected error), so SQS makes it visible again after the queue's visibility
timeout and, after `maxReceiveCount` receives, moves it to the dead-letter queue (its alarm
tells operators). The other messages of the batch are deleted.

The batch utility is imported on the first queued batch only: a schedule's container never
loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paysweep.invocation import InvalidCheckRequest, queued_order_id
from paysweep.observability import logger
from paysweep.sweep.check import CheckResult

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

CheckTogether = Callable[[list[str]], list[CheckResult]]


class CheckNotSettled(Exception):
    """The message's check did not settle its order: SQS should deliver it again."""


def check_batch(event: dict[str, Any], context: LambdaContext, check: CheckTogether) -> dict[str, Any]:
    """The partial batch response (`batchItemFailures`) for one SQS batch."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    asked = {str(record.get("messageId")): _order_id_of(record) for record in event["Records"]}
    order_ids = [order_id for order_id in asked.values() if isinstance(order_id, str)]
    results = {result.order_id: result for result in check(order_ids)} if order_ids else {}

    def record_handler(record: SQSRecord) -> None:
        order_id = asked[record.message_id]
        if isinstance(order_id, InvalidCheckRequest):
            logger.warning("malformed check message: reported failed, bound for the dead-letter queue",
                           extra={"messageId": record.message_id, "error": str(order_id)})
            raise order_id
        result = results.get(order_id)
        if result is None or not result.settled:
            reason = result.reason.value if result is not None and result.reason else "NOT_CHECKED"
            logger.warning("check not settled: SQS delivers the message again",
                           extra={"messageId": record.message_id, "orderId": order_id, "reason": reason})
            raise CheckNotSettled(f"{order_id}: {reason}")

    # A batch whose every message failed is answered like any other (all listed), not raised as
    # the function's error: one poison message alone must not page operators through FunctionErrors.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response


def _order_id_of(record: dict[str, Any]) -> str | InvalidCheckRequest:
    """A message's order id, or why it has none (the record handler reports it)."""
    try:
        return queued_order_id(str(record.get("body", "")))
    except InvalidCheckRequest as error:
        return error
