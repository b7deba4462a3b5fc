from datetime import timedelta

from paysweep.config import DEFAULT_BACKOFF
from paysweep.domain.schedule import audit_retry_at, backoff_delay, next_audit_at, next_check_at
from support.factories import T0


def test_backoff_follows_the_schedule_then_repeats_its_last_step():
    delays = [backoff_delay(n, DEFAULT_BACKOFF).total_seconds() for n in range(1, 10)]
    assert delays == [60, 60, 120, 180, 300, 600, 900, 900, 900]
    assert backoff_delay(0, DEFAULT_BACKOFF) == timedelta(seconds=60)


def test_next_check_never_passes_the_final_check():
    final = T0 + timedelta(seconds=90)
    assert next_check_at(7, T0, final, DEFAULT_BACKOFF) == final
    assert next_check_at(1, T0, final, DEFAULT_BACKOFF) == T0 + timedelta(seconds=60)


def test_after_the_final_check_the_backoff_alone_applies():
    final = T0 - timedelta(hours=1)
    assert next_check_at(3, T0, final, DEFAULT_BACKOFF) == T0 + timedelta(seconds=120)


def test_next_check_is_truncated_to_a_whole_second_so_one_period_means_the_next_tick():
    sweep_started = T0 + timedelta(milliseconds=400)  # the scheduler fires a little after the minute
    next_at = next_check_at(1, sweep_started, sweep_started + timedelta(hours=1), (60,))
    next_tick = T0 + timedelta(seconds=60, milliseconds=300)
    assert next_at == T0 + timedelta(seconds=60) and next_at <= next_tick


def test_a_doubt_at_the_final_check_is_asked_again_soon_until_the_give_up_time():
    final = T0 - timedelta(minutes=1)
    give_up = T0 + timedelta(minutes=10)
    assert next_check_at(9, T0, final, DEFAULT_BACKOFF, give_up) == T0 + timedelta(seconds=60)
    assert next_check_at(9, give_up - timedelta(seconds=30), final, DEFAULT_BACKOFF, give_up) == give_up


# -- audits -------------------------------------------------------------------------------------

def test_audits_follow_the_schedule_from_the_decision_and_skip_the_steps_they_missed():
    schedule = (3600, 86400)
    assert next_audit_at(T0, T0, schedule) == T0 + timedelta(hours=1)
    assert next_audit_at(T0, T0 + timedelta(hours=1), schedule) == T0 + timedelta(days=1)  # the audit at +1 h
    assert next_audit_at(T0, T0 + timedelta(hours=30), schedule) is None  # the last one, reached late
    assert next_audit_at(T0, T0 + timedelta(hours=1, seconds=-1), schedule) == T0 + timedelta(hours=1)
    assert next_audit_at(T0, T0, ()) is None


def test_a_doubtful_audit_is_asked_again_soon_but_not_forever():
    retry, window = timedelta(minutes=15), timedelta(days=1)
    schedule = (3600, 86400)
    at_one_hour = T0 + timedelta(hours=1)
    assert audit_retry_at(T0, at_one_hour, schedule, retry_after=retry, give_up_after=window) == at_one_hour + retry
    # never later than the next scheduled audit
    just_before = T0 + timedelta(days=1, minutes=-5)
    assert audit_retry_at(T0, just_before, schedule, retry_after=retry, give_up_after=window) == T0 + timedelta(days=1)
    # after the last audit: retried for a day, then given up
    assert audit_retry_at(T0, T0 + timedelta(days=1), schedule, retry_after=retry, give_up_after=window) == (
        T0 + timedelta(days=1) + retry)
    assert audit_retry_at(T0, T0 + timedelta(days=2), schedule, retry_after=retry, give_up_after=window) is None
    assert audit_retry_at(T0, T0, (), retry_after=retry, give_up_after=window) is None
