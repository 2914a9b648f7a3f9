"""``notifier migrate`` as an operator runs it on a store written by an earlier release, and
what every process does with a store written by a newer one (``notifier.layout``)."""

from __future__ import annotations

from redis.asyncio import Redis

from notifier import layout
from subscriptions.areas import load_catalogue
from subscriptions.cities import REGISTRY
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from tests.command import run


async def old_store(redis: Redis, n: int) -> list[str]:
    """What a release before the layout's version left: a city, ``n`` subscriptions each with
    the index sets it wrote then (area, quartier cells, department), and a request's
    followers; no ``n:layout``."""
    store, catalogue = SubscriptionStore(redis), load_catalogue("paris")
    await redis.hset(REGISTRY, "paris", "")
    sids = []
    for _ in range(n):
        c = await store.create_citizen("paris", "fr")
        body = {"kind": "area", "area": "75105", "channels": ["email"]}
        sub, index = parse_subscription(body, sid=new_id("sub"), citizen=c.id, catalogue=catalogue)
        await store.add_subscription("paris", sub, index)
        await redis.sadd("n:paris:idx:area:75105", sub.id)
        await redis.sadd("n:paris:idx:geo:7510501", sub.id)
        await redis.sadd("n:paris:idx:dept:voirie", sub.id)
        sids.append(sub.id)
    await redis.sadd("n:paris:idx:request:14-00684314", sids[0])
    return sids


async def test_migrate_takes_an_old_store_to_this_layout_and_keeps_what_is_read(
    redis: Redis, redis_url: str
) -> None:
    sids = await old_store(redis, 3)
    before = {k async for k in redis.scan_iter("n:*")}
    assert await layout.version(redis) == 1
    env = {"NOTIFIER_REDIS_URL": redis_url}

    dry = run("migrate", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "layout 1 -> 2" in dry.stdout and "nothing changed" in dry.stdout
    assert {k async for k in redis.scan_iter("n:*")} == before

    r = run("migrate", env=env)
    assert r.returncode == 0, r.stderr
    assert "3 index sets deleted" in r.stdout
    assert r.stdout.strip().endswith("the store's key layout is now 2")
    gone = {"n:paris:idx:area:75105", "n:paris:idx:geo:7510501", "n:paris:idx:dept:voirie"}
    after = {k async for k in redis.scan_iter("n:*")}
    assert after == (before - gone) | {layout.KEY}
    # what is read stays: each subscription with its index, the request's followers
    for sid in sids:
        assert await redis.hget(f"n:paris:sub:{sid}", "index") == '[["area", "75105"]]'
    assert await redis.smembers("n:paris:idx:request:14-00684314") == {sids[0]}

    again = run("migrate", env=env)  # run again (after an interruption): nothing to do
    assert again.returncode == 0 and "nothing to do" in again.stdout


async def test_a_new_store_is_given_this_layout_and_a_newer_one_stops_every_process(
    redis: Redis, redis_url: str
) -> None:
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
