"""The emulator's lock makes moto behave like DynamoDB under concurrency, and its lifecycle is safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from paysweep_local.emulator import Emulator

TRIALS = 60


def make_table(emulator: Emulator, name: str) -> None:
    emulator.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
    )


def race(writers: list[Callable[[], None]]) -> int:
    """Run the writers at the same instant; count how many succeeded."""
    barrier = threading.Barrier(len(writers))

    def attempt(write: Callable[[], None]) -> bool:
        barrier.wait()
        try:
            write()
            return True
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False

    with ThreadPoolExecutor(len(writers)) as pool:
        return sum(pool.map(attempt, writers))


def test_two_concurrent_conditional_puts_exactly_one_wins(
    emulator: Emulator, unique: Callable[[str], str]
) -> None:
    table = unique("race-put")
    make_table(emulator, table)
    dynamodb = emulator.client("dynamodb", retries={"mode": "standard", "total_max_attempts": 1})

    def put(order_id: str, owner: str) -> Callable[[], None]:
        return lambda: dynamodb.put_item(
            TableName=table,
            Item={"orderId": {"S": order_id}, "owner": {"S": owner}},
            ConditionExpression="attribute_not_exists(orderId)",
        )

    winners = [race([put(f"order-{n}", "a"), put(f"order-{n}", "b")]) for n in range(TRIALS)]
    assert winners == [1] * TRIALS


def test_concurrent_conditional_claims_never_double_claim(
    emulator: Emulator, unique: Callable[[str], str]
) -> None:
    """The product's lease pattern: UpdateItem guarded by attribute_not_exists(leaseOwner)."""
    table = unique("race-claim")
    make_table(emulator, table)
    dynamodb = emulator.client("dynamodb", retries={"mode": "standard", "total_max_attempts": 1})
    for n in range(TRIALS):
        dynamodb.put_item(TableName=table, Item={"orderId": {"S": f"order-{n}"}})

    def claim(order_id: str, owner: str) -> Callable[[], None]:
        return lambda: dynamodb.update_item(
            TableName=table,
            Key={"orderId": {"S": order_id}},
            UpdateExpression="SET leaseOwner = :me",
            ConditionExpression="attribute_not_exists(leaseOwner)",
            ExpressionAttributeValues={":me": {"S": owner}},
        )

    winners = [race([claim(f"order-{n}", f"sweep-{k}") for k in range(3)]) for n in range(TRIALS)]
    assert winners == [1] * TRIALS


def test_env_points_clients_at_the_emulator(emulator: Emulator) -> None:
    env = emulator.env()
    assert env["AWS_ENDPOINT_URL"] == emulator.url
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    child_env = {"PATH": os.environ.get("PATH", ""), **env}
    out = subprocess.run(
        [sys.executable, "-c", script], env=child_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "123456789012", out.stderr


def test_reset_empties_moto_and_clears_faults_and_stats() -> None:
    """On its own emulator: resetting the shared one would wipe the deployed stack."""
    with Emulator() as own:
        own.client("sqs").create_queue(QueueName="before-reset")
        own.add_fault("sqs", "ListQueues", error="throttle", times=-1)
        own.reset()
        assert own.fault_report() == []
        assert own.stats()["calls"] == {}
        assert own.client("sqs").list_queues().get("QueueUrls", []) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch processes")
def test_emulator_subprocess_dies_with_its_parent(
    wait_dead: Callable[[int], bool], is_running: Callable[[int], bool], tmp_path: Path
) -> None:
    script = (
        "from paysweep_local.emulator import Emulator; import time; e = Emulator().start(); "
        "print(e.process.pid, flush=True); time.sleep(120)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # a SIGKILLed parent cannot clean its temp dir
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        emulator_pid = int(parent.stdout.readline())
        assert is_running(emulator_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_dead(emulator_pid), "the emulator outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()
