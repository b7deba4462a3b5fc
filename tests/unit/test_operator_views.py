"""The operator command's pure parts: what it prints, the outcome record it republishes from,
and where its settings come from. No network."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

import pytest
from paysweep.aws.dynamodb import from_item, to_item
from paysweep.domain.answers import ReportedAmount
from paysweep.domain.outcomes import (
    IncompleteRecord,
    Outcome,
    Reason,
    build_message,
    message_from_record,
    outcome_record,
)
from paysweep_ops.cli import Settings, parser
from paysweep_ops.operations import Redriven, live_lease, whole
from paysweep_ops.views import jsonable, order_json, render_order, render_redriven, render_review, review_rows
from support.schema import assert_valid_outcome

NOW = "2026-11-22T04:00:00Z"


def decided_item() -> dict:
    return {
        "orderId": "ORD-1",
        "provider": "kicc-wechatpay",
        "status": "CANCELLED",
        "amount": Decimal("12.03"),
        "currency": "USD",
        "pgCno": "PG1",
        "createdAt": "2026-11-22T03:00:00Z",
        "attempts": Decimal(3),
        "generation": Decimal(1),
        "lastCheck": {"at": "2026-11-22T03:02:00Z", "kind": "cancel_confirm", "state": "CONFIRMED",
                      "providerStatus": "TS02", "detail": None},
        "history": ["2026-11-22T03:01:00Z status APPROVED TS01", "2026-11-22T03:02:00Z cancel_confirm CONFIRMED TS02"],
        "outcome": {"outcome": "CANCELLED", "reason": "AMOUNT_MISMATCH", "eventId": "ORD-1:CANCELLED:1",
                    "occurredAt": "2026-11-22T03:02:00Z", "provider": "kicc-wechatpay",
                    "requested": {"amount": "12.03", "currency": "USD"},
                    "reported": {"amount": "12.30", "currency": "USD"}, "providerStatus": "TS02",
                    "providerRefs": {"pgCno": "PG1", "cancelPgCno": "CPG1"}, "attempts": Decimal(3)},
        "cancel": {"key": "PSCabc", "requestDate": "20261122", "reason": "AMOUNT_MISMATCH",
                   "requestedAt": "2026-11-22T03:01:00Z", "deadline": "2026-11-22T04:01:00Z",
                   "reference": "CPG1", "sends": Decimal(1), "confirms": Decimal(1)},
        "updatedAt": "2026-11-22T03:02:00Z",
    }


def test_show_text_has_every_part_an_operator_reads() -> None:
    text = render_order(decided_item(), NOW)
    lines = text.splitlines()
    assert lines[0] == "ORD-1  kicc-wechatpay  CANCELLED"
    assert "  amount      12.03 USD" in lines
    assert "  attempts    3, generation 1" in lines
    assert "  next check  - (terminal: not in the due index)" in lines
    assert ("  outcome     CANCELLED AMOUNT_MISMATCH eventId ORD-1:CANCELLED:1 at 2026-11-22T03:02:00Z (published)"
            in lines)
    assert "              reported 12.30 USD, providerStatus TS02, refs cancelPgCno=CPG1, pgCno=PG1" in lines
    assert any(line.startswith("  cancel      key PSCabc, reason AMOUNT_MISMATCH") for line in lines)
    assert "  last check  2026-11-22T03:02:00Z cancel_confirm CONFIRMED TS02" in lines
    assert lines[-3:] == ["  history (oldest first):", "    2026-11-22T03:01:00Z status APPROVED TS01",
                          "    2026-11-22T03:02:00Z cancel_confirm CONFIRMED TS02"]


def test_show_text_says_when_an_outcome_is_not_published_or_superseded() -> None:
    waiting = decided_item() | {"sweepKey": "kicc-wechatpay#1", "nextCheckAt": "2026-11-22T03:00:00Z"}
    text = render_order(waiting, NOW)
    assert f"(NOT YET PUBLISHED: waiting in the due index since {waiting['updatedAt']})" in text
    assert ("  next check  2026-11-22T03:00:00Z in kicc-wechatpay#1 (decided: in the due index until its "
            "outcome is published)") in text.splitlines()
    redriven = decided_item() | {"status": "PENDING", "sweepKey": "kicc-wechatpay#1", "nextCheckAt": NOW}
    text = render_order(redriven, NOW)
    assert "(previous generation, superseded by a re-drive)" in text
    assert "  next check  2026-11-22T04:00:00Z in kicc-wechatpay#1 (due now)" in text.splitlines()


def test_show_text_tells_a_live_lease_from_an_expired_one() -> None:
    pending = {"orderId": "ORD-2", "provider": "teemopay", "status": "PENDING", "amount": Decimal(1000),
               "currency": "KRW", "sweepKey": "teemopay#0", "leaseOwner": "sweep-1:ab"}
    live = render_order(pending | {"leaseUntil": "2026-11-22T04:01:00Z", "nextCheckAt": "2026-11-22T04:01:00Z"}, NOW)
    assert "  lease       sweep-1:ab until 2026-11-22T04:01:00Z (live)" in live.splitlines()
    assert "(not due yet)" in live
    expired = render_order(pending | {"leaseUntil": "2026-11-22T03:59:00Z", "nextCheckAt": "2026-11-22T03:59:00Z"}, NOW)
    assert "(expired)" in expired and "(due now)" in expired
    bare = render_order({"orderId": "ORD-3", "status": "PENDING"}, NOW)
    assert "  next check  - (not in the due index)" in bare.splitlines() and bare.endswith("    -")


def test_show_json_keeps_amounts_exact_and_counters_whole() -> None:
    document = order_json(decided_item())
    assert document["amount"] == "12.03" and document["attempts"] == 3 and document["cancel"]["sends"] == 1
    assert order_json({"amount": Decimal(1000)})["amount"] == "1000"
    assert jsonable({"x": [Decimal("0.5"), Decimal(2)]}) == {"x": ["0.5", 2]}
    json.dumps(document)  # nothing left that JSON cannot carry


def test_review_rows_are_oldest_first_and_aligned() -> None:
    items = [
        {"orderId": "B", "provider": "teemopay", "merchantId": "seller-b", "status": "REVIEW",
         "outcome": {"reason": "LATE_PAYMENT", "eventId": "B:REVIEW:1", "supersedes": "B:FAILED",
                     "occurredAt": "2026-11-22T03:00:00Z"}},
        {"orderId": "A-LONGER", "provider": "kicc-wechatpay", "status": "REVIEW",
         "outcome": {"reason": "CANCEL_REFUSED", "eventId": "A-LONGER:REVIEW:2", "occurredAt": "2026-11-22T02:00:00Z"}},
        {"orderId": "C", "provider": "teemopay"},
    ]
    rows = review_rows(items)
    assert [r["orderId"] for r in rows] == ["C", "A-LONGER", "B"]
    assert rows[1] == {"orderId": "A-LONGER", "provider": "kicc-wechatpay", "merchantId": None, "status": "REVIEW",
                       "reason": "CANCEL_REFUSED", "eventId": "A-LONGER:REVIEW:2", "supersedes": None,
                       "occurredAt": "2026-11-22T02:00:00Z"}
    assert rows[2]["supersedes"] == "B:FAILED"
    assert render_review(rows).splitlines() == [
        "orderId   provider        merchantId  status  reason          occurredAt            supersedes",
        "C         teemopay        -           -       -               -                     -",
        "A-LONGER  kicc-wechatpay  -           REVIEW  CANCEL_REFUSED  2026-11-22T02:00:00Z  -",
        "B         teemopay        seller-b    REVIEW  LATE_PAYMENT    2026-11-22T03:00:00Z  B:FAILED",
    ]


def test_show_says_where_the_order_stands_in_its_audits() -> None:
    failed = {**decided_item(), "status": "FAILED",
              "outcome": {**decided_item()["outcome"], "outcome": "FAILED", "reason": "EXPIRED", "eventId": "ORD-1:FAILED"},
              "auditKey": "kicc-wechatpay#2", "auditAt": "2026-11-22T05:00:00Z"}
    line = next(line for line in render_order(failed, NOW, (3600, 86400)).splitlines() if "audits" in line)
    assert line == ("  audits      next 2026-11-22T05:00:00Z in kicc-wechatpay#2 (not due yet; "
                    "schedule 3600 s, 86400 s after the decision)")
    due = render_order(failed, "2026-11-22T05:00:00Z")
    assert "  audits      next 2026-11-22T05:00:00Z in kicc-wechatpay#2 (due now)" in due.splitlines()
    unpublished = render_order({**failed, "sweepKey": "kicc-wechatpay#2", "nextCheckAt": NOW}, "2026-11-23T00:00:00Z")
    assert "(after its outcome is published)" in unpublished
    assert "  audits      - (none scheduled; audits off)" in render_order(decided_item(), NOW, ()).splitlines()
    assert "  audits      -" in render_order({**decided_item(), "status": "PENDING"}, NOW).splitlines()
    corrected = {**decided_item(), "outcome": {**decided_item()["outcome"], "supersedes": "ORD-1:FAILED"}}
    assert "supersedes ORD-1:FAILED" in render_order(corrected, NOW)


def test_the_audit_schedule_for_show_comes_from_the_environment_or_outputs_already_read() -> None:
    args = argparse.Namespace(stack="paysweep", table=None, shards=None)
    assert Settings(args, environ={"AUDIT_SCHEDULE_SECONDS": "60,600"}).audit_schedule == (60, 600)
    assert Settings(args, environ={"AUDIT_SCHEDULE_SECONDS": ""}).audit_schedule == ()
    asked: list[str] = []
    settings = Settings(args, environ={}, outputs=lambda stack: asked.append(stack) or {
        "OrdersTableName": "t", "AuditScheduleSeconds": "off"})
    assert settings.audit_schedule is None and asked == []  # never asks the stack for a display alone
    assert settings.table == "t" and settings.audit_schedule == ()


def test_redrive_summary() -> None:
    assert render_redriven(Redriven("O", "PENDING", "PENDING", 0, NOW)) == f"O: PENDING, due at {NOW}"
    assert render_redriven(Redriven("O", "REVIEW", "PENDING", 2, NOW)) == (
        f"O: REVIEW -> PENDING as generation 2, due at {NOW}")


def test_counters_and_leases() -> None:
    assert [whole(v) for v in (Decimal(2), 3, None, "4", True, Decimal(-1))] == [2, 3, 0, 0, 0, 0]
    assert live_lease({"leaseOwner": "s", "leaseUntil": "2026-11-22T04:00:01Z"}, NOW) == "2026-11-22T04:00:01Z"
    assert live_lease({"leaseOwner": "s", "leaseUntil": NOW}, NOW) is None
    assert live_lease({"leaseUntil": "2026-11-22T05:00:00Z"}, NOW) is None


# -- the outcome record: what republish rebuilds from -------------------------------------------


MESSAGES = [
    {"outcome": Outcome.APPROVED, "reason": None, "reported": ReportedAmount(Decimal("1000.00"), "KRW"),
         "provider_refs": {"pgCno": "PG1", "approvalDate": "20261122031415"}},
    {"outcome": Outcome.REVIEW, "reason": Reason.AMOUNT_MISMATCH, "reported": ReportedAmount(Decimal("1000.50"), "KRW"),
         "provider_refs": {"tradeNo": "TS1"}, "provider": "teemopay"},
    {"outcome": Outcome.CANCELLED, "reason": Reason.CURRENCY_MISMATCH, "reported": ReportedAmount(Decimal(1000), "USD"),
         "provider_refs": {}, "generation": 2},
    {"outcome": Outcome.FAILED, "reason": Reason.EXPIRED, "reported": None, "provider_status": None, "provider_refs": {}},
    {"outcome": Outcome.REVIEW, "reason": Reason.INVALID_ORDER, "requested": None, "reported": ReportedAmount(None, None),
         "provider_status": None, "provider_refs": {}},
    {"outcome": Outcome.REVIEW, "reason": Reason.AMOUNT_MISMATCH, "reported": ReportedAmount(Decimal(7), None),
         "provider_refs": {}, "provider": "teemopay"},
]


def built(**overrides):
    args = {"order_id": "ORD-1", "provider": "kicc-wechatpay", "requested": ReportedAmount(Decimal(1000), "KRW"),
                "provider_status": "TS01", "occurred_at": "2026-11-22T03:14:15Z", "attempts": 4}
    args.update(overrides)
    return build_message(**args)


@pytest.mark.parametrize("overrides", MESSAGES)
def test_the_outcome_record_rebuilds_the_published_body_byte_for_byte(overrides) -> None:
    message = built(**overrides)
    record = from_item(to_item({"outcome": outcome_record(message)}))["outcome"]  # through DynamoDB's types
    rebuilt = message_from_record("ORD-1", overrides.get("generation", 0), record)
    assert rebuilt == message
    assert_valid_outcome(rebuilt.body)


def test_a_record_that_cannot_rebuild_the_message_is_refused() -> None:
    record = outcome_record(built(**MESSAGES[0]))
    for name in ("reported", "providerRefs", "attempts"):
        with pytest.raises(IncompleteRecord, match=name):
            message_from_record("ORD-1", 0, {k: v for k, v in record.items() if k != name})
    with pytest.raises(IncompleteRecord, match="differs"):
        message_from_record("ORD-1", 1, record)  # the order's generation moved on
    with pytest.raises(IncompleteRecord):
        message_from_record("ORD-1", 0, record | {"reported": {"amount": "ten", "currency": "KRW"}})
    with pytest.raises(IncompleteRecord):
        message_from_record("ORD-1", 0, record | {"outcome": "MAYBE"})


# -- settings: flag, else the functions' variable, else the stack output --------------------------


def settings(argv: list[str], environ: dict[str, str], outputs: dict[str, str], calls: list[str]) -> Settings:
    def load(stack: str) -> dict[str, str]:
        calls.append(stack)
        return outputs

    return Settings(parser().parse_args(argv), environ, load)


def test_settings_come_from_flags_then_environment_then_the_stack_once() -> None:
    outputs = {"OrdersTableName": "out-table", "SweepShards": "8", "ReviewTopicArn": "arn:out:review"}
    calls: list[str] = []
    s = settings(["redrive", "O", "--table", "flag-table"], {"SWEEP_SHARDS": "6"}, outputs, calls)
    assert (s.table, s.shards, calls) == ("flag-table", 6, [])
    s = settings(["republish", "O", "--stack", "prod", "--approved-topic-arn", "arn:flag"],
                 {"ORDERS_TABLE": "env-table", "FAILED_TOPIC_ARN": "arn:env:failed"}, outputs, calls)
    assert (s.table, s.topic_arn(Outcome.APPROVED), s.topic_arn(Outcome.FAILED), calls) == (
        "env-table", "arn:flag", "arn:env:failed", [])
    assert s.topic_arn(Outcome.REVIEW) == "arn:out:review" and s.shards == 8 and calls == ["prod"]
    with pytest.raises(ValueError, match="CancelledTopicArn"):
        s.topic_arn(Outcome.CANCELLED)
    assert calls == ["prod"], "the stack is read once"


@pytest.mark.parametrize("shards", ["0", "four"])
def test_a_bad_shard_count_is_refused(shards: str) -> None:
    s = settings(["redrive", "O"], {"SWEEP_SHARDS": shards}, {}, [])
    with pytest.raises(ValueError, match="shard count"):
        _ = s.shards


def test_review_page_size_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["review", "--page-size", "0"])
    assert parser().parse_args(["review"]).page_size == 1000
    assert isinstance(parser().parse_args(["show", "X", "--json"]), argparse.Namespace)
