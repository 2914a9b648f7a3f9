"""Errors of the subscriptions package.

An ``InvalidInput`` names the field at fault, says why in English for API users (``reason``),
and carries a stable machine-readable ``code`` that pages translate (``CODES`` lists them; a
page maps field + code to a plain message in the reader's language, so the English ``reason``
may be reworded without breaking a page). A check that finds several faults in one body raises
them together with ``InvalidInput.of`` (``Problems`` collects them): the API answers the first
as ``field``/``reason``/``code`` and all of them as ``errors``.

A new code goes in ``CODES`` (an unknown one fails at the raise site) with its page message,
``error.code.<code>`` in ``notifier/web/static/strings.json`` in French and English
(``tests/unit/test_error_codes.py`` checks it); a message for one field only is
``error.field.<field>.<code>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# the codes a 4xx carries, and what each means (pages key their messages on them)
CODES: dict[str, str] = {
    "invalid": "the value is not accepted (the reason says why)",
    "required": "the field is missing or empty",
    "choose_one": "give exactly one of the fields named in the reason",
    "not_email": "not an email address",
    "not_phone": "not a phone number",
    "not_mobile": "a phone number that cannot receive text messages",
    "phone_country": "a phone number of a country this city does not text",
    "out_of_range": "a number outside its bounds (the reason gives them)",
    "not_number": "not a number",
    "not_lonlat": "not a point {lon, lat}",
    "bad_polygon": "not a valid polygon (crossing edges, unclosed ring, too few positions)",
    "too_large": "an area larger than allowed",
    "no_area": "a shape with no area",
    "outside_city": "a place outside the city",
    "unknown_area": "not an area of the city",
    "not_offered": "a channel this city does not offer",
    "not_category": "not a category of the city",
    "not_severity": "not a severity",
    "not_language": "not a language offered",
    "not_time": "not a time HH:MM",
    "same_times": "a start and an end that are the same",
    "not_cadence": "not a cadence (immediate, daily or weekly)",
    "not_day": "not a day of the week",
    "not_timezone": "not an IANA timezone",
    "too_long": "a text longer than allowed (the reason gives the limit)",
    "not_url": "not an http(s) URL",
    "in_the_past": "a time in the past",
    "too_far_ahead": "a time more than a year ahead",
    "after_expiry": "a publication time after the expiry",
    "too_many": "more than a citizen may hold (contacts, subscriptions)",
    "wrong_code": "the texted code does not match",
    "code_expired": "the number was not confirmed in time: add it again for a new code",
    "not_code": "not the 6 digits of a texted code",
    "not_your_contact": "a contact point that is not this citizen's",
    # whole answers (the status says them, the code names them for pages)
    "bad_request": "the body is not JSON, or a webhook lacks a field",
    "unauthorized": "no token, or one not valid here",
    "token_revoked": "a management token made before the last sign-out, move or erasure",
    "forbidden": "another citizen's token, or a signature that does not match",
    "not_found": "no such city or object",
    "no_citizen": "the account no longer exists (erased) or never did",
    "no_city": "no such city in this deployment",
    "conflict": "the request clashes with the current state",
    "method_not_allowed": "the path does not take this method",
    "payload_too_large": "the body is too large",
    "too_many_requests": "too many messages to an address: try again later",
    "unavailable": "the store or the event log is away: try again",
    "internal": "an unexpected failure, logged",
}
# a status's code when the raise site gives none
BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


def code_of(status: int) -> str:
    return BY_STATUS.get(status, "invalid" if 400 <= status < 500 else "internal")


class SubscriptionError(Exception):
    """Base of the errors this package raises."""


class InvalidInput(SubscriptionError, ValueError):
    """A field of some input is wrong; ``field`` names it, the message says why, ``code`` is
    one of ``CODES``. ``errors`` holds every fault found in the same input, this one first."""

    def __init__(self, field: str, reason: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {reason}")
        assert code in CODES, f"an error code not in CODES: {code}"
        self.field = field
        self.reason = reason
        self.code = code
        self.errors: list[InvalidInput] = [self]

    @classmethod
    def of(cls, errors: list[InvalidInput]) -> InvalidInput:
        """One error standing for all of ``errors`` (the first, carrying them all)."""
        first = errors[0]
        first.errors = [e for each in errors for e in each.errors]
        return first

    def within(self, prefix: str) -> InvalidInput:
        """The same faults, their fields under ``prefix`` (``subscriptions[0]``)."""
        moved = [InvalidInput(f"{prefix}.{e.field}", e.reason, e.code) for e in self.errors]
        return InvalidInput.of(moved)

    def public(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "code": self.code}


class Problems:
    """Collects the faults of one input, so that all of them are answered at once::

    problems = Problems()
    email = problems.check(normalise_email, body["email"])
    ...
    problems.raise_any()
    """

    def __init__(self) -> None:
        self.errors: list[InvalidInput] = []

    def check(self, fn: Callable[..., T], *args: object, within: str = "") -> T | None:
        """``fn(*args)``, or None with its fault kept (its fields under ``within``)."""
        try:
            return fn(*args)
        except InvalidInput as e:
            self.errors.append(e.within(within) if within else e)
            return None

    def add(self, error: InvalidInput) -> None:
        self.errors.append(error)

    def raise_any(self) -> None:
        if self.errors:
            raise InvalidInput.of(self.errors)


class NotFound(SubscriptionError, KeyError):
    """No such object (in this city); ``code`` says which kind when a page needs it."""

    def __init__(self, message: str = "not found", code: str = "not_found") -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class Conflict(SubscriptionError):
    """The request clashes with the current state (a cancelled event, a reused key)."""

    def __init__(self, field: str, reason: str, code: str = "conflict") -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code
