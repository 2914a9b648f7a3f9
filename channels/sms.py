"""SMS through Twilio's Messages API with the ``twilio`` library and its aiohttp client.

The API base URL is configuration, so the real client can be pointed at a local server
(``notifier/dev/twilio_fake.py``). Errors are translated here:

- HTTP 429, 5xx, connection errors and timeouts -> ``TransientChannelError``
  (``retry_after`` from ``Retry-After`` when the response has one);
- Twilio error 21610 (the recipient replied STOP) -> ``OptedOutError``, a permanent error
  whose ``contact_status`` switches the phone off in the consent ledger;
- any other 4xx -> ``PermanentChannelError`` (but 21611, the sender's queue is full, is
  transient).

Twilio's status callbacks (``channels.twilio_webhooks``) become receipts; ``receipt`` says what
each status means for the ledger (``STATUSES``), and 21610 there switches the phone off too.

Reasons carry the HTTP status and the Twilio error code, never Twilio's message text, which
may quote the phone number.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import (
    Address,
    Addressee,
    Batch,
    Channel,
    Deadlines,
    Origin,
    PermanentChannelError,
    Receipted,
    Sent,
    TransientChannelError,
    parse_retry_after,
)

TWILIO_API = "https://api.twilio.com"
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
QUEUE_FULL = 21611  # the sender's queue is full: try again later
OPTED_OUT_HOW = "Twilio error 21610 (replied STOP)"  # in the consent ledger
# Twilio's message statuses -> the ledger's; the others (accepted, queued, sending) add nothing
STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "delivered",
}


class OptedOutError(PermanentChannelError):
    """The recipient opted out (replied STOP): Twilio refuses with error 21610."""

    contact_status = "opted_out"
    how = OPTED_OUT_HOW


@dataclasses.dataclass(frozen=True)
class Sms:
    to: str = dataclasses.field(repr=False)  # E.164, e.g. +33612345678
    body: str = dataclasses.field(repr=False)
    notification_id: str
    status_callback: str | None = None  # where Twilio POSTs sent/delivered/failed
    sender: str = ""  # a number or MG SID of the account for this message (a city's); none: ours


def _twilio_code(response: Response) -> object:
    try:
        payload = json.loads(response.text or "null")
    except ValueError:
        return None
    return payload.get("code") if isinstance(payload, dict) else None


@functools.lru_cache(maxsize=64)  # a sender per city at most
def _sender_args(sender: str) -> dict[str, str]:
    """twilio's argument for ``sender``: a Messaging Service or a number (or sender id)."""
    if MESSAGING_SERVICE_SID.match(sender):
        return {"messaging_service_sid": sender}
    return {"from_": sender}


@functools.lru_cache(maxsize=64)  # one account per city at most
def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class _HttpClient(AsyncTwilioHttpClient):
    """twilio's aiohttp client with a session made on first use (inside the event loop) and
    transient failures raised here, where the response headers (``Retry-After``) are still at
    hand. twilio passes ``timeout=None`` with every request, which aiohttp reads as "no time
    limit": the channel keeps the time limit (``channels.base.Deadlines``)."""

    def __init__(self, max_connections: int) -> None:
        super().__init__(pool_connections=False)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (twilio's interface)
        allow_redirects: bool = False,
    ) -> Response:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = self.session = aiohttp.ClientSession(connector=connector)
        headers = dict(headers or {})
        if auth is not None:
            # twilio would pass aiohttp.BasicAuth, deprecated in aiohttp 3.14 (a
            # DeprecationWarning on every request); the header is the same. twilio's request
            # log leaves out any header named Authorization.
            headers["Authorization"] = _basic(*auth)
        try:
            response = await super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=None,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientChannelError(f"Twilio connection: {type(e).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientChannelError(
                f"Twilio HTTP {status} error {_twilio_code(response)}",
                retry_after=parse_retry_after((response.headers or {}).get("Retry-After")),
            )
        return response

    def log_request(self, kwargs: dict[str, Any]) -> None:
        """twilio formats its request log (every header, the URL) before its logger decides
        whether to write it: not when that logger is off (``notifier.logs`` sets it to WARNING:
        its lines hold the recipient's number), a sixtieth of an SMS's hand-off."""
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Response) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None  # the next request opens a new one


class TwilioSmsChannel(Channel[Sms]):
    """``sender`` is the From phone number (or alphanumeric sender id), or a Messaging
    Service SID (``MG`` + 32 hex digits), in which case Twilio picks the number."""

    name = "sms"
    provider = "twilio"
    receipts = True  # status callbacks, to ``status_callback``

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        base_url: str = TWILIO_API,
        timeout: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        if not (account_sid and auth_token and sender):
            # Client() would fall back on TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN from os.environ
            raise ValueError("account SID, auth token and sender (number or MG SID) are required")
        if sender.startswith("MG") and not MESSAGING_SERVICE_SID.match(sender):
            raise ValueError("a Messaging Service SID is MG followed by 32 hex digits")
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self.deadlines = Deadlines(timeout)
        self._http = _HttpClient(max_connections)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        # Client() reads TWILIO_EDGE / TWILIO_REGION from os.environ and would then rewrite
        # the host of every URL; the base URL is our configuration, not the environment's.
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = self.base_url

    def messages(self, batch: Batch, origin: Origin) -> Callable[[Addressee, Address], Sms]:
        """From the city's own number or Messaging Service if it has one (else the channel's),
        with its status callback."""
        variants, callback, sender = batch.variants, origin.receipts_url, origin.sender

        def message(r: Addressee, cp: Address) -> Sms:
            return Sms(cp.address, variants[r.language]["text"], r.id, callback, sender=sender)

        return message

    @classmethod
    def receipt(cls, status: str, error_code: str) -> Receipted | None:
        """A status callback: its status in the ledger's words, its error, and 21610 (the
        recipient replied STOP) switching the phone off."""
        ours = STATUSES.get(status)
        if ours is None:
            return None
        error = f"{cls.provider} error {error_code}" if error_code else None
        if error_code == str(OPTED_OUT):
            return Receipted(ours, error, OptedOutError.contact_status, OPTED_OUT_HOW)
        return Receipted(ours, error)

    async def _send(self, message: Sms) -> Sent:
        kwargs: dict[str, Any] = {"to": message.to, "body": message.body}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            sender = _sender_args(message.sender or self.sender)
            created = await self._client.messages.create_async(**kwargs, **sender)
        except TwilioRestException as e:
            raise _refused(e.status, e.code) from None
        except TwilioServiceException as e:
            raise _refused(e.status, e.code) from None
        if not created.sid:
            raise PermanentChannelError("Twilio accepted the message without a SID")
        return Sent(provider_id=created.sid)

    async def close(self) -> None:
        await self._http.close()


def _refused(status: int, code: int | None) -> PermanentChannelError | TransientChannelError:
    reason = f"Twilio HTTP {status} error {code}"
    if code == OPTED_OUT:
        return OptedOutError(reason)
    if code == QUEUE_FULL or status == 429 or status >= 500:
        return TransientChannelError(reason)
    return PermanentChannelError(reason)
