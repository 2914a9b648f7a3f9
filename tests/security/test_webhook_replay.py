"""A signed Twilio webhook replayed changes nothing the second time: an old STOP cannot switch a
citizen's number off again after their START, and a status callback is taken once per status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from channels.twilio_webhooks import compute_signature
from notifier.settings import Secret, Settings
from streams.records import Receipt
from streams.topics import TopicNames
from tests.stage import api_client

Client = TestClient[Any, Any]
TOKEN = "2" * 32
ACCOUNT = "AC" + "1" * 32
PHONE = "+33612345678"


@pytest.fixture
def sms_settings(settings: Settings) -> Settings:
    return settings.replace(
        twilio_account_sid=ACCOUNT, twilio_auth_token=Secret(TOKEN), twilio_from="+33700000001"
    )


@pytest.fixture
async def api(sms_settings: Settings, redis: Redis) -> AsyncIterator[Client]:
    async with api_client(sms_settings, redis) as client:
        yield client


async def signed(api: Client, settings: Settings, path: str, params: dict[str, str]) -> Any:
    signature = compute_signature(TOKEN, settings.base_url + path, params)
    return await api.post(path, data=params, headers={"X-Twilio-Signature": signature})


async def test_a_replayed_stop_does_not_undo_a_later_start(
    api: Client, redis: Redis, sms_settings: Settings
) -> None:
    c = await (await api.post("/v1/cities/paris/citizens", json={"phone": PHONE})).json()
    pid = c["contacts"][0]["id"]
    await redis.hset(f"n:{{paris}}:contact:{pid}", "status", "confirmed")
    path = "/v1/cities/paris/twilio/inbound"

    def sms(sid: str, body: str) -> dict[str, str]:
        return {
            "MessageSid": sid,
            "AccountSid": ACCOUNT,
            "From": PHONE,
            "To": "+33700000001",
            "Body": body,
        }

    async def status() -> str:
        return str(await redis.hget(f"n:{{paris}}:contact:{pid}", "status"))

    stop, start = sms("SM" + "a" * 32, "STOP"), sms("SM" + "b" * 32, "START")
    assert (await signed(api, sms_settings, path, stop)).status == 200
    assert await status() == "opted_out"
    assert (await signed(api, sms_settings, path, start)).status == 200
    assert await status() == "confirmed"
    replay = await signed(api, sms_settings, path, stop)  # the same signed request again
    assert replay.status == 200 and "<Message>" not in await replay.text()
    assert await status() == "confirmed"
    consent = await redis.lrange(f"n:{{paris}}:citizen:{c['citizen']['id']}:consent", 0, -1)
    assert len(consent) == 3  # pending, STOP, START: nothing from the replay


async def test_a_status_callback_is_taken_once_per_status(
    api: Client, sms_settings: Settings
) -> None:
    path, sid = "/v1/cities/paris/twilio/status", "SM" + "c" * 32

    def callback(status: str) -> dict[str, str]:
        return {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT}

    for status in ("sent", "sent", "delivered", "delivered", "delivered"):
        assert (await signed(api, sms_settings, path, callback(status))).status == 204
    consumer = AIOKafkaConsumer(
        TopicNames.with_prefix(sms_settings.topic_prefix).receipts,
        bootstrap_servers=sms_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    receipts = [Receipt.from_wire(m.value) for ms in got.values() for m in ms]
    assert [(r.provider_id, r.status) for r in receipts] == [(sid, "sent"), (sid, "delivered")]
