"""SNS publishing: outcome messages go out with PublishBatch, ten per call, per topic.

A batch call can succeed while some of its entries fail, so every entry's result is
checked; a failed entry stays in the outbox and is re-published by a later sweep.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from paysweep.domain.outcomes import Outcome, OutcomeMessage
from paysweep.sweep.ports import PublishReport

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient
    from types_boto3_sns.type_defs import MessageAttributeValueTypeDef, PublishBatchRequestEntryTypeDef

BATCH_LIMIT = 10  # SNS PublishBatch accepts at most ten entries per request


class SnsOutcomePublisher:
    """Publishes outcome messages to the topic of their outcome."""

    def __init__(self, client: SNSClient, topic_arns: Mapping[Outcome, str]) -> None:
        self._client = client
        self._topic_arns = dict(topic_arns)

    def publish(self, messages: Sequence[OutcomeMessage]) -> PublishReport:
        report = PublishReport(published=[], failed=[])
        by_topic: dict[Outcome, list[OutcomeMessage]] = defaultdict(list)
        for message in messages:
            by_topic[message.outcome].append(message)
        for outcome, group in by_topic.items():
            for start in range(0, len(group), BATCH_LIMIT):
                self._publish_batch(self._topic_arns[outcome], group[start : start + BATCH_LIMIT], report)
        return report

    def _publish_batch(self, topic_arn: str, batch: Sequence[OutcomeMessage], report: PublishReport) -> None:
        entries: list[PublishBatchRequestEntryTypeDef] = [
            {"Id": f"m{i}", "Message": message.body, "MessageAttributes": _string_attributes(message)}
            for i, message in enumerate(batch)
        ]
        try:
            response = self._client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as error:
            reason = error.response["Error"].get("Code", "Unknown") if isinstance(error, ClientError) else type(error).__name__
            report.failed.extend((message, reason) for message in batch)
            return
        failed = {entry["Id"]: entry.get("Code", "Unknown") for entry in response.get("Failed", [])}
        succeeded = {entry["Id"] for entry in response.get("Successful", [])}
        for i, message in enumerate(batch):
            entry_id = f"m{i}"
            if entry_id in succeeded and entry_id not in failed:
                report.published.append(message)
            else:
                report.failed.append((message, failed.get(entry_id, "NoResult")))


def _string_attributes(message: OutcomeMessage) -> dict[str, MessageAttributeValueTypeDef]:
    """SNS String attributes, the type filter policies match on."""
    return {name: {"DataType": "String", "StringValue": value} for name, value in message.attributes().items()}
