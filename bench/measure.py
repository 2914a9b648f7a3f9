"""What the benches measure with: CPU per process and for the whole machine, memory, latency
percentiles, a timed run of work with the CPU it took (``timed``). Linux only (``/proc``)."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores): ``/proc/stat`` less idle."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, idle, iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU each process used between ``start`` and ``stop``, as a share of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0, self._c0 = 0.0, {n: 0.0 for n in pids}
        self.shares: dict[str, float] = {}

    def start(self) -> None:
        self._t0, self._c0 = time.monotonic(), {n: cpu_seconds(p) for n, p in self.pids.items()}

    def stop(self) -> None:
        """A process that ended meanwhile (a worker scaled in) has no share: nan."""
        wall = max(time.monotonic() - self._t0, 1e-9)
        self.shares = {}
        for n, p in self.pids.items():
            try:
                self.shares[n] = (cpu_seconds(p) - self._c0[n]) / wall
            except FileNotFoundError:
                self.shares[n] = float("nan")

    def line(self) -> str:
        return ", ".join(
            f"{n} {s:.0%}" if s == s else f"{n} (ended)" for n, s in self.shares.items()
        )


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank of sorted ``values``; nan when there are none."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def latency_summary(values_s: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    out = {f"p{p:g}": percentile(ms, p) for p in (50, 90, 95, 99, 99.9)}
    out["max"] = ms[-1] if ms else float("nan")
    out["mean"] = sum(ms) / len(ms) if ms else float("nan")
    return out


@dataclasses.dataclass(frozen=True)
class Run:
    count: int
    seconds: float
    cpu: dict[str, float]  # process -> share of one core during the run

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def client_us(self) -> float:
        """CPU time of this process (the client) per message, microseconds."""
        return self.cpu.get("client", float("nan")) * self.seconds / self.count * 1e6


async def timed(meter: CpuMeter, expected: int, work: Callable[[], Awaitable[int]]) -> Run:
    """``work`` timed, with the CPU of our processes and of everything else on the machine
    (``others``: other people's jobs on these cores make a run slower, not the code)."""
    busy = machine_busy()
    meter.start()
    t = time.perf_counter()
    count = await work()
    seconds = time.perf_counter() - t
    meter.stop()
    others = (machine_busy() - busy) / seconds - sum(meter.shares.values())
    if count != expected:
        raise RuntimeError(f"{count} of {expected} messages taken")
    return Run(count, seconds, {**meter.shares, "others": max(0.0, others)})
