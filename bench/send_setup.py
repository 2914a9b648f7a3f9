"""The send benches' world (``channel_rates.py``, ``citywide.py``): the local providers' servers
and their clients' settings, where the measuring process runs, citizens seeded through the
store, and announcements expanded as the worker expands them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from channel_servers import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM
from e2e import eventually, tail

from channels.push import generate_vapid_keys
from notifier import logs
from notifier.dev import embedded
from notifier.settings import Secret, Settings
from streams.announcements import Announcement
from streams.delivery.expand import expand_announcement
from streams.delivery.send import origin
from streams.deps import Deps
from streams.records import DeliveryBatch
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription

HERE = Path(__file__).resolve().parent
CITY, AREA = "paris", "75105"
CHANNELS = ("email", "sms", "push")
ANNOUNCEMENT: dict[str, Any] = {
    "category": "roadworks",
    "severity": "moderate",
    "target": {"areas": [AREA]},
    "content": {
        "fr": {
            "title": "Travaux rue Monge",
            "body": "La rue Monge est fermée à la circulation du 2 au 6 décembre.",
            "link": "https://www.paris.fr/travaux",
        },
        "en": {"title": "Roadworks on rue Monge", "body": "Rue Monge is closed to traffic."},
    },
}


class Collector:
    """``Deps.publish`` for the expansion: keeps what would go to Kafka."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


async def seed(deps: Deps, push_subscriptions: list[dict[str, Any]], n: int) -> None:
    """``n`` citizens, each with a confirmed email, phone and push subscription, subscribed to
    ``AREA`` on the three channels; half of them in French, half in English."""
    store, catalogue = deps.store, deps.catalogues[CITY]
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            c = await store.create_citizen(CITY, "fr" if i % 2 else "en")
            await store.add_contact(CITY, c.id, "email", f"c{i}@bench.example", "confirmed", "b")
            await store.add_contact(CITY, c.id, "sms", f"+336{i:08d}", "confirmed", "b")
            push = push_subscriptions[i]
            keys = push["keys"]
            await store.add_contact(
                CITY, c.id, "push", push["endpoint"], "confirmed", "b", keys["p256dh"], keys["auth"]
            )
            sub, index = parse_subscription(
                {"area": AREA, "channels": list(CHANNELS)},
                sid=new_id("sub"),
                citizen=c.id,
                catalogue=catalogue,
            )
            await store.add_subscription(CITY, sub, index)

    await asyncio.gather(*(one(i) for i in range(n)))


async def expand(deps: Deps, collector: Collector, n: int) -> dict[str, list[bytes]]:
    """A fresh announcement to ``AREA``, accepted and expanded as the worker does: its
    ``deliveries.<channel>`` records (fresh notification ids, queued in the ledger)."""
    a = Announcement.from_input(
        ANNOUNCEMENT,
        id=new_id("evt"),
        city=CITY,
        department="voirie",
        catalogue=deps.catalogues[CITY],
    )
    await deps.events.accept(a)
    collector.records.clear()
    await expand_announcement(a, deps)
    out: dict[str, list[bytes]] = {}
    for channel in CHANNELS:
        topic = deps.topics.deliveries(channel)
        out[channel] = [v for t, _, v in collector.records if t == topic]
        got = sum(len(DeliveryBatch.from_wire(v).recipients) for v in out[channel])
        if got != n:
            raise RuntimeError(f"the expansion queued {got} {channel} notifications, not {n}")
    return out


async def built_messages(deps: Deps, batches: list[bytes]) -> list[tuple[str, Any]]:
    """(notification id, message) as ``send_batch`` builds them, for raw and channel runs."""
    out: list[tuple[str, Any]] = []
    for raw in batches:
        batch = DeliveryBatch.from_wire(raw)
        messages = deps.channels[batch.channel].messages(batch, origin(batch, deps))
        contacts = await deps.store.contacts(CITY, [r.contact for r in batch.recipients])
        for r, cp in zip(batch.recipients, contacts, strict=True):
            assert cp is not None
            out.append((r.id, messages(r, cp)))
    return out


def worker_logging(settings: Settings, path: Path) -> None:
    """As ``notifier worker`` logs (``notifier.logs.setup``), to a file: the per-delivery INFO
    line is part of the path."""
    logs.setup(settings, "worker", open(path, "a", encoding="utf-8"))  # noqa: SIM115 (for the run)


def place(share: bool, *others: int) -> str:
    """This process (the worker, or the raw client) on a core of its own, the servers and
    redis-server (``others``) on the rest, as a worker runs in production, where Redis and the
    providers are other machines; unless ``share``. Left to the scheduler on two cores, Redis,
    woken by each script call, runs on the worker's core and takes it from the worker: 15-20 µs a
    message, seen by py-spy in the worker's socket writes (``bench/README.md``). What it says."""
    cores = sorted(os.sched_getaffinity(0))
    if share or len(cores) < 2:
        return f"every process on any of the {len(cores)} cores"
    os.sched_setaffinity(0, cores[:1])
    for pid in others:
        os.sched_setaffinity(pid, cores[1:])
    return f"this process on core {cores[0]}, the servers and Redis on {len(cores) - 1} other(s)"


def server_settings(ports: dict[str, int], **more: Any) -> Settings:
    """Settings of a client of ``bench/channel_servers.py`` and of the redis-server on
    ``ports``, database 0 (a fresh VAPID key), with ``more`` (a ``redis_url`` of its own)."""
    more.setdefault("redis_url", f"redis://127.0.0.1:{ports['redis']}/0")
    return Settings(
        smtp_url=Secret(f"smtp://127.0.0.1:{ports['smtp']}"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=Secret(AUTH_TOKEN),
        twilio_from=SMS_FROM,
        twilio_base_url=f"http://127.0.0.1:{ports['twilio']}",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        push_loopback=True,  # the push service runs on loopback
        secret_key=Secret("x" * 48),
        **more,
    )


def start_servers(
    ports: dict[str, int],
    tmp: Path,
    logs: Path,
    push_option: str,
    push_value: int,
    procs: list[subprocess.Popen[bytes]],
    *more: str,
) -> tuple[subprocess.Popen[bytes], list[dict[str, Any]]]:
    """``bench/channel_servers.py`` on ``ports`` (smtp, twilio, push), appended to ``procs``
    once started (so that the caller stops it); its push subscriptions once it listens.
    ``push_option``: ``--push-subscribers`` or ``--push-pool``, with ``push_value``; ``more``:
    its other options."""
    ready = tmp / "push-subscriptions.json"
    command = [
        sys.executable,
        str(HERE / "channel_servers.py"),
        *("--smtp-port", str(ports["smtp"]), "--twilio-port", str(ports["twilio"])),
        *("--push-port", str(ports["push"]), "--ready", str(ready)),
        *(push_option, str(push_value)),
        *more,
    ]
    procs.append(embedded.spawn(command, logs / "servers.log"))
    servers = procs[-1]
    asyncio.run(
        eventually(lambda: ready.exists() or servers.poll() is not None, 120, "the servers")
    )
    if servers.poll() is not None:
        raise RuntimeError(f"servers exited: {tail(logs / 'servers.log')}")
    return servers, list(json.loads(ready.read_text()))


async def server_counts(port: int) -> dict[str, int]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/bench/counts") as r,
    ):
        return dict(await r.json())
