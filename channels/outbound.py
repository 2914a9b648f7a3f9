"""The one guarded client for addresses that came from outside (a browser's push endpoint today;
a department's callback URL tomorrow): what it may reach, and how it reads the answer.

The rules (``docs/security.md``):

- ``https`` only, no userinfo, and only to a host on the allow-list (exact names, or
  ``*.suffix`` for a suffix's subdomains); an IP literal never, unless it is a loopback address
  and the loopback exception is on (the embedded stack and the tests switch it on; it also lets
  ``http`` through, to loopback only).
- The address a name resolves to is checked where the connection is made (``GuardedResolver``
  in the connector), so a name that resolves differently the second time (DNS rebinding) is
  caught: only global unicast addresses, or loopback ones under the exception. IPv4 inside
  IPv6 (mapped, NAT64, 6to4) is checked as the IPv4 it carries.
- No redirect is followed, the answer is never decompressed, and at most ``MAX_ANSWER`` bytes
  of it are read (the connection is dropped if more was sent).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

MAX_ANSWER = 4096  # bytes of an answer read at most: status and headers are what we use
# The push services browsers subscribe with (Chrome/Android: FCM, and GCM's old name; Firefox:
# autopush; Safari: Apple; Edge on Windows: WNS)
PUSH_SERVICES = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    "*.notify.windows.com",
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddressError(OSError):
    """The guard refused where a request would have gone. Its message names the rule, never
    the address (the reason may reach the person who gave the URL)."""


def _carried_ipv4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip in _SIX_TO_FOUR and ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def public_address(ip: IPAddress) -> bool:
    """A global unicast address: not private, loopback, link-local (cloud metadata at
    169.254.169.254), shared, reserved, multicast or unspecified."""
    ip = _carried_ipv4(ip)
    return ip.is_global and not ip.is_multicast


@dataclasses.dataclass(frozen=True)
class OutboundPolicy:
    hosts: tuple[str, ...] = PUSH_SERVICES  # exact names, or "*.suffix"
    loopback: bool = False  # the embedded stack and the tests: loopback servers allowed

    def address_allowed(self, ip: IPAddress) -> bool:
        return public_address(ip) or (self.loopback and _carried_ipv4(ip).is_loopback)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.hosts:
            pattern = pattern.lower()
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be requested, or None. Checked where a URL is given (the API)
        and again before each request."""
        try:
            u = urlsplit(url)
            host, port = u.hostname, u.port
        except ValueError:
            return "not a URL"
        if not host or not u.netloc:
            return "not an absolute URL"
        if "@" in u.netloc:
            return "no user or password in the URL"
        if u.fragment:
            return "no fragment in the URL"
        if port == 0:
            return "not a port"
        literal = _literal(host)
        loopback = self.loopback and (
            (literal is not None and _carried_ipv4(literal).is_loopback) or host == "localhost"
        )
        if u.scheme != "https" and not (loopback and u.scheme == "http"):
            return "must be an https URL"
        if loopback:
            return None
        if literal is not None:
            return "must name the service's host, not an address"
        if not self.host_allowed(host):
            return f"{host} is not a push service this city accepts"
        return None


def _literal(host: str) -> IPAddress | None:
    """The address a URL's host is written as, or None for a name (without raising for one:
    this runs before every push)."""
    if ":" not in host and not host[-1:].isdigit():  # a name: an IPv4 literal ends in a digit
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """The connector's resolver: the addresses of a name, refused unless every one is
    allowed (a name that resolves to an internal address is refused whole)."""

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:  # made here: aiohttp's resolver wants a running loop
            self._inner = aiohttp.DefaultResolver()
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if not self.policy.address_allowed(ipaddress.ip_address(result["host"])):
                raise RefusedAddressError("the name resolves to a private address")
        if not found:
            raise RefusedAddressError("the name resolves to no address")
        return found

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's)
    body: bytes  # at most MAX_ANSWER bytes, as sent (never decompressed)


class GuardedClient:
    """An aiohttp session whose connector resolves through ``GuardedResolver``; ``post``
    checks the URL first, follows no redirect and reads a capped answer."""

    def __init__(
        self,
        policy: OutboundPolicy,
        max_connections: int = 64,
        resolver: AbstractResolver | None = None,  # the tests' stub DNS, under the guard
    ) -> None:
        self.policy = policy
        self.max_connections = max_connections
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                resolver=GuardedResolver(self.policy, self._resolver),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(),  # the caller keeps the time limit
                auto_decompress=False,
                trust_env=False,  # no proxy from the environment
            )
        return self._session

    async def post(self, url: str, data: bytes, headers: Mapping[str, str]) -> Answer:
        why = self.policy.refusal(url)
        if why is not None:
            raise RefusedAddressError(why)
        async with self.session().post(
            url, data=data, headers=headers, allow_redirects=False
        ) as resp:
            body = await resp.content.read(MAX_ANSWER)
            if not resp.content.at_eof():
                resp.close()  # more than we read: the connection is dropped, not drained
            return Answer(resp.status, resp.headers, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
