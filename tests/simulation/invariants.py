"""The architecture's invariants (README, Reliability), watched by the simulation: after every
write that happens anywhere, after every sweep, and once everything has settled.

The rules over the table and what was published are those of `support.invariants`, which the
integration suites check too; here they run after every step, beside what only the simulation can
check because it knows the provider's books (the truth of every payment, every call made, every
cancel key, whose credentials came with each call), and `complete: true` against the sweep's
own shards."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from paysweep.domain import item as items
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.orders import ACTIVE_STATUSES, TERMINAL_STATUSES
from paysweep.domain.outcomes import OutcomeMessage
from support.invariants import (
    check_no_mismatched_approval,
    check_not_lost,
    check_one_event_per_decision,
    check_published,
)

from simulation import provider as books
from simulation.ports import INDEX_LAG
from simulation.scheduler import EPOCH

if TYPE_CHECKING:
    from simulation.world import SweepRun, World


UNKNOWN_ACCOUNT = ("an order naming an unknown account ends REVIEW INVALID_ORDER "
                   "and the provider is never asked about it")
MESSAGE_ACCOUNT = "every published message carries merchantId exactly when its order names one, equal to it"
"""Two invariants' names, each checked in two places."""


class Violation(AssertionError):
    def __init__(self, invariant: str, detail: str, world: World) -> None:
        self.invariant = invariant
        self.detail = detail
        self.sweeps = len(world.sweeps)
        super().__init__(
            f"invariant broken: {invariant}\n  {detail}\n  after {self.sweeps} sweep(s), at simulated "
            f"second {world.scheduler.now:.3f}\n  {world.describe()}\n  replay: make simulate SEED={world.seed}"
        )


class Invariants:
    def __init__(self, world: World) -> None:
        self.world = world
        self.last_terminal: dict[str, tuple[str, str]] = {}
        """Per order, the last terminal transition seen in the table (status, eventId)."""
        self.checks = 0
        self._parsed: list[dict[str, Any]] = []
        """The delivered messages' bodies, parsed once each (delivery only appends)."""

    def fail(self, invariant: str, detail: str | SweepRun) -> None:
        raise Violation(invariant, str(detail), self.world)

    def expect(self, invariant: str, problems: list[str]) -> None:
        """A rule of `support.invariants` that must find nothing."""
        if problems:
            self.fail(invariant, "; ".join(problems))

    def messages(self) -> list[dict[str, Any]]:
        delivered = self.world.delivered.messages
        for message in delivered[len(self._parsed):]:
            body = json.loads(message.body)
            self._names_its_account(message, body)
            self._parsed.append(body)
        return self._parsed

    def _names_its_account(self, message: OutcomeMessage, body: dict[str, Any]) -> None:
        """A subscriber filtering on `merchantId` hears of its own orders and of no other's."""
        named = self.world.plans[message.order_id].merchant_id
        carried = (body.get("merchantId"), message.attributes().get("merchantId"))
        if carried != (named, named):
            self.fail(MESSAGE_ACCOUNT, f"{message.order_id} names {named!r}; its {body['outcome']} message "
                      f"{message.event_id} carries {carried[0]!r} in its body and {carried[1]!r} in its attributes")

    # -- after every write --------------------------------------------------------------------

    def after_step(self) -> None:
        self.checks += 1
        every = self.world.memory.all_items()
        self.expect("no order is lost", check_not_lost(every))
        for item in every:
            self._item(item)
        self._delivered()
        for payment in self.world.books.payments.values():
            if len(set(payment.cancel_keys)) > 1:
                self.fail("every integrity failure is cancelled under one key",
                          f"{payment.order_id}: cancels sent under {sorted(set(payment.cancel_keys))}")
            self._signed(payment)

    def _signed(self, payment: books.Payment) -> None:
        """Every call the provider received about an order came with the credentials of the
        order's own account (the books note whose each call presented); an order naming an
        account the secret lacks is never asked about at all."""
        if self.world.plans[payment.order_id].unknown_account and payment.presented:
            self.fail(UNKNOWN_ACCOUNT,
                      f"{payment.order_id} names {payment.account!r}, which the secret lacks: asked {payment.presented}")
        for at, kind, whose in payment.presented:
            if whose != payment.account:
                self.fail("every provider call for an order was made with that order's account's credentials",
                          f"{payment.order_id} (account {_account(payment.account)}): {kind} at {at:.3f} s "
                          f"signed as {_account(whose)}")

    def _item(self, item: dict[str, Any]) -> None:
        """A published decision changes only by a correction, and the table never holds an
        approval of a payment made wrong (the truth: `Plan.mismatch`)."""
        order_id, status = item[items.ORDER_ID], item.get(items.STATUS)
        written = self.world.plans[order_id].merchant_id
        if item.get(items.MERCHANT_ID) != written:
            self.fail("an order keeps the account it names",
                      f"{order_id}: merchantId {item.get(items.MERCHANT_ID)!r}, written as {written!r}")
        if status in TERMINAL_STATUSES:
            outcome = item.get(items.OUTCOME, {})
            transition = (str(status), str(outcome.get("eventId")))
            last = self.last_terminal.setdefault(order_id, transition)
            if last != transition:
                if self._published(order_id, last[1]) and outcome.get("supersedes") != last[1]:
                    self.fail("a published decision changes only by a correction that supersedes it",
                              f"{order_id}: {last} then {transition}")
                self.last_terminal[order_id] = transition  # corrected, or superseded before anyone heard of it
            if status == "APPROVED" and self.world.plans[order_id].mismatch:
                self.fail("never APPROVED on a mismatch", f"{order_id}: APPROVED, the provider reports {self._paid(order_id)}")
        elif status in ACTIVE_STATUSES:
            last = self.last_terminal.get(order_id)
            reopened = (item.get(items.CANCEL) or {}).get("supersedes")
            if last is not None and self._published(order_id, last[1]) and reopened != last[1]:
                self.fail("a published decision changes only by a correction that supersedes it",
                          f"{order_id}: {last} then {status} again")

    def _published(self, order_id: str, event_id: str) -> bool:
        return any(m.order_id == order_id and m.event_id == event_id for m in self.world.delivered.messages)

    def _paid(self, order_id: str) -> Any:
        return self.world.books.payments[order_id].paid

    def _delivered(self) -> None:
        """What subscribers received: never an approval of a payment made wrong (by the truth,
        and by the message's own amounts), and one eventId per decision."""
        messages = self.messages()
        for message in messages:
            if message["outcome"] == "APPROVED" and self.world.plans[message["orderId"]].mismatch:
                self.fail("never APPROVED on a mismatch", f"{message['orderId']}: APPROVED published")
        self.expect("never APPROVED on a mismatch", check_no_mismatched_approval(messages))
        self.expect("one eventId per decision, every later one superseding a published one",
                    check_one_event_per_decision(messages))

    # -- after every sweep ----------------------------------------------------------------------

    def after_sweep(self, run: SweepRun) -> None:
        """`complete: true` means the sweep left nothing due in its shards (README, Reliability:
        Deadline)."""
        summary = run.summary or {}
        if not summary.get("complete"):
            return
        started = to_iso(EPOCH + timedelta(seconds=run.start))
        caught_up = to_iso(EPOCH + timedelta(seconds=run.start - INDEX_LAG))
        left = [
            item[items.ORDER_ID]
            for item in self.world.memory.all_items()
            if item.get(items.SWEEP_KEY) in run.shards
            and item.get(items.STATUS) in ACTIVE_STATUSES
            and item[items.NEXT_CHECK_AT] <= caught_up
            and (item.get(items.UPDATED_AT) or item["createdAt"]) < started
            and (item.get(items.LEASE_UNTIL) or item["createdAt"]) < started
        ]
        """Due when the sweep began, untouched since, and no lease on it then: nobody else had it.
        Compared as the product compares them: whole-second UTC text."""
        left += [
            item[items.ORDER_ID]
            for item in self.world.memory.all_items()
            if item.get(items.AUDIT_KEY) in run.shards
            and items.SWEEP_KEY not in item
            and item[items.AUDIT_AT] <= caught_up
            and (item.get(items.UPDATED_AT) or item["createdAt"]) < started
            and (item.get(items.LEASE_UNTIL) or item["createdAt"]) < started
        ]
        """And no audit due then, untouched since, and no lease on it then."""
        if left:
            self.fail("a sweep that says complete: true left nothing due in its shards",
                      f"{run.group} returned complete with {left} due since before it started "
                      f"(and its index caught up): {summary}")

    # -- at the end ------------------------------------------------------------------------------

    def settled(self) -> bool:
        return all(
            item.get(items.STATUS) in TERMINAL_STATUSES and not items.unpublished(item) and items.AUDIT_KEY not in item
            for item in self.world.memory.all_items()
        )

    def at_the_end(self) -> None:
        self.after_step()
        self._one_query_at_a_time()
        every = self.world.memory.all_items()
        for item in every:
            if item.get(items.STATUS) not in TERMINAL_STATUSES:
                self.fail("every order is decided once nothing fails any more",
                          f"{item[items.ORDER_ID]}: still {item.get(items.STATUS)}: {item}")
        self.expect("every terminal transition is published", check_published(every, self.messages(), settled=True))
        for item in every:
            order_id = item[items.ORDER_ID]
            if items.AUDIT_KEY in item:
                self.fail("every audit is done once nothing fails any more", f"{order_id}: audit due at {item[items.AUDIT_AT]}")
            self._true_outcome(item)

    def _one_query_at_a_time(self) -> None:
        for payment in self.world.books.payments.values():
            calls = sorted(payment.calls)
            for earlier, later in itertools.pairwise(calls):
                if later[0] < earlier[1]:
                    self.fail("two sweeps never ask about one order at the same time",
                              f"{payment.order_id}: {earlier} overlaps {later}")

    def _true_outcome(self, item: dict[str, Any]) -> None:
        """The decision agrees with the provider's books."""
        order_id = item[items.ORDER_ID]
        plan, payment = self.world.plans[order_id], self.world.books.payments[order_id]
        outcome = item[items.OUTCOME]
        decided = f"{outcome['outcome']}/{outcome['reason']}" if outcome["reason"] else outcome["outcome"]
        if plan.unknown_account or decided == "REVIEW/INVALID_ORDER":
            if not plan.unknown_account or decided != "REVIEW/INVALID_ORDER" or payment.calls:
                self.fail(UNKNOWN_ACCOUNT,
                          f"{order_id} names {_account(plan.merchant_id)}"
                          f"{', which the secret lacks' if plan.unknown_account else ''}: decided {decided}, "
                          f"{len(payment.calls)} provider call(s)")
            return
        at = parse_iso(outcome["occurredAt"]).timestamp() - EPOCH.timestamp()
        asked = [start for start, _, kind in payment.calls if kind == "status" and start <= at + 1]
        state_then = payment.state_at(max(asked)) if asked else payment.state_at(at)
        """What the provider said when last asked before the decision (the answer may come late)."""
        ours = payment.cancelled_under is not None
        # A Toss deposited virtual account: its answers say cancellable=False, the engine never cancels it.
        uncancellable = self.world.looks_up_first and payment.refuses_cancel
        right = {
            "APPROVED": plan.truth in ("match", "late") and not ours,
            "FAILED/PROVIDER_DECLINED": plan.truth == "declined",
            "FAILED/EXPIRED": state_then in (books.UNPAID, books.NOT_FOUND),
            "CANCELLED/PROVIDER_CANCELLED": plan.truth == "customer_cancel" or ours,
            "CANCELLED/AMOUNT_MISMATCH": plan.mismatch and ours,
            "CANCELLED/CURRENCY_MISMATCH": plan.truth == "currency" and ours,
            "CANCELLED/DB_UPDATE_FAILED": plan.truth in ("match", "late") and ours,
            "REVIEW/PARTIAL_CANCEL": plan.truth == "partial",
            "REVIEW/CANCEL_REFUSED": (plan.mismatch or plan.truth in ("match", "late")) and not uncancellable,
            "REVIEW/AMOUNT_MISMATCH": plan.mismatch and (not self.world.can_cancel or uncancellable),
            "REVIEW/DB_UPDATE_FAILED": plan.truth in ("match", "late") and not self.world.can_cancel,
            "REVIEW/UNKNOWN_PROVIDER_STATE": self.world.faults.rate > 0,
            # an audit's corrections (the order's provider changed its books after the decision)
            "CANCELLED/LATE_PAYMENT": plan.truth == "late" and ours,
            "REVIEW/LATE_PAYMENT": plan.truth == "late" and (not self.world.can_cancel or outcome.get("supersedes") is not None),
            "REVIEW/EXPIRED": state_then in (books.UNPAID, books.NOT_FOUND),
            "REVIEW/PROVIDER_DECLINED": plan.truth == "declined",
            "REVIEW/PROVIDER_CANCELLED": plan.truth == "customer_cancel",
        }.get(decided, False)
        if not right:
            self.fail("the outcome is the provider's truth",
                      f"{order_id}: decided {decided} at {at:.0f} s; truth {plan.truth}, provider {state_then}, "
                      f"cancelled under {payment.cancelled_under}")
        if decided in ("FAILED/EXPIRED", "REVIEW/EXPIRED") and payment.state_at(1e9) == books.APPROVED:
            self.fail("a late payment is found by an audit", f"{order_id}: decided {decided} at {at:.0f} s, "
                      f"paid at {payment.pays_at:.0f} s, and nothing corrected it")
        left_approved = self.world.can_cancel and plan.mismatch and payment.state_at(1e9) == books.APPROVED
        if left_approved and decided != ("REVIEW/AMOUNT_MISMATCH" if uncancellable else "REVIEW/CANCEL_REFUSED"):
            self.fail("an integrity failure ends CANCELLED or in REVIEW", f"{order_id}: still approved at the provider, {decided}")


def _account(merchant_id: str | None) -> str:
    return "the default account" if merchant_id is None else repr(merchant_id)
