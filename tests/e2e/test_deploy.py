"""What `sam deploy` created in MiniStack: the whole stack, less exactly the resources the README
names as removed, with the README's own commands."""

from __future__ import annotations

import re
from typing import Any

from e2e.deployed import E2EStack
from paysweep_local.providers import PROVIDERS
from paysweep_local.sam_deploy import README, parameter_overrides, readme_commands
from samtranslator.yaml_helper import yaml_parse

EXPECTED_REMOVED = {
    "KiccWechatPayProviderErrorRateAlarm", "TeemoPayProviderErrorRateAlarm", "TossPaymentsProviderErrorRateAlarm",
}
"""Resources MiniStack cannot create (metric-math alarms). A new entry must be added here and to
the README's MiniStack section on purpose: the list cannot grow unnoticed."""


def readme_removed() -> set[str]:
    """The logical ids the README's "Removed for MiniStack" list names."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## The local stack", 1)[1].split("\n## ", 1)[0]
    listed = section.split("**Removed for MiniStack**", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`([A-Za-z0-9]+)`", listed)) & set(template_resources())


def template_resources() -> dict[str, Any]:
    return dict(yaml_parse(README.with_name("template.yaml").read_text(encoding="utf-8"))["Resources"])


def test_the_local_deploy_removed_exactly_the_listed_resources(stack: E2EStack) -> None:
    removed = set(stack.deployment.removed)
    assert removed == EXPECTED_REMOVED, f"the local deploy removed {sorted(removed)}"
    assert readme_removed() == removed, f"README lists {sorted(readme_removed())} as removed for MiniStack"


def test_everything_else_of_the_template_was_created(stack: E2EStack) -> None:
    """Tables, topics, layer, functions, schedules, alarms, dashboard, log groups, KMS key."""
    cloudformation = stack.client("cloudformation")
    created: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack.deployment.stack_name):
        for resource in page["StackResourceSummaries"]:
            created[resource["LogicalResourceId"]] = resource["ResourceStatus"]
    wanted = {name for name, body in template_resources().items() if "Condition" not in body} - EXPECTED_REMOVED
    # SAM names a layer version's resource after a hash of its content (CommonLayer1a2b3c...).
    missing = {name for name in wanted if not any(c == name or c.startswith(f"{name}") for c in created)}
    assert not missing, f"not created by sam deploy in MiniStack: {sorted(missing)}"
    failed = {name: status for name, status in created.items() if not status.endswith("_COMPLETE")}
    assert not failed, failed
    alarms = stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    template_alarms = {name for name, body in template_resources().items() if body["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) == len(template_alarms - EXPECTED_REMOVED), [a["AlarmName"] for a in alarms]
    assert set(stack.schedules()) == {stack.function_name(p.id) for p in PROVIDERS}


def test_the_commands_run_are_the_readmes_with_local_flags_only(stack: E2EStack) -> None:
    readme = readme_commands()
    build, deploy = stack.deployment.commands
    assert build[: len(readme.build)] == readme.build
    assert all(word.startswith(("SAM=", "BUILD_ARGS=")) for word in build[len(readme.build) :]), build
    documented = parameter_overrides(readme.deploy)
    deployed = parameter_overrides(deploy)
    assert set(documented) <= set(deployed), (documented, deployed)
    assert {k: v for k, v in documented.items() if "..." not in v}.items() <= deployed.items()
    flags = [word for word in readme.deploy[1:] if word.startswith("--") and word != "--parameter-overrides"]
    assert all(flag in deploy for flag in flags), f"README flags missing from the run: {flags}"
    assert deployed["Architecture"] == "x86_64" and deployed["AllowInsecureHttp"] == "false"
