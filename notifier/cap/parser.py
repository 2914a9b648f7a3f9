"""CAP 1.2 import: a safe parser for OASIS Common Alerting Protocol alerts (their mapping to
our announcements is ``notifier.cap.mapping``).

Public API::

    parse_cap(xml) -> CapAlert                   one <alert> document
    parse_cap_collection(xml) -> list[CapAlert]  one <alert>, or an <alerts> wrapper of them

Safety. The bytes go through ``xml.parsers.expat`` with handlers that refuse any DOCTYPE, entity
or notation declaration and any external entity reference, and with parameter-entity parsing
off, so no DTD is read, no entity is expanded (no XXE, no "billion laughs") and nothing is
fetched from the network or the disk. Processing instructions (``xml-stylesheet``), XInclude
and ``xsi:schemaLocation`` are never acted on. Input is capped at ``MAX_XML_BYTES``.

Strictness. Only the CAP 1.2 namespace is accepted (1.0, 1.1 and anything else are refused,
naming the namespace). Required elements, their enumerations, single occurrence, date-times
with a UTC offset and the geometry are checked, and the first problem raises
``InvalidInput(field, reason)`` where ``field`` is the element path, XPath style with 1-based
indexes (``alert/info[2]/area[1]/polygon[1]``). The rest is lenient, on purpose, for real
producers: element order is not checked, unknown elements (in the CAP namespace or another,
like an XML-DSig ``<Signature>``) are ignored, empty ``<polygon/>``/``<circle/>`` and an empty
``<references/>`` read as absent, date-times may use ``Z`` or fractional seconds, and no
national profile (CAP-CP, NOAA, CAP-AU) is enforced. XML signatures are NOT verified.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, NoReturn
from xml.etree import ElementTree as ET  # only its TreeBuilder: parsing is done by expat below
from xml.parsers import expat

from shapely.geometry import Polygon

from subscriptions.errors import InvalidInput

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
OLDER_CAP = {
    "urn:oasis:names:tc:emergency:cap:1.1": "CAP 1.1",
    "http://www.incident.com/cap/1.0": "CAP 1.0",
}
MAX_XML_BYTES = 5_000_000

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
CAP_CATEGORIES = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire",
    "Health", "Env", "Transport", "Infra", "CBRNE", "Other",
)  # fmt: skip
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CAP_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
DEFAULT_LANGUAGE = "en-US"  # CAP 1.2: the language of an <info> without <language>

_NOT_A_TOKEN = re.compile(r"[\s,<&]")  # CAP: identifier and sender carry none of these


class CapReference(NamedTuple):
    """One "sender,identifier,sent" triple of <references>: an earlier message."""

    sender: str
    identifier: str
    sent: datetime


class CapCircle(NamedTuple):
    """A <circle>: CAP writes "lat,lon radius_km"; this is (lon, lat) and metres."""

    lon: float
    lat: float
    radius_m: float


class CapGeocode(NamedTuple):
    value_name: str
    value: str


@dataclasses.dataclass(frozen=True)
class CapArea:
    description: str
    polygons: list[Polygon] = dataclasses.field(default_factory=list)  # (lon, lat) coordinates
    circles: list[CapCircle] = dataclasses.field(default_factory=list)
    geocodes: list[CapGeocode] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class CapInfo:
    language: str  # as written, e.g. "fr-CA"; DEFAULT_LANGUAGE when absent
    categories: list[str]  # CAP categories, e.g. ["Fire", "Met"]
    event: str
    urgency: str
    severity: str  # CAP spelling, e.g. "Severe"
    certainty: str
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    areas: list[CapArea] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime  # aware, with the offset the sender wrote
    status: str  # Actual | Exercise | System | Test | Draft
    msg_type: str  # Alert | Update | Cancel | Ack | Error
    scope: str  # Public | Restricted | Private
    references: list[CapReference] = dataclasses.field(default_factory=list)
    infos: list[CapInfo] = dataclasses.field(default_factory=list)


# --- safe XML -----------------------------------------------------------------------------------


class _Refused(Exception):
    pass


def _refuse(what: str) -> Callable[..., NoReturn]:
    def handler(*_: object) -> NoReturn:
        raise _Refused(f"{what} are refused: CAP needs no DTD, and entities could read files")

    return handler


def _clark(name: str) -> str:
    """expat's "uri}local" (namespace_separator="}") -> ElementTree's "{uri}local"."""
    return "{" + name if "}" in name else name


def _parse_xml(xml: bytes) -> ET.Element:
    if not isinstance(xml, bytes | bytearray):
        raise InvalidInput("xml", "must be the document's bytes")
    if len(xml) > MAX_XML_BYTES:
        raise InvalidInput("xml", f"larger than {MAX_XML_BYTES} bytes")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("DOCTYPE declarations")
    parser.EntityDeclHandler = _refuse("ENTITY declarations")
    parser.UnparsedEntityDeclHandler = _refuse("ENTITY declarations")
    parser.NotationDeclHandler = _refuse("NOTATION declarations")
    parser.ExternalEntityRefHandler = _refuse("external entities")
    parser.StartElementHandler = lambda name, attrs: builder.start(
        _clark(name), {_clark(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(bytes(xml), True)
    except _Refused as e:
        raise InvalidInput("xml", str(e)) from None
    except expat.ExpatError as e:
        why = f"{expat.ErrorString(e.code)} (line {e.lineno}, column {e.offset})"
        raise InvalidInput("xml", f"not well-formed XML: {why}") from None
    return builder.close()


# --- elements -----------------------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _check_namespace(el: ET.Element, path: str) -> None:
    ns, _ = _split(el.tag)
    if ns == CAP12:
        return
    if ns in OLDER_CAP:
        reason = f"{OLDER_CAP[ns]} (namespace {ns}) is not supported, only CAP 1.2 ({CAP12})"
    elif not ns:
        reason = f'has no namespace; CAP 1.2 needs xmlns="{CAP12}"'
    else:
        reason = f"namespace {ns} is not CAP 1.2 ({CAP12})"
    raise InvalidInput(path, reason)


def _all(el: ET.Element, name: str) -> list[ET.Element]:
    return el.findall(f"{{{CAP12}}}{name}")


def _text(el: ET.Element) -> str:
    return "".join(el.itertext()).strip()


def _optional(el: ET.Element, name: str, path: str) -> str | None:
    found = _all(el, name)
    if len(found) > 1:
        raise InvalidInput(f"{path}/{name}", f"appears {len(found)} times, CAP allows one")
    return (_text(found[0]) or None) if found else None


def _required(el: ET.Element, name: str, path: str) -> str:
    value = _optional(el, name, path)
    if value is None:
        present = bool(_all(el, name))
        raise InvalidInput(
            f"{path}/{name}", "required, is empty" if present else "required, missing"
        )
    return value


def _enum(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _datetime(value: str, field: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            field, f"{value!r} is not a date-time like 2003-06-17T14:57:00-07:00"
        ) from None
    if dt.tzinfo is None:
        raise InvalidInput(field, f"{value!r} has no UTC offset, e.g. -07:00")
    return dt


def _optional_datetime(el: ET.Element, name: str, path: str) -> datetime | None:
    value = _optional(el, name, path)
    return None if value is None else _datetime(value, f"{path}/{name}")


def _token(value: str, field: str) -> str:
    if _NOT_A_TOKEN.search(value):
        raise InvalidInput(field, "must not contain spaces, commas, '<' or '&'")
    return value


# --- geometry -----------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lat_lon(pair: str, field: str) -> tuple[float, float]:
    """CAP's "lat,lon" -> (lon, lat), the order shapely and GeoJSON use."""
    parts = pair.split(",")
    if len(parts) != 2 or not all(_is_number(p) for p in parts):
        raise InvalidInput(field, f"{pair!r} is not a 'latitude,longitude' pair")
    lat, lon = float(parts[0]), float(parts[1])
    if not -90 <= lat <= 90:
        raise InvalidInput(field, f"latitude {lat} is not within -90..90 in {pair!r}")
    if not -180 <= lon <= 180:
        raise InvalidInput(field, f"longitude {lon} is not within -180..180 in {pair!r}")
    return lon, lat


def _polygon(text: str, field: str) -> Polygon:
    points = [_lat_lon(pair, field) for pair in text.split()]
    if len(points) < 4:
        raise InvalidInput(
            field, f"needs 4 or more points (the first repeated last), has {len(points)}"
        )
    if points[0] != points[-1]:
        raise InvalidInput(field, "is not closed: the first and last points must be equal")
    return Polygon(points)


def _circle(text: str, field: str) -> CapCircle:
    parts = text.split()
    if len(parts) != 2:
        raise InvalidInput(field, f"{text!r} is not 'latitude,longitude radius_km'")
    lon, lat = _lat_lon(parts[0], field)
    radius_km = float(parts[1]) if _is_number(parts[1]) else math.nan
    if not (math.isfinite(radius_km) and radius_km >= 0):
        raise InvalidInput(field, f"radius {parts[1]!r} is not a number of kilometres >= 0")
    return CapCircle(lon, lat, radius_km * 1000)


def _geometries(el: ET.Element, name: str, path: str) -> list[tuple[str, str]]:
    """(text, path) of each non-empty <polygon>/<circle>; empty ones are ignored."""
    return [
        (_text(child), f"{path}/{name}[{n}]")
        for n, child in enumerate(_all(el, name), 1)
        if _text(child)
    ]


# --- alert, info, area --------------------------------------------------------------------------


def _geocode(el: ET.Element, path: str) -> CapGeocode:
    return CapGeocode(_required(el, "valueName", path), _required(el, "value", path))


def _area(el: ET.Element, path: str) -> CapArea:
    description = _required(el, "areaDesc", path)
    geocodes = [_geocode(g, f"{path}/geocode[{n}]") for n, g in enumerate(_all(el, "geocode"), 1)]
    return CapArea(
        description=description,
        polygons=[_polygon(text, p) for text, p in _geometries(el, "polygon", path)],
        circles=[_circle(text, p) for text, p in _geometries(el, "circle", path)],
        geocodes=geocodes,
    )


def _info(el: ET.Element, path: str) -> CapInfo:
    categories = [
        _enum(_text(c), CAP_CATEGORIES, f"{path}/category[{n}]")
        for n, c in enumerate(_all(el, "category"), 1)
    ]
    if not categories:
        raise InvalidInput(f"{path}/category", "required, missing")
    event = _required(el, "event", path)
    return CapInfo(
        language=_optional(el, "language", path) or DEFAULT_LANGUAGE,
        categories=categories,
        event=event,
        urgency=_enum(_required(el, "urgency", path), URGENCIES, f"{path}/urgency"),
        severity=_enum(_required(el, "severity", path), CAP_SEVERITIES, f"{path}/severity"),
        certainty=_enum(_required(el, "certainty", path), CERTAINTIES, f"{path}/certainty"),
        headline=_optional(el, "headline", path),
        description=_optional(el, "description", path),
        instruction=_optional(el, "instruction", path),
        web=_optional(el, "web", path),
        effective=_optional_datetime(el, "effective", path),
        onset=_optional_datetime(el, "onset", path),
        expires=_optional_datetime(el, "expires", path),
        areas=[_area(a, f"{path}/area[{n}]") for n, a in enumerate(_all(el, "area"), 1)],
    )


def _references(text: str | None, field: str) -> list[CapReference]:
    refs = []
    for n, triple in enumerate((text or "").split(), 1):
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(field, f"reference {n} {triple!r} is not 'sender,identifier,sent'")
        refs.append(CapReference(parts[0], parts[1], _datetime(parts[2], field)))
    return refs


def _alert(el: ET.Element, path: str) -> CapAlert:
    _check_namespace(el, path)
    return CapAlert(
        identifier=_token(_required(el, "identifier", path), f"{path}/identifier"),
        sender=_token(_required(el, "sender", path), f"{path}/sender"),
        sent=_datetime(_required(el, "sent", path), f"{path}/sent"),
        status=_enum(_required(el, "status", path), STATUSES, f"{path}/status"),
        msg_type=_enum(_required(el, "msgType", path), MSG_TYPES, f"{path}/msgType"),
        scope=_enum(_required(el, "scope", path), SCOPES, f"{path}/scope"),
        references=_references(_optional(el, "references", path), f"{path}/references"),
        infos=[_info(i, f"{path}/info[{n}]") for n, i in enumerate(_all(el, "info"), 1)],
    )


def _root(xml: bytes) -> tuple[ET.Element, str]:
    root = _parse_xml(xml)
    _, local = _split(root.tag)
    if local not in ("alert", "alerts"):
        raise InvalidInput("xml", f"the root element is <{local}>, not a CAP <alert>")
    return root, local


def parse_cap(xml: bytes) -> CapAlert:
    """One CAP 1.2 ``<alert>`` document. An ``<alerts>`` collection is refused: see
    ``parse_cap_collection``. Raises ``InvalidInput`` naming the element path."""
    root, local = _root(xml)
    if local == "alerts":
        raise InvalidInput(
            "alerts", "a collection of CAP alerts, not one alert: use parse_cap_collection"
        )
    return _alert(root, "alert")


def parse_cap_collection(xml: bytes) -> list[CapAlert]:
    """The alerts of a document: a single ``<alert>`` (a list of one), or the non-standard
    ``<alerts>`` wrapper some feeds (SMHI) publish, whose children must all be CAP 1.2 alerts.
    The whole document is refused at its first problem."""
    root, local = _root(xml)
    if local == "alert":
        return [_alert(root, "alert")]
    ns, _ = _split(root.tag)
    if ns not in ("", CAP12):
        _check_namespace(root, "alerts")
    alerts = []
    for n, child in enumerate(root, 1):
        path = f"alerts/alert[{n}]"
        if _split(child.tag)[1] != "alert":
            raise InvalidInput(path, f"<{_split(child.tag)[1]}> in a collection: only <alert>")
        alerts.append(_alert(child, path))
    if not alerts:
        raise InvalidInput("alerts", "holds no alert")
    return alerts
