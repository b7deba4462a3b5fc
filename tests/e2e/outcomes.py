"""Outcome messages read from the subscribers' queues, every one checked against the contract."""

from __future__ import annotations

import time
from typing import Any

from e2e.deployed import Delivered, E2EStack
from support.schema import assert_valid_outcome


def check_delivered(delivered: Delivered) -> dict[str, Any]:
    """Schema (docs/schemas/outcome-v1.json), topic and message attributes of one delivery."""
    message = assert_valid_outcome(delivered.body)
    assert delivered.queue == message["outcome"], f"{message['eventId']} arrived through the {delivered.queue} topic"
    expected = {"provider": message["provider"], "outcome": message["outcome"]}
    if message["reason"]:
        expected["reason"] = message["reason"]
    if "merchantId" in message:
        expected["merchantId"] = message["merchantId"]
    assert delivered.attributes == expected, f"{message['eventId']}: attributes {delivered.attributes} != {expected}"
    return message


class Subscriber:
    """Everything delivered during one test, validated as it is read."""

    def __init__(self, stack: E2EStack) -> None:
        self._stack = stack
        self.messages: list[dict[str, Any]] = []

    def collect(self) -> list[dict[str, Any]]:
        new = [check_delivered(d) for d in self._stack.drain()]
        self.messages.extend(new)
        return new

    def for_order(self, order_id: str) -> list[dict[str, Any]]:
        self.collect()
        return [m for m in self.messages if m["orderId"] == order_id]

    def only(self, order_id: str) -> dict[str, Any]:
        """The one transition of an order (redeliveries under the same eventId allowed)."""
        messages = self.for_order(order_id)
        assert messages, f"nothing delivered for {order_id}"
        assert len({m["eventId"] for m in messages}) == 1, f"{order_id} has several transitions: {messages}"
        return messages[0]

    def wait_for(self, order_id: str, timeout_seconds: float) -> dict[str, Any]:
        """The order's outcome, waiting for it (SNS to SQS delivery is asynchronous)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.for_order(order_id):
                return self.only(order_id)
            time.sleep(0.5)
        raise AssertionError(f"no outcome for {order_id} within {timeout_seconds:.0f} s")
