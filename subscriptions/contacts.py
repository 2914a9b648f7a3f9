"""Contact points a citizen gives: an email address, a phone number, a browser push
subscription. Each is normalised here, and kept once per city (one citizen per address)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Collection

import phonenumbers

from channels import NAMES
from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema

CHANNELS = NAMES  # a contact point's kind is the channel that reaches it
# the field of a body each channel's address is given in (a 4xx names it)
FIELDS = {"email": "email", "sms": "phone", "push": "push"}
FALLBACK_CHANNELS = ("sms", "email")  # where an undelivered web push may go instead
# pending: not confirmed yet; confirmed: may be used; unsubscribed: one-click or by the citizen;
# opted_out: replied STOP (or Twilio said 21610); bounced: the mail server refused it for good;
# gone: the push service said the subscription no longer exists (404/410); suspended: its
# endpoint kept failing while its provider worked, or the outbound guard refuses it
STATUSES = ("pending", "confirmed", "unsubscribed", "opted_out", "bounced", "gone", "suspended")
MAX_EMAIL, MAX_PHONE, MAX_ENDPOINT = 254, 32, 2000  # characters, as given
NOT_IN_EMAIL = '<>,;"\\'  # nor whitespace, nor a character that does not print
PUSH_KEYS = {"p256dh": 65, "auth": 16}  # bytes each of a PushSubscription's keys decodes to


@dataclasses.dataclass(frozen=True)
class ContactPoint:
    id: str
    citizen: str
    channel: str
    address: str  # email address, E.164 number, or push endpoint
    status: str
    p256dh: str = dataclasses.field(default="", repr=False)  # push only
    auth: str = dataclasses.field(default="", repr=False)  # push only

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> ContactPoint:
        return cls(
            h["id"],
            h["citizen"],
            h["channel"],
            h["address"],
            h["status"],
            h.get("p256dh", ""),
            h.get("auth", ""),
        )

    def to_hash(self) -> dict[str, str]:
        """As the store keeps it (``from_hash`` reads it back)."""
        fields = {
            "id": self.id,
            "citizen": self.citizen,
            "channel": self.channel,
            "address": self.address,
            "status": self.status,
        }
        if self.channel == "push":
            fields.update(p256dh=self.p256dh, auth=self.auth)
        return fields

    def public(self) -> dict[str, str]:
        address = self.address
        if self.channel == "push":  # the endpoint is a capability URL: show its host only
            address = address.split("/")[2] if address.count("/") >= 2 else "push"
        return {"id": self.id, "channel": self.channel, "address": address, "status": self.status}


def normalise_email(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("email", "must be a string", "not_email")
    addr = value.strip()
    local, at, domain = addr.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(addr) > MAX_EMAIL
        or any(c.isspace() or not c.isprintable() or c in NOT_IN_EMAIL for c in addr)
    ):
        raise InvalidInput("email", "not an email address", "not_email")
    return f"{local}@{domain.lower()}"


def normalise_phone(
    value: object, region: str = "FR", allowed: Collection[str] | None = None
) -> str:
    """E.164 (``+33612345678``) from what a citizen types (``06 12 34 56 78``, read as a number
    of ``region``). ``allowed``: the countries (ISO 3166 alpha-2) whose numbers may be texted
    (a city's ``sms.countries``); a number of another is refused, naming ``phone`` (SMS pumping
    rents premium numbers abroad)."""
    if not isinstance(value, str) or len(value) > MAX_PHONE:
        raise InvalidInput("phone", "must be a phone number as text", "not_phone")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone", "not a phone number", "not_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone", "not a valid phone number", "not_phone")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidInput(
            "phone", "must be a mobile number (text messages are sent to it)", "not_mobile"
        )
    country = phonenumbers.region_code_for_number(number)
    if allowed is not None and country not in allowed:
        raise InvalidInput(
            "phone",
            f"text messages go only to numbers of {', '.join(sorted(allowed))} here",
            "phone_country",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _b64url(value: object, field: str, size: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be base64url text")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise InvalidInput(field, "not base64url") from None
    if len(raw) != size:
        raise InvalidInput(field, f"must decode to {size} bytes")
    return value.rstrip("=")


def parse_push_subscription(
    value: object, refusal: Callable[[str], str | None]
) -> tuple[str, str, str]:
    """A browser's ``PushSubscription.toJSON()``: (endpoint, p256dh, auth). ``refusal`` says
    why an endpoint may not be pushed to (the outbound guard's rules: allowed push services,
    https, no internal address), or None."""
    if not isinstance(value, dict):
        raise InvalidInput("push", "must be a PushSubscription object {endpoint, keys}")
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT or not endpoint.isprintable():
        raise InvalidInput("push.endpoint", "must be the push service's https URL")
    why = refusal(endpoint)
    if why is not None:
        raise InvalidInput("push.endpoint", why)
    keys = value.get("keys")
    if not isinstance(keys, dict):
        raise InvalidInput("push.keys", "must hold p256dh and auth")
    p256dh, auth = (_b64url(keys.get(n), f"push.keys.{n}", size) for n, size in PUSH_KEYS.items())
    return endpoint, p256dh, auth


def _b64url_pattern(size: int) -> str:
    """The base64url text of ``size`` bytes, its padding optional (as ``_b64url`` reads it)."""
    chars, pad = -(-size * 4 // 3), -size % 3
    return f"^[A-Za-z0-9_-]{{{chars}}}" + ("=?" if pad == 1 else "(==)?" if pad else "") + "$"


_NOT_IN_EMAIL = NOT_IN_EMAIL.replace("\\", "\\\\")  # in a regular expression's class
# what ``normalise_email``, ``normalise_phone`` and ``parse_push_subscription`` take, as far as a
# schema can say it (a valid mobile number, an allowed push service: in the descriptions)
SCHEMAS: dict[str, Schema] = {
    "Email": {
        "type": "string",
        "maxLength": MAX_EMAIL,
        "pattern": rf"^\s*[^\s{_NOT_IN_EMAIL}]+@[^\s{_NOT_IN_EMAIL}@]*\.",
        "description": "an email address",
    },
    "Phone": {
        "type": "string",
        "maxLength": MAX_PHONE,
        "description": "a mobile number, French (06 12 34 56 78) or E.164 (+33612345678)",
    },
    "PushSubscription": {
        "type": "object",
        "properties": {
            "endpoint": {
                "type": "string",
                "maxLength": MAX_ENDPOINT,
                "pattern": r"^https://",
                "description": "At a push service the deployment accepts (NOTIFIER_PUSH_SERVICES: "
                "FCM, Mozilla, Apple, Windows by default); a loopback http:// one only where "
                "NOTIFIER_PUSH_LOOPBACK is on (local tests).",
            },
            "keys": {
                "type": "object",
                "properties": {
                    name: {"type": "string", "pattern": _b64url_pattern(size)}
                    for name, size in PUSH_KEYS.items()
                },
                "required": list(PUSH_KEYS),
            },
        },
        "required": ["endpoint", "keys"],
        "description": "A browser's PushSubscription.toJSON() (keys in base64url).",
    },
}
