"""How AWS really runs the template: asynchronous schedules, reserved concurrency, ARN parameters.

* EventBridge Scheduler invokes the functions asynchronously. Lambda's defaults for that (two
  retries of a failed sweep, a throttled tick kept queued up to 6 hours) make ticks run late and
  pile onto newer sweeps; each scheduled function must retry nothing and drop a tick older
  than one tick (the next tick sweeps everything due anyway).
* Reserved concurrency fails the deploy in an account that cannot spare it (new accounts have
  reduced quotas): none by default, after the SAM transform, with the default parameters.
* IAM grants name the parameters' exact strings: an alias instead of the topic key's ARN, or a
  secret's partial ARN (no 6-character suffix), is accepted by the service call but matches no
  grant, and every publish or sweep is denied. The parameters refuse them at deploy time.
  CloudFormation applies AllowedPattern to the whole value, hence `re.fullmatch` here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from template_support import provider_functions, resources_of_type

FINEST_TICK_SECONDS = 60
"""EventBridge Scheduler's finest schedule: rate expressions count whole minutes, cron has minute
granularity. So an event age within 60 s is within one tick whatever ScheduleRate is."""
LAMBDA_MIN_EVENT_AGE_SECONDS = 60
"""The least MaximumEventAgeInSeconds Lambda accepts (PutFunctionEventInvokeConfig: 60..21600)."""
RATE = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
NO_VALUE = {"Ref": "AWS::NoValue"}
ABSENT = object()
"""What a property resolves to when the template drops it (Ref AWS::NoValue)."""

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
SECRET_PARAMETERS = ("KiccSecretArn", "TeemoPaySecretArn", "TossSecretArn")


# -- the template as CloudFormation evaluates it ----------------------------------------------


def parameter_values(template: Mapping[str, Any], **overrides: str) -> dict[str, str]:
    """Every parameter's value as `Ref` gives it (a string), defaults unless overridden."""
    values = {
        name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec
    }
    values.update(overrides)
    return values


def evaluate(template: Mapping[str, Any], node: Any, values: Mapping[str, str]) -> Any:
    """A template fragment with Ref (to parameters), Fn::If, Fn::Equals, Fn::Not, Fn::And,
    Fn::Or and Condition evaluated; other intrinsics are left as written. ABSENT for NoValue."""
    if isinstance(node, list):
        items = [evaluate(template, item, values) for item in node]
        return [item for item in items if item is not ABSENT]
    if not isinstance(node, Mapping):
        return node
    if node == NO_VALUE:
        return ABSENT
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if set(node) == {"Condition"} and isinstance(node["Condition"], str):
        return evaluate(template, template["Conditions"][node["Condition"]], values)
    if set(node) == {"Fn::If"}:
        condition, when_true, when_false = node["Fn::If"]
        chosen = evaluate(template, template["Conditions"][condition], values)
        return evaluate(template, when_true if chosen else when_false, values)
    if set(node) == {"Fn::Equals"}:
        left, right = (evaluate(template, side, values) for side in node["Fn::Equals"])
        return str(left) == str(right)
    if set(node) == {"Fn::Not"}:
        return not evaluate(template, node["Fn::Not"][0], values)
    if set(node) == {"Fn::And"}:
        return all(evaluate(template, part, values) for part in node["Fn::And"])
    if set(node) == {"Fn::Or"}:
        return any(evaluate(template, part, values) for part in node["Fn::Or"])
    resolved = {key: evaluate(template, value, values) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not ABSENT}


def tick_seconds(expression: str) -> int:
    """Seconds between two ticks of a schedule expression (a cron ticks at most once a minute)."""
    match = RATE.fullmatch(expression.strip())
    if match:
        return int(match["value"]) * UNIT_SECONDS[match["unit"].rstrip("s")]
    return FINEST_TICK_SECONDS


# -- asynchronous invocation by the schedules -------------------------------------------------


def test_every_scheduled_function_retries_nothing_and_drops_a_tick_older_than_one_tick(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    tick = tick_seconds(str(template["Parameters"]["ScheduleRate"]["Default"]))
    bound = min(tick, FINEST_TICK_SECONDS)
    configs = resources_of_type(translated, "AWS::Lambda::EventInvokeConfig")
    problems: list[str] = []
    for name in provider_functions(template):
        mine = [
            body["Properties"]
            for body in configs.values()
            if body["Properties"].get("FunctionName") == {"Ref": name}
        ]
        if len(mine) != 1:
            problems.append(
                f"{name}: {len(mine)} AWS::Lambda::EventInvokeConfig after the SAM transform, expected 1"
            )
            continue
        config = mine[0]
        if config.get("Qualifier") != "$LATEST":
            problems.append(
                f"{name}: EventInvokeConfig is on {config.get('Qualifier')!r}, not $LATEST (what the schedule invokes)"
            )
        if config.get("MaximumRetryAttempts") != 0:
            problems.append(
                f"{name}: MaximumRetryAttempts {config.get('MaximumRetryAttempts')!r}, expected 0"
            )
        age = config.get("MaximumEventAgeInSeconds")
        if not (isinstance(age, int) and LAMBDA_MIN_EVENT_AGE_SECONDS <= age <= bound):
            problems.append(
                f"{name}: MaximumEventAgeInSeconds {age!r}, expected {LAMBDA_MIN_EVENT_AGE_SECONDS}..{bound} "
                f"(Lambda's least; the default tick is {tick} s and ScheduleRate may be as fine as "
                f"{FINEST_TICK_SECONDS} s)"
            )
    assert not problems, "asynchronous invocation from the schedules:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0/5 * * * ? *)", 60),
    ],
)
def test_tick_seconds_reads_schedule_expressions(expression: str, seconds: int) -> None:
    assert tick_seconds(expression) == seconds


# -- reserved concurrency ---------------------------------------------------------------------


def reserved_concurrency(
    template: Mapping[str, Any], translated: Mapping[str, Any], **overrides: str
) -> dict[str, Any]:
    values = parameter_values(template, **overrides)
    functions = resources_of_type(translated, "AWS::Lambda::Function")
    assert functions, "the SAM transform produced no AWS::Lambda::Function"
    return {
        name: evaluate(translated, body["Properties"].get("ReservedConcurrentExecutions", NO_VALUE), values)
        for name, body in functions.items()
    }


def test_no_function_reserves_concurrency_with_the_default_parameters(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    reserved = {
        name: value
        for name, value in reserved_concurrency(template, translated).items()
        if value is not ABSENT
    }
    assert not reserved, (
        f"ReservedConcurrentExecutions with the default parameters: {reserved}; a reservation fails the "
        "deploy in an account that cannot spare it (new accounts have reduced concurrency quotas)"
    )
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter.get("Default") == "", f"ReservedConcurrency must default to empty (none): {parameter}"
    assert "lease" in parameter.get("Description", ""), (
        "the ReservedConcurrency description must say why none is safe (leases keep overlapping sweeps apart)"
    )


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        ("1", True),
        ("3", True),
        ("120", True),
        ("0", False),
        ("03", False),
        ("-1", False),
        ("two", False),
        (" 3", False),
    ],
)
def test_reserved_concurrency_is_empty_or_at_least_one(
    template: dict[str, Any], value: str, allowed: bool
) -> None:
    """0 is Lambda's "throttle every invocation": it would stop the sweeps, so it is refused."""
    assert bool(pattern_of(template, "ReservedConcurrency").fullmatch(value)) is allowed, value


def test_a_reserved_concurrency_given_at_deploy_reaches_every_function(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    reserved = reserved_concurrency(template, translated, ReservedConcurrency="3")
    assert reserved and set(reserved.values()) == {"3"}, reserved


# -- ARN parameters that IAM must match exactly -----------------------------------------------


def pattern_of(template: Mapping[str, Any], parameter: str) -> re.Pattern[str]:
    spec = template["Parameters"][parameter]
    assert spec.get("AllowedPattern"), f"{parameter} has no AllowedPattern"
    return re.compile(spec["AllowedPattern"])


@pytest.mark.parametrize(
    "value",
    [
        "",
        f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}",
        f"arn:aws:kms:eu-west-1:123456789012:key/{MRK_ID}",
        f"arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/{KEY_ID}",
        f"arn:aws-cn:kms:cn-north-1:123456789012:key/{KEY_ID}",
    ],
)
def test_topic_key_accepts_empty_or_a_key_arn(template: dict[str, Any], value: str) -> None:
    assert pattern_of(template, "TopicKmsKeyArn").fullmatch(value), value


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:kms:us-east-1:123456789012:alias/x",
        "alias/x",
        "alias/aws/sns",
        KEY_ID,
        f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID} ",
        f"arn:aws:kms:us-east-1:1234567890:key/{KEY_ID}",
        f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID},arn:aws:kms:us-east-1:123456789012:alias/x",
    ],
)
def test_topic_key_refuses_an_alias_and_anything_but_a_key_arn(template: dict[str, Any], value: str) -> None:
    assert not pattern_of(template, "TopicKmsKeyArn").fullmatch(value), value


def test_topic_key_constraint_says_what_to_pass(template: dict[str, Any]) -> None:
    constraint = template["Parameters"]["TopicKmsKeyArn"].get("ConstraintDescription", "")
    assert (
        "alias" in constraint and "aws kms describe-key" in constraint and "KeyMetadata.Arn" in constraint
    ), constraint


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS)
@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc-wechatpay-AbC123",
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:paysweep/kicc-wechatpay-6a2660",  # MiniStack's form
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/teemopay-aBcDeF",  # moto's form
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:paysweep_kicc-a1b2c3",
    ],
)
def test_secret_parameters_accept_a_full_arn(template: dict[str, Any], parameter: str, value: str) -> None:
    assert pattern_of(template, parameter).fullmatch(value), value


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS)
@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc-wechatpay",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc-wechatpay-AbC12",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc-wechatpay-??????",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:paysweep/kicc-wechatpay-*",
        "paysweep/kicc-wechatpay-AbC123",
        "paysweep/kicc-wechatpay",
    ],
)
def test_secret_parameters_refuse_a_partial_arn_or_a_name(
    template: dict[str, Any], parameter: str, value: str
) -> None:
    assert not pattern_of(template, parameter).fullmatch(value), value


@pytest.mark.parametrize("parameter", SECRET_PARAMETERS)
def test_secret_constraint_says_how_to_get_the_full_arn(template: dict[str, Any], parameter: str) -> None:
    constraint = template["Parameters"][parameter].get("ConstraintDescription", "")
    assert "aws secretsmanager describe-secret" in constraint and "--query ARN" in constraint, constraint
