"""Twilio webhooks: the ``X-Twilio-Signature`` check, status callbacks and inbound SMS.

Pure functions over (url, form params, signature), so any web framework can call them.
The signature is HMAC-SHA1 keyed with the auth token over the exact URL Twilio requested
followed by every POST parameter sorted by name, each as name+value (twilio-python's
``RequestValidator`` computes it). Always check it over *all* received parameters: Twilio
adds new ones without notice.

An inbound SMS whose whole body is a keyword (case, surrounding spaces and accents
ignored) is an opt-out (STOP, ARRET, UNSUBSCRIBE...), an opt-in (START, YES, UNSTOP) or a
HELP request. When the number belongs to a Messaging Service with Advanced Opt-Out,
Twilio says so itself in ``OptOutType``, which wins.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"

Keyword = Literal["STOP", "START", "HELP"]

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL"}
    | {"ARRET", "ARRETE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP"})
_OPT_OUT_TYPES: dict[str, Keyword] = {"STOP": "STOP", "START": "START", "HELP": "HELP"}

# The form fields read (Twilio sends more, all signed; the others are ignored). A message's id
# and status each come under two names, the first read first.
SID = ("MessageSid", "SmsSid")
STATUS = ("MessageStatus", "SmsStatus")
ERROR_CODE = "ErrorCode"  # digits, or empty
INBOUND_REQUIRED = ("From", "To")
INBOUND = (*SID, *INBOUND_REQUIRED, "Body", "OptOutType")

# Statuses after which Twilio sends nothing more about a message (read comes after delivered).
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})


class WebhookError(ValueError):
    """A request that claims to come from Twilio cannot be used."""


@dataclasses.dataclass(frozen=True)
class StatusCallback:
    message_sid: str
    status: str  # queued, sent, delivered, undelivered, failed, read...
    error_code: int | None
    account_sid: str | None = None
    messaging_service_sid: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclasses.dataclass(frozen=True)
class InboundSms:
    message_sid: str
    from_: str = dataclasses.field(repr=False)  # the citizen's phone, E.164
    to: str = dataclasses.field(repr=False)  # our number
    body: str = dataclasses.field(repr=False)
    keyword: Keyword | None
    opt_out_type: str | None = None  # as Twilio sent it, when it did
    account_sid: str | None = None
    messaging_service_sid: str | None = None


def compute_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def signature_valid(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """``url`` is the full URL Twilio requested (scheme, host, port, path, query), as the
    public sees it behind any proxy; ``params`` all the form parameters (a multidict keeps
    repeated names)."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise WebhookError(f"{name} is missing")
    return value


def _optional(params: Mapping[str, str], name: str) -> str | None:
    return params.get(name) or None


def _first(params: Mapping[str, str], names: tuple[str, str]) -> str:
    value = params.get(names[0]) or params.get(names[1])
    if not value:
        raise WebhookError(f"{names[0]} is missing")
    return value


def parse_status_callback(params: Mapping[str, str]) -> StatusCallback:
    sid = _first(params, SID)
    status = _first(params, STATUS)
    code = params.get(ERROR_CODE) or None
    if code is not None and not code.isdigit():
        raise WebhookError("ErrorCode is not a number")
    return StatusCallback(
        message_sid=sid,
        status=status.lower(),
        error_code=int(code) if code is not None else None,
        account_sid=_optional(params, "AccountSid"),
        messaging_service_sid=_optional(params, "MessagingServiceSid"),
    )


def keyword_of(body: str) -> Keyword | None:
    """STOP, START or HELP when the whole body is one of their keywords, else None."""
    word = unicodedata.normalize("NFKD", body.strip()).upper()
    word = "".join(c for c in word if not unicodedata.combining(c))
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    if word in HELP_KEYWORDS:
        return "HELP"
    return None


def parse_inbound_sms(params: Mapping[str, str]) -> InboundSms:
    body = params.get("Body") or ""
    opt_out_type = _optional(params, "OptOutType")
    keyword = _OPT_OUT_TYPES.get((opt_out_type or "").upper()) or keyword_of(body)
    return InboundSms(
        message_sid=params.get(SID[0]) or _required(params, SID[1]),
        from_=_required(params, INBOUND_REQUIRED[0]),
        to=_required(params, INBOUND_REQUIRED[1]),
        body=body,
        keyword=keyword,
        opt_out_type=opt_out_type,
        account_sid=_optional(params, "AccountSid"),
        messaging_service_sid=_optional(params, "MessagingServiceSid"),
    )


_TEXT: dict[str, Any] = {"type": "string"}
# the forms as JSON Schema (the HTTP API's OpenAPI document shows them): every field is text,
# Twilio's others too
SCHEMAS: dict[str, dict[str, Any]] = {
    "TwilioStatusCallback": {
        "type": "object",
        "properties": {name: _TEXT for name in (*SID, *STATUS)}
        | {ERROR_CODE: {"type": "string", "pattern": "^[0-9]*$"}},
        "description": "Twilio's status callback (form fields; MessageSid or SmsSid, "
        "MessageStatus or SmsStatus).",
        "additionalProperties": _TEXT,
    },
    "TwilioInbound": {
        "type": "object",
        "properties": {name: _TEXT for name in INBOUND},
        "description": "Twilio's inbound SMS (form fields; MessageSid or SmsSid).",
        "additionalProperties": _TEXT,
        "required": list(INBOUND_REQUIRED),
    },
}
