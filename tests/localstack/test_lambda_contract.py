"""What the product assumes about Lambda, checked against AWS's own parts, not against a stand-in.

A stand-in written with the code shares its beliefs: 612 tests once passed while every real
invocation would have crashed on `context.get_remaining_time_in_ms` (the stand-in had the same
wrong name). So:

* every attribute the product uses on the Lambda context (read from its source with `ast`), and
  every attribute of Powertools' `LambdaContext` type it annotates with, exists on the context
  class of `awslambdaric`, the runtime client Lambda's Python runtime uses;
* the sample events in `events/` are what EventBridge Scheduler delivers for the template's
  `Input` (its documented context attributes filled in), or EventBridge's documented rule event;
* each real handler, run by awslambdaric against the local stack, returns a summary for each.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext as PowertoolsContext
from awslambdaric.lambda_context import LambdaContext as RuntimeContext
from paysweep_local.deploy import DeployedStack, load_template
from paysweep_local.emulator import Emulator
from paysweep_local.functions import LocalFunction, schedule_event

REPO = Path(__file__).resolve().parents[2]
PRODUCT_SOURCES = sorted([*(REPO / "layers").rglob("*.py"), *(REPO / "functions").rglob("*.py")])
EVENTS = REPO / "events"
SCHEDULER_ATTRIBUTES = {
    "<aws.scheduler.schedule-arn>",
    "<aws.scheduler.scheduled-time>",
    "<aws.scheduler.execution-id>",
    "<aws.scheduler.attempt-number>",
}
"""The context attributes EventBridge Scheduler documents for a target's Input."""
PROVIDERS = {"kicc_wechatpay": "kicc-wechatpay", "teemopay": "teemopay"}
MARK = "context attribute "
"""Stands for a Scheduler context attribute in the expected event (no sample event holds it)."""
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


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


def context_uses(path: Path) -> dict[str, list[str]]:
    """Attribute name -> where, for every `param.attr` on a parameter annotated LambdaContext."""
    uses: dict[str, list[str]] = {}
    for function in functions_of(ast.parse(path.read_text(), str(path))):
        arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
        names = {a.arg for a in arguments if annotated_as_lambda_context(a.annotation)}
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
        for argument in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
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


def schedule_inputs() -> dict[str, str]:
    """Function logical id -> the Input of its ScheduleV2 event in template.yaml."""
    inputs = {}
    for logical_id, resource in load_template(REPO / "template.yaml")["Resources"].items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "ScheduleV2":
                inputs[logical_id] = event["Properties"]["Input"]
    return inputs


def scheduler_delivery(template_input: str) -> Any:
    """The Input with each documented context attribute replaced by a marker naming it."""
    used = set(re.findall(r"<aws\.scheduler\.[a-z-]+>", template_input))
    assert used <= SCHEDULER_ATTRIBUTES, f"undocumented scheduler attributes: {used - SCHEDULER_ATTRIBUTES}"
    for attribute in used:
        template_input = template_input.replace(attribute, f"{MARK}{attribute}")
    return json.loads(template_input)


def is_scheduler_value(attribute: str, value: Any) -> bool:
    """Whether `value` is a sample of what Scheduler puts in place of `attribute`."""
    if not isinstance(value, str):
        return False
    if attribute == "<aws.scheduler.execution-id>":
        return bool(UUID.match(value))
    if attribute == "<aws.scheduler.scheduled-time>":
        try:
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return False
        return True
    if attribute == "<aws.scheduler.attempt-number>":
        return value.isdigit()
    return value.startswith("arn:aws:scheduler:")


def mismatches(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Structural differences: same keys, same list lengths, equal leaves, context values in form."""
    if isinstance(expected, str) and expected.startswith(MARK):
        return [] if is_scheduler_value(expected.removeprefix(MARK), actual) else [f"{where}: {actual!r} is no {expected.removeprefix(MARK)}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return [f"{where}: keys {sorted(actual)} instead of {sorted(expected)}"]
        return [m for key in expected for m in mismatches(expected[key], actual[key], f"{where}.{key}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [m for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for m in mismatches(e, a, f"{where}[{i}]")]
    return [] if (type(expected), expected) == (type(actual), actual) else [f"{where}: {actual!r} instead of {expected!r}"]


def read_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_the_template_has_one_schedule_per_function_with_the_same_input() -> None:
    inputs = schedule_inputs()
    assert len(inputs) == 2 and len(set(inputs.values())) == 1, inputs


def test_the_sample_schedule_event_is_what_scheduler_sends_for_the_templates_input() -> None:
    for logical_id, template_input in schedule_inputs().items():
        assert mismatches(scheduler_delivery(template_input), read_event("schedule.json")) == [], logical_id


def test_the_scale_out_sample_is_the_schedule_event_with_two_shards() -> None:
    for template_input in schedule_inputs().values():
        expected = {**scheduler_delivery(template_input), "shards": [0, 1]}
        assert mismatches(expected, read_event("schedule-shards-0-1.json")) == []


def test_the_structural_comparison_catches_drift() -> None:
    expected = scheduler_delivery(next(iter(schedule_inputs().values())))
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


def test_the_stacks_schedule_event_is_the_sample_schedule_event(deployed: DeployedStack) -> None:
    """The deployed schedules hold the template's Input, and the local stack fills it in as Scheduler does."""
    expected = scheduler_delivery(next(iter(schedule_inputs().values())))
    assert len(deployed.schedules) == 2
    for schedule in deployed.schedules:
        assert mismatches(expected, schedule_event(schedule)) == []


# -- the real handlers accept each event --------------------------------------------------------------


@pytest.mark.parametrize("folder", ["kicc_wechatpay", "teemopay"])
def test_each_real_handler_returns_a_summary_for_each_sample_event(
    emulator: Emulator, deployed: DeployedStack, folder: str, tmp_path: Path
) -> None:
    info = deployed.function(folder)
    with LocalFunction(info, emulator, log_dir=tmp_path) as function:
        for name in ("schedule.json", "schedule-shards-0-1.json", "eventbridge-rule.json"):
            event = read_event(name)
            answer = function.invoke(event, timeout_seconds=60)
            assert answer.ok, f"{name}: {answer.error}"
            summary = answer.result
            assert summary["provider"] == PROVIDERS[folder]
            assert {"checked", "outcomes", "leftDue", "complete", "errors"} <= set(summary), name
            records = answer.log_records("sweep finished")
            assert len(records) == 1 and records[0]["correlation_id"] == event.get("executionId", event.get("id"))
