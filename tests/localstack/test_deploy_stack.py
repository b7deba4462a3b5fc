"""deploy_stack puts the real template.yaml into the emulator, everything included."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paysweep_local.deploy import (
    EXPLICITLY_PROVISIONED_TYPES,
    DeployedStack,
    DeployError,
    deploy_stack,
    split_template,
)
from paysweep_local.emulator import REGION, Emulator

REPO = Path(__file__).resolve().parents[2]

SCHEDULE_INPUT = {
    "executionId": "<aws.scheduler.execution-id>",
    "scheduledTime": "<aws.scheduler.scheduled-time>",
    "shards": "all",
}
PROVIDER_FUNCTIONS = {
    "kicc_wechatpay": ("KiccBaseUrl", "KiccSecretArn"),
    "teemopay": ("TeemoPayBaseUrl", "TeemoPaySecretArn"),
}


def describe_table(emulator: Emulator, name: str) -> dict[str, Any]:
    return dict(emulator.client("dynamodb").describe_table(TableName=name)["Table"])


# -- data ------------------------------------------------------------------------------------------


def test_orders_table_has_its_three_indexes(emulator: Emulator, deployed: DeployedStack) -> None:
    table = describe_table(emulator, deployed.outputs["OrdersTableName"])
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"due-index", "outbox-index", "audit-index"}
    assert indexes["audit-index"]["KeySchema"] == [
        {"AttributeName": "auditKey", "KeyType": "HASH"},
        {"AttributeName": "auditAt", "KeyType": "RANGE"},
    ]
    assert indexes["due-index"]["KeySchema"] == [
        {"AttributeName": "sweepKey", "KeyType": "HASH"},
        {"AttributeName": "nextCheckAt", "KeyType": "RANGE"},
    ]
    assert indexes["due-index"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert indexes["outbox-index"]["KeySchema"][0] == {"AttributeName": "outboxKey", "KeyType": "HASH"}
    assert indexes["outbox-index"]["Projection"]["ProjectionType"] == "INCLUDE"
    assert table["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_compensations_table_and_properties_moto_ignores(emulator: Emulator, deployed: DeployedStack) -> None:
    name = deployed.outputs["CompensationsTableName"]
    assert describe_table(emulator, name)["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    ttl = emulator.client("dynamodb").describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAtEpoch"}
    backups = emulator.client("dynamodb").describe_continuous_backups(TableName=name)
    assert (
        backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        == "ENABLED"
    )
    assert "TimeToLiveSpecification" in deployed.completed_properties["CompensationsTable"]


# -- topics ----------------------------------------------------------------------------------------


def test_outcome_topics_and_operators_topic(emulator: Emulator, deployed: DeployedStack) -> None:
    existing = {t["TopicArn"] for t in emulator.client("sns").list_topics()["Topics"]}
    outcome_arns = {
        deployed.outputs[f"{name}TopicArn"] for name in ("Approved", "Failed", "Cancelled", "Review")
    }
    assert len(outcome_arns) == 4
    assert outcome_arns | {deployed.outputs["OperatorsTopicArn"]} <= existing
    assert set(deployed.topics.values()) == outcome_arns | {deployed.outputs["OperatorsTopicArn"]}


# -- functions -------------------------------------------------------------------------------------


def test_two_functions_with_their_code_and_the_common_layer(deployed: DeployedStack) -> None:
    assert {info.code_dir for info in deployed.functions.values()} == {
        REPO / "functions" / "kicc_wechatpay",
        REPO / "functions" / "teemopay",
    }
    for info in deployed.functions.values():
        assert info.layer_dirs == (REPO / "layers" / "common",)
        assert info.handler == "app.lambda_handler"
        assert info.runtime == "python3.12"
        assert (info.timeout_seconds, info.memory_mb, info.reserved_concurrency) == (120, 512, 2)
        assert info.arn.endswith(f":function:{info.name}")


@pytest.mark.parametrize("folder", sorted(PROVIDER_FUNCTIONS))
def test_function_environment_names_the_real_resources(
    emulator: Emulator, deployed: DeployedStack, stack_parameters: dict[str, str], folder: str
) -> None:
    env = deployed.function(folder).environment
    base_url_parameter, secret_parameter = PROVIDER_FUNCTIONS[folder]
    assert env["ORDERS_TABLE"] == deployed.outputs["OrdersTableName"]
    assert env["COMPENSATIONS_TABLE"] == deployed.outputs["CompensationsTableName"]
    assert (env["DUE_INDEX_NAME"], env["OUTBOX_INDEX_NAME"]) == ("due-index", "outbox-index")
    assert (env["AUDIT_INDEX_NAME"], env["AUDIT_SCHEDULE_SECONDS"]) == ("audit-index", "3600,86400")
    for outcome in ("APPROVED", "FAILED", "CANCELLED", "REVIEW"):
        assert env[f"{outcome}_TOPIC_ARN"] == deployed.outputs[f"{outcome.title()}TopicArn"]
    assert env["PROVIDER_BASE_URL"] == stack_parameters[base_url_parameter]
    assert env["PROVIDER_SECRET_ARN"] == stack_parameters[secret_parameter]
    assert env["ALLOW_INSECURE_HTTP"] == "true"
    assert env["SWEEP_SHARDS"] == "4"  # a string, as Lambda gives it
    emulator.client("secretsmanager").describe_secret(SecretId=env["PROVIDER_SECRET_ARN"])
    describe_table(emulator, env["ORDERS_TABLE"])


# -- schedules -------------------------------------------------------------------------------------


def test_one_schedule_per_function_with_the_documented_input(
    emulator: Emulator, deployed: DeployedStack
) -> None:
    assert sorted(s.target_arn for s in deployed.schedules) == sorted(
        f.arn for f in deployed.functions.values()
    )
    for schedule in deployed.schedules:
        assert json.loads(schedule.input) == SCHEDULE_INPUT
        assert schedule.expression == "rate(1 minute)"
        target = deployed.schedule_details[schedule.name]["Target"]
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300}
        queue_arns = {
            emulator.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            for url in deployed.queues.values()
        }
        assert target["DeadLetterConfig"]["Arn"] in queue_arns
    names = {s["Name"] for s in emulator.client("scheduler").list_schedules()["Schedules"]}
    assert {s.name for s in deployed.schedules} <= names


# -- alarms ----------------------------------------------------------------------------------------


def test_alarms_exist_and_notify_the_operators_topic(deployed: DeployedStack) -> None:
    template_alarms = {
        lid for lid, r in deployed.template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(deployed.alarms) == template_alarms
    assert len(template_alarms) >= 16
    for alarm in deployed.alarms.values():
        assert alarm["AlarmActions"] == [deployed.outputs["OperatorsTopicArn"]]


def test_alarms_resolve_functions_queues_and_metric_math(deployed: DeployedStack) -> None:
    kicc = deployed.function("kicc_wechatpay")
    by_metric = {
        (a.get("Namespace"), a.get("MetricName")): a
        for lid, a in deployed.alarms.items()
        if lid.startswith("KiccWechatPay")
    }
    assert by_metric[("AWS/Lambda", "Errors")]["Dimensions"] == [{"Name": "FunctionName", "Value": kicc.name}]
    queue_names = {url.rsplit("/", 1)[1] for url in deployed.queues.values()}
    assert (
        by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]["Dimensions"][0]["Value"] in queue_names
    )
    assert by_metric[("paysweep", "OldestDueAge")]["Threshold"] == 900.0
    math = by_metric[(None, None)]["Metrics"]
    assert [m["Id"] for m in math] == ["errors", "checked", "rate"]
    assert math[2]["Expression"] == "IF(checked >= 5, errors / checked, 0)"


def test_dashboard_shows_what_the_functions_emit(deployed: DeployedStack, emulator: Emulator) -> None:
    name = deployed.outputs["DashboardName"]
    body = json.loads(emulator.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    ours = {(m[1], m[5]) for m in metrics if m[0] == "paysweep"}
    for provider in ("kicc-wechatpay", "teemopay"):
        for needed in ("OutcomeApproved", "OutcomeFailed", "OutcomeCancelled", "OutcomeReview", "OrdersLeftDue",
                       "OldestDueAge", "ProviderLatency", "ProviderErrors", "SweepErrors"):
            assert (needed, provider) in ours, f"dashboard lacks {needed} for {provider}"
    stats = {m[-1].get("stat") for m in metrics if m[1] == "ProviderLatency"}
    assert {"p50", "p99"} <= stats
    functions = {m[3] for m in metrics if m[0] == "AWS/Lambda"}
    assert functions == {deployed.function("kicc_wechatpay").name, deployed.function("teemopay").name}
    assert all(w["properties"]["region"] == REGION for w in body["widgets"])


# -- the report of what moto could not create -------------------------------------------------------


def test_explicitly_provisioned_report(deployed: DeployedStack) -> None:
    kinds = set(deployed.explicitly_provisioned.values())
    assert kinds == {"AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm"}
    assert kinds <= EXPLICITLY_PROVISIONED_TYPES
    assert deployed.skipped == {"OperatorsEmail": "condition HasAlarmEmail is false"}
    report = deployed.explicit_report()
    assert "AWS::Scheduler::Schedule" in report and "OperatorsEmail" in report


def test_outputs_cover_the_template(deployed: DeployedStack) -> None:
    assert set(deployed.outputs) == set(deployed.template["Outputs"])
    assert deployed.outputs["DueIndexName"] == "due-index"


# -- the generic machinery on small templates ------------------------------------------------------


def write_template(tmp_path: Path, resources: dict[str, Any], **sections: Any) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(
        json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, **sections})
    )
    return path


def test_subscription_and_policies_are_provisioned(
    emulator: Emulator, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "*",
            }
        ],
    }
    path = write_template(
        tmp_path,
        {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": policy},
            },
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Condition": "Wanted",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "RawMessageDelivery": True,
                    "FilterPolicy": {"outcome": ["APPROVED"]},
                },
            },
        },
        Parameters={"Enabled": {"Type": "String", "Default": "yes"}},
        Conditions={"Wanted": {"Fn::Equals": [{"Ref": "Enabled"}, "yes"]}},
        Outputs={"SubscriptionArn": {"Value": {"Ref": "Subscription"}}},
    )
    stack = deploy_stack(emulator, template_path=path, stack_name=unique("small"))
    assert set(stack.explicitly_provisioned) == {"QueuePolicy", "Subscription"}
    attributes = emulator.client("sns").get_subscription_attributes(
        SubscriptionArn=stack.outputs["SubscriptionArn"]
    )["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["FilterPolicy"]) == {"outcome": ["APPROVED"]}
    queue_policy = emulator.client("sqs").get_queue_attributes(
        QueueUrl=stack.queues["Queue"], AttributeNames=["Policy"]
    )["Attributes"]["Policy"]
    assert json.loads(queue_policy)["Statement"][0]["Action"] == "sqs:SendMessage"


def test_supported_resource_referring_to_an_unsupported_one_fails_loudly() -> None:
    template = {
        "Resources": {
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "Alarm"}}]},
            },
        }
    }
    with pytest.raises(DeployError, match="Queue .* refers to \\['Alarm'\\]"):
        split_template(template, frozenset({"AWS::SQS::Queue"}))


def test_type_without_model_or_provisioner_fails_loudly() -> None:
    template = {"Resources": {"Pipe": {"Type": "AWS::Pipes::Pipe", "Properties": {}}}}
    with pytest.raises(DeployError, match="AWS::Pipes::Pipe"):
        split_template(template, frozenset())


def test_unknown_parameter_is_refused(emulator: Emulator, stack_parameters: dict[str, str]) -> None:
    with pytest.raises(DeployError, match="KiccBaseUrll"):
        deploy_stack(
            emulator,
            template_path=REPO / "template.yaml",
            stack_name="never",
            parameters={**stack_parameters, "KiccBaseUrll": "http://x"},
        )
