"""Each channel's client library alone against the local servers, with what it needs made
beforehand: the baseline the send path is measured against (``channel_rates.py``,
``citywide.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any, Protocol

import aiohttp
import aiosmtplib
from aiosmtplib.email import flatten_message
from channel_servers import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM
from py_vapid import Vapid
from pywebpush import WebPusher
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.email import Email, SmtpConfig, build_message
from channels.push import Push, load_vapid_private_key
from channels.sms import Sms
from notifier.settings import Settings


class Raw(Protocol):
    async def start(self) -> None: ...
    async def run(self) -> int: ...
    async def close(self) -> None: ...


class RawEmail:
    """aiosmtplib alone: each message's bytes made beforehand (as ``send_message`` would make
    them for this server), sent over a pool of connections opened beforehand."""

    def __init__(self, config: SmtpConfig, mail_from: str, msgs: Sequence[Email], pool: int):
        self.config, self.pool = config, pool
        self.sender = parseaddr(mail_from)[1]
        # aiosmtpd offers 8BITMIME and the addresses are ASCII: what send_message does then
        self.items = [
            (m.to, flatten_message(build_message(mail_from, m), utf8=False, cte_type="8bit"))
            for m in msgs
        ]
        self.conns: list[aiosmtplib.SMTP] = []

    async def start(self) -> None:
        for _ in range(self.pool):
            smtp = aiosmtplib.SMTP(hostname=self.config.host, port=self.config.port)
            await smtp.connect()
            self.conns.append(smtp)

    async def run(self) -> int:
        todo = list(reversed(self.items))

        async def worker(smtp: aiosmtplib.SMTP) -> int:
            n = 0
            while todo:
                to, data = todo.pop()
                await smtp.sendmail(self.sender, [to], data, mail_options=["BODY=8BITMIME"])
                n += 1
            return n

        return sum(await asyncio.gather(*(worker(c) for c in self.conns)))

    async def close(self) -> None:
        for smtp in self.conns:
            await smtp.quit()


class RawSms:
    """twilio's ``Client`` on its own ``AsyncTwilioHttpClient`` (one pooled aiohttp session),
    pointed at the local server, ``limit`` requests in flight."""

    def __init__(self, base_url: str, msgs: Sequence[Sms], limit: int) -> None:
        self.base_url, self.msgs, self.limit = base_url, msgs, limit
        self.http: AsyncTwilioHttpClient | None = None
        self.client: Client | None = None

    async def start(self) -> None:
        self.http = AsyncTwilioHttpClient()  # its session is made here, in the event loop
        self.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=self.http)
        self.client.api.base_url = self.base_url

    async def run(self) -> int:
        assert self.client is not None
        messages = self.client.messages
        sem = asyncio.Semaphore(self.limit)

        async def one(m: Sms) -> int:
            async with sem:
                created = await messages.create_async(
                    to=m.to, from_=SMS_FROM, body=m.body, status_callback=m.status_callback
                )
                return 1 if created.sid else 0

        return sum(await asyncio.gather(*(one(m) for m in self.msgs)))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


class RawPush:
    """pywebpush alone: ``WebPusher.send_async`` (it encrypts each payload) on one shared
    aiohttp session, the VAPID header signed once, payloads serialised beforehand."""

    def __init__(self, vapid_key: str, subject: str, msgs: Sequence[Push], limit: int) -> None:
        self.limit = limit
        origin = msgs[0].subscription.origin
        claims = {"aud": origin, "exp": int(time.time()) + 12 * 3600, "sub": subject}
        vapid = Vapid(private_key=load_vapid_private_key(vapid_key))
        authorization = str(vapid.sign(claims)["Authorization"])
        self.items = []
        for m in msgs:
            headers = {"Authorization": authorization, "Urgency": m.urgency}
            if m.topic:
                headers["Topic"] = m.topic
            self.items.append((m.subscription.to_json(), m.data(), headers, m.ttl))
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.limit))

    async def run(self) -> int:
        session = self.session
        assert session is not None
        sem = asyncio.Semaphore(self.limit)

        async def one(info: dict[str, Any], data: bytes, headers: dict[str, str], ttl: int) -> int:
            async with sem:
                resp = await WebPusher(info, aiohttp_session=session).send_async(
                    data, headers, ttl=ttl, content_encoding="aes128gcm"
                )
                assert isinstance(resp, aiohttp.ClientResponse)
                return 1 if resp.status == 201 else 0

        return sum(await asyncio.gather(*(one(*item) for item in self.items)))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def start_raw(
    settings: Settings, msgs: dict[str, list[Any]], smtp_pool: int, limit: int
) -> dict[str, Raw]:
    """Each channel's client library alone, on the messages built beforehand, started."""
    s = settings
    raw: dict[str, Raw] = {
        "email": RawEmail(
            SmtpConfig.from_url(str(s.smtp_url)), s.mail_from, msgs["email"], smtp_pool
        ),
        "sms": RawSms(s.twilio_base_url, msgs["sms"], limit),
        "push": RawPush(str(s.vapid_private_key), s.vapid_subject, msgs["push"], limit),
    }
    for r in raw.values():
        await r.start()
    return raw
