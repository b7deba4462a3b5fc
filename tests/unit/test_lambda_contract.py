"""What the product assumes about Lambda, checked against AWS's own parts, not against a stand-in.

A stand-in written with the code shares its beliefs: 612 tests once passed while every real
invocation would have crashed on `context.get_remaining_time_in_ms` (the stand-in had the same
wrong name). So:

* every attribute the product uses on the Lambda context (read from its source with `ast`), and
  every attribute of Powertools' `LambdaContext` type it annotates with, exists on the context
  class of `awslambdaric`, the runtime client Lambda's Python runtime uses;
* the sample events in `events/` are what EventBridge Scheduler delivers for the template's
  `Input` (its documented context attributes filled in), or EventBridge's documented rule event.

The deployed stack's side (its schedules' events, each real handler on each sample) is in
tests/integration/test_lambda_contract.py.
"""

from __future__ import annotations

import ast
import inspect
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from aws_lambda_powertools.utilities.typing import LambdaContext as PowertoolsContext
from awslambdaric.lambda_context import LambdaContext as RuntimeContext
from samtranslator.yaml_helper import yaml_parse
from support.lambda_events import (
    REPO,
    TEMPLATE,
    UUID,
    expected_schedule_event,
    mismatches,
    read_event,
    schedule_inputs,
    scheduler_delivery,
)

PRODUCT_SOURCES = sorted([*(REPO / "layers").rglob("*.py"), *(REPO / "functions").rglob("*.py")])


# -- the Lambda context ---------------------------------------------------------------------------


def annotated_as_lambda_context(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = annotation.value if isinstance(annotation, ast.Constant) else ast.unparse(annotation)
    return isinstance(text, str) and text.split(".")[-1] == "LambdaContext"


def functions_of(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def arguments_of(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    return [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]


def context_uses(path: Path) -> dict[str, list[str]]:
    """Attribute name -> where, for every `param.attr` on a parameter annotated LambdaContext."""
    uses: dict[str, list[str]] = {}
    for function in functions_of(ast.parse(path.read_text(), str(path))):
        names = {a.arg for a in arguments_of(function) if annotated_as_lambda_context(a.annotation)}
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
                uses.setdefault(node.attr, []).append(f"{path}:{node.lineno}")
    return uses


def product_context_uses() -> dict[str, list[str]]:
    uses: dict[str, list[str]] = {}
    for path in PRODUCT_SOURCES:
        for attribute, places in context_uses(path).items():
            uses.setdefault(attribute, []).extend(places)
    return uses


def runtime_context() -> RuntimeContext:
    """A context as awslambdaric's bootstrap builds it for an invocation."""
    deadline_ms = int(time.time() * 1000) + 30_000
    return RuntimeContext("req-1", None, None, deadline_ms, "arn:aws:lambda:us-east-1:123456789012:function:f")


def test_no_context_parameter_of_the_product_escapes_the_scan() -> None:
    """The scan follows the LambdaContext annotation; a `context` parameter typed loosely (or not
    at all) could carry the Lambda context past it."""
    loose = [
        f"{path.relative_to(REPO)}:{function.lineno} {function.name}"
        for path in PRODUCT_SOURCES
        for function in functions_of(ast.parse(path.read_text()))
        for argument in arguments_of(function)
        if argument.arg in ("context", "ctx", "lambda_context")
        and (argument.annotation is None or ast.unparse(argument.annotation) in {"Any", "typing.Any", "object"})
    ]
    assert not loose


def test_every_context_attribute_the_product_uses_exists_on_the_runtime_clients_context() -> None:
    uses = product_context_uses()
    context = runtime_context()
    missing = {attribute: places for attribute, places in uses.items() if not hasattr(context, attribute)}
    assert not missing, f"used by the product, absent from awslambdaric's LambdaContext: {missing}"
    assert "get_remaining_time_in_millis" in uses, f"the scan found no deadline use: {uses}"


def test_powertools_lambda_context_type_matches_the_runtime_clients_context() -> None:
    """The product is type-checked against Powertools' LambdaContext; Powertools itself reads the
    context (inject_lambda_context): every public name of that type must be real."""
    declared = {name: value for name, value in vars(PowertoolsContext).items() if not name.startswith("_")}
    assert {"aws_request_id", "function_name", "get_remaining_time_in_millis"} <= set(declared)
    context = runtime_context()
    missing = sorted(name for name in declared if not hasattr(context, name))
    assert not missing, f"declared by Powertools' LambdaContext, absent from awslambdaric's: {missing}"
    methods = [name for name, value in declared.items() if isinstance(value, staticmethod) or inspect.isfunction(value)]
    assert methods and all(callable(getattr(context, name)) for name in methods)
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000


def test_the_scan_catches_a_wrong_context_attribute(tmp_path: Path) -> None:
    """The mistake that once shipped: the scan must report it."""
    source = tmp_path / "handler.py"
    source.write_text(
        "from aws_lambda_powertools.utilities.typing import LambdaContext\n"
        "def handler(event: dict, context: LambdaContext) -> int:\n"
        "    return context.get_remaining_time_in_ms()\n"
    )
    uses = context_uses(source)
    assert set(uses) == {"get_remaining_time_in_ms"}
    assert not hasattr(runtime_context(), "get_remaining_time_in_ms")


# -- the events ------------------------------------------------------------------------------------


def test_the_template_has_one_schedule_per_function_with_the_same_input() -> None:
    """Every function is swept on a schedule, and one sample event stands for all of them."""
    resources = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
    functions = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    inputs = schedule_inputs()
    assert set(inputs) == functions and len(functions) >= 2, inputs
    assert len(set(inputs.values())) == 1, inputs


def test_the_sample_schedule_event_is_what_scheduler_sends_for_the_templates_input() -> None:
    for logical_id, template_input in schedule_inputs().items():
        assert mismatches(scheduler_delivery(template_input), read_event("schedule.json")) == [], logical_id


def test_the_scale_out_sample_is_the_schedule_event_with_two_shards() -> None:
    for template_input in schedule_inputs().values():
        expected = {**scheduler_delivery(template_input), "shards": [0, 1]}
        assert mismatches(expected, read_event("schedule-shards-0-1.json")) == []


def test_the_structural_comparison_catches_drift() -> None:
    expected = expected_schedule_event()
    good = read_event("schedule.json")
    assert mismatches(expected, {**good, "executionId": "not-a-uuid"})
    assert mismatches(expected, {**good, "scheduledTime": "2026-11-22 03:14"})
    assert mismatches(expected, {**good, "shards": ["all"]})
    assert mismatches(expected, {k: v for k, v in good.items() if k != "shards"})


def test_the_rule_sample_is_an_eventbridge_scheduled_event() -> None:
    """EventBridge's documented envelope of a scheduled rule's event."""
    event = read_event("eventbridge-rule.json")
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["version"], event["detail-type"], event["source"], event["detail"]) == (
        "0", "Scheduled Event", "aws.events", {}
    )
    assert UUID.match(event["id"]) and re.fullmatch(r"\d{12}", event["account"])
    datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert [arn.split(":")[2:4] for arn in event["resources"]] == [["events", event["region"]]]
    assert all(":rule/" in arn for arn in event["resources"])
