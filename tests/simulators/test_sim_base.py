"""The simulators' shared plumbing: HTTP behaviour, recording, scripts, faults, concurrency."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from paysweep_local.simulators import KiccSimulator, ManualClock, TeemoPaySimulator
from paysweep_local.simulators import kicc as k
from paysweep_local.simulators.base import MAX_BODY_BYTES, Script
from simtest_support import FIND, MALL, QUERY, REVISE, SECRET, find, find_body, new_key, post, post_bytes


def test_lifecycle_base_url_and_context_manager() -> None:
    sim = KiccSimulator(mall_id=MALL, secret_key=SECRET)
    with pytest.raises(RuntimeError):
        _ = sim.base_url  # not started: no port yet
    with sim as started:
        assert started is sim
        host, port = sim.base_url.removeprefix("http://").split(":")
        assert host == "127.0.0.1" and int(port) > 0
        url = sim.base_url
        assert post(url, "/nope", {}).status_code == 404
    with pytest.raises(requests.ConnectionError):
        requests.post(url + FIND, json={}, timeout=2)


def test_two_simulators_get_distinct_ports() -> None:
    with KiccSimulator() as one, KiccSimulator() as two:
        assert one.base_url != two.base_url


def test_unknown_path_wrong_method_and_oversized_body(kicc_sim: KiccSimulator) -> None:
    url = kicc_sim.base_url
    missing = post(url, "/api/trades/wechatpay/nothing", {"a": 1})
    assert missing.status_code == 404 and isinstance(missing.json(), dict)
    wrong_method = requests.get(url + FIND, timeout=5)
    assert wrong_method.status_code == 405 and isinstance(wrong_method.json(), dict)
    too_big = post_bytes(url, FIND, b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert too_big.status_code == 413
    just_fits = post_bytes(url, FIND, b"{" + b" " * (MAX_BODY_BYTES - 2) + b"}")
    assert just_fits.status_code == 200  # read, then refused by the provider's own check
    assert just_fits.json()["resCd"] == k.RES_BAD_REQUEST
    assert [r.response_status for r in kicc_sim.requests] == [404, 405, 413, 200]


def test_every_request_is_recorded_with_its_answer(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("P1", "O1", 1000)
    response = post(kicc_sim.base_url, FIND, find_body("P1", "key-1"), {"X-Trace": "abc"})
    [record] = kicc_sim.requests
    assert record.path == FIND
    assert record.headers["x-trace"] == "abc" and record.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in record.headers)
    assert record.body == {"mallId": MALL, "shopTransactionId": "key-1", "pgCno": "P1"}
    assert json.loads(record.raw) == record.body
    assert record.at == clock()  # the injected clock, not the wall clock
    assert record.response_status == 200
    assert record.response_body == response.content


def test_requests_for_and_reset(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000)
    find(kicc_sim.base_url, "P1")
    post(kicc_sim.base_url, REVISE, {})
    find(kicc_sim.base_url, "P1")
    assert len(kicc_sim.requests_for(FIND)) == 2
    assert len(kicc_sim.requests_for(REVISE)) == 1
    kicc_sim.reset_requests()
    assert kicc_sim.requests == []
    find(kicc_sim.base_url, "P1")
    assert len(kicc_sim.requests) == 1


def test_non_object_json_body_is_recorded_without_body(kicc_sim: KiccSimulator) -> None:
    post(kicc_sim.base_url, FIND, [1, 2])
    [record] = kicc_sim.requests
    assert record.body is None and record.raw == b"[1, 2]"


# -- scripts ----------------------------------------------------------------------------------


def _statuses(sim: KiccSimulator, pg_cno: str, n: int) -> list[str | None]:
    return [find(sim.base_url, pg_cno).get("statusCd") for _ in range(n)]


def test_steps_are_consumed_in_order_and_the_last_repeats(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.pending(), k.unknown_status("TS77"), k.approved()])
    assert _statuses(kicc_sim, "P1", 5) == [None, "TS77", "TS01", "TS01", "TS01"]


def test_times_repeats_a_step_before_moving_on(kicc_sim: KiccSimulator) -> None:
    script = [k.pending(times=3), k.approved(times=2), k.cancelled("TS12")]
    kicc_sim.add_payment("P1", "O1", 1000, script=script)
    assert _statuses(kicc_sim, "P1", 7) == [None, None, None, "TS01", "TS01", "TS12", "TS12"]


def test_script_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Script([])
    with pytest.raises(TypeError):
        Script(["approved"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        k.pending(times=0)


def test_fail_next_hits_the_next_requests_whatever_the_order(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.pending(), k.approved()])
    kicc_sim.add_payment("P2", "O2", 500, script=[k.approved()])
    kicc_sim.fail_next(FIND, k.http_error(503), count=2)
    key = new_key()
    first = post(kicc_sim.base_url, FIND, {"mallId": MALL, "shopTransactionId": key, "pgCno": "P2"})
    second = post(kicc_sim.base_url, FIND, {"mallId": "WRONG", "shopTransactionId": new_key(), "pgCno": "P1"})
    assert (first.status_code, second.status_code) == (503, 503)  # before any provider check
    # The fault consumed neither the key nor a script step:
    assert find(kicc_sim.base_url, "P2", key=key)["statusCd"] == "TS01"
    assert find(kicc_sim.base_url, "P1").get("statusCd") is None
    assert find(kicc_sim.base_url, "P1")["statusCd"] == "TS01"
    assert post(kicc_sim.base_url, REVISE, {}).status_code == 200  # other paths untouched


def test_fail_next_with_a_provider_step_answers_about_the_request(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.pending()])
    kicc_sim.fail_next(FIND, k.error("W999", "Boom", None))
    answer = find(kicc_sim.base_url, "P1", key="echo-me")
    assert answer == {"resCd": "W999", "resMsg": "Boom", "shopTransactionId": "echo-me"}
    with pytest.raises(ValueError):
        kicc_sim.fail_next("/unknown", k.http_error())


# -- generic steps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "status", "body", "content_type"),
    [
        (k.http_error(), 502, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (k.http_error(504, b"gateway timeout", "text/plain"), 504, b"gateway timeout", "text/plain"),
        (k.non_json(), 200, b"this is not json", None),
        (k.empty_body(), 200, b"", None),
        (k.raw({"resCd": "0000"}, status=201), 201, b'{"resCd":"0000"}', None),
        (k.raw(b"\x00\xff", status=200), 200, b"\x00\xff", None),
        (k.raw([1, 2]), 200, b"[1,2]", None),
    ],
)
def test_generic_steps_send_exactly_what_they_say(
    kicc_sim: KiccSimulator, step: k.Step, status: int, body: bytes, content_type: str | None
) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[step])
    response = post(kicc_sim.base_url, FIND, find_body("P1"))
    assert response.status_code == status
    assert response.content == body
    if content_type:
        assert response.headers["Content-Type"] == content_type


def test_oversized_is_valid_json_of_exactly_the_size(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.oversized(300_000)])
    response = post(kicc_sim.base_url, FIND, {"mallId": MALL, "shopTransactionId": "big", "pgCno": "P1"})
    assert len(response.content) == 300_000
    answer = response.json()
    assert answer["resCd"] == "0000" and answer["statusCd"] == "TS01" and answer["shopTransactionId"] == "big"


def test_slow_answers_late_with_then(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.slow(0.4, then=k.http_error(500)), k.approved()])
    started = time.monotonic()
    response = post(kicc_sim.base_url, FIND, find_body("P1"))
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 500


def test_slow_without_then_answers_the_current_state(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.approved(), k.slow(0.2)])
    assert _statuses(kicc_sim, "P1", 2) == ["TS01", "TS01"]


def test_a_slow_answer_does_not_block_other_requests(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("SLOW", "O1", 1000, script=[k.slow(1.5)])
    kicc_sim.add_payment("FAST", "O2", 1000)
    slow_thread = threading.Thread(target=find, args=(kicc_sim.base_url, "SLOW"))
    slow_thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert find(kicc_sim.base_url, "FAST")["statusCd"] == "TS01"
    assert time.monotonic() - started < 0.5
    assert kicc_sim.requests[0].response_status == 0  # the slow one is still being answered
    slow_thread.join()
    assert kicc_sim.requests[0].response_status == 200


def test_client_timeout_on_a_slow_answer_does_not_break_the_server(
    kicc_sim: KiccSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    kicc_sim.add_payment("P1", "O1", 1000, script=[k.slow(0.6), k.approved()])
    with pytest.raises(requests.ReadTimeout):
        post(kicc_sim.base_url, FIND, find_body("P1"), timeout=0.2)
    time.sleep(0.6)
    assert find(kicc_sim.base_url, "P1")["statusCd"] == "TS01"
    assert capfd.readouterr().err == ""  # quiet: no tracebacks, no access log


def test_latency_applies_to_every_answer(kicc_sim: KiccSimulator) -> None:
    kicc_sim.latency_seconds = 0.3
    started = time.monotonic()
    assert post(kicc_sim.base_url, "/x", {}).status_code == 404
    assert time.monotonic() - started >= 0.3


def test_stop_releases_slow_answers_promptly() -> None:
    sim = KiccSimulator(mall_id=MALL, secret_key=SECRET).start()
    sim.add_payment("P1", "O1", 1000, script=[k.slow(30)])
    thread = threading.Thread(target=lambda: post(sim.base_url, FIND, find_body("P1"), timeout=10))
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 3


# -- concurrency ------------------------------------------------------------------------------


def test_serves_128_concurrent_clients_and_counts_them(kicc_sim: KiccSimulator) -> None:
    for n in range(128):
        kicc_sim.add_payment(f"P{n}", f"O{n}", 1000 + n)
    kicc_sim.latency_seconds = 0.5
    barrier = threading.Barrier(128)

    def one(n: int) -> int:
        barrier.wait()
        return find(kicc_sim.base_url, f"P{n}")["amountInfo"]["totAmount"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=128) as pool:
        amounts = list(pool.map(one, range(128)))
    assert amounts == [1000 + n for n in range(128)]  # each answer about its own payment
    assert time.monotonic() - started < 4  # served in parallel, not one after another
    assert kicc_sim.max_concurrency_seen >= 120
    assert all(r.response_status == 200 for r in kicc_sim.requests) and len(kicc_sim.requests) == 128


def test_max_concurrency_reflects_a_bounded_client(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000)
    kicc_sim.latency_seconds = 0.1
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: find(kicc_sim.base_url, "P1"), range(16)))
    assert 2 <= kicc_sim.max_concurrency_seen <= 4
    kicc_sim.reset_requests()
    assert kicc_sim.max_concurrency_seen == 0
    find(kicc_sim.base_url, "P1")
    assert kicc_sim.max_concurrency_seen == 1


def test_keep_alive_session_reuses_connections(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P1", "O1", 1000)
    with requests.Session() as session:
        for _ in range(3):
            body = find_body("P1")
            assert session.post(kicc_sim.base_url + FIND, json=body, timeout=5).json()["statusCd"] == "TS01"
    assert len(kicc_sim.requests) == 3


def test_teemopay_simulator_shares_the_plumbing(clock: ManualClock) -> None:
    with TeemoPaySimulator(clock=clock) as sim:
        sim.fail_next(QUERY, k.http_error(502))
        assert post(sim.base_url, QUERY, {}).status_code == 502
        assert requests.put(sim.base_url + QUERY, timeout=5).status_code == 405
        assert post(sim.base_url, FIND, {}).status_code == 404
        assert [r.path for r in sim.requests] == [QUERY, QUERY, FIND]


def test_manual_clock_moves() -> None:
    clock = ManualClock()
    before = clock()
    assert clock.advance(hours=25) - before == timedelta(hours=25)
    with pytest.raises(ValueError):
        ManualClock(before.replace(tzinfo=None))
