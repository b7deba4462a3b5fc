"""LocalFunction runs handlers as Lambda does: protocol, logs, errors, timeouts, crashes, time, scaling."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paysweep_local.deploy import DeployedStack, FunctionInfo
from paysweep_local.emulator import Emulator
from paysweep_local.functions import FunctionThrottled, LocalFunction, schedule_event, schedule_target

PLUMBING_ERRORS = {
    "Runtime.ImportModuleError",
    "Runtime.HandlerNotFound",
    "Runtime.ExitError",
    "Sandbox.Timedout",
}


@pytest.fixture
def make_function(
    emulator: Emulator,
    fixture_function_info: Callable[..., FunctionInfo],
    tmp_path: Path,
) -> Iterator[Callable[..., LocalFunction]]:
    started: list[LocalFunction] = []

    def make(**options: object) -> LocalFunction:
        function = LocalFunction(fixture_function_info(**options), emulator, log_dir=tmp_path).start()
        started.append(function)
        return function

    yield make
    for function in started:
        function.stop()


# -- the protocol ------------------------------------------------------------------------------------


def test_invocation_returns_result_context_and_environment(
    make_function: Callable[..., LocalFunction], emulator: Emulator
) -> None:
    function = make_function(timeout_seconds=7)
    answer = function.invoke({"action": "echo", "orderId": "o-1"})
    assert answer.ok, answer.error
    result = answer.result
    assert result["event"] == {"action": "echo", "orderId": "o-1"}
    assert result["function_name"] == function.info.name
    assert result["invoked_function_arn"] == function.info.arn
    assert result["memory_limit_in_mb"] == 192
    assert result["aws_request_id"] == answer.request_id
    assert 6000 < result["remaining_ms"] <= 7000
    assert result["cwd"] == str(function.info.code_dir)
    assert result["sys_path_head"][:2] == [str(function.info.code_dir), str(function.info.layer_dirs[0])]
    env = result["env"]
    assert env["FIXTURE_VARIABLE"] == "from-template"
    assert env["AWS_ENDPOINT_URL"] == emulator.url
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == function.info.name
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert "AWS_PROFILE" not in env


def test_handler_output_goes_to_the_logs_not_the_protocol(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function()
    first = function.invoke({"action": "echo"})
    second = function.invoke({"action": "echo"})
    assert first.ok and second.ok
    assert "a plain print line" in first.logs and "a stderr line" in first.logs
    assert {"message": "a json print line", "n": 1} in first.logs
    powertools = first.log_records("a powertools line")
    assert len(powertools) == 1 and powertools[0]["action"] == "echo" and powertools[0]["level"] == "INFO"
    assert {"message": "a json print line", "n": 2} in second.logs
    assert {"message": "a json print line", "n": 1} not in second.logs  # logs are per invocation
    assert not any(isinstance(line, str) and line.startswith("START RequestId") for line in first.logs)
    everything = function.all_logs()
    assert everything.count("a plain print line") == 2


def test_warm_container_is_reused_and_restart_is_a_cold_start(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function()
    first, second = function.invoke({"action": "echo"}), function.invoke({"action": "echo"})
    assert (first.cold_start, second.cold_start) == (True, False)
    assert first.result["pid"] == second.result["pid"]
    assert second.result["invocations"] == 2
    function.restart()
    third = function.invoke({"action": "echo"})
    assert third.cold_start and third.result["invocations"] == 1
    assert third.result["pid"] != first.result["pid"]


def test_handler_exception_is_returned_as_lambda_reports_it(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function()
    answer = function.invoke({"action": "fail"})
    assert answer.result is None
    assert (answer.error["type"], answer.error["message"]) == ("ValueError", "boom")
    assert "raise ValueError" in answer.error["traceback"]
    assert "about to fail" in answer.logs
    assert function.invoke({"action": "echo"}).ok  # the container survives a handler error


def test_unserialisable_result_is_a_marshal_error(make_function: Callable[..., LocalFunction]) -> None:
    answer = make_function().invoke({"action": "unserialisable"})
    assert answer.error["type"] == "Runtime.MarshalError"


def test_missing_handler_is_reported_on_invoke(
    emulator: Emulator, fixture_function_info: Callable[..., FunctionInfo], tmp_path: Path
) -> None:
    info = fixture_function_info()
    broken = FunctionInfo(**{**info.__dict__, "handler": "app.no_such_handler"})
    with LocalFunction(broken, emulator, log_dir=tmp_path) as function:
        assert function.invoke({}).error["type"] == "Runtime.HandlerNotFound"


def test_handler_reaches_the_emulator_through_its_environment(
    make_function: Callable[..., LocalFunction], emulator: Emulator, unique: Callable[[str], str]
) -> None:
    name = unique("from-worker")
    emulator.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )
    answer = make_function().invoke({"action": "list_tables"})
    assert answer.ok, answer.error
    assert name in answer.result["tables"]


# -- time --------------------------------------------------------------------------------------------


def test_timeout_kills_the_container(
    make_function: Callable[..., LocalFunction], wait_dead: Callable[[int], bool]
) -> None:
    function = make_function(timeout_seconds=1)
    pid = function.pids[0]
    started = time.monotonic()
    answer = function.invoke({"action": "sleep", "seconds": 30})
    assert time.monotonic() - started < 5
    assert answer.error["type"] == "Sandbox.Timedout"
    assert answer.error["message"] == "Task timed out after 1.00 seconds"
    assert {"message": "going to sleep", "seconds": 30} in answer.logs
    assert wait_dead(pid)
    assert function.invoke({"action": "echo"}).cold_start


def test_timeout_argument_overrides_the_deployed_timeout(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function(timeout_seconds=1)
    answer = function.invoke({"action": "sleep", "seconds": 1.2}, timeout_seconds=3)
    assert answer.ok and 1000 < answer.result["remaining_ms"] < 2000


def test_clock_offset_shifts_the_product_clock_per_invocation(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function()
    shifted = function.invoke({"action": "echo"}, clock_offset_seconds=3600)
    normal = function.invoke({"action": "echo"})
    now = datetime.now(UTC)
    assert abs(datetime.fromisoformat(shifted.result["now"]) - (now + timedelta(hours=1))) < timedelta(
        seconds=30
    )
    assert abs(datetime.fromisoformat(normal.result["now"]) - now) < timedelta(seconds=30)


# -- crashes and concurrency ---------------------------------------------------------------------------


def test_kill_mid_invocation_is_a_crashed_container(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function()
    pending = function.invoke_async({"action": "sleep", "seconds": 30})
    time.sleep(0.5)
    function.kill()
    answer = pending.result(timeout=10)
    assert answer.error["type"] == "Runtime.ExitError"
    assert "signal: sigkill" in answer.error["message"]
    assert function.containers == 0
    assert function.invoke({"action": "echo"}).cold_start


def test_process_exit_in_handler_is_an_exit_error(make_function: Callable[..., LocalFunction]) -> None:
    answer = make_function().invoke({"action": "exit"})
    assert answer.error["type"] == "Runtime.ExitError" and "exit status 3" in answer.error["message"]


def test_overlapping_invocations_run_in_separate_containers(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function(reserved_concurrency=2)
    started = time.monotonic()
    first = function.invoke_async({"action": "sleep", "seconds": 1.5})
    second = function.invoke_async({"action": "sleep", "seconds": 1.5})
    time.sleep(0.8)
    with pytest.raises(FunctionThrottled):
        function.invoke({"action": "echo"})  # a third exceeds the reserved concurrency
    assert first.result(timeout=20).ok and second.result(timeout=20).ok
    assert time.monotonic() - started < 5.0  # they overlapped
    assert function.containers == 2


ORPHAN_SCRIPT = """
import pathlib, time
from paysweep_local.deploy import FunctionInfo
from paysweep_local.functions import LocalFunction

class NoEmulator:
    def env(self):
        return {{}}

info = FunctionInfo(
    "Orphan", "orphan", "arn:aws:lambda:us-east-1:123456789012:function:orphan", pathlib.Path({code_dir!r}),
    (pathlib.Path({layer_dir!r}),), "app.lambda_handler", {{}}, 5, 128, "python3.12",
)
print(LocalFunction(info, NoEmulator(), log_dir={log_dir!r}).start().pids[0], flush=True)
time.sleep(120)
"""
"""A process that starts a Lambda worker, prints its pid, then waits to be killed."""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch processes")
def test_worker_dies_with_its_parent(
    fixture_function_info: Callable[..., FunctionInfo],
    wait_dead: Callable[[int], bool],
    is_running: Callable[[int], bool],
    tmp_path: Path,
) -> None:
    info = fixture_function_info()
    script = ORPHAN_SCRIPT.format(
        code_dir=str(info.code_dir), layer_dir=str(info.layer_dirs[0]), log_dir=str(tmp_path)
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert is_running(worker_pid)
        parent.kill()
        parent.wait()
        assert wait_dead(worker_pid), "the Lambda worker outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()


# -- the real functions --------------------------------------------------------------------------------


def test_schedule_event_fills_the_scheduler_context_attributes(deployed: DeployedStack) -> None:
    schedule = deployed.schedules[0]
    now = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
    event = schedule_event(schedule, now=now, execution_id="exec-1")
    assert event == {"executionId": "exec-1", "scheduledTime": "2026-11-22T03:14:15Z", "shards": "all"}
    assert schedule_event(schedule)["executionId"] != schedule_event(schedule)["executionId"]


@pytest.mark.parametrize("folder", ["kicc_wechatpay", "teemopay"])
def test_real_function_runs_its_scheduled_sweep(
    emulator: Emulator, deployed: DeployedStack, folder: str, tmp_path: Path
) -> None:
    """The product may still be incomplete: the plumbing must work whatever its handler does."""
    info = deployed.function(folder)
    schedule = next(s for s in deployed.schedules if schedule_target(deployed, s) == info)
    emulator.reset_stats()
    with LocalFunction(info, emulator, log_dir=tmp_path) as function:
        answer = function.invoke(schedule_event(schedule), timeout_seconds=60)
    assert answer.error is None or answer.error["type"] not in PLUMBING_ERRORS, answer.error
    if answer.ok:
        assert answer.result["provider"] in {"kicc-wechatpay", "teemopay"}
        records = answer.log_records("sweep finished")
        assert records and records[0]["function_name"] == info.name
        assert any(key.startswith("dynamodb.") for key in emulator.stats()["calls"])
