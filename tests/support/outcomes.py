"""What subscribers received, collected across sweeps, each message schema-checked."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from paysweep_local.stack import Delivered, LocalStack

from support.schema import assert_valid_outcome


class Published:
    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self.all: list[Delivered] = []

    def collect(self) -> list[Delivered]:
        """Drain the outcome queue; validates every message and its topic and attributes."""
        assert self._stack.outcomes is not None
        new = self._stack.outcomes.drain()
        for delivered in new:
            message = assert_valid_outcome(delivered.body)
            assert delivered.topic == message["outcome"], "published to the wrong topic"
            expected_attributes = {"provider": message["provider"], "outcome": message["outcome"]}
            if message["reason"]:
                expected_attributes["reason"] = message["reason"]
            if "merchantId" in message:
                expected_attributes["merchantId"] = message["merchantId"]
            assert delivered.attributes == expected_attributes
        self.all.extend(new)
        return new

    def for_order(self, order_id: str) -> list[dict[str, Any]]:
        self.collect()
        return [d.message for d in self.all if d.message["orderId"] == order_id]

    def only(self, order_id: str) -> dict[str, Any]:
        """The one outcome of an order (duplicates under the same eventId are allowed)."""
        messages = self.for_order(order_id)
        assert messages, f"no outcome published for {order_id}; {self._explain(order_id)}"
        assert len({m["eventId"] for m in messages}) == 1, f"{order_id} got different transitions: {messages}"
        return messages[0]

    def _explain(self, order_id: str) -> str:
        """What a missing outcome's failure message says, so that a flake can be diagnosed from CI
        output alone: the order as the table holds it (status, nextCheckAt, lease, lastCheck: was
        it due, claimed, checked, decided but left unpublished?), the simulated time, what the last
        sweeps reported (checked, outcomes, claim conflicts, errors, provider errors) and which
        orders' outcomes did arrive."""
        try:
            stored: Any = self._stack.order(order_id)
        except Exception as error:  # noqa: BLE001 - the explanation must not hide the assertion
            stored = f"(could not read it: {type(error).__name__}: {error})"
        received = sorted({d.message["orderId"] for d in self.all})
        return (f"the order as stored: {stored!r}; simulated now: {self._stack.now().isoformat()}; "
                f"the last sweeps: {list(self._stack.recent_sweeps)!r}; outcomes received for: {received or 'no order'}")

    def by_event(self) -> dict[str, list[dict[str, Any]]]:
        self.collect()
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for delivered in self.all:
            grouped[delivered.message["eventId"]].append(delivered.message)
        return grouped
