"""Where a city's Redis memory goes, by key family: a generated city written as
``bench/city_build.py`` writes it (the service's layout), then every key's ``MEMORY USAGE``
summed by family (ids replaced by ``*``), with its encoding, per key and per subscription.

    .venv/bin/python bench/redis_memory.py [--subscriptions 100000] [--listpack-value N]

Memory grows linearly with the city (the 1,000,000-subscription city of ``match_scale.py``
takes ten times the 100,000 one's, to a few percent), so the default is a tenth of it and runs
in about 15 s. ``--listpack-value N`` sets the server's ``hash-max-listpack-value`` first (64 by
default): a hash with one value longer than that (a polygon's geometry, a push endpoint) is
stored as a hash table, two to three times the size. The issue this measures for is #21
("cheaper per citizen"); bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import collections
import re
import time

from city_build import generate, write
from redis import Redis

from notifier.dev import embedded
from subscriptions.areas import load_catalogue

FAMILY = re.compile(r"(citizen|contact|sub|code|idx:\w+|address:\w+)[:/][^:]+")


def family(key: str) -> str:
    return FAMILY.sub(r"\1:*", key).split("://", 1)[0]  # a push address: its scheme only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--listpack-value", type=int, default=0, help="0: the server's default")
    args = parser.parse_args()
    port = embedded.free_port()
    proc = embedded.start_redis(port, None, None)
    try:
        r = Redis(port=port, decode_responses=True)
        if args.listpack_value:
            r.config_set("hash-max-listpack-value", args.listpack_value)
        t0 = time.perf_counter()
        city = generate(args.subscriptions, load_catalogue("paris"))
        write(city, port)
        n, citizens = args.subscriptions, len(city.citizens)
        used = int(r.info("memory")["used_memory"])
        size: collections.Counter[str] = collections.Counter()
        count: collections.Counter[str] = collections.Counter()
        encodings: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        keys = list(r.scan_iter(count=10_000))
        for i in range(0, len(keys), 5_000):
            chunk = keys[i : i + 5_000]
            pipe = r.pipeline(transaction=False)
            for k in chunk:
                pipe.memory_usage(k, samples=0)
                pipe.object("encoding", k)
            replies = pipe.execute()
            for k, m, e in zip(chunk, replies[::2], replies[1::2], strict=True):
                f = family(k)
                size[f] += int(m or 0)
                count[f] += 1
                encodings[f][str(e)] += 1
        print(f"{n:,} subscriptions, {citizens:,} citizens, {len(keys):,} keys, built and read in "
              f"{time.perf_counter() - t0:.0f} s; hash-max-listpack-value "
              f"{r.config_get('hash-max-listpack-value')['hash-max-listpack-value']}")  # fmt: skip
        print(f"used_memory {used / 2**20:,.1f} MB: {used / n:,.0f} bytes a subscription, "
              f"{used / citizens:,.0f} a citizen")  # fmt: skip
        print(f"{'family':44} {'keys':>9} {'MB':>7} {'B/key':>7} {'B/sub':>6}  encodings")
        for f, m in size.most_common():
            if m / n < 1:
                continue
            kinds = ", ".join(f"{e} {c / count[f]:.0%}" for e, c in encodings[f].most_common())
            print(f"{f:44} {count[f]:>9,} {m / 2**20:>7.1f} {m / count[f]:>7,.0f} "
                  f"{m / n:>6,.0f}  {kinds}")  # fmt: skip
    finally:
        embedded.stop(proc)


if __name__ == "__main__":
    main()
