"""How long ``notifier migrate`` takes a city from layout 2 to 3 (every key renamed to carry its
hash tag, ``notifier/layout.py``): the service is stopped meanwhile, so this is the upgrade's
downtime.

    .venv/bin/python bench/migrate_rate.py [--subscriptions 100000]

A generated city (``bench/city_build.py``, this release's layout) is given the names of layout
2 back (``n:{paris}:`` -> ``n:paris:``, the same keys and values as the earlier release wrote),
with an alert's ledger of one notification per citizen beside it, then migrated by the
command as an operator runs it. The baseline, in the same run: the same keys renamed by
``redis-cli`` alone, one ``RENAME`` a key piped (what no migration can beat).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from city_build import command, generate, redis_cli, write
from redis import Redis

from notifier import layout
from notifier.dev import embedded
from subscriptions.areas import load_catalogue
from subscriptions.cities import REGISTRY

NEW, OLD = "n:{paris}:", "n:paris:"


def untag(r: Redis) -> int:
    """The city's keys under their layout-2 names, with a ledger of one notification a
    citizen (an event's set of notification keys names them, as then); the number of keys."""
    citizens = [k.split(":")[3] for k in r.scan_iter(match=NEW + "citizen:*", count=10_000)]
    pipe = r.pipeline(transaction=False)
    for i, cid in enumerate(c for c in citizens if not c.endswith(("contacts", "subs"))):
        nid = f"ntf_{i:024x}"
        pipe.hset(NEW + "notif:" + nid, mapping={"event": "evt_1", "citizen": cid})
        pipe.sadd(NEW + "event:evt_1:notifs", OLD + "notif:" + nid)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    keys = list(r.scan_iter(match=NEW + "*", count=10_000))
    for i in range(0, len(keys), 5000):
        pipe = r.pipeline(transaction=False)
        for k in keys[i : i + 5000]:
            pipe.rename(k, OLD + k.removeprefix(NEW))
        pipe.execute()
    r.hset(REGISTRY, "paris", "")
    r.set(layout.KEY, 2)
    return len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    args = parser.parse_args()
    port = embedded.free_port()
    proc = embedded.start_redis(port, None, None)
    try:
        r = Redis(port=port, decode_responses=True)
        write(generate(args.subscriptions, load_catalogue("paris")), port)
        n = untag(r)
        # the baseline: redis-cli renames them back and forth, one RENAME a key, piped
        keys = list(r.scan_iter(match=OLD + "*", count=10_000))
        there = b"".join(command("RENAME", k, NEW + k.removeprefix(OLD)) for k in keys)
        back = b"".join(command("RENAME", NEW + k.removeprefix(OLD), k) for k in keys)
        t0 = time.perf_counter()
        for block in (there, back):
            pipe = [redis_cli(), "-p", str(port), "--pipe"]
            subprocess.run(pipe, input=block, capture_output=True, check=True)
        piped = (time.perf_counter() - t0) / 2
        env = {"NOTIFIER_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "notifier", "migrate"],
            env=embedded.child_env(env),
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        left = sum(1 for _ in r.scan_iter(match=OLD + "*", count=10_000))
        print(f"{args.subscriptions:,} subscriptions, {n:,} keys (a notification a citizen)")
        print(f"notifier migrate, 2 -> 3: {took:.1f} s, {n / took:,.0f} keys a second; {left} left")
        print(f"baseline, RENAME piped by redis-cli: {piped:.1f} s; ratio {took / piped:.2f}")
    finally:
        embedded.stop(proc)


if __name__ == "__main__":
    main()
