"""The rules template.yaml must keep, read from the YAML itself (no AWS, no build).

Each test names the promise it protects: one function per provider folder with its handler,
the shared layer and runtime, timeouts that fit the providers' 30 s, the orders table's
cost/durability settings and its due index, least-privilege IAM per function (its own check
queue's poller included), the README documenting every parameter, the outputs merchants and
subscribers rely on, and alarms that reach the operators and point at a runbook section.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from template_support import REPO, get_att, mappings_of, resources_of_type

FUNCTION = "AWS::Serverless::Function"
ALARM = "AWS::CloudWatch::Alarm"
PROVIDER_TIMEOUT_SECONDS = 30
"""Both providers' documentation requires a 30 s read timeout on status queries."""
OUTCOME_TOPIC_VARIABLES = (
    "APPROVED_TOPIC_ARN",
    "FAILED_TOPIC_ARN",
    "CANCELLED_TOPIC_ARN",
    "REVIEW_TOPIC_ARN",
)
NO_VALUE = {"Ref": "AWS::NoValue"}

# What the engine calls (paysweep.aws.store / paysweep.aws.journal): the functions must be allowed at
# least this, on the named table, and nothing beyond item-level data-plane actions.
ORDERS_ACTIONS_NEEDED = {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}
PUBLISHED_OUTCOMES = {
    "KiccWechatPayFunction": ("APPROVED", "FAILED", "CANCELLED", "REVIEW"),
    "TeemoPayFunction": ("APPROVED", "FAILED", "REVIEW"),
    "TossPaymentsFunction": ("APPROVED", "FAILED", "CANCELLED", "REVIEW"),
}
"""The outcomes each function can publish: TeemoPay payins cannot be cancelled and TeemoPay
reports no cancelled state (tests/unit/test_teemopay_answers.py), so the TeemoPay function never
publishes CANCELLED and may not publish to its topic (least privilege). Toss Payments cancels card
payments and reports CANCELED: all four."""
JOURNAL_ACTIONS_NEEDED = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}
TOPIC_KEY_ACTIONS = {"kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:Decrypt"}
CHECK_QUEUE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
"""What Lambda's poller of an SQS event source mapping does with the function's role (Lambda
Developer Guide, "Creating and configuring an Amazon SQS event source mapping"): on the function's
own check queue, and nothing more."""
RUNBOOK = re.compile(r"see README runbook: ([A-Za-z0-9][A-Za-z0-9_-]*)")


# -- reading the template ------------------------------------------------------------------


def functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = resources_of_type(template, FUNCTION)
    assert found, "template.yaml declares no AWS::Serverless::Function"
    return found


def effective(template: Mapping[str, Any], function: Mapping[str, Any], name: str) -> Any:
    """A function property as SAM resolves it: the function's own value, else the Globals one."""
    properties = function.get("Properties") or {}
    if name in properties:
        return properties[name]
    return ((template.get("Globals") or {}).get("Function") or {}).get(name)


def environment(template: Mapping[str, Any], function: Mapping[str, Any]) -> dict[str, Any]:
    """Globals variables overlaid with the function's own (SAM merges the two maps)."""
    merged = dict(
        (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables")
        or {}
    )
    merged.update((((function.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {})
    return merged


def default(template: Mapping[str, Any], parameter: str) -> Any:
    assert parameter in template["Parameters"], f"parameter {parameter} is missing from template.yaml"
    assert "Default" in template["Parameters"][parameter], f"parameter {parameter} has no Default"
    return template["Parameters"][parameter]["Default"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(items: Iterable[Any]) -> Iterator[Any]:
    """List items with `Fn::If` opened: both branches count, AWS::NoValue drops out."""
    for item in items:
        if isinstance(item, Mapping) and set(item) == {"Fn::If"}:
            _, when_true, when_false = item["Fn::If"]
            yield from branches([when_true, when_false])
        elif item != NO_VALUE:
            yield item


def statements(function_name: str, function: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inline IAM statements of a function (SAM `Policies`)."""
    found: list[dict[str, Any]] = []
    for policy in branches(as_list((function.get("Properties") or {}).get("Policies") or [])):
        assert (
            isinstance(policy, Mapping) and "Statement" in policy and set(policy) <= {"Statement", "Version"}
        ), (
            f"{function_name}: only inline policy statements are allowed in Policies (reviewable here), "
            f"not managed policies or SAM policy templates: {policy!r}"
        )
        found.extend(branches(as_list(policy["Statement"])))
    assert found, f"{function_name} has no IAM statements"
    return found


def provider_folders() -> list[Path]:
    return sorted(
        p for p in (REPO / "functions").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


def folder_of(code_uri: Any) -> str:
    assert isinstance(code_uri, str), f"CodeUri must be a local folder, got {code_uri!r}"
    return code_uri.strip().rstrip("/")


# -- functions, handlers, runtime, layer -----------------------------------------------------


def test_one_function_per_provider_folder(template: dict[str, Any]) -> None:
    code_folders = {
        name: folder_of(effective(template, body, "CodeUri")) for name, body in functions(template).items()
    }
    shared = [folder for folder, count in Counter(code_folders.values()).items() if count > 1]
    assert not shared, f"several functions share a code folder: {shared}"
    expected = {f"functions/{folder.name}" for folder in provider_folders()}
    assert set(code_folders.values()) == expected, (
        f"provider folders under functions/ {sorted(expected)} and the functions' CodeUri "
        f"{code_folders} must match one to one"
    )


def defines(module: Path, name: str) -> bool:
    """Whether a module binds `name` at top level (def, or an assignment like the handler factory's)."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
    return False


def test_every_code_folder_exists_with_its_handler(template: dict[str, Any]) -> None:
    for name, body in functions(template).items():
        folder = REPO / folder_of(effective(template, body, "CodeUri"))
        assert folder.is_dir(), f"{name}: CodeUri {folder} does not exist"
        handler = effective(template, body, "Handler")
        assert handler == "app.lambda_handler", f"{name}: Handler is {handler!r}, expected app.lambda_handler"
        app = folder / "app.py"
        assert app.is_file(), f"{name}: {app} is missing"
        assert defines(app, "lambda_handler"), f"{name}: {app} defines no top-level lambda_handler"


def test_every_function_runs_python313_with_the_common_layer(template: dict[str, Any]) -> None:
    globals_function = template["Globals"]["Function"]
    assert globals_function.get("Runtime") == "python3.13", "Globals.Function.Runtime must be python3.13"
    assert {"Ref": "CommonLayer"} in as_list(globals_function.get("Layers") or []), (
        "Globals must add CommonLayer"
    )
    for name, body in functions(template).items():
        assert effective(template, body, "Runtime") == "python3.13", f"{name} does not run python3.13"
        layers = as_list(effective(template, body, "Layers") or [])
        assert {"Ref": "CommonLayer"} in layers, f"{name} does not use CommonLayer (its Layers: {layers})"

    layer = template["Resources"].get("CommonLayer") or {}
    assert layer.get("Type") == "AWS::Serverless::LayerVersion", (
        "CommonLayer must be an AWS::Serverless::LayerVersion"
    )
    assert "python3.13" in layer["Properties"]["CompatibleRuntimes"]
    assert layer.get("Metadata", {}).get("BuildMethod") == "python3.13", (
        "sam build must build the layer for python3.13"
    )
    assert (REPO / folder_of(layer["Properties"]["ContentUri"]) / "paysweep" / "sweep" / "engine.py").is_file()


def test_functions_and_layer_are_built_for_the_same_architecture(template: dict[str, Any]) -> None:
    """Native wheels (cryptography, cffi) only load on the architecture they were built for.

    One parameter, `Architecture` (default arm64, the deployed one), decides the functions'
    Architectures, the layer's CompatibleArchitectures and its BuildArchitecture, so they cannot
    drift apart; the local MiniStack deploy builds x86_64 with it (arm64 wheels cannot load on
    an x86_64 machine). test_sam_build shows that `sam build` honours it in all three places.
    """
    parameter = template["Parameters"].get("Architecture") or {}
    assert parameter.get("Default") == "arm64", f"Architecture must default to arm64 (the README promises it): {parameter}"
    assert sorted(parameter.get("AllowedValues") or []) == ["arm64", "x86_64"], parameter
    chosen = {"Ref": "Architecture"}
    layer = template["Resources"]["CommonLayer"]
    for name, body in functions(template).items():
        architectures = effective(template, body, "Architectures")
        assert architectures == [chosen], f"{name}: Architectures is {architectures}, not [!Ref Architecture]"
    assert layer["Properties"]["CompatibleArchitectures"] == [chosen], "CommonLayer does not follow Architecture"
    build_architecture = layer.get("Metadata", {}).get("BuildArchitecture")
    assert build_architecture == chosen, f"CommonLayer is built for {build_architecture}, not !Ref Architecture"


# -- timeouts and schedule -------------------------------------------------------------------


def test_function_timeout_leaves_room_beyond_the_provider_timeout(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"].get("Timeout") == {"Ref": "FunctionTimeoutSeconds"}, (
        "the function timeout must come from the FunctionTimeoutSeconds parameter"
    )
    for name, body in functions(template).items():
        assert effective(template, body, "Timeout") == {"Ref": "FunctionTimeoutSeconds"}, (
            f"{name} overrides Timeout"
        )
    timeout = int(default(template, "FunctionTimeoutSeconds"))
    assert timeout > 2 * PROVIDER_TIMEOUT_SECONDS, (
        f"FunctionTimeoutSeconds defaults to {timeout} s: a sweep needs more than two "
        f"{PROVIDER_TIMEOUT_SECONDS} s "
        "provider calls (a status query, then a cancel) plus a margin"
    )


def test_function_timeout_default_lets_the_engine_sweep_past_its_claim_reserve(
    template: dict[str, Any],
) -> None:
    """The engine stops claiming one call budget + margin before the deadline: some time must remain."""
    from paysweep.config import SweepConfig

    config = SweepConfig.from_env(
        {
            "ORDERS_TABLE": "orders",
            "COMPENSATIONS_TABLE": "compensations",
            **{
                variable: f"arn:aws:sns:us-east-1:123456789012:{variable}"
                for variable in OUTCOME_TOPIC_VARIABLES
            },
            "PROVIDER_BASE_URL": "https://provider.example",
            "PROVIDER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "HTTP_TIMEOUT_SECONDS": str(default(template, "HttpTimeoutSeconds")),
        }
    )
    timeout = int(default(template, "FunctionTimeoutSeconds"))
    needed = (config.claim_reserve + config.call_budget).total_seconds()
    assert timeout >= needed, (
        f"FunctionTimeoutSeconds defaults to {timeout} s, but the engine reserves "
        f"{config.claim_reserve.total_seconds():.0f} s and one provider call takes up to "
        f"{config.call_budget.total_seconds():.0f} s: raise the default to >= {needed:.0f}"
    )


def test_http_timeout_default_is_the_providers_30_seconds(template: dict[str, Any]) -> None:
    assert int(default(template, "HttpTimeoutSeconds")) == PROVIDER_TIMEOUT_SECONDS
    for name, body in functions(template).items():
        assert environment(template, body).get("HTTP_TIMEOUT_SECONDS") == {"Ref": "HttpTimeoutSeconds"}, (
            f"{name}: HTTP_TIMEOUT_SECONDS must come from the HttpTimeoutSeconds parameter"
        )


def test_every_function_is_swept_every_minute_by_default(template: dict[str, Any]) -> None:
    assert default(template, "ScheduleRate") == "rate(1 minute)"
    for name, body in functions(template).items():
        events = (body.get("Properties") or {}).get("Events") or {}
        expressions = [
            event["Properties"].get("ScheduleExpression")
            for event in events.values()
            if event.get("Type") in ("ScheduleV2", "Schedule")
        ]
        assert expressions == [{"Ref": "ScheduleRate"}], (
            f"{name}: expected one schedule on ScheduleRate, got {expressions}"
        )


# -- data -------------------------------------------------------------------------------------


def test_orders_table_is_on_demand_recoverable_encrypted_with_the_due_index(template: dict[str, Any]) -> None:
    table = template["Resources"]["OrdersTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    assert properties.get("BillingMode") == "PAY_PER_REQUEST"
    assert properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True
    assert properties.get("SSESpecification", {}).get("SSEEnabled") is True

    indexes = {index["IndexName"]: index for index in properties.get("GlobalSecondaryIndexes", [])}
    assert "due-index" in indexes, f"OrdersTable has no due-index (indexes: {sorted(indexes)})"
    due = indexes["due-index"]
    assert due["KeySchema"] == [
        {"AttributeName": "sweepKey", "KeyType": "HASH"},
        {"AttributeName": "nextCheckAt", "KeyType": "RANGE"},
    ], f"due-index keys: {due['KeySchema']}"
    assert due["Projection"] == {"ProjectionType": "KEYS_ONLY"}, f"due-index projection: {due['Projection']}"
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert attribute_types.get("sweepKey") == "S" and attribute_types.get("nextCheckAt") == "S"
    for name, body in functions(template).items():
        assert environment(template, body).get("DUE_INDEX_NAME") == "due-index", (
            f"{name} reads another due index"
        )


def test_the_audit_index_is_keys_only_and_apart_from_the_due_index(template: dict[str, Any]) -> None:
    """Audits must never enter the hot due index: their own sparse index, keys only, and the
    functions told its name and the schedule the deploy chose."""
    properties = template["Resources"]["OrdersTable"]["Properties"]
    indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    assert indexes["audit-index"]["KeySchema"] == [
        {"AttributeName": "auditKey", "KeyType": "HASH"},
        {"AttributeName": "auditAt", "KeyType": "RANGE"},
    ]
    assert indexes["audit-index"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert attribute_types.get("auditKey") == "S" and attribute_types.get("auditAt") == "S"
    for name, body in functions(template).items():
        env = environment(template, body)
        assert env.get("AUDIT_INDEX_NAME") == "audit-index", name
        assert env.get("AUDIT_SCHEDULE_SECONDS") == {"Ref": "AuditScheduleSeconds"}, name
    kicc = environment(template, template["Resources"]["KiccWechatPayFunction"])
    assert kicc.get("LATE_PAYMENT_ACTION") == {"Ref": "KiccLatePaymentAction"}
    teemo = environment(template, template["Resources"]["TeemoPayFunction"])
    assert "LATE_PAYMENT_ACTION" not in teemo, "TeemoPay cannot cancel: its late payments always go to REVIEW"
    parameter = template["Parameters"]["AuditScheduleSeconds"]
    assert parameter["Default"] == "3600,86400"
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match("") and pattern.match("3600,86400") and not pattern.match("1h") and not pattern.match("60,")


# -- IAM: least privilege per function ------------------------------------------------------


def allowed_dynamodb_resources(template: Mapping[str, Any]) -> dict[str, Any]:
    """The table, each of its indexes, and the compensation journal, as the template writes them."""
    allowed: dict[str, Any] = {
        "OrdersTable": {"Fn::GetAtt": ["OrdersTable", "Arn"]},
        "CompensationsTable": {"Fn::GetAtt": ["CompensationsTable", "Arn"]},
    }
    for index in template["Resources"]["OrdersTable"]["Properties"].get("GlobalSecondaryIndexes", []):
        allowed[f"OrdersTable/{index['IndexName']}"] = {
            "Fn::Sub": f"${{OrdersTable.Arn}}/index/{index['IndexName']}"
        }
    return allowed


def outcome_topics(template: Mapping[str, Any], function: Mapping[str, Any]) -> list[Any]:
    variables = environment(template, function)
    topics = [variables.get(name) for name in OUTCOME_TOPIC_VARIABLES]
    assert all(isinstance(t, Mapping) and set(t) == {"Ref"} for t in topics), (
        f"outcome topic variables: {topics}"
    )
    assert len({t["Ref"] for t in topics}) == 4, f"the four outcome topics must be distinct: {topics}"
    return topics


def published_topics(template: Mapping[str, Any], name: str, function: Mapping[str, Any]) -> list[Any]:
    """The topics of the outcomes the function can publish (`PUBLISHED_OUTCOMES`)."""
    by_outcome = dict(zip(("APPROVED", "FAILED", "CANCELLED", "REVIEW"), outcome_topics(template, function), strict=True))
    return [by_outcome[outcome] for outcome in PUBLISHED_OUTCOMES[name]]


def own_secret(name: str, template: Mapping[str, Any], function: Mapping[str, Any]) -> dict[str, str]:
    secret = environment(template, function).get("PROVIDER_SECRET_ARN")
    assert isinstance(secret, Mapping) and set(secret) == {"Ref"}, (
        f"{name}: PROVIDER_SECRET_ARN must !Ref a parameter"
    )
    assert secret["Ref"] in template["Parameters"], f"{name}: PROVIDER_SECRET_ARN refers to {secret['Ref']}"
    return dict(secret)


def own_check_queue(name: str, template: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ARN (`!GetAtt <Queue>.Arn`) of the SQS queue the function's event source mapping polls,
    None for a function without one; more than one fails (test_check_queues says which)."""
    sources = []
    for body in mappings_of(template, name).values():
        source = body["Properties"].get("EventSourceArn")
        target = (source.get("Fn::GetAtt") or [None])[0] if isinstance(source, Mapping) else None
        if (template["Resources"].get(target) or {}).get("Type") == "AWS::SQS::Queue":
            sources.append(dict(source))
    assert len(sources) <= 1, f"{name} polls several queues: {sources}"
    return sources[0] if sources else None


def test_each_function_reads_only_its_own_provider_secret(template: dict[str, Any]) -> None:
    secrets = {name: own_secret(name, template, body)["Ref"] for name, body in functions(template).items()}
    assert len(set(secrets.values())) == len(secrets), f"functions share a provider secret: {secrets}"
    for name, body in functions(template).items():
        granted = [
            resource
            for statement in statements(name, body)
            if any(
                str(action).startswith("secretsmanager:") for action in as_list(statement.get("Action", []))
            )
            for resource in branches(as_list(statement.get("Resource", [])))
        ]
        assert granted == [{"Ref": secrets[name]}], (
            f"{name} may read secrets {granted}, only its own {secrets[name]}"
        )


def test_iam_statements_are_scoped_to_the_stacks_own_resources(template: dict[str, Any]) -> None:
    dynamodb = allowed_dynamodb_resources(template)
    for name, body in functions(template).items():
        topics = published_topics(template, name, body)
        secret = own_secret(name, template, body)
        queue = own_check_queue(name, template)
        problems: list[str] = []
        for statement in statements(name, body):
            sid = statement.get("Sid", "?")
            if not {"NotAction", "NotResource", "Principal", "NotPrincipal"}.isdisjoint(statement):
                problems.append(f"{sid}: NotAction/NotResource/Principal have no place in a function policy")
                continue
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in branches(as_list(statement.get("Action", [])))]
            resources = list(branches(as_list(statement.get("Resource", []))))
            wildcards = [
                s for s in (*actions, *[str(r) for r in resources]) if "*" in s and s not in TOPIC_KEY_ACTIONS
            ]
            if wildcards or not resources:
                problems.append(f"{sid}: wildcard or missing resource/action: {wildcards or 'no Resource'}")
                continue
            services = {action.split(":", 1)[0] for action in actions}
            if len(services) != 1:
                problems.append(f"{sid}: one service per statement, got {sorted(services)}")
                continue
            service = services.pop()
            if service == "dynamodb":
                extra_actions = set(actions) - DYNAMODB_ITEM_ACTIONS
                extra = [r for r in resources if r not in dynamodb.values()]
                if extra_actions or extra:
                    problems.append(
                        f"{sid}: dynamodb beyond item access to the two tables: "
                        f"{sorted(extra_actions)} {extra}"
                    )
            elif service == "sns":
                extra = [r for r in resources if r not in topics]
                if set(actions) != {"sns:Publish"} or extra:
                    problems.append(
                        f"{sid}: sns beyond Publish to the topics of the outcomes it can publish: {actions} {extra}"
                    )
            elif service == "secretsmanager":
                if set(actions) != {"secretsmanager:GetSecretValue"} or resources != [secret]:
                    problems.append(
                        f"{sid}: secretsmanager beyond GetSecretValue on {secret['Ref']}: "
                        f"{actions} {resources}"
                    )
            elif service == "kms":
                if not set(actions) <= TOPIC_KEY_ACTIONS or resources != [{"Ref": "TopicKmsKeyArn"}]:
                    problems.append(f"{sid}: kms beyond the outcome topics' key: {actions} {resources}")
            elif service == "sqs":
                if queue is None or not set(actions) <= CHECK_QUEUE_ACTIONS or resources != [queue]:
                    problems.append(
                        f"{sid}: sqs beyond polling its own check queue ({sorted(CHECK_QUEUE_ACTIONS)} on "
                        f"{queue}): {actions} {resources}"
                    )
            else:
                problems.append(f"{sid}: unexpected service {service} ({actions} on {resources})")
        assert not problems, f"{name}: IAM statements beyond least privilege:\n  " + "\n  ".join(problems)


def granted(template: Mapping[str, Any], name: str, body: Mapping[str, Any]) -> dict[str, set[str]]:
    """Action sets granted per resource (resources as their JSON-ish repr)."""
    grants: dict[str, set[str]] = {}
    for statement in statements(name, body):
        if statement.get("Effect") != "Allow":
            continue
        for resource in branches(as_list(statement.get("Resource", []))):
            grants.setdefault(repr(resource), set()).update(
                str(a) for a in as_list(statement.get("Action", []))
            )
    return grants


def test_each_function_may_do_what_the_engine_does(template: dict[str, Any]) -> None:
    """The other half of least privilege: a missing grant fails every sweep with AccessDenied (or,
    for the check queue, the event source mapping)."""
    dynamodb = allowed_dynamodb_resources(template)
    for name, body in functions(template).items():
        grants = granted(template, name, body)
        needed = {
            repr(dynamodb["OrdersTable"]): ORDERS_ACTIONS_NEEDED,
            repr(dynamodb["OrdersTable/due-index"]): {"dynamodb:Query"},
            repr(dynamodb["OrdersTable/audit-index"]): {"dynamodb:Query"},
            repr(dynamodb["CompensationsTable"]): JOURNAL_ACTIONS_NEEDED,
        }
        for topic in published_topics(template, name, body):
            needed[repr(topic)] = {"sns:Publish"}  # PublishBatch is authorised by sns:Publish
        needed[repr(own_secret(name, template, body))] = {"secretsmanager:GetSecretValue"}
        queue = own_check_queue(name, template)
        if queue is not None:  # without them Lambda refuses the mapping, or its poller is denied
            needed[repr(queue)] = CHECK_QUEUE_ACTIONS
        missing = {
            resource: sorted(actions - grants.get(resource, set())) for resource, actions in needed.items()
        }
        missing = {resource: actions for resource, actions in missing.items() if actions}
        assert not missing, f"{name} lacks grants the sweep uses: {missing}"


def test_functions_may_use_the_customer_managed_topic_key_when_one_is_set(template: dict[str, Any]) -> None:
    """With TopicKmsKeyArn set, SNS encrypts the outcome topics with that key and a publisher needs
    kms:GenerateDataKey* and kms:Decrypt on it (the AWS-managed alias/aws/sns needs no grant);
    without them every Publish fails with KMS.AccessDeniedException and no outcome goes out."""
    uses_parameter = [
        name
        for name, topic in resources_of_type(template, "AWS::SNS::Topic").items()
        if "TopicKmsKeyArn" in repr(topic.get("Properties", {}).get("KmsMasterKeyId"))
    ]
    if not uses_parameter:
        return  # the outcome topics no longer take a customer key: nothing to grant
    for name, body in functions(template).items():
        actions = granted(template, name, body).get(repr({"Ref": "TopicKmsKeyArn"}), set())
        assert {"kms:Decrypt"} <= actions and actions & {"kms:GenerateDataKey", "kms:GenerateDataKey*"}, (
            f"{name} publishes to {uses_parameter}, encrypted with TopicKmsKeyArn when it is set, "
            "but may not use that key: add to its Policies the item `!If [HasTopicKey, {Statement: "
            "[{Sid: OutcomeTopicsKey, Effect: Allow, Action: [kms:GenerateDataKey*, kms:Decrypt], "
            "Resource: !Ref TopicKmsKeyArn}]}, !Ref AWS::NoValue]` (a Policies-level !If: checkov "
            "cannot evaluate a role whose statement list holds one)"
        )


# -- documentation, outputs, alarms ---------------------------------------------------------


def test_readme_documents_every_parameter(template: dict[str, Any], readme: str) -> None:
    missing = [name for name in template["Parameters"] if not re.search(rf"\b{re.escape(name)}\b", readme)]
    assert not missing, f"template parameters not documented in README.md: {missing}"


def test_outputs_give_writers_and_subscribers_what_they_need(template: dict[str, Any]) -> None:
    outputs = template.get("Outputs") or {}
    expected = {
        "OrdersTableName": {"Ref": "OrdersTable"},
        "SweepShards": {"Ref": "SweepShards"},
        "ApprovedTopicArn": {"Ref": "ApprovedTopic"},
        "FailedTopicArn": {"Ref": "FailedTopic"},
        "CancelledTopicArn": {"Ref": "CancelledTopic"},
        "ReviewTopicArn": {"Ref": "ReviewTopic"},
    }
    wrong = {
        name: (outputs.get(name) or {}).get("Value")
        for name, value in expected.items()
        if (outputs.get(name) or {}).get("Value") != value
    }
    assert not wrong, f"outputs missing or pointing elsewhere (name: current value): {wrong}"


def alarms(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = resources_of_type(template, ALARM)
    assert found, "template.yaml has no CloudWatch alarms"
    return found


def test_every_alarm_notifies_the_operators(template: dict[str, Any]) -> None:
    assert template["Resources"].get("OperatorsTopic", {}).get("Type") == "AWS::SNS::Topic"
    wrong = {
        name: alarm["Properties"].get("AlarmActions")
        for name, alarm in alarms(template).items()
        if not alarm["Properties"].get("AlarmActions")
        or any(action != {"Ref": "OperatorsTopic"} for action in alarm["Properties"]["AlarmActions"])
    }
    assert not wrong, f"alarms whose AlarmActions are not [!Ref OperatorsTopic]: {wrong}"


def runbook_names(template: Mapping[str, Any]) -> dict[str, str | None]:
    """The README runbook section each alarm names (None where its description names none)."""
    names: dict[str, str | None] = {}
    for name, alarm in alarms(template).items():
        match = RUNBOOK.search(str(alarm["Properties"].get("AlarmDescription", "")))
        names[name] = match.group(1) if match else None
    return names


def test_every_alarm_description_names_a_runbook_section(template: dict[str, Any]) -> None:
    without = sorted(name for name, section in runbook_names(template).items() if section is None)
    assert not without, f"alarms whose AlarmDescription lacks 'see README runbook: <Section>': {without}"


def test_every_alarm_points_at_a_runbook_section_of_the_readme(template: dict[str, Any], readme: str) -> None:
    headings = [m.group(1) for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", readme, flags=re.MULTILINE)]
    missing = sorted(
        {
            section
            for section in runbook_names(template).values()
            if section is not None
            and not any(
                re.search(rf"(?<![\w-]){re.escape(section)}(?![\w-])", heading) for heading in headings
            )
        }
    )
    assert not missing, f"alarm runbook sections with no README heading: {missing}"


def emitted_metric_names() -> set[str]:
    """Metric names the product records (paysweep.runtime), read from its source."""
    source = (REPO / "layers/common/paysweep/runtime.py").read_text()
    names = set(re.findall(r'name="([A-Za-z]+)"', source))
    names |= {f"Outcome{o.title()}" for o in ("APPROVED", "FAILED", "CANCELLED", "REVIEW")} if "Outcome{" in source else set()
    return names


def test_dashboard_charts_only_metrics_the_product_emits(template: dict[str, Any]) -> None:
    dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = next(iter(dashboards.values()))["Properties"]["DashboardBody"]["Fn::Sub"]
    charted = set(re.findall(r'\["paysweep", "([A-Za-z]+)"', body))
    assert charted, "the dashboard charts none of paysweep's metrics"
    assert charted <= emitted_metric_names(), f"charted but never emitted: {charted - emitted_metric_names()}"
    alarmed = {a["Properties"].get("MetricName") for a in alarms(template).values()} - {None}
    ours = {m for m in alarmed if m in emitted_metric_names() or m.startswith("Outcome")}
    assert ours <= charted, f"alarmed on but not on the dashboard: {ours - charted}"


# -- every provider alike ------------------------------------------------------------------------
# Each provider's blocks are written out in template.yaml (README, "Adding a provider"): these tests
# catch a provider that lacks something the others have, or watches another provider's metrics.

PAYSWEEP_ROW = re.compile(r'\["paysweep", "([A-Za-z]+)", "service", "paysweep", "provider", "([^"]+)"')
LAMBDA_ROW = re.compile(r'\["AWS/Lambda", "([A-Za-z]+)", "FunctionName", "\$\{([A-Za-z0-9]+)\}"')


def known_provider_ids() -> set[str]:
    """The ids of the providers' profiles, each in its function folder (`PROFILE` of `*_profile.py`)."""
    from paysweep_ops.profiles import discover

    return set(discover([REPO / "functions"]))


def provider_dimension(dimensions: Any) -> str | None:
    values = [d.get("Value") for d in as_list(dimensions or []) if d.get("Name") == "provider"]
    return values[0] if values else None


def test_every_provider_has_every_alarm_on_its_own_function_and_metrics(template: dict[str, Any]) -> None:
    prefixes = sorted(name.removesuffix("Function") for name in functions(template))
    assert len(prefixes) == len(known_provider_ids()), (
        f"functions {prefixes} and provider profiles {sorted(known_provider_ids())} must match one to one"
    )
    kinds: dict[str, set[str]] = {}
    ids: dict[str, set[str]] = {}
    problems: list[str] = []
    for prefix in prefixes:
        own = {name: body for name, body in alarms(template).items() if name.startswith(prefix)}
        kinds[prefix] = {name.removeprefix(prefix) for name in own}
        ids[prefix] = set()
        for name, alarm in own.items():
            properties = alarm["Properties"]
            ids[prefix].add(str(properties.get("AlarmDescription", "")).split(":", 1)[0])
            queries = [q["MetricStat"]["Metric"] for q in properties.get("Metrics", []) if "MetricStat" in q]
            for metric in [properties, *queries]:
                watched = provider_dimension(metric.get("Dimensions"))
                if watched is not None:
                    ids[prefix].add(watched)
                for dimension in as_list(metric.get("Dimensions") or []):
                    value = dimension.get("Value")
                    if dimension.get("Name") == "FunctionName" and value != {"Ref": f"{prefix}Function"}:
                        problems.append(f"{name} watches {value}, not {prefix}Function")
                    own_queues = (f"{prefix}FunctionSweepQueue", f"{prefix}CheckDeadLetterQueue")
                    if dimension.get("Name") == "QueueName" and value not in [
                        get_att(queue, "QueueName") for queue in own_queues
                    ]:
                        problems.append(f"{name} watches {value}, not one of its own queues {own_queues}")
    assert not problems, "\n".join(problems)
    assert all(len(found) == 1 for found in ids.values()), (
        f"each provider's alarms name and watch one provider id (description prefix, provider dimension): {ids}"
    )
    assert {next(iter(found)) for found in ids.values()} == known_provider_ids(), ids
    assert all(found == kinds[prefixes[0]] for found in kinds.values()), f"alarms per provider differ: {kinds}"


def test_the_dashboard_charts_every_provider_alike(template: dict[str, Any]) -> None:
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    charted: dict[str, set[str]] = {}
    for metric, provider in PAYSWEEP_ROW.findall(body):
        charted.setdefault(provider, set()).add(metric)
    assert set(charted) == known_provider_ids(), f"providers on the dashboard: {sorted(charted)}"
    first = next(iter(charted.values()))
    assert all(metrics == first for metrics in charted.values()), f"paysweep metrics charted per provider: {charted}"
    lambda_rows: dict[str, set[str]] = {}
    for metric, function in LAMBDA_ROW.findall(body):
        lambda_rows.setdefault(function, set()).add(metric)
    assert lambda_rows == {name: {"Errors", "Throttles"} for name in functions(template)}, lambda_rows


def test_the_outcome_schema_accepts_every_provider_without_a_per_provider_edit() -> None:
    """The schema's `provider` is a pattern, not a list to extend with every provider; the ids of
    docs/CONTRACT.md section 1 (the provider profiles) must match it."""
    import json

    schema = json.loads((REPO / "docs" / "schemas" / "outcome-v1.json").read_text(encoding="utf-8"))
    provider = schema["properties"]["provider"]
    assert "enum" not in provider and "const" not in provider, f"the schema lists provider ids: {provider}"
    pattern = re.compile(provider["pattern"])
    assert all(pattern.search(p) for p in known_provider_ids()), (provider, sorted(known_provider_ids()))
    assert pattern.search("toss-payments"), "the next provider's id must need no schema change"
