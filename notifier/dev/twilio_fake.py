"""A local server speaking Twilio's Messages API, for tests and the embedded dev stack.

It checks what Twilio checks when a message is created (HTTP Basic auth with the account
SID and auth token, the account in the path, ``To`` in E.164, ``From`` one of our numbers or
``MessagingServiceSid`` one of our services, ``Body`` present and at most 1,600 characters,
``StatusCallback`` a URL) and answers with Twilio's JSON resources and errors. Accepted
messages are kept in ``TwilioFake.messages``. If a ``StatusCallback`` was given, it POSTs
signed status callbacks moving the message to ``sent`` then ``delivered``, as Twilio does.
Failures can be scripted (``fail_next``) and numbers marked as opted out (error 21610).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hmac
import re
import secrets
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from channels.twilio_webhooks import SIGNATURE_HEADER, compute_signature

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MG_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


@dataclasses.dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    status: str
    date_created: str


@dataclasses.dataclass
class Callback:
    url: str
    params: dict[str, str]
    signature: str
    status: int | None  # the receiver's answer; None when it could not be reached


@dataclasses.dataclass(frozen=True)
class Failure:
    status: int
    code: int
    message: str
    retry_after: str | None = None


class TwilioFake:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        numbers: Iterable[str] = ("+15005550006",),
        messaging_services: Iterable[str] = (),
        status_callbacks: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.messaging_services = set(messaging_services)
        self.status_callbacks = status_callbacks
        self.messages: list[FakeMessage] = []
        self.callbacks: list[Callback] = []
        self.opted_out: set[str] = set()  # recipients who replied STOP: error 21610
        self.requests = 0
        self._failures: list[Failure] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        code: int | None = None,
        message: str = "scripted failure",
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``count`` authenticated requests with this error; ``code``
        defaults to Twilio's 20000 + status (20429 Too Many Requests, 20500...)."""
        code = code if code is not None else 20000 + status
        self._failures.extend([Failure(status, code, message, retry_after)] * count)

    def sent_to(self, number: str) -> list[FakeMessage]:
        return [m for m in self.messages if m.to == number]

    async def idle(self) -> None:
        """Wait until every status callback scheduled so far has been posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


FAKE = web.AppKey("twilio_fake", TwilioFake)
SESSION = web.AppKey("twilio_fake_session", aiohttp.ClientSession)


def error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _segments(body: str) -> int:
    single, multi = (160, 153) if set(body) <= GSM7 else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


def _authorized(fake: TwilioFake, request: web.Request) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        scheme.lower() == "basic"
        and hmac.compare_digest(login.encode(), fake.account_sid.encode())
        and hmac.compare_digest(password.encode(), fake.auth_token.encode())
    )


def _check(fake: TwilioFake, form: Any) -> web.Response | None:
    to, sender, service = form.get("To", ""), form.get("From"), form.get("MessagingServiceSid")
    callback, body = form.get("StatusCallback"), form.get("Body", "")
    if not to:
        return error(400, 21604, "A 'To' phone number is required.")
    if not E164.match(to):
        return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if service is not None:
        if not MG_SID.match(service):
            return error(400, 21705, "The Messaging Service is invalid")
        if service not in fake.messaging_services:
            return error(404, 21701, "The Messaging Service does not exist")
    if sender is not None and sender not in fake.numbers:
        if not (E164.match(sender) or re.match(r"^[A-Za-z0-9 ]{1,11}$", sender)):
            return error(400, 21212, f"Invalid From Number (caller ID): {sender}")
        return error(
            400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound "
            "phone number or short code for your account."
        )  # fmt: skip
    if sender is None and service is None:
        return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
    if not body:
        return error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if callback is not None:
        u = urlsplit(callback)
        if u.scheme not in ("http", "https") or not u.hostname or "_" in u.hostname:
            return error(400, 21609, "Invalid 'StatusCallback'")
    if to in fake.opted_out:
        return error(400, 21610, "Attempt to send to unsubscribed recipient")
    return None


def _resource(fake: TwilioFake, m: FakeMessage) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{fake.account_sid}/Messages/{m.sid}"
    return {
        "account_sid": fake.account_sid, "api_version": API_VERSION, "body": m.body,
        "date_created": m.date_created, "date_sent": None, "date_updated": m.date_created,
        "direction": "outbound-api", "error_code": None, "error_message": None,
        "from": m.from_, "messaging_service_sid": m.messaging_service_sid, "num_media": "0",
        "num_segments": str(_segments(m.body)), "price": None, "price_unit": "USD",
        "sid": m.sid, "status": m.status, "to": m.to, "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }  # fmt: skip


async def create_message(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    fake.requests += 1
    if not _authorized(fake, request):
        return error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    if request.match_info["account"] != fake.account_sid:
        return error(404, 20404, f"The requested resource {request.path} was not found")
    if fake._failures:
        f = fake._failures.pop(0)
        return error(
            f.status, f.code, f.message, {"Retry-After": f.retry_after} if f.retry_after else None
        )
    form = await request.post()
    refused = _check(fake, form)
    if refused is not None:
        return refused
    service = form.get("MessagingServiceSid")
    m = FakeMessage(
        sid="SM" + secrets.token_hex(16),
        to=str(form["To"]),
        from_=str(form["From"]) if "From" in form else None,
        messaging_service_sid=str(service) if service else None,
        body=str(form["Body"]),
        status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
        status="accepted" if service else "queued",
        date_created=_now(),
    )
    fake.messages.append(m)
    if m.status_callback and fake.status_callbacks:
        task = asyncio.create_task(_report(fake, request.app[SESSION], m))
        fake._tasks.add(task)
        task.add_done_callback(fake._tasks.discard)
    return web.json_response(_resource(fake, m), status=201)


async def _report(fake: TwilioFake, session: aiohttp.ClientSession, m: FakeMessage) -> None:
    """POST ``sent`` then ``delivered`` to the message's StatusCallback, signed."""
    assert m.status_callback is not None
    for status in ("sent", "delivered"):
        m.status = status
        params = {
            "AccountSid": fake.account_sid, "ApiVersion": API_VERSION, "MessageSid": m.sid,
            "MessageStatus": status, "SmsSid": m.sid, "SmsStatus": status, "To": m.to,
        }  # fmt: skip
        if m.from_:
            params["From"] = m.from_
        if m.messaging_service_sid:
            params["MessagingServiceSid"] = m.messaging_service_sid
        signature = compute_signature(fake.auth_token, m.status_callback, params)
        headers = {SIGNATURE_HEADER: signature, "User-Agent": "TwilioProxy/1.1"}
        answer: int | None = None
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.post(m.status_callback, data=params, headers=headers) as resp:
                answer = resp.status
        fake.callbacks.append(Callback(m.status_callback, params, signature, answer))


async def _client(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    yield
    fake = app[FAKE]
    for task in list(fake._tasks):
        task.cancel()
    await asyncio.gather(*fake._tasks, return_exceptions=True)
    await app[SESSION].close()


def create_app(fake: TwilioFake) -> web.Application:
    app = web.Application()
    app[FAKE] = fake
    app.cleanup_ctx.append(_client)
    app.router.add_post(f"/{API_VERSION}/Accounts/{{account}}/Messages.json", create_message)
    return app


async def start(
    fake: TwilioFake, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve ``fake`` on ``host:port`` (0: a free port); returns the runner and base URL."""
    runner = web.AppRunner(create_app(fake), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"
