"""The Redis Cluster client (``redis+cluster://``): redis-py's ``RedisCluster``, with one
seam, in how a transaction queues its commands.

redis-py 8.2 finds the slot of each command queued in a cluster transaction (``MULTI``) on a
thread of its own, with an event loop of its own, and waits for it: about 0.5 ms a command,
with the caller's event loop blocked meanwhile. Measured (bench/README.md, "Session 12"):
500 citizens subscribed by 64 tasks, as the drills' ``subscribe`` does, took 2.07 s on the
local cluster and 0.49 s on one server; 0.46 s on the cluster with ``Queued``. The keys of
every transaction of the service come first in their commands (or are an ``EVAL``'s first
key), so ``Queued`` finds the slot in place from that key; a command it does not know, and
``WATCH``, go redis-py's way.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import (
    AbstractStrategy,
    ClusterPipeline,
    RedisCluster,
    TransactionStrategy,
)

# commands whose (first) key is their first argument, as the service queues them in a MULTI
KEY_FIRST = frozenset(
    {
        "DEL", "EXPIRE", "PEXPIRE", "UNLINK", "SET", "INCR", "INCRBY", "GETDEL",
        "HSET", "HSETNX", "HDEL", "HINCRBY", "HMSET",
        "SADD", "SREM", "RPUSH", "LPUSH", "LTRIM",
        "ZADD", "ZREM", "ZREMRANGEBYSCORE", "ZINCRBY",
        "XADD", "XDEL", "XTRIM",
    }
)  # fmt: skip


def first_key(args: tuple[Any, ...]) -> Any:
    """The key a queued command's slot is found from, or None when it is not known here."""
    name = str(args[0]).upper()
    if name in ("EVAL", "EVALSHA"):
        return args[3] if len(args) > 3 and int(args[2]) > 0 else None
    return args[1] if name in KEY_FIRST and len(args) > 1 else None


class Queued(TransactionStrategy):
    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        key = None if self._watching else first_key(args)
        if key is None:
            return super().execute_command(*args, **kwargs)
        self._pipeline_slots.add(self._pipe.cluster_client.keyslot(key))
        self._transaction_has_keyed_slot = True
        return AbstractStrategy.execute_command(self, *args, **kwargs)


class Pipeline(ClusterPipeline):
    def __init__(self, client: RedisCluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        if transaction:
            self._execution_strategy = Queued(self)


class Cluster(RedisCluster):
    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Pipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # type: ignore[return-value]
        return Pipeline(self, transaction)
