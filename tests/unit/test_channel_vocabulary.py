"""Each channel's vocabulary lives in its module (``channels/__init__.py``): the names every
other list is made from, what its provider's refusals and receipts mean, how it builds its
messages. What ``streams/`` held before (the topics, ``send.GONE``, ``send._Messages``,
``track.TWILIO``) is kept here word for word."""

from __future__ import annotations

import time
from typing import Any

import pytest

import channels
from channels.base import Channel, Origin, PermanentChannelError, Receipted
from channels.email import RecipientRefusedError, SmtpConfig, SmtpEmailChannel
from channels.push import (
    MAX_PAYLOAD,
    EndpointRefusedError,
    SubscriptionGoneError,
    WebPushChannel,
    event_topic,
    generate_vapid_keys,
)
from channels.sms import OptedOutError, TwilioSmsChannel
from notifier.settings import Secret, Settings
from notifier.wiring import make_channels
from streams import agents, watch
from streams.records import DeliveryBatch, Recipient
from streams.topics import NAMES, TopicNames
from subscriptions import contacts, preferences
from subscriptions.contacts import ContactPoint

SETTINGS: dict[str, Any] = {
    "secret_key": Secret("k" * 48),
    "public_url": "https://alerts.example",
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": Secret("t" * 32),
    "twilio_from": "+33700000001",
}


def test_one_list_of_channels_feeds_the_others() -> None:
    assert channels.NAMES == ("email", "sms", "push")
    assert contacts.CHANNELS == watch.CHANNELS == channels.NAMES
    assert preferences.DEFERRED_CHANNELS == ("sms", "push")
    assert NAMES == {
        "city_events": "city-events",
        "request_status": "request-status",
        "fanout": "fanout",
        "digests": "digests",
        "email": "deliveries.email",
        "sms": "deliveries.sms",
        "push": "deliveries.push",
        "email_urgent": "deliveries.email.urgent",
        "sms_urgent": "deliveries.sms.urgent",
        "push_urgent": "deliveries.push.urgent",
        "email_bulk": "deliveries.email.bulk",
        "sms_bulk": "deliveries.sms.bulk",
        "push_bulk": "deliveries.push.bulk",
        "email_digest": "deliveries.email.digest",
        "sms_digest": "deliveries.sms.digest",
        "push_digest": "deliveries.push.digest",
        "receipts": "receipts",
        "dead_letters": "dead-letters",
    }
    assert list(NAMES) == list(TopicNames.with_prefix("x.").names)
    assert list(agents.AGENTS)[3:6] == ["send-email", "send-sms", "send-push"]
    assert all(attr in NAMES for attr, _ in agents.AGENTS.values())


def test_the_settings_list_the_configured_channels_in_order() -> None:
    assert Settings(**SETTINGS).channels == ("email", "sms")
    vapid = Secret(generate_vapid_keys().private_key)
    assert Settings(**SETTINGS, vapid_private_key=vapid).channels == channels.NAMES
    only_email = {k: v for k, v in SETTINGS.items() if not k.startswith("twilio")}
    assert Settings(**only_email).channels == ("email",)


async def test_every_channel_is_one_provider_module_wired() -> None:
    vapid = Secret(generate_vapid_keys().private_key)
    made = make_channels(Settings(**SETTINGS, vapid_private_key=vapid))
    try:
        assert tuple(made) == channels.NAMES
        for name, channel in made.items():
            assert channel.name == name
            assert type(channel).messages is not Channel.messages
            # a provider that sends receipts says what they mean, and its ids are indexed
            own = type(channel).receipt.__func__ is not Channel.receipt.__func__
            assert channel.receipts == own
    finally:
        for channel in made.values():
            await channel.close()


@pytest.mark.parametrize(
    ("error", "status", "how"),
    [
        (RecipientRefusedError, "bounced", "bounce (SMTP 5xx on the recipient)"),
        (OptedOutError, "opted_out", "Twilio error 21610 (replied STOP)"),
        (SubscriptionGoneError, "gone", "push service 404/410"),
        (EndpointRefusedError, "suspended", "push endpoint refused by the outbound guard"),
    ],
)
def test_a_refusal_for_good_says_what_the_contact_point_becomes(
    error: type[PermanentChannelError], status: str, how: str
) -> None:
    e = error("refused")
    assert (e.contact_status, e.how) == (status, how)
    assert PermanentChannelError("refused").contact_status is None


def test_twilio_receipts_in_the_ledgers_words() -> None:
    r = TwilioSmsChannel.receipt
    assert r("sent", "") == Receipted("sent")
    assert r("delivered", "") == Receipted("delivered")
    assert r("read", "") == Receipted("delivered")
    assert r("undelivered", "30003") == Receipted("undelivered", "twilio error 30003")
    assert r("failed", "30006") == Receipted("failed", "twilio error 30006")
    for status in ("accepted", "queued", "sending", "canceled"):
        assert r(status, "") is None
    assert r("queued", "21610") is None  # nothing for the ledger, as before
    how = "Twilio error 21610 (replied STOP)"
    assert r("failed", "21610") == Receipted("failed", "twilio error 21610", "opted_out", how)
    assert SmtpEmailChannel.receipt("delivered", "") is None
    assert WebPushChannel.receipt("delivered", "") is None


def batch(parts: dict[str, str], **kw: Any) -> DeliveryBatch:
    r = Recipient("n_1", "cit_1", "cp_1", "", "fr", kw.pop("unsubscribe_url", ""))
    kind = kw.pop("kind", "announcement")
    return DeliveryBatch("paris", "evt_1", kind, {"fr": parts}, (r,), **kw)


def contact(address: str, p256dh: str = "", auth: str = "") -> ContactPoint:
    return ContactPoint("cp_1", "cit_1", "email", address, "confirmed", p256dh, auth)


def test_an_email_from_the_city_with_its_unsubscribe_link() -> None:
    channel = SmtpEmailChannel(SmtpConfig("127.0.0.1", 9), "Notifier <alertes@notifier.example>")
    parts = {"subject": "S", "text": "T ~u~", "html": "H ~u~"}
    b = batch(parts, unsubscribe_url="https://x.example/u/1", unsubscribe_mark="~u~")
    origin = Origin(sender="Lyon <alertes@lyon.example>", reply_to="mairie@lyon.example")
    m = channel.messages(b, origin)(b.recipients[0], contact("a@example.org"))
    assert (m.to, m.subject, m.text, m.html) == ("a@example.org", "S", "T ~u~", "H ~u~")
    assert m.message_id == "<n_1@lyon.example>" and m.sender == "Lyon <alertes@lyon.example>"
    assert m.headers == (
        ("Reply-To", "mairie@lyon.example"),
        ("List-Unsubscribe", "<https://x.example/u/1>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )
    assert m.fills == (("~u~", "https://x.example/u/1"),)
    own = channel.messages(batch(parts, kind="confirmation"), Origin())
    m = own(b.recipients[0], contact("a@example.org"))
    assert m.message_id == "<n_1@notifier.example>" and m.sender == "" and m.headers == ()


async def test_an_sms_from_the_city_with_its_status_callback() -> None:
    channel = TwilioSmsChannel("AC" + "1" * 32, "t" * 32, "+33700000001")
    b = batch({"text": "Travaux"}, channel="sms")
    origin = Origin(sender="+33700000002", receipts_url="https://x.example/status")
    m = channel.messages(b, origin)(b.recipients[0], contact("+33612345678"))
    assert (m.to, m.body, m.notification_id) == ("+33612345678", "Travaux", "n_1")
    assert (m.status_callback, m.sender) == ("https://x.example/status", "+33700000002")
    await channel.close()


async def test_a_push_by_severity_until_its_expiry_within_what_a_service_takes() -> None:
    channel = WebPushChannel(generate_vapid_keys().private_key, "mailto:ops@example.org")
    long = {"title": "T", "body": "B" * 5000, "url": "https://x.example/" + "l" * 5000}
    expires = time.time() + 3600
    b = batch(long, channel="push", severity="severe", expires_at=expires)
    origin = Origin(site="https://alerts.example", icon_url="https://alerts.example/i.png")
    build = channel.messages(b, origin)
    m = build(b.recipients[0], contact("https://push.example/e", "k", "a"))
    assert (m.urgency, m.topic, m.notification_id) == ("high", event_topic("evt_1"), "n_1")
    assert 3590 <= m.ttl <= 3600
    assert (m.subscription.endpoint, m.subscription.p256dh, m.subscription.auth) == (
        "https://push.example/e",
        "k",
        "a",
    )
    data = m.data()
    assert len(data) <= MAX_PAYLOAD
    assert b'"url":"https://alerts.example"' in data and b'"tag":"evt_1"' in data
    assert b'"icon":"https://alerts.example/i.png"' in data
    assert build(b.recipients[0], contact("https://push.example/f")).payload is m.payload
    low = channel.messages(batch({**long, "body": "B"}, channel="push"), Origin())
    m = low(b.recipients[0], contact("https://push.example/e"))
    assert (m.urgency, m.ttl) == ("low", 24 * 3600)
    await channel.close()
