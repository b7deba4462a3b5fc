"""The sample events in `events/` against what AWS delivers for `template.yaml`'s schedules.

Shared by the unit contract (the samples against the template's `Input`, no stack) and the
integration contract (the deployed stack's schedules against the same expectation), so both
compare with one rule: a Scheduler context attribute stands for any value of its documented
form, and everything else must be equal, key for key.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"
SAMPLE_EVENTS = ("schedule.json", "schedule-shards-0-1.json", "eventbridge-rule.json")
"""Every sample event a handler must accept."""
SCHEDULER_ATTRIBUTES = {
    "<aws.scheduler.schedule-arn>",
    "<aws.scheduler.scheduled-time>",
    "<aws.scheduler.execution-id>",
    "<aws.scheduler.attempt-number>",
}
"""The context attributes EventBridge Scheduler documents for a target's Input."""
MARK = "context attribute "
"""Stands for a Scheduler context attribute in the expected event (no sample event holds it)."""
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def schedule_inputs() -> dict[str, str]:
    """Function logical id -> the Input of its ScheduleV2 event in template.yaml (as SAM parses it)."""
    inputs = {}
    for logical_id, resource in yaml_parse(TEMPLATE.read_text(encoding="utf-8"))["Resources"].items():
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


def expected_schedule_event() -> Any:
    """What Scheduler delivers for the template's Input (every function's is the same)."""
    return scheduler_delivery(next(iter(schedule_inputs().values())))


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
        attribute = expected.removeprefix(MARK)
        return [] if is_scheduler_value(attribute, actual) else [f"{where}: {actual!r} is no {attribute}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return [f"{where}: keys {sorted(actual)} instead of {sorted(expected)}"]
        return [m for key in expected for m in mismatches(expected[key], actual[key], f"{where}.{key}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = enumerate(zip(expected, actual, strict=True))
        return [m for i, (e, a) in pairs for m in mismatches(e, a, f"{where}[{i}]")]
    return [] if (type(expected), expected) == (type(actual), actual) else [f"{where}: {actual!r} instead of {expected!r}"]


def read_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))
