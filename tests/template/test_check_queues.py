"""Checks on demand: each provider function's check queue, its dead-letter queue, the grants.

Every provider function (found by its schedule, so a new provider is covered without an edit
here) also takes check requests from its own SQS queue, through an event source mapping that
reports failed items (`ReportBatchItemFailures`); a request that keeps failing goes to that
queue's own dead-letter queue, which raises an alarm. The merchant's roles get exactly
`lambda:InvokeFunction` on the provider functions and `sqs:SendMessage` on their check queues
from one exported managed policy, and `paysweep check` finds a provider's function in the
`ProviderFunctions` output.

Lambda refuses a mapping whose queue's visibility timeout is below the function's timeout, and
advises six times it (Lambda Developer Guide, "Creating and configuring an Amazon SQS event source
mapping"); SQS keeps a message at most 14 days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from template_support import (
    REPO,
    get_att,
    mappings_of,
    provider_functions,
    resources_of_type,
)

QUEUE = "AWS::SQS::Queue"
ALARM = "AWS::CloudWatch::Alarm"
POLICY = "CheckRequesterPolicy"
BASIC_ROLE_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
"""The managed policies SAM attaches to every function role here (logs, X-Ray). SAM's `Type: SQS`
event would add service-role/AWSLambdaSQSQueueExecutionRole: its SQS actions on every queue."""
POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
ADVISED_VISIBILITY_FACTOR = 6
SQS_MAX_RETENTION_SECONDS = 1_209_600
CHECK_RETENTION_SECONDS = 86_400
ADVISED_MIN_RECEIVE_COUNT = 5
"""AWS advises a maxReceiveCount of at least 5 for a Lambda source queue (AWS Knowledge Center,
"Why is my Lambda function retrying valid Amazon SQS messages ..."): a throttled batch counts too."""
SQS_ROW = re.compile(r'\["AWS/SQS", "([A-Za-z]+)", "QueueName", "\$\{([A-Za-z0-9]+)\.QueueName\}"')


def branches(items: Any) -> list[Any]:
    """List items with `Fn::If` opened (both branches count; AWS::NoValue drops out)."""
    found: list[Any] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, Mapping) and set(item) == {"Fn::If"}:
            found += branches(item["Fn::If"][1:])
        elif item != {"Ref": "AWS::NoValue"}:
            found.append(item)
    return found


def prefix_of(function: str) -> str:
    return function.removesuffix("Function")


def check_queue(function: str) -> str:
    return f"{prefix_of(function)}CheckQueue"


def dead_letter_queue(function: str) -> str:
    return f"{prefix_of(function)}CheckDeadLetterQueue"


def queue_properties(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    body = template["Resources"].get(name) or {}
    assert body.get("Type") == QUEUE, f"{name} is not an {QUEUE} of template.yaml: {body.get('Type')}"
    return dict(body.get("Properties") or {})


def parameter_default(template: Mapping[str, Any], name: str) -> int:
    spec = template["Parameters"].get(name)
    assert spec is not None, f"parameter {name} is missing"
    return int(spec["Default"])


def provider_id(template: Mapping[str, Any], function: str) -> str:
    """The provider id of a function: its code folder's profile (`PROFILE` of `*_profile.py`)."""
    from paysweep_ops.profiles import PATTERN, load_profile

    folder = REPO / str(template["Resources"][function]["Properties"]["CodeUri"]).rstrip("/")
    (profile,) = sorted(folder.glob(PATTERN))
    return load_profile(profile).provider_id


# -- the queues and their mappings -------------------------------------------------------------


def test_every_provider_function_polls_exactly_its_own_check_queue(template: dict[str, Any]) -> None:
    problems: list[str] = []
    polled: dict[str, list[str]] = {}
    for function, body in provider_functions(template).items():
        sqs_events = [
            name
            for name, event in ((body.get("Properties") or {}).get("Events") or {}).items()
            if event.get("Type") == "SQS"
        ]
        if sqs_events:
            problems.append(
                f"{function}: SAM `Type: SQS` events {sqs_events} attach AWSLambdaSQSQueueExecutionRole (every "
                "queue): use an AWS::Lambda::EventSourceMapping and the function's CheckQueue statement"
            )
        mappings = mappings_of(template, function)
        if len(mappings) != 1:
            problems.append(
                f"{function}: {len(mappings)} event source mappings, expected 1 ({sorted(mappings)})"
            )
            continue
        properties = next(iter(mappings.values()))["Properties"]
        source = properties.get("EventSourceArn")
        queue_properties(template, check_queue(function))
        if source != get_att(check_queue(function), "Arn"):
            problems.append(f"{function} polls {source}, not its own {check_queue(function)}")
        polled.setdefault(json.dumps(source, sort_keys=True), []).append(function)
        if properties.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(
                f"{function}: FunctionResponseTypes {properties.get('FunctionResponseTypes')}, expected "
                "[ReportBatchItemFailures] (without it one failed check retries the whole batch)"
            )
        if properties.get("BatchSize") != 10 or properties.get("MaximumBatchingWindowInSeconds") != 0:
            problems.append(
                f"{function}: BatchSize {properties.get('BatchSize')}, MaximumBatchingWindowInSeconds "
                f"{properties.get('MaximumBatchingWindowInSeconds')}: expected 10 and 0 (no waiting for a batch)"
            )
        if properties.get("Enabled") is False:
            problems.append(f"{function}: its check queue's mapping is disabled")
    shared = {source: users for source, users in polled.items() if len(users) > 1}
    assert not shared, f"functions share a check queue: {shared}"
    assert not problems, "check queues:\n  " + "\n  ".join(problems)


def test_every_check_queue_redrives_to_its_own_dead_letter_queue(template: dict[str, Any]) -> None:
    problems: list[str] = []
    for function in provider_functions(template):
        queue, dlq = check_queue(function), dead_letter_queue(function)
        properties = queue_properties(template, queue)
        redrive = properties.get("RedrivePolicy") or {}
        expected = {
            "deadLetterTargetArn": get_att(dlq, "Arn"),
            "maxReceiveCount": {"Ref": "CheckQueueMaxReceiveCount"},
        }
        if redrive != expected:
            problems.append(f"{queue}: RedrivePolicy {redrive}, expected {expected}")
        if properties.get("VisibilityTimeout") != {"Ref": "CheckQueueVisibilitySeconds"}:
            problems.append(
                f"{queue}: VisibilityTimeout {properties.get('VisibilityTimeout')}, not !Ref CheckQueueVisibilitySeconds"
            )
        if int(properties.get("MessageRetentionPeriod", 0)) != CHECK_RETENTION_SECONDS:
            problems.append(
                f"{queue}: MessageRetentionPeriod {properties.get('MessageRetentionPeriod')}, expected one day"
            )
        dead = queue_properties(template, dlq)
        if int(dead.get("MessageRetentionPeriod", 0)) != SQS_MAX_RETENTION_SECONDS:
            problems.append(
                f"{dlq}: MessageRetentionPeriod {dead.get('MessageRetentionPeriod')}, expected 14 days"
            )
        if "RedrivePolicy" in dead:
            problems.append(f"{dlq} has a RedrivePolicy of its own: dead letters would move on")
        for name, body in ((queue, properties), (dlq, dead)):
            if body.get("SqsManagedSseEnabled") is not True or "KmsMasterKeyId" in body:
                problems.append(f"{name}: not SSE-SQS (a KMS key would need a grant for every requester)")
        if "FifoQueue" in properties or "FifoQueue" in dead:
            problems.append(f"{queue}/{dlq}: standard queues expected")
    assert not problems, "check queues and their dead-letter queues:\n  " + "\n  ".join(problems)


def test_no_dead_letter_queue_serves_two_queues(
    template: dict[str, Any],
) -> None:
    targets = [
        json.dumps(
            (body.get("Properties") or {}).get("RedrivePolicy", {}).get("deadLetterTargetArn"), sort_keys=True
        )
        for body in resources_of_type(template, QUEUE).values()
        if (body.get("Properties") or {}).get("RedrivePolicy")
    ]
    assert len(targets) == len(set(targets)), f"dead-letter queues shared by several queues: {targets}"


def test_visibility_and_receive_count_defaults_fit_lambda_and_the_retention(template: dict[str, Any]) -> None:
    visibility = template["Parameters"]["CheckQueueVisibilitySeconds"]
    receives = template["Parameters"]["CheckQueueMaxReceiveCount"]
    timeout = parameter_default(template, "FunctionTimeoutSeconds")
    default_visibility = int(visibility["Default"])
    assert default_visibility >= timeout, (
        f"CheckQueueVisibilitySeconds defaults to {default_visibility} s, below FunctionTimeoutSeconds "
        f"{timeout} s: Lambda refuses the event source mappings"
    )
    assert default_visibility == ADVISED_VISIBILITY_FACTOR * timeout, (
        f"CheckQueueVisibilitySeconds defaults to {default_visibility} s; AWS advises {ADVISED_VISIBILITY_FACTOR} x "
        f"the function timeout ({ADVISED_VISIBILITY_FACTOR * timeout} s)"
    )
    assert (int(visibility["MinValue"]), int(visibility["MaxValue"])) == (1, 43200), visibility
    assert "FunctionTimeoutSeconds" in visibility["Description"], visibility["Description"]
    assert int(receives["Default"]) >= ADVISED_MIN_RECEIVE_COUNT, receives
    assert (int(receives["MinValue"]), int(receives["MaxValue"])) == (1, 1000), receives
    assert int(receives["Default"]) * default_visibility < CHECK_RETENTION_SECONDS, (
        "with the defaults a failing check request would expire before it reaches its dead-letter queue"
    )
    groups = [
        group["Parameters"]
        for group in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    ]
    for name in ("CheckQueueVisibilitySeconds", "CheckQueueMaxReceiveCount"):
        assert sum(name in parameters for parameters in groups) == 1, f"{name} is not in one ParameterGroup"


# -- IAM ------------------------------------------------------------------------------------------


def test_after_the_sam_transform_each_role_may_poll_its_own_check_queue_and_no_other(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """What CloudFormation deploys: no managed policy beyond logs and X-Ray (SAM's SQS event would
    add AWSLambdaSQSQueueExecutionRole, Resource "*"), and SQS actions only on the own queue."""
    problems: list[str] = []
    for function in provider_functions(template):
        role_name = f"{function}Role"
        role = (translated["Resources"].get(role_name) or {}).get("Properties") or {}
        assert role, f"the SAM transform generated no {role_name}"
        extra = set(map(str, role.get("ManagedPolicyArns") or [])) - BASIC_ROLE_POLICIES
        if extra:
            problems.append(f"{role_name}: managed policies beyond logs and X-Ray: {sorted(extra)}")
        sqs: list[tuple[set[str], Any]] = []
        for policy in branches(role.get("Policies") or []):
            for statement in branches(policy["PolicyDocument"]["Statement"]):
                actions = statement.get("Action", [])
                actions = {str(a) for a in (actions if isinstance(actions, list) else [actions])}
                if any(a == "*" or a.startswith("sqs:") for a in actions) or "NotAction" in statement:
                    sqs.append((actions, statement.get("Resource")))
        expected = [(POLLER_ACTIONS, get_att(check_queue(function), "Arn"))]
        if sqs != expected:
            problems.append(f"{role_name}: SQS grants {sqs}, expected exactly {expected}")
    assert not problems, "function roles after the SAM transform:\n  " + "\n  ".join(problems)


def test_the_check_requester_policy_grants_invoke_and_send_on_every_provider_and_nothing_else(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"].get(POLICY) or {}
    assert policy.get("Type") == "AWS::IAM::ManagedPolicy", f"{POLICY} must be an AWS::IAM::ManagedPolicy"
    properties = policy["Properties"]
    assert not {"Roles", "Users", "Groups", "ManagedPolicyName"} & set(properties), (
        f"{POLICY} is for the merchant's roles to attach: no attachments or fixed name here ({sorted(properties)})"
    )
    granted: dict[str, list[str]] = {}
    for statement in properties["PolicyDocument"]["Statement"]:
        assert statement.get("Effect") == "Allow" and not {"NotAction", "NotResource", "Condition"} & set(
            statement
        ), f"{POLICY}: plain Allow statements only: {statement}"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            granted.setdefault(str(action), []).extend(json.dumps(r, sort_keys=True) for r in resources)
    functions = provider_functions(template)
    expected = {
        "lambda:InvokeFunction": sorted(json.dumps(get_att(f, "Arn"), sort_keys=True) for f in functions),
        "sqs:SendMessage": sorted(
            json.dumps(get_att(check_queue(f), "Arn"), sort_keys=True) for f in functions
        ),
    }
    assert {action: sorted(resources) for action, resources in granted.items()} == expected, (
        f"{POLICY} must grant exactly lambda:InvokeFunction on every provider function (its unqualified ARN) "
        f"and sqs:SendMessage on every check queue; it grants {granted}"
    )


# -- alarms, dashboard, outputs -------------------------------------------------------------------


def test_every_dead_letter_queue_has_an_alarm_for_the_operators(template: dict[str, Any]) -> None:
    problems: list[str] = []
    for function in provider_functions(template):
        dlq = dead_letter_queue(function)
        watching = {
            name: body["Properties"]
            for name, body in resources_of_type(template, ALARM).items()
            if {"Name": "QueueName", "Value": get_att(dlq, "QueueName")}
            in (body["Properties"].get("Dimensions") or [])
        }
        if list(watching) != [f"{prefix_of(function)}CheckDeadLettersAlarm"]:
            problems.append(
                f"{dlq}: watched by {sorted(watching)}, expected {prefix_of(function)}CheckDeadLettersAlarm"
            )
            continue
        alarm = next(iter(watching.values()))
        shape = {
            key: alarm.get(key)
            for key in (
                "Namespace",
                "MetricName",
                "Statistic",
                "Threshold",
                "ComparisonOperator",
                "TreatMissingData",
                "AlarmActions",
            )
        }
        expected = {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Statistic": "Maximum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "OperatorsTopic"}],
        }
        if shape != expected:
            problems.append(f"{dlq}'s alarm: {shape}, expected {expected}")
        description = str(alarm.get("AlarmDescription", ""))
        if (
            not description.startswith(f"{provider_id(template, function)}:")
            or "README runbook: CheckDeadLetters" not in description
        ):
            problems.append(
                f"{dlq}'s alarm description names another provider or runbook section: {description!r}"
            )
    assert not problems, "dead-letter alarms:\n  " + "\n  ".join(problems)


def test_the_dashboard_charts_every_check_queue_and_dead_letter_queue(template: dict[str, Any]) -> None:
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    charted = set(SQS_ROW.findall(dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
    expected = set()
    for function in provider_functions(template):
        expected |= {
            ("ApproximateAgeOfOldestMessage", check_queue(function)),
            ("ApproximateNumberOfMessagesVisible", dead_letter_queue(function)),
        }
    assert expected <= charted, f"check queues missing from the dashboard: {sorted(expected - charted)}"


def test_outputs_give_requesters_and_operators_the_queues_and_the_policy(template: dict[str, Any]) -> None:
    outputs = template.get("Outputs") or {}
    expected = {"CheckRequesterPolicyArn": {"Ref": POLICY}}
    for function in provider_functions(template):
        expected[f"{check_queue(function)}Url"] = {"Ref": check_queue(function)}
        expected[f"{dead_letter_queue(function)}Url"] = {"Ref": dead_letter_queue(function)}
    wrong = {
        name: (outputs.get(name) or {}).get("Value")
        for name, value in expected.items()
        if (outputs.get(name) or {}).get("Value") != value
    }
    assert not wrong, f"outputs missing or pointing elsewhere (name: current value): {wrong}"
    undescribed = sorted(name for name in expected if len(str(outputs[name].get("Description", ""))) < 20)
    assert not undescribed, f"outputs without a Description saying who uses them: {undescribed}"


def test_provider_functions_output_maps_every_provider_id_to_its_function(template: dict[str, Any]) -> None:
    output = (template.get("Outputs") or {}).get("ProviderFunctions") or {}
    assert "paysweep check" in str(output.get("Description", "")), output
    body = output.get("Value", {}).get("Fn::Sub")
    assert isinstance(body, str), f"ProviderFunctions must be an !Sub of a JSON object: {output.get('Value')}"
    mapping = json.loads(body)
    expected = {
        provider_id(template, function): f"${{{function}}}" for function in provider_functions(template)
    }
    assert mapping == expected, f"ProviderFunctions maps {mapping}, expected {expected}"
