"""The SMTP channel against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio

from channels.email import Email, SmtpConfig, SmtpEmailChannel
from tests.stage import SmtpSink, eventually


def _email(to: str) -> Email:
    return Email(to, "Travaux", "Rue fermée.", "<p>Rue fermée.</p>", f"<{to}.1@alerts.example>")


async def test_a_send_cancelled_mid_command_does_not_spoil_the_next(
    smtp: tuple[SmtpSink, str],
) -> None:
    """A send cancelled while the server has not answered (the worker stopping, a deadline):
    its connection is not handed to the next message, whose commands would read that answer."""
    sink, url = smtp
    sink.slow = 0.3
    channel = SmtpEmailChannel(SmtpConfig.from_url(url), "Ville <alerts@example.org>", pool_size=1)
    try:
        cut = asyncio.ensure_future(channel.send("n1", _email("first@example.org")))
        await asyncio.sleep(0.1)  # the DATA written, its answer not yet come
        cut.cancel()
        await asyncio.gather(cut, return_exceptions=True)
        sink.slow = 0.0
        sent = await channel.send("n2", _email("second@example.org"))
        assert sent.provider_id == "<second@example.org.1@alerts.example>"
        await eventually(lambda: sink.to("second@example.org"), what="the second email")
        [second] = sink.to("second@example.org")
        assert second["Subject"] == "Travaux"
    finally:
        await channel.close()
