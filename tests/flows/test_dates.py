"""Date arithmetic for offers: pauses, free periods, month ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cancelpage.flows import (
    FreePeriodOffer,
    PauseOffer,
    Snapshot,
    free_period_end,
    pause_resumes_at,
    to_timestamp,
)

# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "months", "expected"),
    [
        (datetime(2026, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, 30, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2028, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 4, 30, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 2, datetime(2027, 2, 15, tzinfo=UTC)),
        (datetime(2026, 5, 31, tzinfo=UTC), 12, datetime(2027, 5, 31, tzinfo=UTC)),
        (datetime(2027, 2, 28, tzinfo=UTC), 12, datetime(2028, 2, 28, tzinfo=UTC)),
    ],
)
def test_pause_resumes_calendar_months_later(
    now: datetime, months: int, expected: datetime
) -> None:
    assert pause_resumes_at(PauseOffer("p", "P", months=months), now) == expected


def test_pause_accepts_unix_time_and_other_zones() -> None:
    offer = PauseOffer("p", "P", months=1)
    jan31 = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert pause_resumes_at(offer, int(jan31.timestamp())) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    # 01:00 on Feb 1 in UTC+2 is still January 31 in UTC.
    plus_two = datetime(2026, 2, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    resumed = pause_resumes_at(offer, plus_two)
    assert resumed == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert resumed.tzinfo is UTC


def test_dates_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        pause_resumes_at(PauseOffer("p", "P"), datetime(2026, 1, 1))


NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("snapshot", "start"),
    [
        (Snapshot(), NOW),
        (Snapshot(period_end=TS - 86400), NOW),  # a past period end never pulls the start back
        (Snapshot(period_end=TS + 5 * 86400), NOW + timedelta(days=5)),
        (Snapshot(period_end=TS + 5 * 86400, trial_end=TS + 9 * 86400), NOW + timedelta(days=9)),
        (Snapshot(period_end=TS + 9 * 86400, trial_end=TS + 5 * 86400), NOW + timedelta(days=9)),
    ],
)
def test_free_period_starts_after_what_is_already_covered(
    snapshot: Snapshot, start: datetime
) -> None:
    end = free_period_end(FreePeriodOffer("f", "F", days=30), snapshot, NOW)
    assert end == start + timedelta(days=30)
    assert end.tzinfo is UTC
    assert free_period_end(FreePeriodOffer("f", "F", days=30), snapshot, TS) == end


def test_to_timestamp() -> None:
    assert to_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == 1767225600
    assert to_timestamp(datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == 1767225600
