"""Fault rules answer exactly as the real services do, so botocore's retry paths run for real."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from paysweep_local.emulator import Emulator, EmulatorError

NO_RETRY = {"retries": {"mode": "standard", "total_max_attempts": 1}}


@pytest.fixture
def table(emulator: Emulator, unique: Callable[[str], str]) -> str:
    name = unique("faults")
    emulator.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
    )
    return name


def put(emulator: Emulator, table: str, order_id: str, **config: Any) -> dict[str, Any]:
    client = emulator.client("dynamodb", **config) if config else emulator.client("dynamodb")
    return dict(
        client.put_item(TableName=table, Item={"orderId": {"S": order_id}, "status": {"S": "PENDING"}})
    )


def item(emulator: Emulator, table: str, order_id: str) -> dict[str, Any] | None:
    return emulator.client("dynamodb").get_item(TableName=table, Key={"orderId": {"S": order_id}}).get("Item")


def rule(emulator: Emulator, rule_id: int) -> dict[str, Any]:
    return next(r for r in emulator.fault_report() if r["id"] == rule_id)


# -- botocore retries -----------------------------------------------------------------------


def test_standard_retry_mode_retries_a_throttle_then_succeeds(emulator: Emulator, table: str) -> None:
    rule_id = emulator.add_fault("dynamodb", "PutItem", error="throttle", times=1)
    answer = put(emulator, table, "order-1", retries={"mode": "standard", "total_max_attempts": 3})
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert rule(emulator, rule_id)["fired"] == 1
    assert item(emulator, table, "order-1") is not None


def test_a_permanent_fault_raises_after_the_retries(emulator: Emulator, table: str) -> None:
    rule_id = emulator.add_fault("dynamodb", "PutItem", error="internal", times=-1)
    with pytest.raises(ClientError) as raised:
        put(emulator, table, "order-2", retries={"mode": "standard", "total_max_attempts": 3})
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert rule(emulator, rule_id)["fired"] == 3
    assert rule(emulator, rule_id)["exhausted"] is False
    assert item(emulator, table, "order-2") is None


# -- the error bodies of each protocol ---------------------------------------------------------

SERVICE_CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "dynamodb": ("ListTables", lambda c: c.list_tables()),
    "sns": ("ListTopics", lambda c: c.list_topics()),
    "sqs": ("ListQueues", lambda c: c.list_queues()),
    "secretsmanager": ("ListSecrets", lambda c: c.list_secrets()),
    "s3": ("ListBuckets", lambda c: c.list_buckets()),
    "lambda": ("ListFunctions", lambda c: c.list_functions()),
    "cloudwatch": ("DescribeAlarms", lambda c: c.describe_alarms()),
}
EXPECTED = {
    ("dynamodb", "throttle"): (400, "ProvisionedThroughputExceededException"),
    ("dynamodb", "internal"): (500, "InternalServerError"),
    ("dynamodb", "unavailable"): (503, "ServiceUnavailable"),
    ("sns", "throttle"): (400, "Throttling"),
    ("sns", "internal"): (500, "InternalError"),
    ("sns", "unavailable"): (503, "ServiceUnavailable"),
    ("sqs", "throttle"): (400, "ThrottlingException"),
    ("sqs", "internal"): (500, "InternalError"),
    ("secretsmanager", "throttle"): (400, "ThrottlingException"),
    ("secretsmanager", "internal"): (500, "InternalServiceError"),
    ("s3", "throttle"): (503, "SlowDown"),
    ("s3", "internal"): (500, "InternalError"),
    ("lambda", "throttle"): (429, "TooManyRequestsException"),
    ("lambda", "unavailable"): (503, "ServiceUnavailable"),
    ("cloudwatch", "throttle"): (400, "ThrottlingException"),
}


@pytest.mark.parametrize(("service", "kind"), sorted(EXPECTED))
def test_error_responses_parse_as_the_real_service_error(emulator: Emulator, service: str, kind: str) -> None:
    operation, call = SERVICE_CALLS[service]
    emulator.add_fault(service, operation, error=kind, times=1)
    with pytest.raises(ClientError) as raised:
        call(emulator.client(service, **NO_RETRY))
    status, code = EXPECTED[(service, kind)]
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(emulator.client(service, **NO_RETRY))  # times=1: the next call is served


def test_conditional_fault_is_dynamodbs_conditional_check_failure(emulator: Emulator, table: str) -> None:
    put(emulator, table, "order-3")
    emulator.add_fault("dynamodb", "UpdateItem", error="conditional", times=1)
    client = emulator.client("dynamodb")
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.update_item(
            TableName=table,
            Key={"orderId": {"S": "order-3"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "APPROVED"}},
        )
    assert item(emulator, table, "order-3")["status"] == {"S": "PENDING"}  # not applied


def test_conditional_is_refused_for_services_without_conditions(emulator: Emulator) -> None:
    with pytest.raises(EmulatorError, match="conditional"):
        emulator.add_fault("sns", "Publish", error="conditional")


def test_unknown_error_kind_is_refused(emulator: Emulator) -> None:
    with pytest.raises(EmulatorError, match="error must be one of"):
        emulator.add_fault("dynamodb", "PutItem", error="explode")


# -- which requests a rule hits ------------------------------------------------------------------


def test_match_only_fails_requests_whose_body_contains_the_text(emulator: Emulator, table: str) -> None:
    rule_id = emulator.add_fault("dynamodb", "PutItem", error="throttle", times=-1, match="order-target")
    put(emulator, table, "order-bystander", **NO_RETRY)
    with pytest.raises(ClientError):
        put(emulator, table, "order-target", **NO_RETRY)
    assert rule(emulator, rule_id)["fired"] == 1


def test_match_on_sns_message_text(emulator: Emulator, unique: Callable[[str], str]) -> None:
    sns = emulator.client("sns", **NO_RETRY)
    topic = sns.create_topic(Name=unique("outcomes"))["TopicArn"]
    emulator.add_fault("sns", "PublishBatch", error="throttle", times=1, match="APPROVED")
    entries = [{"Id": "1", "Message": json.dumps({"outcome": "FAILED"})}]
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    with pytest.raises(ClientError) as raised:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "APPROVED"}])
    assert raised.value.response["Error"]["Code"] == "Throttling"


def test_times_counts_down_then_requests_pass(emulator: Emulator, table: str) -> None:
    rule_id = emulator.add_fault("dynamodb", "PutItem", error="throttle", times=2)
    for _ in range(2):
        with pytest.raises(ClientError):
            put(emulator, table, "order-4", **NO_RETRY)
    put(emulator, table, "order-4", **NO_RETRY)
    assert (rule(emulator, rule_id)["fired"], rule(emulator, rule_id)["exhausted"]) == (2, True)


def test_operation_omitted_matches_every_operation_of_the_service(emulator: Emulator, table: str) -> None:
    emulator.add_fault("dynamodb", None, error="unavailable", times=2)
    with pytest.raises(ClientError):
        put(emulator, table, "order-5", **NO_RETRY)
    with pytest.raises(ClientError):
        emulator.client("dynamodb", **NO_RETRY).list_tables()
    emulator.client("dynamodb", **NO_RETRY).list_tables()


def test_clear_faults_and_remove_one(emulator: Emulator) -> None:
    first = emulator.add_fault("sns", "Publish", times=-1)
    emulator.add_fault("sqs", "SendMessage", times=-1)
    emulator.remove_fault(first)
    assert [r["service"] for r in emulator.fault_report()] == ["sqs"]
    emulator.clear_faults()
    assert emulator.fault_report() == []


# -- hangs and delays ----------------------------------------------------------------------------


def test_hang_holds_one_request_but_not_the_others(emulator: Emulator, table: str) -> None:
    emulator.add_fault("dynamodb", "PutItem", error="hang", seconds=1.5, match="order-hung")
    finished: dict[str, float] = {}
    started = time.monotonic()

    def hung_put() -> None:
        put(emulator, table, "order-hung")
        finished["hung"] = time.monotonic() - started

    thread = threading.Thread(target=hung_put)
    thread.start()
    time.sleep(0.2)
    put(emulator, table, "order-free")  # served while the other one hangs: the hang is outside the lock
    finished["free"] = time.monotonic() - started
    thread.join()
    assert finished["free"] < 1.0
    assert finished["hung"] >= 1.5
    assert item(emulator, table, "order-hung") is not None  # then answered normally


def test_a_client_timing_out_on_a_hang_does_not_stop_the_request(emulator: Emulator, table: str) -> None:
    """What a process killed mid-call leaves behind: the write still lands."""
    emulator.add_fault("dynamodb", "PutItem", error="hang", seconds=1.0)
    with pytest.raises(ReadTimeoutError):
        put(emulator, table, "order-abandoned", read_timeout=0.3, **NO_RETRY)
    time.sleep(1.2)
    assert item(emulator, table, "order-abandoned") is not None


def test_delay_before_and_after_serving(emulator: Emulator, table: str) -> None:
    emulator.add_fault("dynamodb", "PutItem", error="delay", seconds=0.5, times=1)
    started = time.monotonic()
    put(emulator, table, "order-delayed")
    assert time.monotonic() - started >= 0.5

    emulator.add_fault("dynamodb", "PutItem", error="delay", seconds=1.0, after=True)
    with pytest.raises(ReadTimeoutError):
        put(emulator, table, "order-late-answer", read_timeout=0.4, **NO_RETRY)
    assert item(emulator, table, "order-late-answer") is not None  # applied before the late answer


def test_hang_needs_seconds(emulator: Emulator) -> None:
    with pytest.raises(EmulatorError, match="seconds"):
        emulator.add_fault("dynamodb", "PutItem", error="hang")


# -- call counters --------------------------------------------------------------------------------


def test_stats_count_calls_items_read_and_faults(emulator: Emulator, table: str) -> None:
    for n in range(3):
        put(emulator, table, f"order-s{n}")
    emulator.reset_stats()
    dynamodb = emulator.client("dynamodb", **NO_RETRY)
    put(emulator, table, "order-s3", **NO_RETRY)
    dynamodb.scan(TableName=table)
    dynamodb.get_item(TableName=table, Key={"orderId": {"S": "order-s0"}})
    dynamodb.get_item(TableName=table, Key={"orderId": {"S": "missing"}})
    emulator.add_fault("dynamodb", "GetItem", error="throttle", times=1)
    with pytest.raises(ClientError):
        dynamodb.get_item(TableName=table, Key={"orderId": {"S": "order-s0"}})

    stats = emulator.stats()
    assert stats["calls"] == {"dynamodb.PutItem": 1, "dynamodb.Scan": 1, "dynamodb.GetItem": 3}
    assert stats["faulted"] == {"dynamodb.GetItem": 1}
    assert stats["itemsRead"] == {"dynamodb.Scan": 4, "dynamodb.GetItem": 1}
    assert stats["itemsReadByTable"] == {table: 5}
    emulator.reset_stats()
    assert emulator.stats()["calls"] == {}


def test_stats_name_query_protocol_and_rest_operations(
    emulator: Emulator, unique: Callable[[str], str]
) -> None:
    emulator.reset_stats()
    topic = emulator.client("sns").create_topic(Name=unique("topic"))["TopicArn"]
    emulator.client("sns").publish(TopicArn=topic, Message="m")
    bucket = unique("bucket")
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.zip", Body=b"x")
    s3.get_object(Bucket=bucket, Key="a/b.zip")["Body"].read()
    calls = emulator.stats()["calls"]
    assert calls == {
        "sns.CreateTopic": 1,
        "sns.Publish": 1,
        "s3.CreateBucket": 1,
        "s3.PutObject": 1,
        "s3.GetObject": 1,
    }
