"""`paysweep`: the command line for order writers and operators.

    paysweep register --order-id ORD-1 --provider kicc-wechatpay --amount 1000 --currency KRW --pg-cno PG1

The table and shard count come from --table/--shards, or from the deployed stack's outputs
(--stack, default "paysweep"). AWS credentials, region and AWS_ENDPOINT_URL (for the local
stack) are the standard AWS SDK ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3

from paysweep.clock import parse_iso
from paysweep.orders import InvalidOrder
from paysweep.providers import PROFILES
from paysweep.writer import DuplicateOrder, register_order

EXIT_INVALID = 2
EXIT_CONFLICT = 3


@dataclass(frozen=True)
class StackSettings:
    table_name: str
    shards: int


def stack_settings(args: argparse.Namespace) -> StackSettings:
    """Table and shards from the flags, else from the stack's outputs."""
    if args.table and args.shards:
        return StackSettings(args.table, args.shards)
    stack = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackSettings(args.table or outputs["OrdersTableName"], args.shards or int(outputs["SweepShards"]))


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal amount: {text!r}") from None


def _print(value: Any) -> None:
    print(json.dumps(value, default=str, ensure_ascii=False, indent=2))


def cmd_register(args: argparse.Namespace) -> int:
    settings = stack_settings(args)
    item = register_order(
        table_name=settings.table_name,
        shards=settings.shards,
        order_id=args.order_id,
        provider=args.provider,
        amount=args.amount,
        currency=args.currency,
        pg_cno=args.pg_cno,
        expires_at=parse_iso(args.expires_at) if args.expires_at else None,
    )
    _print(item)
    return 0


def parser() -> argparse.ArgumentParser:
    stack = argparse.ArgumentParser(add_help=False)
    stack.add_argument("--stack", default="paysweep", help="CloudFormation stack to read the table and shards from")
    stack.add_argument("--table", help="orders table name (default: the stack's OrdersTableName output)")
    stack.add_argument("--shards", type=int, help="SweepShards of the stack (default: the stack's output)")
    root = argparse.ArgumentParser(prog="paysweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)

    register = commands.add_parser("register", parents=[stack], help="validate and write a pending order")
    register.add_argument("--order-id", required=True)
    register.add_argument("--provider", required=True, choices=sorted(PROFILES))
    register.add_argument("--amount", required=True, type=_decimal, help="major unit: 1000 (KRW), 12.03 (USD)")
    register.add_argument("--currency", required=True)
    register.add_argument("--pg-cno", help="KICC pgCno (required for kicc-wechatpay)")
    register.add_argument("--expires-at", help="ISO-8601 with offset; default: the provider's window")
    register.set_defaults(run=cmd_register)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InvalidOrder as error:
        print(f"paysweep: invalid order, nothing written: {'; '.join(error.problems)}", file=sys.stderr)
        return EXIT_INVALID
    except DuplicateOrder as error:
        print(f"paysweep: {error}", file=sys.stderr)
        return EXIT_CONFLICT
    except ValueError as error:
        print(f"paysweep: {error}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
