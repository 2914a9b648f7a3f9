"""What an SMS from a citizen does to their number's consent (``subscriptions.sms_replies``): the
rule alone, then with the store (real Redis), then the replies as Twilio's webhook answers them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from channels.twilio_webhooks import compute_signature
from notifier.api.app import create_api
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from subscriptions.errors import InvalidInput
from subscriptions.sms_replies import NOTHING, Answer, Decision, act_on, decide
from subscriptions.store import SubscriptionStore
from tests.stage import stored

PHONE = "+33612345678"
TOKEN = "e" * 32
# the replies' words, as they were when they were written in notifier/api/webhooks.py
HELP = {
    "fr": "Alertes de Paris : répondez STOP pour ne plus recevoir de SMS, START pour reprendre.",
    "en": "Paris alerts: reply STOP to stop text messages, START to get them again.",
}
CONFIRMED = {
    "fr": "Numéro confirmé : vous recevrez les alertes choisies. STOP pour ne plus recevoir.",
    "en": "Number confirmed: you will get the alerts you chose. STOP to opt out.",
}
CODE_REPLY = Decision("confirmed", "SMS code reply", "246810", "number_confirmed")


@pytest.mark.parametrize(
    ("keyword", "body", "status", "decision"),
    [
        ("HELP", "help", None, Decision(reply="help")),  # anyone may ask
        ("HELP", "HELP", "confirmed", Decision(reply="help")),
        ("HELP", "HELP", "opted_out", Decision(reply="help")),
        ("STOP", "STOP", None, NOTHING),  # not our number
        ("STOP", "Arrêt", "confirmed", Decision("opted_out", "SMS STOP")),
        ("STOP", "STOP", "pending", Decision("opted_out", "SMS STOP")),
        ("STOP", "STOP", "opted_out", Decision("opted_out", "SMS STOP")),  # the store: no-op
        ("START", "START", "opted_out", Decision("confirmed", "SMS START")),
        ("START", "yes", None, NOTHING),
        ("START", "START", "confirmed", NOTHING),
        ("START", "START", "pending", NOTHING),  # START is no confirmation
        ("START", "START", "unsubscribed", NOTHING),  # only STOP's opt-out is undone by START
        (None, " 246810 \n", "pending", CODE_REPLY),
        ("START", "246810", "pending", CODE_REPLY),  # Twilio's OptOutType over a code
        (None, "246810", "confirmed", NOTHING),
        (None, "246810", "opted_out", NOTHING),
        (None, "246810", None, NOTHING),
        (None, "24681", "pending", NOTHING),
        (None, "2468100", "pending", NOTHING),
        (None, "246 810", "pending", NOTHING),
        (None, "code 246810", "pending", NOTHING),
        (None, "Merci !", "confirmed", NOTHING),
    ],
)
def test_what_a_message_does_to_the_number(
    keyword: str | None, body: str, status: str | None, decision: Decision
) -> None:
    assert decide(keyword, body, status) == decision


@pytest.fixture
def store(redis: Redis) -> SubscriptionStore:
    return SubscriptionStore(redis)


async def test_a_number_that_is_not_ours_gets_help_and_nothing_else(
    store: SubscriptionStore, redis: Redis
) -> None:
    assert await act_on(store, "paris", PHONE, "HELP", "HELP") == Answer("help", "")
    for keyword, body in (("STOP", "STOP"), ("START", "START"), (None, "246810")):
        assert await act_on(store, "paris", PHONE, keyword, body) is None
    assert await stored(redis) == []


async def test_stop_and_start_are_kept_with_how(store: SubscriptionStore) -> None:
    c = await store.create_citizen("paris", "en")
    cp = await store.add_contact("paris", c.id, "sms", PHONE, "confirmed", "test")
    assert await act_on(store, "paris", PHONE, "HELP", "help") == Answer("help", "en")
    assert await act_on(store, "paris", PHONE, "STOP", "Arrêt") is None
    assert (await store.contact("paris", cp.id)).status == "opted_out"
    assert await act_on(store, "paris", PHONE, "START", "START") is None
    assert (await store.contact("paris", cp.id)).status == "confirmed"
    assert [e["how"] for e in await store.consent_log("paris", c.id)][-2:] == [
        "SMS STOP",
        "SMS START",
    ]


async def test_the_right_code_confirms_a_pending_number(store: SubscriptionStore) -> None:
    c = await store.create_citizen("paris", "fr")
    cp = await store.add_contact("paris", c.id, "sms", PHONE, "pending", "import")
    await store.set_code("paris", cp.id, "246810")
    assert await act_on(store, "paris", PHONE, None, "111111") is None  # wrong: nothing
    assert (await store.contact("paris", cp.id)).status == "pending"
    answer = await act_on(store, "paris", PHONE, None, " 246810 ")
    assert answer == Answer("number_confirmed", "fr")
    assert (await store.contact("paris", cp.id)).status == "confirmed"
    assert (await store.consent_log("paris", c.id))[-1]["how"] == "SMS code reply"
    # the code is spent: the number is confirmed, and a confirmed number's code is no code
    assert await act_on(store, "paris", PHONE, None, "246810") is None


async def test_an_expired_code_is_an_error_and_changes_nothing(store: SubscriptionStore) -> None:
    c = await store.create_citizen("paris", "fr")
    cp = await store.add_contact("paris", c.id, "sms", PHONE, "pending", "import")
    with pytest.raises(InvalidInput, match="expired"):  # no code was ever set
        await act_on(store, "paris", PHONE, None, "246810")
    assert (await store.contact("paris", cp.id)).status == "pending"


Inbound = Callable[[str, str, str], Awaitable[str]]


@pytest.fixture
async def inbound(settings: Settings, redis: Redis) -> AsyncIterator[Inbound]:
    """Post a signed inbound SMS (its sid's letter, from, body) to the real API: its TwiML."""
    s = settings.replace(twilio_auth_token=Secret(TOKEN))
    path = "/v1/cities/paris/twilio/inbound"

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        raise AssertionError("an inbound SMS publishes nothing")

    async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as client:

        async def post(sid: str, phone: str, body: str) -> str:
            params = {
                "MessageSid": "SM" + sid * 32,
                "AccountSid": "AC" + "1" * 32,
                "From": phone,
                "To": "+33700000001",
                "Body": body,
            }
            signature = compute_signature(TOKEN, s.base_url + path, params)
            r = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
            assert r.status == 200 and r.content_type == "text/xml"
            return await r.text()

        yield post


def twiml(reply: str) -> str:
    message = f"<Message>{reply}</Message>" if reply else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'


async def test_the_replies_word_for_word_in_the_citizens_language(
    inbound: Inbound, redis: Redis
) -> None:
    store = SubscriptionStore(redis)
    phones = {"fr": "+33611111111", "en": "+33622222222", "de": "+33633333333"}
    for sid, (language, phone) in zip("abc", phones.items(), strict=True):
        c = await store.create_citizen("paris", "en" if language == "de" else language)
        if language == "de":  # a language we have no words in: French, as always
            await redis.hset(f"n:{{paris}}:citizen:{c.id}", "language", "de")
        cp = await store.add_contact("paris", c.id, "sms", phone, "pending", "import")
        await store.set_code("paris", cp.id, "135790")
        confirmed = CONFIRMED.get(language, CONFIRMED["fr"])
        assert await inbound(sid, phone, "135790") == twiml(confirmed)
        assert await inbound(sid.upper(), phone, "Help") == twiml(HELP.get(language, HELP["fr"]))
    # a number that is not ours is helped in French; STOP has no reply
    assert await inbound("d", "+33644444444", "HELP") == twiml(HELP["fr"])
    assert await inbound("e", phones["fr"], "STOP") == twiml("")
