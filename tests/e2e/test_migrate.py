"""``notifier migrate`` as an operator runs it on a store written by an earlier release, and
what every process does with a store written by a newer one (``notifier.layout``)."""

from __future__ import annotations

import json
import time

import pytest
from redis.asyncio import Redis

from notifier import layout
from streams.state import dead_letters
from streams.state.ledger import Ledger
from subscriptions.cities import REGISTRY
from subscriptions.store import SubscriptionStore
from tests.command import run

CID, PID, SID, EID, NID = "cit_1", "cp_1", "sub_1", "evt_1", "ntf_1"


async def old_store(redis: Redis) -> None:
    """What a release before the layout's version left, key by key as it wrote them (no
    ``n:layout``): a citizen with a confirmed email and a subscription, with the index sets
    written then (area, quartier, department) and a request's followers; an event with one
    notification sent; a dead letter; the heartbeat of a worker stopped since."""
    now = int(time.time())
    await redis.delete(layout.KEY)
    await redis.hset(REGISTRY, "paris", "")
    await redis.hset(
        f"n:paris:citizen:{CID}",
        mapping={"id": CID, "language": "fr", "timezone": "Europe/Paris", "created_at": now},
    )
    await redis.sadd(f"n:paris:citizen:{CID}:contacts", PID)
    await redis.sadd(f"n:paris:citizen:{CID}:subs", SID)
    await redis.rpush(f"n:paris:citizen:{CID}:consent", json.dumps({"contact": PID}))
    contact = {"id": PID, "citizen": CID, "channel": "email", "address": "a@example.org"}
    await redis.hset(f"n:paris:contact:{PID}", mapping={**contact, "status": "confirmed"})
    await redis.set("n:paris:address:email:a@example.org", PID)
    sub = {"id": SID, "citizen": CID, "kind": "area", "area": "75105", "channels": '["email"]'}
    await redis.hset(
        f"n:paris:sub:{SID}",
        mapping={**sub, "categories": "[]", "min_severity": "minor", "radius_m": "0"}
        | {"geometry": "", "request": "", "department": "", "index": '[["area", "75105"]]'},
    )
    await redis.xadd("n:paris:subs:log", {"seq": 1, "op": "add", "sub": SID})
    await redis.set("n:paris:subs:seq", 1)
    for kind, code in (("area", "75105"), ("geo", "7510501"), ("dept", "voirie")):
        await redis.sadd(f"n:paris:idx:{kind}:{code}", SID)
    await redis.sadd("n:paris:idx:request:14-00684314", SID)
    await redis.hset(f"n:paris:event:{EID}", mapping={"id": EID, "status": "processed"})
    await redis.hset(f"n:paris:event:{EID}:counts", "email:sent", 1)
    await redis.sadd(f"n:paris:event:{EID}:notifs", f"n:paris:notif:{NID}")
    notif = {"event": EID, "citizen": CID, "channel": "email", "status": "sent"}
    await redis.hset(f"n:paris:notif:{NID}", mapping=notif)
    await redis.zadd(f"n:paris:citizen:{CID}:notifs", {NID: now})
    await redis.xadd("n:_:dead-letters", {"record": json.dumps({"reason": "invalid: x"})})
    await redis.set("n:worker:stopped", "1")  # lapsed (a live one has a time to live)


@pytest.mark.single_server
async def test_migrate_takes_an_old_store_to_this_layout_and_keeps_what_is_read(
    redis: Redis, redis_url: str
) -> None:
    await old_store(redis)
    before = {k async for k in redis.scan_iter("n:*")}
    assert await layout.version(redis) == 1
    env = {"NOTIFIER_REDIS_URL": redis_url}
    r = run("city", "list", env=env)  # the service does not run on it
    assert r.returncode == 2 and "stop the service and run `notifier migrate` first" in r.stderr

    dry = run("migrate", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "layout 1 -> 2" in dry.stdout and "layout 2 -> 3" in dry.stdout
    assert "nothing changed" in dry.stdout
    assert {k async for k in redis.scan_iter("n:*")} == before

    r = run("migrate", env=env)
    assert r.returncode == 0, r.stderr
    assert "3 index sets deleted" in r.stdout
    assert r.stdout.strip().endswith(f"the store's key layout is now {layout.LAYOUT}")
    left = {k async for k in redis.scan_iter("n:*")}
    assert {k for k in left if not k.startswith(("n:{", "n:cities", "n:layout"))} == set()
    assert not {k for k in left if ":idx:area:" in k or ":idx:geo:" in k or ":idx:dept:" in k}
    # what the service reads, read by this release's code
    store, ledger = SubscriptionStore(redis), Ledger(redis)
    assert (await store.citizen("paris", CID)).language == "fr"
    [cp] = await store.contacts_of("paris", CID)
    assert (cp.address, cp.status) == ("a@example.org", "confirmed")
    found = await store.contact_by_address("paris", "email", "a@example.org")
    assert found is not None and found.id == PID
    [sub] = await store.subscriptions_of("paris", CID)
    assert (sub.id, sub.area) == (SID, "75105")
    assert await redis.smembers("n:{paris}:idx:request:14-00684314") == {SID}
    assert await ledger.counts("paris", EID) == {"email": {"sent": 1}}
    [notif] = await redis.smembers(f"n:{{paris}}:event:{EID}:notifs")  # names the new key
    assert await redis.hget(notif, "status") == "sent"
    assert [h["id"] for h in await ledger.history("paris", CID)] == [NID]
    [(_, letter)] = await dead_letters.listing(redis)
    assert letter["reason"] == "invalid: x"

    again = run("migrate", env=env)  # run again (after an interruption): nothing to do
    assert again.returncode == 0 and "nothing to do" in again.stdout


@pytest.mark.single_server
async def test_the_renaming_step_waits_for_the_workers_to_be_stopped(
    redis: Redis, redis_url: str
) -> None:
    await old_store(redis)
    await redis.set("n:worker:w1", "1", px=10_000)  # a worker of the old release, running
    env = {"NOTIFIER_REDIS_URL": redis_url}
    r = run("migrate", env=env)
    assert r.returncode == 2, r.stdout
    assert "a worker is running (n:worker:w1" in r.stderr and "Traceback" not in r.stderr
    assert await redis.exists(f"n:paris:citizen:{CID}")  # nothing renamed
    assert await layout.version(redis) == 2  # the first step is done, and kept
    await redis.delete("n:worker:w1")  # stopped: the heartbeat lapses
    r = run("migrate", env=env)
    assert r.returncode == 0, r.stderr
    assert "layout 2 -> 3" in r.stdout and "layout 1 -> 2" not in r.stdout


async def test_a_new_store_is_given_this_layout_and_a_newer_one_stops_every_process(
    redis: Redis, redis_url: str
) -> None:
    await redis.delete(layout.KEY)  # an empty store
    env = {"NOTIFIER_REDIS_URL": redis_url}
    r = run("city", "list", env=env)
    assert r.returncode == 0, r.stderr
    assert await redis.get(layout.KEY) == str(layout.LAYOUT)

    await redis.set(layout.KEY, layout.LAYOUT + 1)  # a newer release migrated it
    try:
        for command in (("city", "list"), ("migrate",), ("department-key", "list")):
            r = run(*command, env=env)
            assert r.returncode == 2, (command, r.stdout, r.stderr)
            assert f"key layout is {layout.LAYOUT + 1}, written by a newer release" in r.stderr
            assert "Traceback" not in r.stderr
    finally:  # the session's Redis is the other tests' too
        await redis.delete(layout.KEY)
