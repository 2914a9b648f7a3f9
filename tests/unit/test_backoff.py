"""How the retries of a message a provider refused for the time being are spaced and bounded:
``streams.state.scheduler.Backoff`` and the two settings an operator tunes it with."""

from __future__ import annotations

import re

import pytest

from notifier.errors import ConfigError
from notifier.settings import Settings
from streams.state.scheduler import Backoff


def test_the_waits_double_with_jitter_up_to_the_longest() -> None:
    b = Backoff(first=0.5, longest=300.0)
    for attempt, step in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 256.0), (11, 300.0), (5000, 300.0)]:
        waits = {b.wait(attempt) for _ in range(50)}
        assert all(0.8 * step <= w <= step for w in waits), (attempt, waits)
        assert len(waits) > 1  # jitter: a crowd refused together comes back spread out
    assert 30.0 <= b.wait(7, asked=30.0) <= 36.0  # the provider's Retry-After, never sooner
    assert b.wait(1, asked=3600.0) == 300.0  # but never longer than the longest wait


def test_the_defaults_ride_out_an_outage_of_hours() -> None:
    b, s = Backoff(), Settings.from_env({})
    assert (b.longest, b.give_up_after) == (s.retry_max_delay, s.retry_give_up_after)
    assert b.give_up_after >= 3600 and b.longest <= 600


def test_the_retry_settings_are_read_and_checked() -> None:
    s = Settings.from_env(
        {"NOTIFIER_RETRY_MAX_DELAY": "60", "NOTIFIER_RETRY_GIVE_UP_AFTER": "86400"}
    )
    assert (s.retry_max_delay, s.retry_give_up_after) == (60.0, 86400.0)
    assert Settings.from_env(s.to_env()) == s
    with pytest.raises(ConfigError, match=re.escape("NOTIFIER_RETRY_MAX_DELAY=0 is outside")):
        Settings.from_env({"NOTIFIER_RETRY_MAX_DELAY": "0"})
    with pytest.raises(ConfigError, match="NOTIFIER_RETRY_GIVE_UP_AFTER='6h' is not a whole"):
        Settings.from_env({"NOTIFIER_RETRY_GIVE_UP_AFTER": "6h"})
