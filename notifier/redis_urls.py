"""The Redis URL's shapes (``NOTIFIER_REDIS_URL``): one server, a primary found through
Sentinel, or a Redis Cluster.

- ``redis://[:password@]host:port/db`` (``rediss://`` for TLS, ``unix:///path?db=0``): one
  server, read by redis-py's ``from_url``;
- ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: the Sentinels' addresses
  and the name of the primary they watch (``sentinel monitor <service> ...``); the password is
  the primary's. ``?sentinel_password=...`` when the Sentinels themselves ask for one. After a
  failover the client asks the Sentinels again and talks to the new primary, without a restart
  (``notifier.wiring.make_redis``);
- ``redis+cluster://[:password@]host:port[,host:port...]``: some of the cluster's nodes (one is
  enough, two or three survive one being down at start); the client learns the rest and the
  slots from them. A cluster has database 0 only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from notifier.errors import ConfigError
from notifier.variables import url

SENTINEL = "redis+sentinel"
CLUSTER = "redis+cluster"
SCHEMES = ("redis", "rediss", "unix", SENTINEL, CLUSTER)


def _wrong(name: str, shape: str) -> Callable[[str], ConfigError]:
    return lambda why: ConfigError(f"NOTIFIER_{name}: {why} ({shape})")


def _hosts(
    netloc: str, wrong: Callable[[str], ConfigError]
) -> tuple[list[tuple[str, int]], str | None]:
    """``[:password@]host:port[,host:port...]``: the addresses and the password."""
    userinfo, _, hosts = netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    addresses = []
    for host in hosts.split(","):
        address, _, port = host.strip().rpartition(":")
        if not address or not port.isdigit() or not 0 < int(port) < 65536:
            raise wrong(f"{host.strip() or 'an empty address'} is not host:port")
        addresses.append((address.strip("[]"), int(port)))
    return addresses, password or None


@dataclasses.dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None
    sentinel_password: str | None = None

    @classmethod
    def parse(cls, url: str, name: str = "REDIS_URL") -> SentinelUrl:
        """A ``ConfigError`` naming the setting and what is wrong, never a traceback."""

        wrong = _wrong(name, "redis+sentinel://host:port[,host:port]/service[/db]")
        parts = urlsplit(url)
        if parts.scheme != SENTINEL:
            raise wrong(f"must start with {SENTINEL}://")
        sentinels, password = _hosts(parts.netloc, wrong)
        path = [p for p in parts.path.split("/") if p]
        if not path or len(path) > 2:
            raise wrong("the service name (the primary's name in Sentinel) is missing")
        if len(path) == 2 and not path[1].isdigit():
            raise wrong(f"the database {path[1]!r} is not a number")
        query = parse_qs(parts.query)
        return cls(
            sentinels=tuple(sentinels),
            service=unquote(path[0]),
            db=int(path[1]) if len(path) == 2 else 0,
            password=password,
            sentinel_password=query.get("sentinel_password", [None])[0],
        )


@dataclasses.dataclass(frozen=True)
class ClusterUrl:
    nodes: tuple[tuple[str, int], ...]
    password: str | None = None

    @classmethod
    def parse(cls, url: str, name: str = "REDIS_URL") -> ClusterUrl:
        wrong = _wrong(name, "redis+cluster://host:port[,host:port]")
        parts = urlsplit(url)
        if parts.scheme != CLUSTER:
            raise wrong(f"must start with {CLUSTER}://")
        nodes, password = _hosts(parts.netloc, wrong)
        if parts.path.strip("/") not in ("", "0"):
            raise wrong("a Redis Cluster has database 0 only")
        return cls(nodes=tuple(nodes), password=password)


def check(name: str, raw: str) -> str:
    """The setting's parser: the scheme is one of ``SCHEMES``; a Sentinel or Cluster URL is
    read whole."""
    url(*SCHEMES)(name, raw)
    scheme = urlsplit(raw).scheme
    if scheme == SENTINEL:
        SentinelUrl.parse(raw, name)
    elif scheme == CLUSTER:
        ClusterUrl.parse(raw, name)
    return raw
