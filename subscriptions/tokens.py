"""Signed, expiring tokens for citizens: confirmation links, management, one-click unsubscribe.

A token is ``base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))``. The payload
names the city, the purpose, the subject (a citizen or contact point id) and the expiry, so a
token made for one purpose or city never works for another. A management token also carries the
citizen's token version (``v``, absent: 0), which ``subscriptions.token_versions`` compares with
the one held: a bump revokes every token made before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from subscriptions.errors import InvalidInput

DAY = 86400
PURPOSES = {"confirm": 7 * DAY, "manage": 30 * DAY, "unsubscribe": 365 * DAY}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def sign(
    secret: str,
    purpose: str,
    city: str,
    subject: str,
    now: float | None = None,
    version: int = 0,
) -> str:
    """A token; ``version`` is the citizen's token version (left out when 0, as tokens made
    before versions existed are read)."""
    if not secret:
        raise ValueError("no secret key to sign tokens with")
    exp = int((time.time() if now is None else now) + PURPOSES[purpose])
    payload: dict[str, Any] = {"p": purpose, "c": city, "s": subject, "e": exp}
    if version:
        payload["v"] = version
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def verify(
    secret: str, token: str, purpose: str, city: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """The payload (``c`` city, ``s`` subject) of a valid token, or ``InvalidInput('token', …)``."""
    body, _, mac = token.partition(".")
    ascii_parts = token.isascii() and body and mac  # compare_digest takes ASCII str only
    if not ascii_parts or not hmac.compare_digest(_mac(secret, body), mac):
        raise InvalidInput("token", "not a valid token")
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        raise InvalidInput("token", "not a valid token") from None
    if payload.get("p") != purpose or (city is not None and payload.get("c") != city):
        raise InvalidInput("token", f"not a {purpose} token for this city")
    if payload.get("e", 0) < (time.time() if now is None else now):
        raise InvalidInput("token", "expired")
    return dict(payload)
