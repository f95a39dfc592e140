"""A night's window (sortbox.extract.night_window), publish holds (sortbox.publish.hold_reason) and
[drift] thresholds: tiny tables of cases."""

import datetime as dt

import pytest

from sortbox.extract import SourceError, night_window
from sortbox.publish import hold_reason

D = dt.date(2026, 1, 5)
T = dt.datetime


@pytest.mark.parametrize(
    "window_days, since, until, expected",
    [
        (None, None, None, (None, T(2026, 1, 6))),
        (3, None, None, (T(2026, 1, 3), T(2026, 1, 6))),
        (3, T(2026, 1, 4), None, (T(2026, 1, 4), T(2026, 1, 6))),  # [source] since narrows the window
        (3, T(2026, 1, 1), None, (T(2026, 1, 3), T(2026, 1, 6))),
        (None, None, T(2026, 1, 5, 12), (None, T(2026, 1, 5, 12))),  # [source] until too
        (None, None, T(2026, 2, 1), (None, T(2026, 1, 6))),
    ],
)
def test_night_window(window_days, since, until, expected):
    assert night_window(D, window_days=window_days, since=since, until=until) == expected


@pytest.mark.parametrize(
    "window_days, since, until, message",
    [
        (0, None, None, r"\[nightly\] window_days must be at least 1, got 0"),
        (-2, None, None, r"window_days must be at least 1"),
        (None, T(2026, 1, 7), None, r"night 2026-01-05: empty window \[2026-01-07 00:00:00, 2026-01-06 00:00:00\)"),
    ],
)
def test_bad_night_window_is_refused(window_days, since, until, message):
    with pytest.raises(SourceError, match=message):
        night_window(D, window_days=window_days, since=since, until=until)


@pytest.mark.parametrize(
    "night, live, drift, block_on, force, reason",
    [
        ("2026-01-05", None, "n/a", "none", False, None),
        ("2026-01-05", "2026-01-05", "ok", "none", False, None),  # the live night itself, rerun
        ("2026-01-06", "2026-01-05", "alert", "none", False, None),  # drift never blocks by default
        (
            "2026-01-04",
            "2026-01-05",
            "ok",
            "none",
            False,
            "night 2026-01-04 is older than the live release's night 2026-01-05",
        ),
        ("2026-01-04", "2026-01-05", "ok", "none", True, None),
        (
            "2026-01-06",
            "2026-01-05",
            "alert",
            "alert",
            False,
            "drift status alert and [drift] block_publish_on = alert",
        ),
        ("2026-01-06", "2026-01-05", "warn", "alert", False, None),
        ("2026-01-06", "2026-01-05", "alert", "warn", False, "drift status alert and [drift] block_publish_on = warn"),
        ("2026-01-06", "2026-01-05", "n/a", "warn", False, None),
        ("2026-01-06", "2026-01-05", "alert", "alert", True, None),
    ],
)
def test_hold_reason(night, live, drift, block_on, force, reason):
    assert hold_reason(night, live, drift_status=drift, block_on=block_on, force=force) == reason


@pytest.mark.parametrize(
    "option, value, message",
    [
        (
            "score_psi_warn",
            "0.5",
            r"\[drift\] score_psi_warn / score_psi_alert: "
            r"drift thresholds need 0 <= warn <= alert, got warn 0.5, alert 0.25",
        ),
        ("label_share_warn", "-0.1", r"\[drift\] label_share_warn / label_share_alert"),
    ],
)
def test_bad_drift_thresholds_name_the_option(luigi_config, option, value, message):
    from tasks.config import drift

    luigi_config({"drift": {option: value}})
    with pytest.raises(ValueError, match=message):
        drift().limits()
