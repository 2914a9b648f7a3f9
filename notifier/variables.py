"""How a ``NOTIFIER_`` variable is declared, as the field of ``notifier.settings.Settings`` it
gives its value to (``setting``), and the parsers of the common kinds of value. Each parser
names its variable in the ``ConfigError`` it raises."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

from notifier.errors import ConfigError

T = TypeVar("T")
# (variable name without the prefix, its text, stripped) -> its value, or ConfigError
Parse = Callable[[str, str], T]


@dataclasses.dataclass(frozen=True)
class Variable(Generic[T]):
    """One ``NOTIFIER_`` variable: its name without the prefix, its default as text (as the
    README shows it), its description, and how its text becomes a value (``parse``) and back
    (``show``)."""

    name: str
    default: str
    description: str
    parse: Parse[T]
    show: Callable[[T], str] = str

    def read(self, env: Mapping[str, str]) -> T:
        return self.parse(self.name, env.get(f"NOTIFIER_{self.name}", self.default).strip())


@dataclasses.dataclass(frozen=True)
class Source(Generic[T]):
    """Where a field of ``Settings`` comes from: the variables it declares (none: it shares
    another field's), how it is read from an environment, and the variables that give it back
    (from its value and the other settings)."""

    variables: tuple[Variable[Any], ...]
    read: Callable[[Mapping[str, str]], T]
    write: Callable[[T, Any], dict[str, str]]  # (its value, the settings object)


def field(default: T, source: Source[T]) -> T:
    metadata = {"source": source}
    if isinstance(default, dict):  # a fresh one for each object
        made = cast(Callable[[], T], lambda: dict(default))
        return dataclasses.field(default_factory=made, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def setting(
    name: str, default: str, description: str, parse: Parse[T], show: Callable[[T], str] = str
) -> T:
    """A field read from ``NOTIFIER_<name>``, ``default`` when it is not set."""
    variable = Variable(name, default, description, parse, show)
    return field(
        variable.read({}), Source((variable,), variable.read, lambda v, _: {name: show(v)})
    )


def text(name: str, raw: str) -> str:
    return raw


def path(name: str, raw: str) -> Path:
    return Path(raw)


def whole_number(low: int, high: int) -> Parse[int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"NOTIFIER_{name}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"NOTIFIER_{name}={value} is outside {low}..{high}")
        return value

    return parse


def seconds(low: int, high: int) -> Parse[float]:
    """A whole number of seconds (or per second), kept as a float."""
    whole = whole_number(low, high)
    return lambda name, raw: float(whole(name, raw))


def whole_text(value: float) -> str:
    return str(int(value))


def url(*schemes: str, strip_slash: bool = False) -> Parse[str]:
    def parse(name: str, raw: str) -> str:
        if raw and urlsplit(raw).scheme not in schemes:
            raise ConfigError(
                f"NOTIFIER_{name} must start with {' or '.join(s + '://' for s in schemes)}"
            )
        return raw.rstrip("/") if strip_slash else raw

    return parse


def networks(name: str, raw: str) -> tuple[str, ...]:
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"NOTIFIER_{name}: {part!r} is not an address or network") from None
    return tuple(out)


def hosts(name: str, raw: str) -> tuple[str, ...]:
    out = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for host in out:
        labels = host.removeprefix("*.").split(".")
        plain = all(lb and len(lb) <= 63 and lb.replace("-", "").isalnum() for lb in labels)
        if not plain or len(labels) < 2 or not host.isascii() or labels[-1].isdigit():
            raise ConfigError(f"NOTIFIER_{name}: {host!r} is not a host name or *.domain")
    return out


def listed(values: tuple[str, ...]) -> str:
    return ",".join(values)


def flag(name: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ConfigError(f"NOTIFIER_{name}={raw!r} is not 0 or 1")
    return raw == "1"


def flag_text(value: bool) -> str:
    return "1" if value else "0"
