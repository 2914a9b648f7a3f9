"""Scaling the workers out and in during the city-wide drain (``bench/citywide.py --scale``):
a third worker joins the consumer group ``join`` seconds after the alert was accepted, and the
first one leaves (SIGTERM, as a deployment scales down) ``leave`` seconds after it. What a
deployment that scales on load needs to know: whether the rebalances lose anything (the
ledger's final statuses), how much goes out twice (the providers' counts against the
notifications), and how soon the hand-off rate is back (10 s windows of the ledger's
figures)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import time
from pathlib import Path

from notifier.dev import embedded
from notifier.settings import Settings

WINDOW_S = 10.0  # the hand-off rate is read over windows this long
BACK_AT = 0.9  # of the rate before the change: the rate is back


@dataclasses.dataclass
class Scaled:
    joined: float = 0.0  # time.time() of each change
    left: float = 0.0
    log: Path | None = None  # the joining worker's


async def scale(
    settings: Settings,
    procs: list[subprocess.Popen[bytes]],
    logs: Path,
    accepted: float,
    join: float,
    leave: float,
) -> Scaled:
    """The third worker started at ``accepted + join`` (appended to ``procs``: stopped with the
    others), the first stopped at ``accepted + leave`` (taken out of ``procs``: not a crash)."""
    done = Scaled(log=logs / "worker-3.log")
    await asyncio.sleep(max(0.0, accepted + join - time.time()))
    procs.append(
        embedded.spawn(
            embedded.python_module("notifier", "worker"),
            done.log,
            env=embedded.child_env(settings.to_env()),
        )
    )
    done.joined = time.time()
    await asyncio.sleep(max(0.0, accepted + leave - time.time()))
    leaving = procs.pop(0)
    leaving.send_signal(signal.SIGTERM)
    done.left = time.time()
    await asyncio.to_thread(leaving.wait, 60)
    return done


def rate(series: list[tuple[float, int]], t0: float, t1: float) -> float:
    """Handed over a second between ``t0`` and ``t1`` (the drain's readings, every 0.5 s)."""
    inside = [(t, n) for t, n in series if t0 <= t <= t1]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def back_after(series: list[tuple[float, int]], at: float, end: float) -> str:
    """Seconds from a change until a window's rate is ``BACK_AT`` of the window before it."""
    before = rate(series, at - WINDOW_S, at)
    t = at
    while t + WINDOW_S <= end:
        if before > 0 and rate(series, t, t + WINDOW_S) >= BACK_AT * before:
            return f"{t + WINDOW_S - at:.0f} s"
        t += 1.0
    return "not before the end of the drain"


def report(s: Scaled, series: list[tuple[float, int]], end: float, accepted: float) -> list[str]:
    lines = []
    for what, at in (("worker 3 joined", s.joined), ("worker 1 left", s.left)):
        if not at:
            lines.append(f"  {what}: not before the end of the drain")
            continue
        windows = " / ".join(
            f"{rate(series, at + k * WINDOW_S, at + (k + 1) * WINDOW_S):,.0f}" for k in range(-1, 4)
        )
        lines.append(
            f"  {what} {at - accepted:.0f} s after the POST: handed over / s in {WINDOW_S:g} s "
            f"windows from {WINDOW_S:g} s before: {windows}; back to {BACK_AT:.0%} of the rate "
            f"before after {back_after(series, at, end)}"
        )
    if s.log is not None and s.log.exists():
        text = s.log.read_text(errors="replace")
        sent = text.count("outcome=sent")
        lines.append(f"  worker 3 handed over {sent:,} messages")
    return lines
