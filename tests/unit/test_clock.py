from datetime import UTC, datetime, timedelta, timezone

import pytest
from paysweep.domain.clock import KST, parse_iso, to_iso


def test_canonical_form_is_fixed_width_utc_whole_seconds():
    moment = datetime(2026, 11, 22, 12, 14, 15, 999999, tzinfo=timezone(timedelta(hours=9)))
    assert to_iso(moment) == "2026-11-22T03:14:15Z"


def test_canonical_strings_sort_like_the_times_they_name():
    times = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s) for s in (0, 0.5, 1, 59, 3600, 86400 * 40)]
    texts = [to_iso(t) for t in times]
    assert texts == sorted(texts)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        to_iso(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-22T03:14:15Z", datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)),
        ("2026-11-22T12:14:15+09:00", datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)),
        ("2026-11-22T03:14:15.250Z", datetime(2026, 11, 22, 3, 14, 15, 250000, tzinfo=UTC)),
    ],
)
def test_parse_accepts_any_offset_and_returns_utc(text, expected):
    parsed = parse_iso(text)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["2026-11-22T03:14:15", "2026-11-22 03:14", "yesterday", "", None, 1700000000])
def test_parse_refuses_timestamps_without_offset_or_not_timestamps(text):
    with pytest.raises(ValueError):
        parse_iso(text)


def test_kst_is_nine_hours_ahead_without_dst():
    assert datetime(2026, 7, 1, 15, 0, tzinfo=UTC).astimezone(KST).strftime("%Y%m%d %H") == "20260702 00"
