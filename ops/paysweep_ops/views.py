"""How the `paysweep` command shows orders: plain text for people, JSON for scripts.

Pure functions of the order items (as `OrderStore` returns them): no I/O, so every line
an operator reads is unit-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from paysweep.domain.item import AUDIT_AT, AUDIT_KEY, live_lease, unpublished, whole
from paysweep.domain.orders import ACTIVE_STATUSES, RESERVED_ATTRIBUTES, TERMINAL_STATUSES

from paysweep_ops.operations import Redriven

LABEL = 12
"""Width of the label column of `render_order`."""


def jsonable(value: Any) -> Any:
    """A DynamoDB value as JSON: whole numbers as ints, other decimals as exact strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value:f}"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def order_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """The whole item for `show --json`; `amount` is always an exact decimal string."""
    document: dict[str, Any] = jsonable(item)
    amount = item.get("amount")
    if isinstance(amount, Decimal):
        document["amount"] = f"{amount:f}"
    return document


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _money(value: Any) -> str:
    """An amount record `{amount, currency}` as `1000 KRW`; `-` for none."""
    if not isinstance(value, Mapping):
        return "-"
    return f"{_text(value.get('amount'))} {value.get('currency') or '?'}"


def _row(label: str, text: str) -> str:
    return f"  {label:<{LABEL}}{text}"


def _due_line(item: Mapping[str, Any], now: str) -> str:
    due = item.get("nextCheckAt")
    if not due:
        if item.get("status") in ACTIVE_STATUSES:
            return "- (not in the due index)"
        return "- (terminal: not in the due index)"
    if item.get("status") in TERMINAL_STATUSES:
        return f"{due} in {_text(item.get('sweepKey'))} (decided: in the due index until its outcome is published)"
    state = "due now" if str(due) <= now else "not due yet"
    return f"{due} in {_text(item.get('sweepKey'))} ({state})"


def _lease_line(item: Mapping[str, Any], now: str) -> str:
    if not item.get("leaseOwner"):
        return "-"
    state = "live" if live_lease(dict(item), now) else "expired"
    return f"{item['leaseOwner']} until {_text(item.get('leaseUntil'))} ({state})"


def _last_check_line(check: Any) -> str:
    if not isinstance(check, Mapping):
        return "-"
    parts = [_text(check.get(k)) for k in ("at", "kind", "state") if check.get(k)]
    if check.get("providerStatus"):
        parts.append(str(check["providerStatus"]))
    if check.get("detail"):
        parts.append(f"- {check['detail']}")
    return " ".join(parts)


def _outcome_lines(item: Mapping[str, Any]) -> list[str]:
    outcome = item.get("outcome")
    if not isinstance(outcome, Mapping):
        return [_row("outcome", "-")]
    published = "published"
    if unpublished(item):
        published = f"NOT YET PUBLISHED: waiting in the due index since {_text(item.get('updatedAt'))}"
    if item.get("status") in ACTIVE_STATUSES:
        published = "previous generation, superseded by a re-drive"
    words = [_text(outcome.get("outcome"))]
    if outcome.get("reason"):
        words.append(str(outcome["reason"]))
    words += [f"eventId {_text(outcome.get('eventId'))}", f"at {_text(outcome.get('occurredAt'))}"]
    if outcome.get("supersedes"):
        words.append(f"supersedes {outcome['supersedes']}")
    words.append(f"({published})")
    head = " ".join(words)
    lines = [_row("outcome", head)]
    if "reported" in outcome:
        refs = outcome.get("providerRefs")
        ref_text = "-"
        if isinstance(refs, Mapping) and refs:
            ref_text = ", ".join(f"{k}={v}" for k, v in sorted(refs.items()))
        lines.append(_row("", f"reported {_money(outcome.get('reported'))}, providerStatus "
                              f"{_text(outcome.get('providerStatus'))}, refs {ref_text}"))
    return lines


def _cancel_lines(cancel: Any) -> list[str]:
    if not isinstance(cancel, Mapping):
        return []
    line = (
        f"key {_text(cancel.get('key'))}, reason {_text(cancel.get('reason'))}, requested "
        f"{_text(cancel.get('requestedAt'))}, deadline {_text(cancel.get('deadline'))}"
    )
    more = (
        f"reference {_text(cancel.get('reference'))}, sends {whole(cancel.get('sends'))}, "
        f"confirms {whole(cancel.get('confirms'))}"
    )
    return [_row("cancel", line), _row("", more)]


def _audit_line(item: Mapping[str, Any], now: str, schedule: tuple[int, ...] | None) -> str:
    """Where the order stands in the audit schedule (`paysweep.sweep.audit`)."""
    at = item.get(AUDIT_AT)
    plan = ""
    if schedule is not None:
        plan = f"; schedule {', '.join(f'{s} s' for s in schedule)} after the decision" if schedule else "; audits off"
    if not at:
        return f"- (none scheduled{plan})" if item.get("status") in TERMINAL_STATUSES else "-"
    if unpublished(item):
        state = "after its outcome is published"
    else:
        state = "due now" if str(at) <= now else "not due yet"
    return f"next {at} in {_text(item.get(AUDIT_KEY))} ({state}{plan})"


def order_refs(item: Mapping[str, Any]) -> dict[str, str]:
    """The order's references, whatever its provider names them: the writer's attributes
    beyond the contract's own (`RESERVED_ATTRIBUTES`)."""
    return {name: str(value) for name, value in sorted(item.items())
            if name not in RESERVED_ATTRIBUTES and isinstance(value, str) and value}


def render_order(item: Mapping[str, Any], now: str, audit_schedule: tuple[int, ...] | None = None) -> str:
    """`paysweep show`: the order, where it stands in the sweep and its audits, its outcome and
    history. `audit_schedule`: the functions' AUDIT_SCHEDULE_SECONDS, when known."""
    refs = ", ".join(f"{name} {value}" for name, value in order_refs(item).items()) or "-"
    lines = [
        f"{item.get('orderId')}  {_text(item.get('provider'))}  {_text(item.get('status'))}",
        _row("amount", f"{_text(item.get('amount'))} {_text(item.get('currency'))}"),
        _row("refs", refs),
        _row("merchant", _text(item.get("merchantId") or "default account")),
        _row("created", f"{_text(item.get('createdAt'))}, expires {_text(item.get('expiresAt'))}"),
        _row("attempts", f"{whole(item.get('attempts'))}, generation {whole(item.get('generation'))}"),
        _row("next check", _due_line(item, now)),
        _row("lease", _lease_line(item, now)),
        _row("audits", _audit_line(item, now, audit_schedule)),
        _row("last check", _last_check_line(item.get("lastCheck"))),
        *_outcome_lines(item),
        *_cancel_lines(item.get("cancel")),
        _row("updated", _text(item.get("updatedAt"))),
        "  history (oldest first):",
    ]
    history = [str(line) for line in item.get("history") or []]
    lines += [f"    {line}" for line in history] or ["    -"]
    return "\n".join(lines)


def review_rows(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`paysweep review`: one row per order, oldest decision first."""
    rows = []
    for item in items:
        recorded = item.get("outcome")
        outcome: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
        rows.append({
            "orderId": item.get("orderId"),
            "provider": item.get("provider"),
            "merchantId": item.get("merchantId"),
            "status": item.get("status"),
            "reason": outcome.get("reason"),
            "eventId": outcome.get("eventId"),
            "supersedes": outcome.get("supersedes"),
            "occurredAt": outcome.get("occurredAt"),
        })
    return sorted(rows, key=lambda r: (str(r["occurredAt"] or ""), str(r["orderId"])))


def render_review(rows: list[dict[str, Any]]) -> str:
    """Aligned columns: orderId, provider, merchant account, status, reason, occurredAt, and what a
    correction supersedes."""
    columns = ("orderId", "provider", "merchantId", "status", "reason", "occurredAt", "supersedes")
    cells = [[_text(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def render_redriven(result: Redriven) -> str:
    if result.previous_status == result.status:
        return f"{result.order_id}: {result.status}, due at {result.next_check_at}"
    return (
        f"{result.order_id}: {result.previous_status} -> {result.status} as generation {result.generation}, "
        f"due at {result.next_check_at}"
    )


def render_checks(rows: list[dict[str, Any]]) -> str:
    """`paysweep check`: aligned columns, the decision where there is one, else why not checked."""
    columns = ("orderId", "provider", "status", "checked", "decision", "nextCheckAt")
    cells = []
    for row in rows:
        outcome = row.get("outcome") or {}
        decision = f"{outcome.get('eventId')} {outcome.get('reason') or ''}".strip() if outcome else ""
        if row.get("reason"):
            decision = f"{decision} ({row['reason']})".strip()
        values = {**row, "checked": "yes" if row.get("checked") else "no", "decision": decision}
        cells.append([_text(values.get(c)) for c in columns])
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
