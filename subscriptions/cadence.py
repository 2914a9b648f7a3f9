"""When a subscription's news goes out: at once, or gathered in a daily or weekly digest at a
local hour. The next digest time is a wall-clock time in the citizen's timezone (zoneinfo), so
"every day at 18:00" stays 18:00 across DST changes."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from subscriptions.errors import InvalidInput
from subscriptions.preferences import HHMM
from subscriptions.rules import Schema

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIODS = ("immediate", "daily", "weekly")
AT, DAY = "18:00", "monday"  # a digest's local time and weekday when none is given


@dataclasses.dataclass(frozen=True)
class Cadence:
    period: str = "immediate"  # immediate | daily | weekly
    at: time = time(18, 0)
    day: str = "monday"  # weekly only

    @property
    def immediate(self) -> bool:
        return self.period == "immediate"

    def next_due(self, tz: str, now: float) -> float:
        """The next digest time strictly after ``now`` (epoch seconds)."""
        zone = ZoneInfo(tz)
        local = datetime.fromtimestamp(now, zone)
        day = local.date()
        for _ in range(8):
            candidate = datetime.combine(day, self.at, tzinfo=zone)
            right_day = self.period == "daily" or DAYS[day.weekday()] == self.day
            if right_day and candidate.timestamp() > now:
                return candidate.timestamp()
            day += timedelta(days=1)
        raise AssertionError("a daily or weekly time comes within eight days")

    def to_json(self) -> dict[str, str]:
        if self.immediate:
            return {"period": "immediate"}
        out = {"period": self.period, "at": self.at.strftime("%H:%M")}
        if self.period == "weekly":
            out["day"] = self.day
        return out


def parse_cadence(value: object) -> Cadence:
    """``"immediate"``, or ``{"period": "daily", "at": "18:00"}``, or
    ``{"period": "weekly", "day": "monday", "at": "08:00"}``."""
    if value is None or value == "immediate":
        return Cadence()
    if not isinstance(value, dict) or value.get("period") not in PERIODS:
        raise InvalidInput(
            "cadence", 'immediate, or {"period": "daily"|"weekly", "at": "HH:MM"}', "not_cadence"
        )
    if value["period"] == "immediate":
        return Cadence()
    at = value.get("at", AT)
    m = HHMM.fullmatch(at) if isinstance(at, str) else None
    if m is None:
        raise InvalidInput("cadence.at", "a local time HH:MM, e.g. 18:00", "not_time")
    day = value.get("day", DAY)
    if value["period"] == "weekly" and day not in DAYS:
        raise InvalidInput("cadence.day", f"one of {', '.join(DAYS)}", "not_day")
    return Cadence(value["period"], time(int(m.group(1)), int(m.group(2))), day)


def cadence_from_json(raw: str) -> Cadence:
    return parse_cadence(json.loads(raw)) if raw else Cadence()


# what ``parse_cadence`` takes
SCHEMAS: dict[str, Schema] = {
    "Cadence": {
        "description": "When news goes out: at once, or in a digest at a local time.",
        "anyOf": [
            {"const": PERIODS[0]},
            {
                "type": "object",
                "properties": {"period": {"const": PERIODS[0]}},
                "required": ["period"],
            },
            {
                "type": "object",
                "properties": {
                    "period": {"enum": list(PERIODS[1:])},
                    "at": {"type": "string", "pattern": HHMM.pattern, "default": AT},
                    "day": {"enum": list(DAYS), "default": DAY},
                },
                "required": ["period"],
            },
        ],
    }
}
