"""The alert rules shipped in ``deploy/alerts.yml``, evaluated by promtool (Debian's, unpacked by
``make promtool``) against what a real worker's ``/metrics`` says: once healthy, once after a
provider refused every email of an announcement, a dead sender left a claim and an event's
notifications were left queued. The healthy figures fire nothing; the others fire each alert.

promtool compares annotations too; they are checked by ``promtool check rules`` and left out of
the evaluation (their text holds the figures)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from notifier.api.auth import create_department_key
from notifier.settings import Settings
from streams.state.ledger import Ledger
from subscriptions.store import SubscriptionStore, new_id
from subscriptions.subscription import parse_subscription
from tests.handler_stage import PARIS
from tests.stage import SmtpSink, eventually

RULES = Path(__file__).parents[2] / "deploy" / "alerts.yml"
VENV_PROMTOOL = Path(__file__).parents[2] / ".venv" / "bin" / "promtool"
REFUSED = 12  # emails the SMTP server refuses for good: as many dead letters


def promtool() -> str:
    found = shutil.which("promtool") or (str(VENV_PROMTOOL) if VENV_PROMTOOL.exists() else None)
    assert found, "promtool is missing: `make promtool` unpacks Debian's"
    return found


Sample = tuple[str, tuple[tuple[str, str], ...], float]


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
            text = await r.text()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("notifier_") and not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def series(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    inner = ",".join(
        [f'__name__="{name}"', 'instance="worker-1"'] + [f'{k}="{v}"' for k, v in labels]
    )
    return "{" + inner + "}"


COUNTERS = ("_total", "_count", "_sum", "_bucket")


def rules_test(
    before: dict[Any, float], after: dict[Any, float], minutes: int, expected: dict[str, Any]
) -> dict[str, Any]:
    """One promtool test: ``before`` for 5 minutes, then ``after``, kept up until ``minutes``:
    a gauge stays at its value, a counter goes on growing by what it grew between the two
    scrapes each minute (what was seen keeps happening)."""
    inputs = []
    for k in sorted(set(before) | set(after)):
        a, b = before.get(k, 0.0), after.get(k, before.get(k, 0.0))
        step = b - a if k[0].endswith(COUNTERS) else 0.0
        inputs.append({"series": series(*k), "values": f"{a}+0x5 {b}+{step}x{minutes}"})
    return {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [
            {
                "eval_time": f"{minutes}m",
                "alertname": name,
                "exp_alerts": [{"exp_labels": labels} for labels in alerts],
            }
            for name, alerts in expected.items()
        ],
    }  # fmt: skip


async def test_the_shipped_alert_rules_fire_on_a_real_workers_figures(
    api: TestClient[Any, Any],
    worker: Any,
    settings: Settings,
    smtp: tuple[SmtpSink, str],
    redis: Redis,
    tmp_path: Path,
) -> None:
    checked = await asyncio.to_thread(
        subprocess.run, [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = settings.worker_metrics_port

    async def watched() -> Any:
        try:
            figures = await scrape(port)
        except aiohttp.ClientConnectionError:  # the worker is starting
            return None
        return (
            figures
            if ("notifier_stuck_notifications", (("channel", "email"), ("lane", "small")))
            in figures
            else None
        )

    healthy = await eventually(watched, within=90, what="the worker's watch figures")

    # a provider that refuses every email of an announcement for good
    sink, _ = smtp
    sink.replies = [f"550 5.1.1 mailbox {n} unavailable" for n in range(REFUSED)]
    store = SubscriptionStore(redis)
    for n in range(REFUSED):
        c = await store.create_citizen("paris", "fr")
        await store.add_contact("paris", c.id, "email", f"gone{n}@example.org", "confirmed", "test")
        sub, index = parse_subscription(
            {"area": "75105"}, sid=new_id("sub"), citizen=c.id, catalogue=PARIS
        )
        await store.add_subscription("paris", sub, index)
    key = await create_department_key(redis, "paris", "voirie")
    body = {
        "category": "roadworks",
        "target": {"areas": ["75105"]},
        "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
    }
    r = await api.post(
        "/v1/cities/paris/announcements", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status == 202, await r.text()
    # a sender that died an hour ago holding a claim, and an event left queued as long
    ledger, hour_ago = Ledger(redis), time.time() - 3600
    await ledger.enqueue("paris", "evt_dead", "email", [("ntf_dead", "cit_x", "cp_x")])
    assert await ledger.claim_many([("paris", "evt_dead", "ntf_dead")], holder="worker-gone:1") == [
        1
    ]
    await redis.hset("n:{paris}:notif:ntf_dead", "claimed_at", int(hour_ago))
    await redis.zadd("n:{paris}:sending:email", {"ntf_dead": hour_ago})
    await ledger.enqueue("paris", "evt_waiting", "email", [("ntf_waiting", "cit_y", "cp_y")])
    await redis.zadd("n:{paris}:active", {"evt_waiting": hour_ago, "evt_dead": hour_ago})

    async def troubled() -> Any:
        f = await scrape(port)
        dead = sum(v for (n, _), v in f.items() if n == "notifier_dead_letters_total")
        stuck = f.get(
            ("notifier_stuck_notifications", (("channel", "email"), ("lane", "small"))), 0
        )
        lag = f.get(
            ("notifier_oldest_queued_seconds", (("channel", "email"), ("lane", "small"))), 0
        )
        return f if dead >= REFUSED and stuck == 1 and lag > 3000 else None

    after = await eventually(troubled, within=90, what="the failures in the worker's figures")

    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(doc))
    page = {"severity": "page"}
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            rules_test(healthy, healthy, 30, {name: [] for name in (
                "NotifierAlertLag", "NotifierBulkLag", "NotifierStuckNotifications",
                "NotifierDeadLettersGrowing", "NotifierProviderErrors")}),
            rules_test(healthy, after, 20, {
                "NotifierAlertLag": [{"channel": "email", **page}],
                "NotifierBulkLag": [],
                "NotifierStuckNotifications": [{"channel": "email", "lane": "small", **page}],
                "NotifierDeadLettersGrowing": [{"severity": "ticket"}],
                "NotifierProviderErrors": [{"channel": "email", **page}],
            }),
        ],
    }  # fmt: skip
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = await asyncio.to_thread(
        subprocess.run, [promtool(), "test", "rules", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
