"""A citizen's preferences: language, timezone, quiet hours.

Quiet hours are a local time window ("22:00" to "07:00", across midnight or not) in the
citizen's timezone; interruptive messages (SMS, push) of an event below severe that fall in it
are deferred to its end, never dropped. zoneinfo makes the end right across DST changes.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from channels import KINDS
from subscriptions.contacts import FALLBACK_CHANNELS
from subscriptions.errors import InvalidInput
from subscriptions.rules import Field, Schema, nullable, ref
from templates import LANGUAGES

HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
QUIET = ("start", "end")  # the local times of quiet hours
PASS_THROUGH = ("severe", "extreme")  # alerts that reach people even in their quiet hours
# the interruptive channels (``channels.Kind.interrupts``): email does not wake anyone up
DEFERRED_CHANNELS = tuple(name for name, kind in KINDS.items() if kind.interrupts)


@dataclasses.dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def until(self, tz: str, now: float) -> float | None:
        """The end of the quiet period ``now`` falls in (epoch seconds), or None."""
        zone = ZoneInfo(tz)
        local = datetime.fromtimestamp(now, zone)
        t = local.time()
        if self.start <= self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:  # across midnight: 22:00 -> 07:00
            inside = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return None
        # a wall-clock time in the zone, then to epoch: DST gaps and folds handled by zoneinfo
        end = datetime.combine(end_day, self.end, tzinfo=zone)
        return end.timestamp()

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


def parse_quiet_hours(value: object) -> QuietHours | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(
            "quiet_hours", 'an object {"start": "22:00", "end": "07:00"} or null', "not_time"
        )
    parsed = []
    for name in QUIET:
        v = value.get(name)
        m = HHMM.fullmatch(v) if isinstance(v, str) else None
        if m is None:
            raise InvalidInput(f"quiet_hours.{name}", "a local time HH:MM, e.g. 22:00", "not_time")
        parsed.append(time(int(m.group(1)), int(m.group(2))))
    if parsed[0] == parsed[1]:
        raise InvalidInput("quiet_hours", "start and end must differ", "same_times")
    return QuietHours(parsed[0], parsed[1])


def check_language(value: object, where: str = "language") -> str:
    """One of the languages the service writes in (``templates.LANGUAGES``): a citizen's, a
    requester's, an imported row's."""
    if value not in LANGUAGES:
        raise InvalidInput(where, f"must be one of {', '.join(LANGUAGES)}", "not_language")
    return str(value)


def parse_timezone(value: object) -> str:
    if not isinstance(value, str) or value not in available_timezones():
        raise InvalidInput("timezone", "an IANA timezone such as Europe/Paris", "not_timezone")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError:
        raise InvalidInput(
            "timezone", "an IANA timezone such as Europe/Paris", "not_timezone"
        ) from None
    return value


# what ``parse_quiet_hours`` takes (start and end differ: said in the description)
SCHEMAS: dict[str, Schema] = {
    "QuietHours": {
        "type": "object",
        "properties": {name: {"type": "string", "pattern": HHMM.pattern} for name in QUIET},
        "required": list(QUIET),
        "description": "A local time window (start and end differ), across midnight or not.",
    }
}

FALLBACK: Schema = {
    "type": "array",
    "items": {"type": "string", "enum": list(FALLBACK_CHANNELS)},
    "uniqueItems": True,
    "description": "Where an alert goes, in this order, when its web push is not delivered "
    "(the subscription was removed, or the push service kept refusing it). Empty: nowhere.",
}
# what a citizen may change of their preferences, nothing else (checked by the API's handler
# and ``SubscriptionStore.set_preferences``)
PREFERENCES: dict[str, Field] = {
    "language": Field(ref("Language"), check_language),
    "timezone": Field({"type": "string", "description": "an IANA timezone, e.g. Europe/Paris"}),
    "quiet_hours": Field(nullable(ref("QuietHours"))),
    "default_channels": Field({"type": "array", "items": ref("Channel"), "minItems": 1}),
    "fallback": Field(FALLBACK),
}
