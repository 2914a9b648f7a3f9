"""Contact points a citizen gives: an email address, a phone number, a browser push
subscription. Each is normalised here, and kept once per city (one citizen per address)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Collection

import phonenumbers

from channels import NAMES
from subscriptions.errors import InvalidInput

CHANNELS = NAMES  # a contact point's kind is the channel that reaches it
FALLBACK_CHANNELS = ("sms", "email")  # where an undelivered web push may go instead
# pending: not confirmed yet; confirmed: may be used; unsubscribed: one-click or by the citizen;
# opted_out: replied STOP (or Twilio said 21610); bounced: the mail server refused it for good;
# gone: the push service said the subscription no longer exists (404/410); suspended: its
# endpoint kept failing while its provider worked, or the outbound guard refuses it
STATUSES = ("pending", "confirmed", "unsubscribed", "opted_out", "bounced", "gone", "suspended")


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
        raise InvalidInput("email", "must be a string")
    addr = value.strip()
    local, at, domain = addr.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(addr) > 254
        or any(c.isspace() or not c.isprintable() or c in '<>,;"\\' for c in addr)
    ):
        raise InvalidInput("email", "not an email address")
    return f"{local}@{domain.lower()}"


def normalise_phone(
    value: object, region: str = "FR", allowed: Collection[str] | None = None
) -> str:
    """E.164 (``+33612345678``) from what a citizen types (``06 12 34 56 78``, read as a number
    of ``region``). ``allowed``: the countries (ISO 3166 alpha-2) whose numbers may be texted
    (a city's ``sms.countries``); a number of another is refused, naming ``phone`` (SMS pumping
    rents premium numbers abroad)."""
    if not isinstance(value, str) or len(value) > 32:
        raise InvalidInput("phone", "must be a phone number as text")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone", "not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone", "not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidInput("phone", "must be a mobile number (text messages are sent to it)")
    country = phonenumbers.region_code_for_number(number)
    if allowed is not None and country not in allowed:
        raise InvalidInput(
            "phone", f"text messages go only to numbers of {', '.join(sorted(allowed))} here"
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
    if not isinstance(endpoint, str) or len(endpoint) > 2000 or not endpoint.isprintable():
        raise InvalidInput("push.endpoint", "must be the push service's https URL")
    why = refusal(endpoint)
    if why is not None:
        raise InvalidInput("push.endpoint", why)
    keys = value.get("keys")
    if not isinstance(keys, dict):
        raise InvalidInput("push.keys", "must hold p256dh and auth")
    p256dh = _b64url(keys.get("p256dh"), "push.keys.p256dh", 65)
    auth = _b64url(keys.get("auth"), "push.keys.auth", 16)
    return endpoint, p256dh, auth
