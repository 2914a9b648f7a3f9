"""Errors of the subscriptions package."""

from __future__ import annotations


class SubscriptionError(Exception):
    """Base of the errors this package raises."""


class InvalidInput(SubscriptionError, ValueError):
    """A field of some input is wrong; ``field`` names it, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(SubscriptionError, KeyError):
    """No such object (in this city)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class Conflict(SubscriptionError):
    """The request clashes with the current state (a cancelled event, a reused key)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
