"""What an operator can do to an order: look at it, re-drive it, list REVIEW, re-publish.

The rules live here; the `paysweep` command only parses arguments and prints. Every write is
a transition of `paysweep.domain.item` (the same module the sweep writes with), guarded by the
order being as it was read and no live lease, so an operator never overwrites what a sweep
just decided.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain import item as items
from paysweep.domain.clock import to_iso
from paysweep.domain.item import live_lease, whole
from paysweep.domain.orders import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    OrderStatus,
    order_id_problems,
    shard_of,
    sweep_key,
    valid_provider_id,
)
from paysweep.domain.outcomes import IncompleteRecord, OutcomeMessage, Reason, message_from_record
from paysweep.sweep.check import CheckReason, not_checked
from paysweep.sweep.ports import ConditionFailed, OutcomePublisher


class OrderNotFound(LookupError):
    """No order with this id in the table."""


class Refused(Exception):
    """The order's state does not allow this now; nothing was changed."""


class PublishFailed(Exception):
    """SNS did not accept the message."""


@dataclass(frozen=True)
class Redriven:
    """What a re-drive did."""

    order_id: str
    previous_status: str
    status: str
    generation: int
    next_check_at: str


@dataclass(frozen=True)
class Recorded:
    """A terminal order's outcome message, and whether it still waits in the outbox (the due
    index)."""

    message: OutcomeMessage
    in_outbox: bool


def check(
    store: DynamoDBOrderStore,
    order_ids: list[str],
    functions: Callable[[], Mapping[str, str]],
    invoke: Callable[[str, list[str]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Ask each order's provider function to check it now (CONTRACT.md section 6): the orders are
    read to learn their providers, then each function is asked once for all of its orders. An
    order not found is answered here, as the function would (`NOT_FOUND`), without asking."""
    problems = [f"{order_id!r}: {'; '.join(found)}" for order_id in order_ids if (found := order_id_problems(order_id))]
    if problems:
        raise ValueError(f"invalid order ids, nothing was checked: {' | '.join(problems)}")
    by_provider: dict[str, list[str]] = defaultdict(list)
    rows: dict[str, dict[str, Any]] = {}
    for order_id in dict.fromkeys(order_ids):
        found = store.read(order_id)
        if found is None or not found.provider:
            rows[order_id] = {"provider": None, **not_checked(order_id, CheckReason.NOT_FOUND).to_dict()}
        else:
            by_provider[found.provider].append(order_id)
    for provider, ids in by_provider.items():
        function = functions().get(provider)
        if function is None:
            raise ValueError(f"no function of the provider {provider!r} in the stack's ProviderFunctions output")
        for answer in invoke(function, ids)["checks"]:
            rows[answer["orderId"]] = {"provider": provider, **answer}
    return [rows[order_id] for order_id in dict.fromkeys(order_ids)]


def read_order(store: DynamoDBOrderStore, order_id: str, merchant_id: str | None = None) -> dict[str, Any]:
    """The order as it is now (strongly consistent read), every attribute: what an operator sees.
    With `merchant_id`, only an order of that merchant account is shown (a seller's operator)."""
    found = store.read(order_id)
    if found is None:
        raise OrderNotFound(f"no order {order_id!r} in the table")
    if merchant_id is not None and found.merchant_id != merchant_id:
        raise OrderNotFound(f"no order {order_id!r} of the merchant account {merchant_id!r}")
    return dict(found.attributes)


def redrive(store: DynamoDBOrderStore, order_id: str, *, shards: int, now: datetime) -> Redriven:
    """Make the order due now; a terminal order is checked again as its next generation.

    A PENDING or CANCELLING order keeps everything (its cancel intent and key above all) and
    is only made due now. A terminal order goes back to PENDING with `generation` + 1, so its
    next transition is published as `{orderId}:{outcome}:{generation}` and a new cancel gets a
    new key (the KICC adapter derives the key from the generation). Refused while a sweep
    holds a live lease (it is being checked this very moment; a lease is one provider call plus
    a margin, about 80 s by default), and for a terminal order whose outcome is not confirmed
    published yet. There is deliberately no override: two sweeps would work one order at once.
    """
    item = read_order(store, order_id)
    status = str(item.get("status"))
    stamp = to_iso(now)
    if items.unpublished(item):
        _refuse_unpublished(item)
    if until := live_lease(item, stamp):
        owner = item["leaseOwner"]
        raise Refused(f"{order_id} is being checked by sweep {owner} until {until}; try again after that")
    if status in ACTIVE_STATUSES:
        return _make_due(store, item, stamp, shards)
    if status in TERMINAL_STATUSES:
        return _restart(store, item, stamp, shards)
    raise Refused(f"{order_id} has status {status!r}, which paysweep does not know; fix the item first")


def _home_shard(item: dict[str, Any], shards: int) -> str:
    """The order's due-index partition (the writer helper's choice for this id)."""
    provider = item.get("provider")
    if not valid_provider_id(provider):
        order_id = item["orderId"]
        raise Refused(f"{order_id} has provider {provider!r}, which no sweep serves; fix the item first")
    if shards < 1:
        raise ValueError("shards must be at least 1 (the stack's SweepShards)")
    return sweep_key(str(provider), shard_of(str(item["orderId"]), shards))


def _make_due(store: DynamoDBOrderStore, item: dict[str, Any], now: str, shards: int) -> Redriven:
    """PENDING or CANCELLING: only `nextCheckAt` moves (never later than it was); a missing
    `sweepKey` is restored so the order is in the due index at all."""
    status = str(item[items.STATUS])
    home = str(item[items.SWEEP_KEY]) if item.get(items.SWEEP_KEY) else _home_shard(item, shards)
    transition = items.make_due(item, now=now, sweep_key=home)
    _write(store, item, transition, now)
    next_at = str(transition.set[items.NEXT_CHECK_AT])
    return Redriven(str(item[items.ORDER_ID]), status, status, whole(item.get(items.GENERATION)), next_at)


def _restart(store: DynamoDBOrderStore, item: dict[str, Any], now: str, shards: int) -> Redriven:
    """A terminal order back to PENDING as its next generation, due now (`items.restart`)."""
    order_id, status = str(item[items.ORDER_ID]), str(item[items.STATUS])
    if items.unpublished(item):
        _refuse_unpublished(item)
    transition = items.restart(item, now=now, sweep_key=_home_shard(item, shards))
    _write(store, item, transition, now)
    generation = int(transition.set[items.GENERATION])
    return Redriven(order_id, status, OrderStatus.PENDING.value, generation, now)


def _refuse_unpublished(item: dict[str, Any]) -> None:
    order_id = item[items.ORDER_ID]
    event = (item.get(items.OUTCOME) or {}).get("eventId", "its outcome")
    raise Refused(
        f"{order_id}: {event} is not confirmed published yet; run `paysweep republish {order_id}` "
        "(or wait for the next sweep) before re-driving it"
    )


def _write(store: DynamoDBOrderStore, item: dict[str, Any], transition: items.Transition, now: str) -> None:
    try:
        store.apply(transition)
    except ConditionFailed as error:
        current = error.current if error.current is not None else store.read(str(item[items.ORDER_ID]))
        raise Refused(_changed(item, dict(current.attributes) if current is not None else None, now)) from None


def _changed(before: dict[str, Any], current: dict[str, Any] | None, now: str) -> str:
    """Why a conditional write was refused, in the operator's terms."""
    order_id = before["orderId"]
    if current is None:
        return f"{order_id} changed while we looked (it is gone now); nothing was written"
    if until := live_lease(current, now):
        owner = current["leaseOwner"]
        return f"{order_id} was claimed by sweep {owner} (until {until}) while we looked; nothing was written"
    return (
        f"{order_id} changed while we looked (status {before.get('status')} -> {current.get('status')}, "
        f"attempts {whole(before.get('attempts'))} -> {whole(current.get('attempts'))}); "
        "nothing was written, look again with `paysweep show`"
    )


def in_review(
    store: DynamoDBOrderStore,
    *,
    provider: str | None = None,
    merchant_id: str | None = None,
    page_size: int = 1000,
    late_payments: bool = False,
) -> Iterator[dict[str, Any]]:
    """Orders in REVIEW, or (`late_payments`) every order whose outcome is a late payment's,
    cancelled or in REVIEW, of one merchant account if given (a full-table Scan with a filter:
    see `OrderStore.in_status`)."""
    status, reason = (None, Reason.LATE_PAYMENT.value) if late_payments else (OrderStatus.REVIEW.value, None)
    found = store.in_status(status, provider=provider, reason=reason, merchant_id=merchant_id, page_size=page_size)
    return (dict(order.attributes) for order in found)


def recorded_outcome(store: DynamoDBOrderStore, order_id: str) -> Recorded:
    """A terminal order's outcome message, exactly as it was (or will be) published.

    Rebuilt from the order's `outcome` record by the message builder.
    """
    item = read_order(store, order_id)
    status = item.get(items.STATUS)
    if status not in TERMINAL_STATUSES:
        raise Refused(f"{order_id} is {status}: it has no outcome to re-publish until it is decided")
    record = item.get(items.OUTCOME)
    if not isinstance(record, dict):
        raise Refused(f"{order_id} is {status} but has no outcome record")
    try:
        message = message_from_record(order_id, whole(item.get(items.GENERATION)), record,
                                      items.StoredOrder(item).merchant_id)
    except IncompleteRecord as error:
        raise Refused(f"{order_id}: cannot rebuild its message exactly: {error}") from None
    return Recorded(message, in_outbox=items.unpublished(item))


def republish(store: DynamoDBOrderStore, publisher: OutcomePublisher, recorded: Recorded) -> None:
    """Publish the message again under its `eventId` (subscribers de-duplicate on it).

    An outcome still waiting in the outbox is confirmed once SNS accepts it, as a sweep would
    do (the order leaves the due index); a concurrent sweep that confirmed it first is fine.
    """
    message = recorded.message
    report = publisher.publish([message])
    if report.failed:
        raise PublishFailed(f"SNS did not accept {message.event_id}: {report.failed[0][1]}")
    if recorded.in_outbox:
        try:
            store.apply(items.published(message.order_id, message.event_id, message.outcome.value))
        except ConditionFailed:
            pass  # a sweep re-published and confirmed it meanwhile
