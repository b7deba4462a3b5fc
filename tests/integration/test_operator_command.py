"""The operator command (`paysweep show|redrive|review|republish`) against the local stack.

Real HTTP throughout: MiniStack with the real template deployed (the integration session's
stack, conftest.py), the provider simulators, the real handlers for the sweeps. The command
finds the stack the way an operator's shell does, through the environment `make run` writes to
`.paysweep-local/env` (`LocalStack.operator_env`): AWS_ENDPOINT_URL, credentials, ORDERS_TABLE,
SWEEP_SHARDS and the topic ARNs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from paysweep.aws.dynamodb import to_item
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain import item as items
from paysweep.domain.clock import to_iso, utc_now
from paysweep_local.demo import operator_env_file
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from paysweep_ops.cli import EXIT_CONFLICT, EXIT_NOT_FOUND, main
from support.outcomes import Published
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay, kicc_revises


@pytest.fixture(autouse=True)
def operator_shell(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment pointed at the stack as an operator's shell would be: the
    command in-process (`cli`) reads it, and nothing of the caller's AWS settings gets in."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in stack.operator_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `paysweep ARGS...` in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def sweep(stack: LocalStack, provider: str) -> dict[str, Any]:
    run = stack.sweep(provider)
    assert run.ok, run.error
    return run.result


def sweep_until(stack: LocalStack, provider: str, order_id: str, status: str, rounds: int = 10) -> None:
    for _ in range(rounds):
        sweep(stack, provider)
        if stack.order(order_id)["status"] == status:
            return
        stack.advance(60)
    raise AssertionError(f"{order_id} is {stack.order(order_id)['status']}, not {status}, after {rounds} sweeps")


def interfere_after_read(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run `action` once, right after the command's read of the order: a concurrent change."""
    real_read = DynamoDBOrderStore.read
    pending = [action]

    def read_then_interfere(self: DynamoDBOrderStore, order_id: str) -> dict[str, Any] | None:
        item = real_read(self, order_id)
        if pending:
            pending.pop()()
        return item

    monkeypatch.setattr(DynamoDBOrderStore, "read", read_then_interfere)


# -- show --------------------------------------------------------------------------------------


def test_show_prints_the_checks_the_transition_and_the_outcome(stack: LocalStack, cli) -> None:
    pg_cno = add_kicc(stack, "OP-SHOW", [kicc.pending(times=2), kicc.approved()])
    sweep_until(stack, KICC, "OP-SHOW", "APPROVED")
    item = stack.order("OP-SHOW")
    assert len(item["history"]) == 3

    code, out, err = cli("show", "OP-SHOW")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["OP-SHOW", KICC, "APPROVED"]
    assert f"pgCno {pg_cno}" in out and "1000 KRW" in out
    assert "eventId OP-SHOW:APPROVED" in out and "(published)" in out
    assert "- (terminal: not in the due index)" in out
    history = lines[lines.index("  history (oldest first):") + 1:]
    assert [line.strip() for line in history] == item["history"]
    assert [line.split()[1:] for line in item["history"]] == [
        ["status", "IN_PROGRESS"], ["status", "IN_PROGRESS"], ["status", "APPROVED", "TS01"],
    ]

    code, out, _ = cli("show", "OP-SHOW", "--json")
    document = json.loads(out)
    assert code == 0
    assert document["history"] == item["history"]
    assert document["outcome"]["eventId"] == "OP-SHOW:APPROVED"
    assert document["outcome"]["reported"] == {"amount": "1000", "currency": "KRW"}
    assert (document["amount"], document["attempts"]) == ("1000", 3)


def test_show_of_a_missing_order_exits_4(stack: LocalStack, cli) -> None:
    code, out, err = cli("show", "OP-NOWHERE")
    assert (code, out) == (EXIT_NOT_FOUND, "")
    assert "no order 'OP-NOWHERE'" in err


def test_the_console_script_reaches_the_stack_through_the_env_file(stack: LocalStack, tmp_path: Path) -> None:
    """What an operator types beside `make run`: source the file, run the installed command."""
    add_teemopay(stack, "OP-SCRIPT", [teemopay.paid()])
    sweep(stack, TEEMO)
    ours = {"ORDERS_TABLE", "SWEEP_SHARDS"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ours}
    command = str(Path(sys.executable).with_name("paysweep"))
    with operator_env_file(stack, tmp_path / "env") as env_file:
        done = subprocess.run(
            ["bash", "-c", f'source "{env_file}" && "{command}" show OP-SCRIPT --json'],
            env=clean, capture_output=True, text=True, timeout=60, check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"]["eventId"] == "OP-SCRIPT:APPROVED"
    assert not env_file.exists(), "the env file must not outlive the run it describes"


# -- register ----------------------------------------------------------------------------------


def test_register_writes_the_references_it_is_given_checked_by_the_providers_profile(stack: LocalStack, cli) -> None:
    """`--ref NAME=VALUE`, the provider's own rules from its function folder's profile."""
    code, out, err = cli("register", "--order-id", "OP-REG", "--provider", KICC, "--amount", "1000",
                         "--currency", "KRW", "--ref", "pgCno=PG-OP-REG")
    assert (code, err) == (0, ""), err
    assert json.loads(out)["pgCno"] == "PG-OP-REG" and stack.order("OP-REG")["pgCno"] == "PG-OP-REG"

    code, _, err = cli("register", "--order-id", "OP-REG-BAD", "--provider", KICC, "--amount", "1000",
                       "--currency", "KRW")
    assert code == 2 and "pgCno is required for kicc-wechatpay" in err, err
    assert stack.order("OP-REG-BAD") is None, "an invalid order is never written"


def test_register_takes_the_deprecated_pg_cno_and_an_explicit_profile(stack: LocalStack, cli) -> None:
    code, _, err = cli("register", "--order-id", "OP-REG-OLD", "--provider", KICC, "--amount", "1000",
                       "--currency", "KRW", "--pg-cno", "PG-OLD")
    assert code == 0 and "--pg-cno is deprecated" in err, err
    assert stack.order("OP-REG-OLD")["pgCno"] == "PG-OLD"
    teemo_profile = Path(__file__).resolve().parents[2] / "functions" / "teemopay" / "teemopay_profile.py"
    code, _, err = cli("register", "--order-id", "OP-REG-X", "--provider", KICC, "--amount", "1000",
                       "--currency", "KRW", "--ref", "pgCno=PG", "--profile", str(teemo_profile))
    assert code == 2 and "the profile of teemopay, not of kicc-wechatpay" in err, err
    code, _, err = cli("register", "--order-id", "OP-REG-T" + "X" * 30, "--provider", TEEMO, "--amount", "1000",
                       "--currency", "KRW", "--profile", str(teemo_profile))
    assert code == 2 and "at most 32" in err, err


# -- redrive -----------------------------------------------------------------------------------


def test_redrive_of_a_pending_order_makes_it_due_now(stack: LocalStack, published: Published, cli) -> None:
    stack.kicc.add_payment("PG-OP-LATER", "OP-LATER", 1000, "KRW", script=[kicc.approved()])
    stack.register("OP-LATER", KICC, "1000", refs={"pgCno": "PG-OP-LATER"}, first_check_after=timedelta(hours=1))
    before = stack.order("OP-LATER")
    assert sweep(stack, KICC)["checked"] == 0, "not due for an hour"

    code, out, err = cli("redrive", "OP-LATER")
    assert (code, err) == (0, ""), err
    item = stack.order("OP-LATER")
    assert item["status"] == "PENDING" and item["sweepKey"] == before["sweepKey"]
    assert item["nextCheckAt"] <= to_iso(utc_now()) < before["nextCheckAt"]
    assert item["history"][-1].split()[1:] == ["redrive", "PENDING"]
    assert "OP-LATER: PENDING, due at" in out

    assert sweep(stack, KICC)["checked"] == 1
    assert published.only("OP-LATER")["eventId"] == "OP-LATER:APPROVED"


def test_redrive_of_a_decided_order_checks_it_again_as_its_next_generation(
    stack: LocalStack, published: Published, cli
) -> None:
    """REVIEW CANCEL_REFUSED, then re-driven: the next check cancels under a new key (the old one
    would make KICC replay its refusal) and publishes under `...:1`."""
    pg_cno = add_kicc(stack, "OP-AGAIN", [kicc.approved(amount=1100)], cancel_script=[kicc.refuse(), kicc.accept()],
                      settle_after=0)
    sweep(stack, KICC)
    first = published.only("OP-AGAIN")
    assert (first["eventId"], first["reason"]) == ("OP-AGAIN:REVIEW", "CANCEL_REFUSED")
    assert "cancel" not in stack.order("OP-AGAIN"), "a decided order keeps no cancel intent (CONTRACT)"
    first_keys = [r.body["shopTransactionId"] for r in kicc_revises(stack, pg_cno)]
    assert len(first_keys) == 1, first_keys

    code, out, err = cli("redrive", "OP-AGAIN")
    assert (code, err) == (0, ""), err
    assert "OP-AGAIN: REVIEW -> PENDING as generation 1" in out
    item = stack.order("OP-AGAIN")
    assert (item["status"], item["generation"]) == ("PENDING", 1)
    assert item["sweepKey"].startswith(f"{KICC}#") and item["nextCheckAt"] <= to_iso(utc_now())
    assert item["history"][-1].split()[1:] == ["redrive", "PENDING", "generation", "1"]

    sweep_until(stack, KICC, "OP-AGAIN", "CANCELLED")
    messages = {m["eventId"]: m for m in published.for_order("OP-AGAIN")}
    assert set(messages) == {"OP-AGAIN:REVIEW", "OP-AGAIN:CANCELLED:1"}
    assert messages["OP-AGAIN:CANCELLED:1"]["reason"] == "AMOUNT_MISMATCH"
    keys = [r.body["shopTransactionId"] for r in kicc_revises(stack, pg_cno)]
    assert keys[0] == first_keys[0] and len(set(keys)) == 2, keys
    assert stack.order("OP-AGAIN")["outcome"]["eventId"] == "OP-AGAIN:CANCELLED:1"


def test_redrive_of_an_approved_order_publishes_nothing_until_the_check(
    stack: LocalStack, published: Published, cli
) -> None:
    add_teemopay(stack, "OP-TWICE", [teemopay.paid()])
    sweep(stack, TEEMO)
    assert published.only("OP-TWICE")["eventId"] == "OP-TWICE:APPROVED"
    assert cli("redrive", "OP-TWICE")[0] == 0
    assert not published.collect(), "a re-drive publishes nothing by itself"
    assert sweep(stack, TEEMO)["checked"] == 1
    assert [m["eventId"] for m in published.for_order("OP-TWICE")] == ["OP-TWICE:APPROVED", "OP-TWICE:APPROVED:1"]


def test_redrive_keeps_a_cancelling_orders_intent_and_key(stack: LocalStack, cli) -> None:
    pg_cno = add_kicc(stack, "OP-CANCELLING", [kicc.approved(amount=999)],
                      cancel_script=[kicc.retryable(), kicc.accept()])
    sweep(stack, KICC)
    before = stack.order("OP-CANCELLING")
    assert before["status"] == "CANCELLING" and before["nextCheckAt"] > to_iso(stack.now())

    code, _, err = cli("redrive", "OP-CANCELLING")
    assert (code, err) == (0, ""), err
    after = stack.order("OP-CANCELLING")
    assert (after["status"], after["cancel"], after.get("generation")) == ("CANCELLING", before["cancel"], None)
    assert after["nextCheckAt"] <= to_iso(utc_now())

    sweep(stack, KICC)
    keys = {r.body["shopTransactionId"] for r in kicc_revises(stack, pg_cno)}
    assert keys == {before["cancel"]["key"]}, "the cancel must be re-sent under its recorded key"
    assert len(kicc_revises(stack, pg_cno)) == 2


def test_redrive_refuses_an_order_a_sweep_is_checking(stack: LocalStack, cli) -> None:
    item = stack.register("OP-LEASED", TEEMO, "1000")
    store = DynamoDBOrderStore(stack.client("dynamodb"), stack.table, due_index="due-index", audit_index="audit-index")
    now = utc_now()
    store.claim(items.claim("OP-LEASED", items.Due(item["sweepKey"], to_iso(now), to_iso(now)), token="sweep-other:1",
                            now=to_iso(now), lease_until=to_iso(now + timedelta(minutes=2))))
    before = stack.order("OP-LEASED")

    code, _, err = cli("redrive", "OP-LEASED")
    assert code == EXIT_CONFLICT
    assert "being checked by sweep sweep-other:1" in err
    assert stack.order("OP-LEASED") == before


def test_a_sweep_deciding_the_order_while_we_look_is_never_overwritten(
    stack: LocalStack, published: Published, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    add_kicc(stack, "OP-RACE", [kicc.approved()])
    interfere_after_read(monkeypatch, lambda: sweep(stack, KICC))

    code, _, err = cli("redrive", "OP-RACE")
    assert code == EXIT_CONFLICT
    assert "changed while we looked" in err and "PENDING -> APPROVED" in err
    item = stack.order("OP-RACE")
    assert item["status"] == "APPROVED"
    assert not {"sweepKey", "nextCheckAt", "generation"} & set(item), "the decided order was put back in the index"
    assert published.only("OP-RACE")["eventId"] == "OP-RACE:APPROVED"


def test_two_operators_redriving_one_decided_order_start_one_generation(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    add_teemopay(stack, "OP-TWO", [teemopay.failed()])
    sweep(stack, TEEMO)
    assert stack.order("OP-TWO")["status"] == "FAILED"
    other_operator: list[int] = []
    interfere_after_read(monkeypatch, lambda: other_operator.append(main(["redrive", "OP-TWO"])))

    code, _, err = cli("redrive", "OP-TWO")
    assert other_operator == [0]
    assert code == EXIT_CONFLICT and "FAILED -> PENDING" in err
    item = stack.order("OP-TWO")
    assert (item["status"], item["generation"]) == ("PENDING", 1)
    assert sum("redrive" in line for line in item["history"]) == 1


# -- review ------------------------------------------------------------------------------------


def test_review_lists_exactly_the_orders_in_review(stack: LocalStack, cli) -> None:
    add_kicc(stack, "OP-R-REFUSED", [kicc.approved(amount=1100)], cancel_script=[kicc.refuse()])
    add_kicc(stack, "OP-R-PAID", [kicc.approved()])
    add_teemopay(stack, "OP-R-OVER", [teemopay.paid(amount="1500.00")])
    add_teemopay(stack, "OP-R-WAIT", [teemopay.pending()])
    add_teemopay(stack, "OP-R-DECLINED", [teemopay.failed()])
    now = to_iso(stack.now())
    stack.client("dynamodb").put_item(TableName=stack.table, Item=to_item({
        "orderId": "OP-R-BROKEN", "provider": KICC, "status": "PENDING", "amount": -5, "currency": "KRW",
        "createdAt": now, "sweepKey": f"{KICC}#0", "nextCheckAt": now}))
    sweep(stack, KICC)
    sweep(stack, TEEMO)
    expected = {"OP-R-REFUSED": "CANCEL_REFUSED", "OP-R-OVER": "AMOUNT_MISMATCH", "OP-R-BROKEN": "INVALID_ORDER"}
    assert {i["orderId"] for i in stack.orders() if i["status"] == "REVIEW"} == set(expected)

    code, out, err = cli("review", "--json")
    rows = json.loads(out)
    assert code == 0
    assert {r["orderId"]: r["reason"] for r in rows} == expected
    assert all(r["eventId"] == f"{r['orderId']}:REVIEW" and r["occurredAt"] for r in rows)

    # One item per Scan page: most pages hold no match, and the listing must still go on.
    code, out, _ = cli("review", "--json", "--page-size", "1")
    assert (code, json.loads(out)) == (0, rows)

    code, out, _ = cli("review", "--json", "--provider", TEEMO)
    assert [r["orderId"] for r in json.loads(out)] == ["OP-R-OVER"]

    code, out, err = cli("review")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["orderId", "provider", "merchantId", "status", "reason", "occurredAt",
                                              "supersedes"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(expected)
    assert all(line.split()[4] == expected[line.split()[0]] for line in lines[1:])
    assert "3 order(s) in REVIEW" in err


def test_late_payments_are_listed_with_what_they_supersede_and_show_tells_the_audits(stack: LocalStack, cli) -> None:
    expires = {"expires_at": stack.now() + timedelta(minutes=1)}
    pg_cno = add_kicc(stack, "OP-L-KICC", [kicc.pending()], **expires)
    add_teemopay(stack, "OP-L-TEEMO", [teemopay.not_found()], **expires)
    add_teemopay(stack, "OP-L-NONE", [teemopay.not_found()], **expires)
    add_teemopay(stack, "OP-L-OVER", [teemopay.paid(amount="1500.00")])
    stack.advance(6 * 60 + 5)  # past the final check
    sweep(stack, KICC)
    sweep(stack, TEEMO)

    code, out, _ = cli("show", "OP-L-NONE")
    audits = next(line for line in out.splitlines() if line.strip().startswith("audits"))
    decided = stack.order("OP-L-NONE")
    assert audits.split(None, 1)[1] == (f"next {decided['auditAt']} in {decided['auditKey']} (not due yet; "
                                        "schedule 3600 s, 86400 s after the decision)")

    stack.kicc.rescript(pg_cno, [kicc.approved()])
    stack.teemopay.rescript("OP-L-TEEMO", [teemopay.paid()])
    stack.advance(3600 + 60)
    sweep(stack, KICC)
    sweep(stack, TEEMO)
    stack.advance(60)
    sweep(stack, KICC)  # the late payment's cancel confirmed

    code, out, err = cli("review", "--late-payments", "--json")
    rows = {row["orderId"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == {"OP-L-KICC", "OP-L-TEEMO"}, rows
    assert (rows["OP-L-KICC"]["status"], rows["OP-L-KICC"]["eventId"], rows["OP-L-KICC"]["supersedes"]) == (
        "CANCELLED", "OP-L-KICC:CANCELLED:1", "OP-L-KICC:FAILED")
    assert (rows["OP-L-TEEMO"]["status"], rows["OP-L-TEEMO"]["supersedes"]) == ("REVIEW", "OP-L-TEEMO:FAILED")
    code, out, err = cli("review", "--late-payments")
    assert "2 order(s) with a late payment" in err
    assert "OP-L-KICC:FAILED" in out and "OP-L-TEEMO:FAILED" in out
    code, out, _ = cli("review", "--json")
    assert {row["orderId"] for row in json.loads(out)} == {"OP-L-TEEMO", "OP-L-OVER"}, "REVIEW only, late or not"
    code, out, _ = cli("show", "OP-L-KICC")
    assert "supersedes OP-L-KICC:FAILED" in out and "  audits      - (none scheduled" in out


# -- republish ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider, order_id, script",
    [
        (TEEMO, "OP-P-OVER", [teemopay.paid(amount="1500.00")]),  # REVIEW: reported 1500, tradeNo
        (KICC, "OP-P-PAID", [kicc.approved()]),  # APPROVED: approvalDate, pgCno
    ],
)
def test_republish_sends_the_same_message_under_the_same_event_id(
    stack: LocalStack, published: Published, cli, provider: str, order_id: str, script: list[Any]
) -> None:
    (add_teemopay if provider == TEEMO else add_kicc)(stack, order_id, script)
    sweep(stack, provider)
    published.collect()
    original = [d for d in published.all if d.message["orderId"] == order_id]
    assert len(original) == 1 and "sweepKey" not in stack.order(order_id)

    code, out, err = cli("republish", order_id)
    assert (code, err) == (0, ""), err
    assert "rebuilt from the order's outcome record" in out
    again = published.collect()  # validated against the schema, topic and attributes checked
    assert len(again) == 1
    assert again[0].body == original[0].body, "subscribers must get the same message"
    assert (again[0].topic, again[0].attributes) == (original[0].topic, original[0].attributes)


def test_republish_of_an_outcome_still_in_the_outbox_publishes_it_and_confirms_it(
    stack: LocalStack, published: Published, cli
) -> None:
    add_teemopay(stack, "OP-OUTBOX", [teemopay.failed()])
    stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)
    sweep(stack, TEEMO)
    stack.faults.clear_faults()
    item = stack.order("OP-OUTBOX")
    assert item["status"] == "FAILED" and item["sweepKey"] and not published.collect()

    code, _, err = cli("redrive", "OP-OUTBOX")
    assert code == EXIT_CONFLICT and "not confirmed published yet" in err
    assert stack.order("OP-OUTBOX") == item

    code, out, err = cli("republish", "OP-OUTBOX")
    assert (code, err) == (0, ""), err
    assert "it has left the due index (the outbox)" in out
    delivered = published.collect()
    assert [d.message["eventId"] for d in delivered] == ["OP-OUTBOX:FAILED"]
    assert not {"sweepKey", "nextCheckAt", "leaseOwner", "leaseUntil"} & set(stack.order("OP-OUTBOX"))
    assert cli("redrive", "OP-OUTBOX")[0] == 0


def test_republish_needs_a_decided_order(stack: LocalStack, published: Published, cli) -> None:
    stack.register("OP-UNDECIDED", TEEMO, "1000", first_check_after=timedelta(hours=1))
    code, _, err = cli("republish", "OP-UNDECIDED")
    assert code == EXIT_CONFLICT and "has no outcome to re-publish" in err
    assert cli("republish", "OP-NOWHERE")[0] == EXIT_NOT_FOUND
    assert not published.collect()


def test_republish_refuses_a_record_it_cannot_rebuild_exactly(
    stack: LocalStack, published: Published, cli
) -> None:
    """An outcome recorded without the message's inputs (as before they were kept) is not
    re-published with guessed fields."""
    add_teemopay(stack, "OP-OLD", [teemopay.paid()])
    sweep(stack, TEEMO)
    published.collect()
    stack.client("dynamodb").update_item(
        TableName=stack.table, Key={"orderId": {"S": "OP-OLD"}}, UpdateExpression="REMOVE outcome.reported")
    code, _, err = cli("republish", "OP-OLD")
    assert code == EXIT_CONFLICT and "cannot rebuild its message exactly" in err and "reported" in err
    assert not published.collect()


def test_check_asks_each_orders_provider_function_now_through_lambda(
    stack: LocalStack, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """`paysweep check` reads each order to learn its provider, invokes that function through
    Lambda's API (MiniStack runs it, under the function's role), and prints what each answered; an
    unknown order is said without asking anybody, and makes the exit code 4. (This stack's roles
    lack MiniStack's `sns:PublishBatch` alias, so the function's publish is refused here and the
    outcome waits in the outbox: the e2e suite, which adds it, shows the publish.)"""
    pg_cno = "PG-OP-CHECK"
    stack.kicc.add_payment(pg_cno, "OP-CHECK", 1000, "KRW", script=[kicc.approved()])
    stack.register("OP-CHECK", KICC, "1000", "KRW", refs={"pgCno": pg_cno}, first_check_after=timedelta(hours=1))
    stack.teemopay.add_order("OP-CHECK-T", "1000", script=[teemopay.pending()])
    stack.register("OP-CHECK-T", TEEMO, "1000", "KRW", first_check_after=timedelta(hours=1))
    code, out, _ = cli("check", "OP-CHECK", "OP-CHECK-T", "OP-NOBODY", "--json")
    assert code == EXIT_NOT_FOUND
    rows = {row["orderId"]: row for row in json.loads(out)}
    assert (rows["OP-CHECK"]["provider"], rows["OP-CHECK"]["status"], rows["OP-CHECK"]["checked"]) == (KICC, "APPROVED", True)
    assert rows["OP-CHECK"]["outcome"]["eventId"] == stack.order("OP-CHECK")["outcome"]["eventId"] == "OP-CHECK:APPROVED"
    assert (rows["OP-CHECK-T"]["status"], rows["OP-CHECK-T"]["checked"], rows["OP-CHECK-T"]["nextCheckAt"] is not None) == (
        "PENDING", True, True)
    assert (rows["OP-NOBODY"]["provider"], rows["OP-NOBODY"]["reason"]) == (None, "NOT_FOUND")
    code, out, _ = cli("check", "OP-CHECK")
    assert code == 0 and "OP-CHECK:APPROVED" in out and "ALREADY_DECIDED" in out
    code, _, err = cli("check", "not an id")
    assert code == 2 and "nothing was checked" in err


def test_merchant_accounts_are_written_shown_and_listed_apart(stack: LocalStack, cli) -> None:
    """`register --merchant` writes the account; `show --merchant` shows only that account's order
    (another's is "not found" for it); `review --merchant` lists only that account's REVIEW."""
    code, out, _ = cli("register", "--order-id", "OP-M-B", "--provider", TEEMO, "--amount", "1000",
                       "--currency", "KRW", "--merchant", "seller-b")
    assert code == 0 and json.loads(out)["merchantId"] == "seller-b" and stack.order("OP-M-B")["merchantId"] == "seller-b"
    code, _, err = cli("register", "--order-id", "OP-M-BAD", "--provider", TEEMO, "--amount", "1000",
                       "--currency", "KRW", "--merchant", "seller b")
    assert code == 2 and "merchantId must be" in err and stack.order("OP-M-BAD") is None
    code, out, _ = cli("show", "OP-M-B", "--merchant", "seller-b")
    assert code == 0 and "seller-b" in out
    code, _, err = cli("show", "OP-M-B", "--merchant", "seller-c")
    assert code == EXIT_NOT_FOUND and "seller-c" in err
    for order_id, merchant in (("OP-M-RX", "seller-x"), ("OP-M-RY", "seller-y")):
        stack.teemopay.add_order(order_id, "1000", script=[teemopay.paid()])
        stack.register(order_id, TEEMO, "1000", "KRW", merchant_id=merchant)
    sweep(stack, TEEMO)  # the stack's secret holds neither account: both REVIEW INVALID_ORDER
    code, out, _ = cli("review", "--merchant", "seller-x", "--json")
    assert code == 0 and [(r["orderId"], r["merchantId"]) for r in json.loads(out)] == [("OP-M-RX", "seller-x")]
