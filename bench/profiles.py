"""Where a bench's time goes: cProfile's stats or py-spy's raw stacks, summarised the same way.

``from_cprofile(prof, keys)`` and ``from_py_spy(path, keys)`` give a ``Profile``: own time by
area (a library or one of our packages), the time inside each key function (``keys``: pairs of
a function's name and the end of its file's path), the top functions by own time, and for
py-spy the share of samples with a frame of each area anywhere on the stack (redis-py sends each
command from a task of its own, aiohttp writes request bodies from one: "inside" the key
functions misses that time, "anywhere on the stack" does not; it counts the frames from the
callback the event loop is running). ``Profile.report(top)`` prints
it. Used by ``channel_rates.py``, ``api_writes.py``, ``match_scale.py`` and ``citywide.py``.
"""

from __future__ import annotations

import cProfile
import dataclasses
import pstats
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

Key = tuple[str, str]  # (function, end of its file's path)

AREAS = (  # (area, any of these in "/" + the file's path); the first that matches
    ("geometry (shapely, pyproj)", ("/shapely/", "/pyproj/")),
    ("stdlib email (MIME)", ("/email/",)),
    ("aiosmtplib", ("/aiosmtplib/",)),
    ("redis-py", ("/redis/", "hiredis")),
    ("logging", ("/logging/",)),
    ("twilio", ("/twilio/",)),
    ("aiohttp", ("/aiohttp/", "/multidict/", "/yarl/", "/propcache/", "/aiohappyeyeballs/")),
    ("push crypto", ("/pywebpush/", "/http_ece/", "/cryptography/", "/py_vapid/", "hashlib")),
    ("prometheus_client", ("/prometheus_client/",)),
    ("asyncio + sockets", ("/asyncio/", "/selectors.py", "/socket.py", "socket", "epoll")),
    ("json", ("/json/",)),
    ("urllib", ("/urllib/",)),
    ("ours: streams", ("/streams/",)),
    ("ours: channels", ("/channels/",)),
    ("ours: subscriptions", ("/subscriptions/",)),
    ("ours: notifier", ("/notifier/",)),
    ("dataclasses", ("/dataclasses.py",)),
)
UNDER_SKIPPED = {"asyncio + sockets", "other Python"}  # the event loop is under everything
IDLE = "<method 'poll' of 'select.epoll' objects>"  # cProfile: the loop waiting, not working
LOOP_STEP = "Handle._run"  # py-spy: asyncio running one callback
LOOP_TURN = "BaseEventLoop._run_once"  # py-spy: asyncio's loop, waiting or between callbacks


def area(filename: str, function: str) -> str:
    """What a function belongs to. cProfile names C functions with the file ``~``."""
    where = function if filename == "~" else "/" + filename.lstrip("/")
    for name, needles in AREAS:
        if any(n in where for n in needles):
            return name
    return "builtins" if filename == "~" else "other Python"


def is_key(key: Key, function: str, filename: str) -> bool:
    """py-spy names functions by their qualified name (``Ledger.claim``,
    ``send_batch.<locals>.one``); cProfile by their plain name."""
    fn, file = key
    return filename.endswith(file) and (
        function == fn or function.endswith("." + fn) or function.startswith(fn + ".")
    )


def short(path: str) -> str:
    for prefix in (str(ROOT) + "/", "site-packages/", "/lib/python3.11/"):
        if prefix in path:
            return path.split(prefix, 1)[1]
    return path


def parse_frame(frame: str) -> tuple[str, str, str]:
    """py-spy's ``function (file:line)``: (function, file, line)."""
    function, _, rest = frame.partition(" (")
    filename, _, lineno = rest.rstrip(")").rpartition(":")
    return function, filename, lineno


def _callback(frames: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The frames of the callback the event loop is running (none while it waits): what lies
    below it, the process's entry point (``notifier worker``'s among them), is under every
    sample and says nothing."""
    steps = [i for i, (name, _, _) in enumerate(frames) if name == LOOP_STEP]
    if steps:
        return frames[steps[-1] :]
    if any(name == LOOP_TURN for name, _, _ in frames):
        return []
    return frames


@dataclasses.dataclass
class Profile:
    tool: str
    total: float  # seconds (cProfile) or samples (py-spy) of work
    areas: Counter[str]
    own: Counter[str]  # "function (file:line)" -> own time
    inside: dict[Key, float]  # key function -> time inside it
    under: Counter[str] = dataclasses.field(default_factory=Counter)  # py-spy only

    def report(self, top: int) -> list[str]:
        def pct(v: float) -> str:
            return f"{v / self.total:.0%}" if self.total else "-"

        areas = ", ".join(f"{a} {pct(v)}" for a, v in self.areas.most_common() if v)
        inside = ", ".join(
            f"{fn} {pct(v)}" for (fn, _), v in self.inside.items() if v >= 0.01 * self.total
        )
        lines = [f"  own time by area: {areas}"]
        if self.under:
            under = ", ".join(f"{a} {pct(v)}" for a, v in self.under.most_common() if v)
            lines.append(f"  with a frame of, anywhere on the stack: {under}")
        lines.append(f"  time inside: {inside}")
        lines.append("  top functions by own time:")
        lines += [f"    {pct(v):>4}  {k}" for k, v in self.own.most_common(top)]
        return lines


def from_cprofile(prof: cProfile.Profile, keys: Sequence[Key]) -> Profile:
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inside = dict.fromkeys(keys, 0.0)
    for (filename, line, function), (_, _, tottime, cumtime, _) in stats.items():
        if function == IDLE:
            continue
        areas[area(filename, function)] += tottime
        own[f"{function} ({short(filename)}:{line})"] += tottime
        for k in keys:
            if is_key(k, function, filename):
                inside[k] += cumtime
    return Profile("cProfile", sum(areas.values()), areas, own, inside)


def from_py_spy(path: Path, keys: Sequence[Key]) -> Profile:
    """py-spy's raw (collapsed) stacks: ``frame;frame;... count``, each frame
    ``function (file:line)``, the innermost last."""
    areas: Counter[str] = Counter()
    under: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inside = dict.fromkeys(keys, 0.0)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [parse_frame(f) for f in stack.split(";")]
        function, filename, lineno = frames[-1]
        total += n
        areas[area(filename, function)] += n
        own[f"{function} ({short(filename)}:{lineno})"] += n
        seen = {(name, file) for name, file, _ in frames}
        for k in keys:
            if any(is_key(k, name, file) for name, file in seen):
                inside[k] += n
        for a in {area(file, name) for name, file, _ in _callback(frames)} - UNDER_SKIPPED:
            under[a] += n
    return Profile("py-spy", total, areas, own, inside, under)
