"""`paysweep`: the command line for order writers and operators.

    paysweep register --order-id ORD-1 --provider kicc-wechatpay --amount 1000 --currency KRW --ref pgCno=PG1
    paysweep show ORD-1 [--json]          the order, its checks, transitions and outcome (--merchant M: only M's)
    paysweep redrive ORD-1                make it due now; a decided order is checked again
    paysweep review [--late-payments]     orders waiting for a person (REVIEW), or paid late (--merchant M)
    paysweep republish ORD-1              publish its outcome again, same eventId
    paysweep check ORD-1 [ORD-2 ...]      check orders now, as a sweep would (CONTRACT.md section 6)

Stack settings, each from its flag, else the environment variable the functions use, else the
deployed stack's outputs (--stack, default "paysweep"): the orders table (--table,
ORDERS_TABLE), the shard count (--shards, SWEEP_SHARDS) and the outcome topics
(--approved-topic-arn, APPROVED_TOPIC_ARN, ...), the provider functions (the ProviderFunctions
output). Credentials, region and AWS_ENDPOINT_URL are
the standard AWS SDK ones: against the local stack, `source .paysweep-local/env` first.

Exit codes: 0 done; 2 invalid input, or settings missing (no such stack, no credentials:
nothing written); 3 refused by the order's state, or it changed while we looked (nothing
written); 4 no such order (check: one of them); 5 DynamoDB, SNS or Lambda failed the request
after the SDK's retries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from paysweep.aws.publisher import SnsOutcomePublisher
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain.clock import parse_iso, to_iso, utc_now
from paysweep.domain.orders import InvalidOrder
from paysweep.domain.outcomes import Outcome
from paysweep.domain.providers import ProviderProfile
from paysweep.sweep.ports import StoreUnavailable
from paysweep.writer import DuplicateOrder, register_order

from paysweep_ops import operations, profiles, stack, views

EXIT_INVALID = 2
EXIT_CONFLICT = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
TOPIC_OUTPUTS = {o: f"{o.value.title()}TopicArn" for o in Outcome}
"""Stack output of each outcome's topic (CONTRACT.md section 3)."""


class Settings:
    """Stack settings from flags, else the functions' environment variables, else the stack's
    outputs; the stack is asked only when something is missing, and at most once."""

    def __init__(
        self,
        args: argparse.Namespace,
        environ: Mapping[str, str] | None = None,
        outputs: Callable[[str], dict[str, str]] = stack.stack_outputs,
    ) -> None:
        self._args = args
        self._environ = os.environ if environ is None else environ
        self._load_outputs = outputs
        self._outputs: dict[str, str] | None = None

    def _value(self, flag: str, variable: str, output: str) -> str:
        value = getattr(self._args, flag, None) or self._environ.get(variable, "").strip()
        if value:
            return str(value)
        if self._outputs is None:
            self._outputs = self._load_outputs(self._args.stack)
        if output not in self._outputs:
            option = "--" + flag.replace("_", "-")
            raise ValueError(f"stack {self._args.stack!r} has no output {output}; pass {option}")
        return self._outputs[output]

    @property
    def table(self) -> str:
        return self._value("table", "ORDERS_TABLE", "OrdersTableName")

    @property
    def audit_schedule(self) -> tuple[int, ...] | None:
        """The functions' AUDIT_SCHEDULE_SECONDS (empty: audits off), for `show`; None when
        neither the environment nor stack outputs already read say it (a display only: the
        stack is not asked for it alone)."""
        text = self._environ.get("AUDIT_SCHEDULE_SECONDS")
        if text is None and self._outputs is not None:
            text = self._outputs.get("AuditScheduleSeconds")
        if text is None:
            return None
        if text.strip() in ("", "off"):
            return ()
        try:
            return tuple(int(part) for part in text.split(","))
        except ValueError:
            return None

    @property
    def shards(self) -> int:
        text = self._value("shards", "SWEEP_SHARDS", "SweepShards")
        try:
            shards = int(text)
        except ValueError:
            raise ValueError(f"the shard count must be a whole number, got {text!r}") from None
        if shards < 1:
            raise ValueError(f"the shard count must be at least 1, got {shards}")
        return shards

    def topic_arn(self, outcome: Outcome) -> str:
        name = outcome.value
        return self._value(f"{name.lower()}_topic_arn", f"{name}_TOPIC_ARN", TOPIC_OUTPUTS[outcome])

    def provider_functions(self) -> dict[str, str]:
        """Provider id -> its function's name (PROVIDER_FUNCTIONS, else the ProviderFunctions
        output: a JSON object)."""
        text = self._value("provider_functions", "PROVIDER_FUNCTIONS", "ProviderFunctions")
        try:
            return {str(k): str(v) for k, v in json.loads(text).items()}
        except (ValueError, AttributeError):
            raise ValueError(f"ProviderFunctions must be a JSON object of provider id -> function name, "
                             f"got {text!r}") from None

    def store(self) -> DynamoDBOrderStore:
        # The operator's reads and writes use neither index; the names are the template's.
        return DynamoDBOrderStore(stack.dynamodb(), self.table, due_index="due-index", audit_index="audit-index")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal amount: {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _ref(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"a reference is NAME=VALUE, got {text!r}")
    return name, value


def _print(value: Any) -> None:
    print(json.dumps(value, default=str, ensure_ascii=False, indent=2))


def provider_profile(provider: str, path: Path | None) -> ProviderProfile | None:
    """The provider's profile, so the writer checks its rules too: from `--profile`, else the
    function folders' (`profiles.discover`); None, said on stderr, when there is none."""
    if path is not None:
        profile = profiles.load_profile(path)
        if profile.provider_id != provider:
            raise ValueError(f"{path} is the profile of {profile.provider_id}, not of {provider}")
        return profile
    found = profiles.discover().get(provider)
    if found is None:
        print(f"paysweep: no profile of {provider} found (functions/*/{profiles.PATTERN}, --profile): the order is "
              "checked against the contract's common rules only; the sweep checks the provider's own", file=sys.stderr)
    return found


def cmd_register(args: argparse.Namespace) -> int:
    settings = Settings(args)
    profile = provider_profile(args.provider, args.profile)
    if args.pg_cno is not None:
        print("paysweep: --pg-cno is deprecated: use --ref pgCno=VALUE", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # said above, in the command's own terms
        item = register_order(
            table_name=settings.table,
            shards=settings.shards,
            order_id=args.order_id,
            provider=args.provider,
            amount=args.amount,
            currency=args.currency,
            refs=dict(args.ref),
            profile=profile,
            pg_cno=args.pg_cno,
            expires_at=parse_iso(args.expires_at) if args.expires_at else None,
            merchant_id=args.merchant,
        )
    _print(item)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = Settings(args)
    item = operations.read_order(settings.store(), args.order_id, args.merchant)
    if args.json:
        _print(views.order_json(item))
    else:
        print(views.render_order(item, to_iso(utc_now()), settings.audit_schedule))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = Settings(args)
    rows = operations.check(settings.store(), args.order_ids, settings.provider_functions, stack.invoke_check)
    if args.json:
        _print(rows)
    else:
        print(views.render_checks(rows))
    return EXIT_NOT_FOUND if any(row["reason"] == "NOT_FOUND" for row in rows) else 0


def cmd_redrive(args: argparse.Namespace) -> int:
    settings = Settings(args)
    result = operations.redrive(settings.store(), args.order_id, shards=settings.shards, now=utc_now())
    print(views.render_redriven(result))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    items = operations.in_review(Settings(args).store(), provider=args.provider, merchant_id=args.merchant,
                                 page_size=args.page_size, late_payments=args.late_payments)
    rows = views.review_rows(items)
    if args.json:
        _print(rows)
    else:
        print(views.render_review(rows))
        what = "with a late payment" if args.late_payments else "in REVIEW"
        print(f"{len(rows)} order(s) {what}", file=sys.stderr)
    return 0


def cmd_republish(args: argparse.Namespace) -> int:
    settings = Settings(args)
    store = settings.store()
    recorded = operations.recorded_outcome(store, args.order_id)
    message = recorded.message
    publisher = SnsOutcomePublisher(stack.sns(), {message.outcome: settings.topic_arn(message.outcome)})
    operations.republish(store, publisher, recorded)
    source = "rebuilt from the order's outcome record"
    if recorded.in_outbox:
        source = "rebuilt from the order's outcome record; it has left the due index (the outbox)"
    print(f"{message.event_id}: published to the {message.outcome.value} topic, {source}")
    return 0


def _stack_flags() -> argparse.ArgumentParser:
    stack = argparse.ArgumentParser(add_help=False)
    stack.add_argument("--stack", default="paysweep",
                       help="CloudFormation stack whose outputs fill in missing settings")
    stack.add_argument("--table", help="orders table (else ORDERS_TABLE, else the OrdersTableName output)")
    stack.add_argument("--shards", type=int,
                       help="SweepShards of the stack (else SWEEP_SHARDS, else the output)")
    return stack


def parser() -> argparse.ArgumentParser:
    stack = _stack_flags()
    root = argparse.ArgumentParser(prog="paysweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)

    register = commands.add_parser("register", parents=[stack], help="validate and write a pending order")
    register.add_argument("--order-id", required=True)
    register.add_argument("--provider", required=True, help="the provider id (CONTRACT.md section 1)")
    register.add_argument("--amount", required=True, type=_decimal, help="major unit: 1000 (KRW), 12.03 (USD)")
    register.add_argument("--currency", required=True)
    register.add_argument("--ref", action="append", default=[], type=_ref, metavar="NAME=VALUE",
                          help="an order reference the provider needs (repeatable): --ref pgCno=PG1 for kicc-wechatpay")
    register.add_argument("--pg-cno", help="deprecated: --ref pgCno=VALUE")
    register.add_argument("--profile", type=Path,
                          help="the provider's profile module, whose rules are checked too (default: its "
                               f"functions/*/{profiles.PATTERN}, found from the current directory or the checkout)")
    register.add_argument("--expires-at", help="ISO-8601 with offset; default: the provider's window")
    register.add_argument("--merchant", metavar="MERCHANT_ID",
                          help="the merchant account the order is paid to (merchantId; default: the provider's default)")
    register.set_defaults(run=cmd_register)

    show = commands.add_parser(
        "show", parents=[stack], help="an order: status, lease, last check, outcome, history",
        description="Show one order as the sweep sees it (a consistent read). Exit 4 if there is none.",
    )
    show.add_argument("order_id", metavar="ORDER_ID")
    show.add_argument("--json", action="store_true", help="the whole item as JSON (amount: an exact string)")
    show.add_argument("--merchant", metavar="MERCHANT_ID", help="only an order of this merchant account (else exit 4)")
    show.set_defaults(run=cmd_show)

    redrive = commands.add_parser(
        "redrive", parents=[stack], help="make an order due now; a decided order is checked again",
        description=(
            "PENDING or CANCELLING: the order becomes due now (nextCheckAt; its cancel intent and key are "
            "kept). APPROVED, FAILED, CANCELLED or REVIEW: the order goes back to PENDING as its next "
            "generation, due now; the next sweep checks it once more and publishes the new decision as "
            "{orderId}:{outcome}:{generation} (a new cancel gets a new key). An order past its expiry is "
            "decided by that one check. Refused (exit 3, nothing written) while a sweep holds the order's "
            "lease (it is being checked right now; a lease lasts one provider call plus a margin, about "
            "80 s by default: try again then), while a decided order's outcome is not confirmed published "
            "(run republish first), and when the order changed between our read and our write. There is "
            "no --force: overriding a live lease would let two sweeps work on one order at once."
        ),
    )
    redrive.add_argument("order_id", metavar="ORDER_ID")
    redrive.set_defaults(run=cmd_redrive)

    review = commands.add_parser(
        "review", parents=[stack], help="list the orders in REVIEW",
        description=(
            "List the orders in REVIEW: orderId, provider, status, reason, occurredAt. The table has no index on "
            "status, so this scans the whole table (eventually consistent, filtered server-side): it reads, "
            "and is billed for, every item. Fine for an operator now and then; never script it in a loop."
        ),
    )
    review.add_argument("--provider", help="only this provider's orders (still a full scan)")
    review.add_argument("--merchant", metavar="MERCHANT_ID", help="only this merchant account's orders (still a full scan)")
    review.add_argument("--page-size", type=_positive, default=1000,
                        help="items read per Scan request (default 1000)")
    review.add_argument("--late-payments", action="store_true",
                        help="instead: every order an audit found paid after its decision (CANCELLED or REVIEW "
                             "LATE_PAYMENT), with the eventId its correction supersedes")
    review.add_argument("--json", action="store_true", help="a JSON list, with eventId and supersedes")
    review.set_defaults(run=cmd_review)

    republish = commands.add_parser(
        "republish", parents=[stack], help="publish a decided order's outcome again, same eventId",
        description=(
            "Publish a terminal order's outcome again to its topic under the same eventId (subscribers "
            "de-duplicate on it). The message is rebuilt by the product's message builder from the order's "
            "outcome record, the same body as first published; an outcome not yet confirmed published "
            "(still in the due index) is confirmed, and the order leaves the index. Exit 3 if the order is not "
            "decided."
        ),
    )
    republish.add_argument("order_id", metavar="ORDER_ID")
    for outcome in Outcome:
        republish.add_argument(
            f"--{outcome.value.lower()}-topic-arn",
            help=f"else {outcome.value}_TOPIC_ARN, else the {TOPIC_OUTPUTS[outcome]} output",
        )
    republish.set_defaults(run=cmd_republish)

    check = commands.add_parser(
        "check", parents=[stack], help="check orders now, as a sweep would, due or not",
        description=(
            "Ask each order's provider function to check it now (CONTRACT.md section 6): claimed under the "
            "sweep's lease, the provider asked, decided by the same rules, published under the same eventId, "
            "all before the answer. A decided order is answered from its record (ALREADY_DECIDED), an order a "
            "sweep holds is not asked about twice (LEASED). 1 to 20 order ids; exit 4 when one is not found. "
            "Needs dynamodb:GetItem on the table and lambda:InvokeFunction on the functions (the stack's "
            "CheckRequesterPolicyArn grants the latter)."
        ),
    )
    check.add_argument("order_ids", metavar="ORDER_ID", nargs="+")
    check.add_argument("--provider-functions", help="else PROVIDER_FUNCTIONS, else the ProviderFunctions output: "
                                                    '{"provider id": "function name", ...}')
    check.add_argument("--json", action="store_true", help="the functions' answers as JSON, with each provider")
    check.set_defaults(run=cmd_check)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InvalidOrder as error:
        return _fail(f"invalid order, nothing written: {'; '.join(error.problems)}", EXIT_INVALID)
    except (DuplicateOrder, operations.Refused) as error:
        return _fail(str(error), EXIT_CONFLICT)
    except operations.OrderNotFound as error:
        return _fail(str(error), EXIT_NOT_FOUND)
    except (StoreUnavailable, operations.PublishFailed) as error:
        return _fail(str(error), EXIT_UNAVAILABLE)
    except stack.InvokeFailed as error:
        return _fail(str(error), EXIT_UNAVAILABLE)
    except stack.CheckRefused as error:
        return _fail(f"the function refused the check, nothing was checked: {error}", EXIT_INVALID)
    except (ValueError, stack.StackUnavailable, profiles.ProfileUnusable) as error:
        return _fail(str(error), EXIT_INVALID)


def _fail(message: str, code: int) -> int:
    print(f"paysweep: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
