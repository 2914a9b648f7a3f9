"""Email over SMTP with aiosmtplib, through a small pool of reused connections."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.policy
import email.utils
import functools
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from email.header import Header
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from channels.base import (
    Address,
    Addressee,
    Batch,
    Channel,
    Origin,
    PermanentChannelError,
    Sent,
    TransientChannelError,
)
from channels.connections import Pool
from templates import MESSAGE_KINDS

# the kinds of message that are list mail: they carry a one-click List-Unsubscribe (RFC 8058)
LISTED = frozenset(kind for kind, m in MESSAGE_KINDS.items() if m.listed)


class RecipientRefusedError(PermanentChannelError):
    """The server refused the address itself (5xx on RCPT): it bounces for good."""

    contact_status = "bounced"
    how = "bounce (SMTP 5xx on the recipient)"


@dataclasses.dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    headers: tuple[tuple[str, str], ...] = ()
    # (stand-in, value) to put into the bodies: the text and html above hold the stand-ins
    fills: tuple[tuple[str, str], ...] = ()
    sender: str = ""  # the From of this message (a city's); none: the channel's


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


def header_text(value: str) -> str:
    """A header's text on one line: whitespace runs (line breaks, tabs) made one space, control
    characters and lone surrogates dropped. A line break in a Subject makes the standard
    library refuse the whole message (a CAP headline often holds one)."""
    kept = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cs") or c.isspace())
    return " ".join(kept.split())


def set_subject(m: EmailMessage, subject: str) -> None:
    """The Subject as written, on one line (``header_text``). Plain ASCII is set as it is;
    other text is encoded here (RFC 2047, lines of at most 76 characters), as the standard
    library's own folding (Python 3.11) loses the space between two encoded words it splits a
    long Subject into, and decodes text that reads as an encoded word ("=?utf-8?q?…?=") as the
    header is set, so the citizen would read something else than the title."""
    text = header_text(subject)
    if text.isascii() and "=?" not in text:
        m["Subject"] = text
    else:  # kept as encoded here: lines this short are not folded again
        m.set_raw("Subject", Header(text, "utf-8", header_name="Subject").encode(linesep="\n"))


def build_message(mail_from: str, msg: Email, date: str | None = None) -> EmailMessage:
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = msg.sender or mail_from
    m["To"] = msg.to
    set_subject(m, msg.subject)
    m["Date"] = date or email.utils.formatdate(localtime=False, usegmt=True)
    m["Message-ID"] = msg.message_id
    for name, value in msg.headers:
        m[name] = value
    # quoted-printable, never base64: the fast path substitutes into the encoded bytes
    m.set_content(msg.text, cte="quoted-printable")
    m.add_alternative(msg.html, subtype="html", cte="quoted-printable")
    return m


_TO = "to@placeholder.invalid"
_MSGID = "<message-id@placeholder.invalid>"
_DATE = "Thu, 01 Jan 1970 00:00:00 -0000"


def _header(i: int) -> str:
    return f"<https://header-{i}.placeholder.invalid/>"


class MessageCache:
    """Building a MIME message costs milliseconds; substituting into its bytes, microseconds.
    A message is built once per (subject, bodies, header names) with stand-ins for what differs
    per recipient (To, Message-ID, Date, header values, the ``fills`` in the bodies), and each
    recipient's message is those bytes with the stand-ins replaced. Anything that would not
    survive as plain ASCII bytes takes the slow path (None)."""

    def __init__(self, mail_from: str, size: int = 64) -> None:
        self.mail_from = mail_from
        self.size = size
        self._cache: OrderedDict[tuple[object, ...], bytes | None] = OrderedDict()

    def render(self, msg: Email) -> bytes | None:
        values = [msg.to, msg.message_id, *(v for _, v in msg.headers), *(v for _, v in msg.fills)]
        if not all(v.isascii() and "\n" not in v and "\r" not in v for v in values):
            return None
        names = tuple(n for n, _ in msg.headers)
        marks = tuple(f for f, _ in msg.fills)
        k = (msg.sender, msg.subject, msg.text, msg.html, names, marks)
        if k not in self._cache:
            self._cache[k] = self._template(msg)
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(k)
        template = self._cache[k]
        if template is None:
            return None
        out = template.replace(_TO.encode(), msg.to.encode(), 1)
        out = out.replace(_MSGID.encode(), msg.message_id.encode(), 1)
        out = out.replace(_DATE.encode(), email.utils.formatdate(usegmt=True).encode(), 1)
        for i, (_, value) in enumerate(msg.headers):
            out = out.replace(_header(i).encode(), value.encode(), 1)
        for mark, value in msg.fills:
            out = out.replace(mark.encode(), value.encode())
        return out

    def _template(self, msg: Email) -> bytes | None:
        stand_in = dataclasses.replace(
            msg,
            to=_TO,
            message_id=_MSGID,
            headers=tuple((n, _header(i)) for i, (n, _) in enumerate(msg.headers)),
        )
        raw = bytes(build_message(self.mail_from, stand_in, date=_DATE))
        needed = [_TO, _MSGID, _DATE, *(_header(i) for i in range(len(msg.headers)))]
        if not all(raw.count(n.encode()) == 1 for n in needed):
            return None  # folded or encoded across a stand-in: build each message instead
        for mark, _ in msg.fills:  # each stand-in must be whole in both bodies
            if raw.count(mark.encode()) != msg.text.count(mark) + msg.html.count(mark):
                return None
        return raw


@functools.cache
def _domain(mail_from: str) -> str:
    return email.utils.parseaddr(mail_from)[1].rpartition("@")[2] or "notifier.invalid"


class SmtpEmailChannel(Channel[Email]):
    name = "email"
    provider = "smtp"

    def __init__(
        self, config: SmtpConfig, mail_from: str, pool_size: int = 4, timeout: float = 30.0
    ) -> None:
        self.config = config
        self.mail_from = mail_from
        self._sender = email.utils.parseaddr(mail_from)[1]
        self._messages = MessageCache(mail_from)
        self.timeout = timeout
        # a slot each, connected on first use; the most urgent lane's message first
        self._pool: Pool[aiosmtplib.SMTP | None] = Pool([None] * pool_size)
        self._open: set[aiosmtplib.SMTP] = set()

    def messages(self, batch: Batch, origin: Origin) -> Callable[[Addressee, Address], Email]:
        """From the city's own From if it has one (else the channel's), its Reply-To; the
        recipient's unsubscribe link filled in the bodies and, for list mail, in the headers."""
        domain = _domain(origin.sender or self.mail_from)  # of the Message-IDs
        reply_to = origin.reply_to
        common: tuple[tuple[str, str], ...] = (("Reply-To", reply_to),) if reply_to else ()
        listed, variants = batch.kind in LISTED, batch.variants
        mark, sender = batch.unsubscribe_mark, origin.sender

        def message(r: Addressee, cp: Address) -> Email:
            v = variants[r.language]
            headers = common
            if listed and r.unsubscribe_url:
                headers += (
                    ("List-Unsubscribe", f"<{r.unsubscribe_url}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                )
            return Email(
                to=cp.address,
                subject=v["subject"],
                text=v["text"],
                html=v["html"],
                message_id=f"<{r.id}@{domain}>",
                headers=headers,
                fills=((mark, r.unsubscribe_url),),
                sender=sender,
            )

        return message

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
            raw = self._messages.render(message)
            envelope = email.utils.parseaddr(message.sender)[1] if message.sender else self._sender
            if raw is not None:
                await smtp.sendmail(envelope, [message.to], raw)
            else:
                filled = message
                for mark, value in message.fills:
                    filled = dataclasses.replace(
                        filled,
                        text=filled.text.replace(mark, value),
                        html=filled.html.replace(mark, value),
                    )
                await smtp.send_message(build_message(self.mail_from, filled))
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
        except asyncio.CancelledError:  # mid-command: its answer would meet the next message
            self._drop(smtp)
            smtp = None
            raise
        finally:
            self._pool.put(smtp)

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
