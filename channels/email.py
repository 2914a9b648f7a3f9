"""Email over SMTP with aiosmtplib, through a small pool of reused connections."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.policy
import email.utils
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from channels.base import Channel, PermanentChannelError, Sent, TransientChannelError


class RecipientRefusedError(PermanentChannelError):
    """The server refused the address itself (5xx on RCPT): it bounces for good."""


@dataclasses.dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # implicit TLS (smtps://)
    start_tls: bool | None = None  # None: upgrade when the server offers it

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        u = urlsplit(url)
        q = parse_qs(u.query)
        start_tls: bool | None = None
        if "starttls" in q:
            start_tls = q["starttls"][0] in ("1", "true", "yes")
        return cls(
            host=u.hostname or "127.0.0.1",
            port=u.port or (465 if u.scheme == "smtps" else 25),
            username=unquote(u.username) if u.username else None,
            password=unquote(u.password) if u.password else None,
            use_tls=u.scheme == "smtps",
            start_tls=start_tls,
        )


def build_message(mail_from: str, msg: Email) -> EmailMessage:
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = mail_from
    m["To"] = msg.to
    m["Subject"] = msg.subject
    m["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    m["Message-ID"] = msg.message_id
    for name, value in msg.headers:
        m[name] = value
    m.set_content(msg.text)
    m.add_alternative(msg.html, subtype="html")
    return m


class SmtpEmailChannel(Channel[Email]):
    name = "email"
    provider = "smtp"

    def __init__(
        self, config: SmtpConfig, mail_from: str, pool_size: int = 4, timeout: float = 30.0
    ) -> None:
        self.config = config
        self.mail_from = mail_from
        self.timeout = timeout
        self._pool: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(pool_size):
            self._pool.put_nowait(None)  # a slot; connected on first use
        self._open: set[aiosmtplib.SMTP] = set()

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.use_tls,
            start_tls=c.start_tls,
            timeout=self.timeout,
        )
        await smtp.connect()
        if c.username:
            await smtp.login(c.username, c.password or "")
        return smtp

    async def _send(self, message: Email) -> Sent:
        smtp = await self._pool.get()
        try:
            if smtp is None or not smtp.is_connected:
                smtp = await self._connect()
                self._open.add(smtp)
            await smtp.send_message(build_message(self.mail_from, message))
            return Sent(provider_id=message.message_id)
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            if all(400 <= c < 500 for c in codes):
                raise TransientChannelError(f"recipient deferred: {codes}") from None
            raise RecipientRefusedError(f"recipient refused: {codes}") from None
        except aiosmtplib.SMTPResponseException as e:
            smtp = await self._reset(smtp)
            kind = TransientChannelError if 400 <= e.code < 500 else PermanentChannelError
            raise kind(f"SMTP {e.code}: {e.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            self._drop(smtp)
            smtp = None
            raise TransientChannelError(f"SMTP connection: {type(e).__name__}: {e}") from None
        finally:
            self._pool.put_nowait(smtp)

    async def _reset(self, smtp: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
        """After a refused transaction, RSET so the connection can be reused."""
        if smtp is None or not smtp.is_connected:
            return None
        try:
            await smtp.rset()
            return smtp
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop(smtp)
            return None

    def _drop(self, smtp: aiosmtplib.SMTP | None) -> None:
        if smtp is not None:
            self._open.discard(smtp)
            with contextlib.suppress(Exception):
                smtp.close()
        return None

    async def close(self) -> None:
        for smtp in list(self._open):
            with contextlib.suppress(Exception):
                if smtp.is_connected:
                    await smtp.quit()
            self._drop(smtp)
