"""A severe or extreme alert is never held by a city's monthly quota (DESIGN invariant 7): it
goes, is counted in the month's usage, and in a metric the operator watches."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from streams.announcements import Announcement
from streams.delivery.expand import expand_announcement
from streams.delivery.send import send_batch
from streams.deps import Deps
from subscriptions.city_document import put_city
from subscriptions.store import new_id
from subscriptions.subscription import parse_subscription
from tests.paris_centre import centre_doc
from tests.stage import SmtpSink


async def citizens_of_the_centre(d: Deps, n: int) -> None:
    doc = centre_doc()
    doc["limits"] = {"monthly_quotas": {"email": 3}}
    await put_city(d.store.redis, doc)
    assert await d.cities.ensure("paris_centre")
    for i in range(n):
        c = await d.store.create_citizen("paris_centre", "fr")
        await d.store.add_contact(
            "paris_centre", c.id, "email", f"c{i}@example.org", "confirmed", "test"
        )
        sub, index = parse_subscription(
            {"area": "75103"},
            sid=new_id("sub"),
            citizen=c.id,
            catalogue=d.catalogues["paris_centre"],
        )
        await d.store.add_subscription("paris_centre", sub, index)


def alert(d: Deps, eid: str, severity: str) -> Announcement:
    return Announcement.from_input(
        {
            "category": "roadworks",
            "severity": severity,
            "target": {"areas": ["7510301"]},
            "content": {"fr": {"title": "Effondrement", "body": "Évacuez la rue."}},
        },
        id=eid,
        city="paris_centre",
        department="voirie",
        catalogue=d.catalogues["paris_centre"],
    )


@pytest.mark.parametrize("severity", ["severe", "extreme"])
async def test_a_severe_alert_goes_past_a_spent_quota_and_is_counted(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
    smtp: tuple[SmtpSink, str],
    redis: Redis,
    severity: str,
) -> None:
    d, published = deps
    await citizens_of_the_centre(d, 5)
    a = alert(d, "evt_" + "a" * 20, severity)
    await d.events.accept(a)
    await expand_announcement(a, d)
    [batch] = [v for t, _, v in published if t == "deliveries.email"]
    assert await send_batch(batch, d) == {"sent": 5}  # the quota is 3
    assert len(smtp[0].messages) == 5
    assert [json.loads(v) for t, _, v in published if t == "dead-letters"] == []
    assert await d.quotas.usage("paris_centre", ["email"]) == {"email": 5}
    sample = "notifier_alerts_outside_quota_total"
    labels = {"city": "paris_centre", "channel": "email"}
    assert d.metrics.registry.get_sample_value(sample, labels) == 5


async def test_a_moderate_one_still_meets_the_quota(
    deps: tuple[Deps, list[tuple[str, bytes, bytes]]],  # noqa: F811 (test_handlers' fixture)
) -> None:
    d, published = deps
    await citizens_of_the_centre(d, 5)
    a = alert(d, "evt_" + "b" * 20, "moderate")
    await d.events.accept(a)
    await expand_announcement(a, d)
    [batch] = [v for t, _, v in published if t == "deliveries.email"]
    assert await send_batch(batch, d) == {"sent": 3, "failed": 2}
