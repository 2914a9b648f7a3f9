"""How many messages a draft would send: ``SubscriptionStore.reach``, counted in Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from subscriptions.store import SubscriptionStore


async def test_reach_counts_citizens_with_a_confirmed_contact_on_each_channel_they_want(
    redis: Redis,
) -> None:
    store = SubscriptionStore(redis)
    ids = []
    for _ in range(4):
        ids.append((await store.create_citizen("paris", "fr")).id)
    a, b, c, d = ids
    await store.add_contact("paris", a, "email", "a@example.org", "confirmed", "test")
    await store.add_contact("paris", a, "sms", "+33611111111", "pending", "test")
    await store.add_contact("paris", b, "sms", "+33622222222", "confirmed", "test")
    await store.add_contact("paris", b, "email", "b@example.org", "confirmed", "test")
    for n in (1, 2):  # two browsers: one message each, still one citizen
        await store.add_contact("paris", c, "push", f"https://push.example/{n}", "confirmed", "t")
    await store.add_contact("paris", d, "email", "d@example.org", "unsubscribed", "test")
    wanting = {
        "email": [a, d, "cit_gone"],  # b has an email, but does not want it
        "sms": [a, b],  # a's phone is not confirmed
        "push": [c],
    }
    assert await store.reach("paris", wanting) == {"email": 1, "sms": 1, "push": 1}
    # what the send path would find, citizen by citizen
    for channel, cids in wanting.items():
        found = await store.confirmed_contacts("paris", cids, channel)
        assert len(found) == (await store.reach("paris", {channel: cids}))[channel]
    assert await store.reach("paris", {"email": []}) == {"email": 0}


async def test_reach_goes_a_thousand_citizens_a_call(redis: Redis) -> None:
    store = SubscriptionStore(redis)
    cids = []
    for i in range(2100):
        cid = (await store.create_citizen("paris", "en")).id
        cids.append(cid)
        if i % 3 == 0:
            await store.add_contact("paris", cid, "email", f"c{i}@example.org", "confirmed", "t")
    assert await store.reach("paris", {"email": cids, "sms": cids[:10]}) == {
        "email": 700,
        "sms": 0,
    }
