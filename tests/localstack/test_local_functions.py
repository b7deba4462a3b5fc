"""LocalFunction runs handlers under AWS's runtime client as Lambda does: the Runtime API, the
context, the environment, errors as Lambda reports them, logs, timeouts, crashes, time, scaling."""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from paysweep_local.deploy import DeployedStack, FunctionInfo
from paysweep_local.emulator import Emulator
from paysweep_local.functions import (
    FunctionThrottled,
    LocalFunction,
    runtime_dirs,
    schedule_event,
    schedule_target,
)
from paysweep_local.runtime_api import RuntimeApi
from paysweep_local.sandbox_clock import remove_leftovers

RUNTIME_ERROR_KEYS = {"errorMessage", "errorType", "requestId", "stackTrace"}
"""What awslambdaric's bootstrap.make_error posts for an init error or a handler exception."""


@pytest.fixture
def make_function(
    emulator: Emulator,
    fixture_function_info: Callable[..., FunctionInfo],
    tmp_path: Path,
) -> Iterator[Callable[..., LocalFunction]]:
    started: list[LocalFunction] = []

    def make(clock: Callable[[], datetime] | None = None, extra_env: dict[str, str] | None = None,
             **options: Any) -> LocalFunction:
        info = fixture_function_info(**options)
        function = LocalFunction(info, emulator, log_dir=tmp_path, clock=clock, extra_env=extra_env).start()
        started.append(function)
        return function

    yield make
    for function in started:
        function.stop()


def with_handler(info: FunctionInfo, **changes: Any) -> FunctionInfo:
    return FunctionInfo(**{**info.__dict__, **changes})


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


# -- the runtime client, its context and the environment ------------------------------------------


def test_the_sandbox_is_awslambdaric_on_the_deployed_handler(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function()
    assert cmdline(function.pids[0])[-3:] == ["-m", "awslambdaric", "app.lambda_handler"]


def test_invocation_gets_the_runtime_clients_context(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function(timeout_seconds=7)
    answer = function.invoke({"action": "echo", "orderId": "o-1"})
    assert answer.ok, answer.error
    result = answer.result
    assert result["event"] == {"action": "echo", "orderId": "o-1"}
    assert result["function_name"] == function.info.name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"] == function.info.arn
    assert result["memory_limit_in_mb"] == "192"  # a string: the runtime client reads it from the environment
    assert result["aws_request_id"] == answer.request_id
    assert result["log_group_name"] == f"/aws/lambda/{function.info.name}"
    assert result["log_stream_name"] == result["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 6000 < result["remaining_ms"] <= 7000
    assert result["cwd"] == str(function.info.code_dir)
    assert result["sys_path_head"] == [str(function.info.code_dir), str(function.info.layer_dirs[0]), runtime_dirs()[0]]


def test_the_sandbox_has_the_variables_lambda_sets(
    make_function: Callable[..., LocalFunction], emulator: Emulator
) -> None:
    function = make_function(memory_mb=256)
    first, second = function.invoke({"action": "echo"}), function.invoke({"action": "echo"})
    env, info = first.result["env"], function.info
    assert {key: env.get(key) for key in (
        "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV", "AWS_LAMBDA_INITIALIZATION_TYPE",
    )} == {
        "AWS_LAMBDA_FUNCTION_NAME": info.name, "_HANDLER": "app.lambda_handler", "LAMBDA_TASK_ROOT": str(info.code_dir),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{info.name}", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    host, _, port = env["AWS_LAMBDA_RUNTIME_API"].partition(":")
    assert host == "127.0.0.1" and port.isdigit()
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].startswith(f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]")
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")  # set per invocation by the runtime client
    assert env["_X_AMZN_TRACE_ID"] != second.result["env"]["_X_AMZN_TRACE_ID"]
    assert env["FIXTURE_VARIABLE"] == "from-template"
    assert env["AWS_ENDPOINT_URL"] == emulator.url
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert "AWS_PROFILE" not in env


def test_a_trace_header_given_in_the_environment_reaches_every_invocation(
    make_function: Callable[..., LocalFunction],
) -> None:
    header = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    function = make_function(extra_env={"_X_AMZN_TRACE_ID": header})
    assert [function.invoke({"action": "echo"}).result["env"]["_X_AMZN_TRACE_ID"] for _ in range(2)] == [header] * 2


def test_handler_output_goes_to_the_logs_of_its_invocation(make_function: Callable[..., LocalFunction]) -> None:
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
    assert not any(isinstance(line, str) and line.startswith(("START", "END", "REPORT")) for line in first.logs)
    everything = function.all_logs()
    assert everything.count("a plain print line") == 2
    stream = function.log_paths()[0].read_text()
    assert f"START RequestId: {first.request_id} Version: $LATEST" in stream
    assert f"REPORT RequestId: {first.request_id}\tDuration: " in stream and "Init Duration: " in stream


def test_lambda_log_controls_are_the_runtime_clients(make_function: Callable[..., LocalFunction]) -> None:
    """Without log controls the root logger stays at WARNING, in the runtime's text format;
    AWS_LAMBDA_LOG_LEVEL / AWS_LAMBDA_LOG_FORMAT are applied by awslambdaric itself."""
    plain = make_function().invoke({"action": "log_levels"})
    assert plain.result == {"root_level": "WARNING"}
    warnings = [line for line in plain.logs if isinstance(line, str) and "a warning line" in line]
    assert len(warnings) == 1 and warnings[0].startswith("[WARNING]\t")
    assert warnings[0].split("\t")[2] == plain.request_id
    assert not any("an info line" in str(line) for line in plain.logs)

    controlled = make_function(extra_env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_FORMAT": "JSON"})
    answer = controlled.invoke({"action": "log_levels"})
    assert answer.result == {"root_level": "DEBUG"}
    records = [r for r in answer.log_records() if r.get("logger") == "stdlib_library"]
    assert [(r["level"], r["message"]) for r in records] == [
        ("DEBUG", "a debug line"), ("INFO", "an info line"), ("WARNING", "a warning line")
    ]
    assert all(r["requestId"] == answer.request_id for r in records)


def test_stdout_is_drained_a_handler_printing_megabytes_does_not_hang(
    make_function: Callable[..., LocalFunction],
) -> None:
    function = make_function(timeout_seconds=30)
    started = time.monotonic()
    answer = function.invoke({"action": "print_lots", "kib": 8 * 1024})
    assert answer.ok, answer.error
    assert time.monotonic() - started < 20
    assert sum(1 for line in answer.logs if line == "x" * 1023) == 8 * 1024
    assert function.invoke({"action": "noop"}).ok


# -- the sandbox lifecycle ---------------------------------------------------------------------------


def test_warm_sandbox_is_reused_and_restart_is_a_cold_start(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function()
    first, second = function.invoke({"action": "echo"}), function.invoke({"action": "echo"})
    assert (first.cold_start, second.cold_start) == (True, False)
    assert first.result["pid"] == second.result["pid"] == function.pids[0]
    assert second.result["invocations"] == 2
    function.restart()
    third = function.invoke({"action": "echo"})
    assert third.cold_start and third.result["invocations"] == 1
    assert third.result["pid"] != first.result["pid"]


def test_warm_invocations_take_no_nagle_delay(make_function: Callable[..., LocalFunction]) -> None:
    """Without TCP_NODELAY on the Runtime API, each invocation waits ~80 ms for delayed ACKs."""
    function = make_function()
    function.invoke({"action": "noop"})
    took = []
    for _ in range(15):
        started = time.monotonic()
        assert function.invoke({"action": "noop"}).ok
        took.append(time.monotonic() - started)
    assert statistics.median(took) < 0.03, took


def test_the_runtime_api_sets_tcp_nodelay_and_refuses_unknown_request_ids() -> None:
    api = RuntimeApi()
    try:
        connection = http.client.HTTPConnection(api.address, timeout=5)
        connection.request("POST", "/2018-06-01/runtime/invocation/no-such-id/response", body=b"{}")
        response = connection.getresponse()
        assert response.status == 400
        assert json.loads(response.read())["errorType"] == "InvalidRequestID"
        connection.close()
        assert api.nodelay == [True]
    finally:
        api.close("test over")


# -- errors as Lambda reports them ---------------------------------------------------------------------


def test_handler_exception_is_returned_as_lambda_reports_it(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function()
    answer = function.invoke({"action": "fail"})
    assert answer.result is None
    assert set(answer.error) == RUNTIME_ERROR_KEYS
    assert (answer.error["errorType"], answer.error["errorMessage"]) == ("ValueError", "boom")
    assert answer.error["requestId"] == answer.request_id
    assert answer.error["stackTrace"][-1].endswith('in fail\n    raise ValueError("boom")\n')
    assert "about to fail" in answer.logs
    assert any(isinstance(line, str) and line.startswith("[ERROR] ValueError: boom\r") for line in answer.logs)
    assert function.invoke({"action": "echo"}).ok  # the sandbox survives a handler error


def test_unserialisable_result_is_a_marshal_error(make_function: Callable[..., LocalFunction]) -> None:
    error = make_function().invoke({"action": "unserialisable"}).error
    assert error is not None and error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type object is not JSON serializable"


INIT_ERRORS = {
    "handler function missing": (
        "app.no_such_handler", "Runtime.HandlerNotFound", "Handler 'no_such_handler' missing on module 'app'"
    ),
    "handler module missing": (
        "no_such_module.lambda_handler", "Runtime.ImportModuleError",
        "Unable to import module 'no_such_module': No module named 'no_such_module'",
    ),
    "a dependency missing": (
        "broken_import.lambda_handler", "Runtime.ImportModuleError",
        "Unable to import module 'broken_import': No module named 'no_such_dependency'",
    ),
    "malformed handler string": (
        "lambda_handler", "Runtime.MalformedHandlerName",
        "Bad handler 'lambda_handler': not enough values to unpack (expected 2, got 1)",
    ),
    "module-level code raises": ("init_raises.lambda_handler", "ValueError", "bad configuration at import"),
}


@pytest.mark.parametrize(("handler", "error_type", "message"), INIT_ERRORS.values(), ids=INIT_ERRORS.keys())
def test_the_deployed_handler_string_is_loaded_and_init_errors_are_lambdas(
    emulator: Emulator, fixture_function_info: Callable[..., FunctionInfo], tmp_path: Path,
    handler: str, error_type: str, message: str,
) -> None:
    with LocalFunction(with_handler(fixture_function_info(), handler=handler), emulator, log_dir=tmp_path) as function:
        first, second = function.invoke({}), function.invoke({})
        assert function.containers == 0  # a sandbox whose init failed is not kept
    for answer in (first, second):  # every invocation retries the init, as Lambda does
        assert answer.cold_start and answer.result is None
        assert answer.error is not None and set(answer.error) == RUNTIME_ERROR_KEYS
        assert (answer.error["errorType"], answer.error["errorMessage"], answer.error["requestId"]) == (
            error_type, message, ""
        )
        assert any(isinstance(line, str) and line.startswith(f"[ERROR] {error_type}: ") for line in answer.logs)
    trace = "".join(first.error["stackTrace"])
    assert ("init_raises.py" in trace) == (error_type == "ValueError")


def test_a_missing_layer_fails_the_import(
    emulator: Emulator, fixture_function_info: Callable[..., FunctionInfo], tmp_path: Path
) -> None:
    """The repository's own editable install must not stand in for the deployed layer."""
    with LocalFunction(with_handler(fixture_function_info(), layer_dirs=()), emulator, log_dir=tmp_path) as function:
        error = function.invoke({}).error
    assert error is not None and error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'paysweep'"


def test_handler_reaches_the_emulator_through_its_environment(
    make_function: Callable[..., LocalFunction], emulator: Emulator, unique: Callable[[str], str]
) -> None:
    name = unique("from-sandbox")
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


def test_timeout_kills_the_sandbox_and_the_next_invocation_is_cold(
    make_function: Callable[..., LocalFunction], wait_dead: Callable[[int], bool]
) -> None:
    function = make_function(timeout_seconds=1)
    pid = function.pids[0]
    started = time.monotonic()
    answer = function.invoke({"action": "sleep", "seconds": 30})
    assert time.monotonic() - started < 5
    assert answer.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {answer.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert {"message": "going to sleep", "seconds": 30} in answer.logs
    assert wait_dead(pid)
    assert wait_for(lambda: not list(Path("/dev/shm").glob(f"*faketime_*_{pid}"))), "libfaketime's leftovers stay"
    after = function.invoke({"action": "echo"})
    assert after.cold_start and after.result["pid"] != pid


def test_timeout_argument_overrides_the_deployed_timeout(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function(timeout_seconds=1)
    answer = function.invoke({"action": "sleep", "seconds": 1.2}, timeout_seconds=3)
    assert answer.ok and 1000 < answer.result["remaining_ms"] < 2000


def test_the_sandbox_clock_follows_the_given_clock_at_every_invocation(
    make_function: Callable[..., LocalFunction],
) -> None:
    """libfaketime shifts the whole wall clock of the process (the product's utc_now, time.time
    and so the runtime client's remaining time) by the offset of each invocation; the monotonic
    clock stays real."""
    offset = {"value": timedelta(hours=1)}
    function = make_function(clock=lambda: datetime.now(UTC) + offset["value"], timeout_seconds=5)
    seen = []
    for shift in (timedelta(hours=1), timedelta(days=-2), timedelta(0)):
        offset["value"] = shift
        monotonic = time.monotonic()
        answer = function.invoke({"action": "echo"})
        assert answer.ok, answer.error
        now = datetime.now(UTC)
        assert abs(datetime.fromisoformat(answer.result["now"]) - (now + shift)) < timedelta(seconds=5)
        assert abs(answer.result["time"] - (now + shift).timestamp()) < 5
        assert 4000 < answer.result["remaining_ms"] <= 5000
        assert abs(answer.result["monotonic"] - monotonic) < 5
        seen.append(answer.result["pid"])
        waits = function.invoke({"action": "timed_waits"}).result
        assert all(0.15 < took < 1.5 for took in waits.values()), waits
    assert len(set(seen)) == 1  # one warm sandbox: no offset of an earlier invocation is served again


# -- crashes and concurrency ---------------------------------------------------------------------------


def test_kill_mid_invocation_is_a_crashed_sandbox(make_function: Callable[..., LocalFunction]) -> None:
    function = make_function()
    pending = function.invoke_async({"action": "sleep", "seconds": 30})
    time.sleep(0.5)
    function.kill()
    answer = pending.result(timeout=10)
    assert answer.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {answer.request_id} Error: Runtime exited with error: signal: killed",
    }
    assert function.containers == 0
    assert function.invoke({"action": "echo"}).cold_start


def test_process_exit_in_handler_is_an_exit_error(make_function: Callable[..., LocalFunction]) -> None:
    answer = make_function().invoke({"action": "exit"})
    assert answer.error is not None and answer.error["errorType"] == "Runtime.ExitError"
    assert answer.error["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_overlapping_invocations_run_in_separate_sandboxes_up_to_the_reserved_concurrency(
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
function = LocalFunction(info, NoEmulator(), log_dir={log_dir!r}).start()
if {busy!r}:
    function.invoke_async({{"action": "sleep", "seconds": 60}}, timeout_seconds=90)
    time.sleep(0.5)
print(function.pids[0], flush=True)
time.sleep(120)
"""
"""A process that starts a sandbox (idle, or busy in a long invocation), prints its pid, then
waits to be killed."""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch processes")
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "mid-invocation"])
def test_sandbox_dies_with_its_parent(
    fixture_function_info: Callable[..., FunctionInfo],
    wait_dead: Callable[[int], bool],
    is_running: Callable[[int], bool],
    tmp_path: Path,
    busy: bool,
) -> None:
    info = fixture_function_info()
    script = ORPHAN_SCRIPT.format(
        code_dir=str(info.code_dir), layer_dir=str(info.layer_dirs[0]), log_dir=str(tmp_path), busy=busy
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        sandbox_pid = int(parent.stdout.readline())
        assert is_running(sandbox_pid)
        parent.kill()
        parent.wait()
        assert wait_dead(sandbox_pid), "the sandbox outlived the process that started it"
        remove_leftovers(sandbox_pid)  # its parent, which would have, is gone
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
    info = deployed.function(folder)
    schedule = next(s for s in deployed.schedules if schedule_target(deployed, s) == info)
    emulator.reset_stats()
    with LocalFunction(info, emulator, log_dir=tmp_path) as function:
        answer = function.invoke(schedule_event(schedule), timeout_seconds=60)
    assert answer.ok, answer.error
    assert answer.result["provider"] in {"kicc-wechatpay", "teemopay"}
    records = answer.log_records("sweep finished")
    assert records and records[0]["function_name"] == info.name
    assert records[0]["function_request_id"] == answer.request_id
    assert any(key.startswith("dynamodb.") for key in emulator.stats()["calls"])
