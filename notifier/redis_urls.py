"""The Redis URL's shapes (``NOTIFIER_REDIS_URL``): one server, or a primary found through
Sentinel.

- ``redis://[:password@]host:port/db`` (``rediss://`` for TLS, ``unix:///path?db=0``): one
  server, read by redis-py's ``from_url``;
- ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: the Sentinels' addresses
  and the name of the primary they watch (``sentinel monitor <service> ...``); the password is
  the primary's. ``?sentinel_password=...`` when the Sentinels themselves ask for one. After a
  failover the client asks the Sentinels again and talks to the new primary, without a restart
  (``notifier.wiring.make_redis``).

A Redis Cluster (``redis+cluster://``) is not supported yet: docs/deployment.md says why.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, unquote, urlsplit

from notifier.errors import ConfigError
from notifier.variables import url

SENTINEL = "redis+sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL)


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

        def wrong(why: str) -> ConfigError:
            return ConfigError(
                f"NOTIFIER_{name}: {why} (redis+sentinel://host:port[,host:port]/service[/db])"
            )

        parts = urlsplit(url)
        if parts.scheme != SENTINEL:
            raise wrong(f"must start with {SENTINEL}://")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        password = unquote(userinfo.partition(":")[2]) if userinfo else None
        sentinels = []
        for host in hosts.split(","):
            address, _, port = host.strip().rpartition(":")
            if not address or not port.isdigit() or not 0 < int(port) < 65536:
                raise wrong(f"{host.strip() or 'an empty address'} is not host:port")
            sentinels.append((address.strip("[]"), int(port)))
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
            password=password or None,
            sentinel_password=query.get("sentinel_password", [None])[0],
        )


def check(name: str, raw: str) -> str:
    """The setting's parser: the scheme is one of ``SCHEMES``; a Sentinel URL is read whole."""
    scheme = urlsplit(raw).scheme
    if scheme == "redis+cluster":
        raise ConfigError(f"NOTIFIER_{name}: Redis Cluster is not supported yet")
    url(*SCHEMES)(name, raw)
    if scheme == SENTINEL:
        SentinelUrl.parse(raw, name)
    return raw
