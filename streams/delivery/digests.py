"""Digests: news a citizen chose to receive daily or weekly, gathered and sent as one message
per channel at their local hour.

::

    n:{city}:digest:{cid}:{channel}:{slot}            hash   event id -> version (the items)
    n:{city}:digest:{cid}:{channel}:{slot}:scheduled  string set once the release is scheduled

Expansion adds the event to the digest of the slot (the next digest time) and, the first time,
asks the scheduler to put a ``DigestDue/1`` on ``digests`` at that time: a city's digests all
come due at one hour, and thousands of releases on ``city-events`` would hold the events behind
them (digests last, ``streams.delivery.lanes``; records scheduled on ``city-events`` by an earlier
release still release from there). The release leaves
out what was cancelled or expired before it went out, and its notification id is derived from
(citizen, channel, slot), so a digest goes out once even if it is released twice.
"""

from __future__ import annotations

import dataclasses
import json
import time

from channels import KINDS
from streams.announcements import Announcement
from streams.delivery.lanes import DIGEST
from streams.deps import Digesting, DigestRelease
from streams.records import (
    DeliveryBatch,
    Recipient,
    dumps,
    loads,
    settle_mark,
    unsubscribe_mark,
    unsubscribe_url,
)
from streams.state.ledger import notification_id
from subscriptions.contacts import ContactPoint
from subscriptions.errors import InvalidInput, NotFound
from subscriptions.live_index import Audience
from subscriptions.store import key

DIGEST_DUE = "DigestDue/1"
KEEP_SECONDS = 9 * 24 * 3600  # a weekly digest's items, and a day to spare
ADD_PER_CALL = 1000
# KEYS: the event's counts key; ARGV: seconds to keep, event id, version, JSON [[digest's items
# key, channel], ...] (keys of the counts' city: its slot on a Redis Cluster) -> for each, 1
# when it is the digest's first item (its release is to be scheduled), else 0. In one call,
# where a pipeline cost the worker four commands a citizen.
_ADD = """
local counts, keep, event, version = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local out, per_channel = {}, {}
for _, item in ipairs(cjson.decode(ARGV[4])) do
  local k, channel = item[1], item[2]
  redis.call('HSET', k, event, version)
  redis.call('EXPIRE', k, keep)
  local first = redis.call('SET', k .. ':scheduled', '1', 'NX', 'EX', keep)
  out[#out + 1] = first and 1 or 0
  per_channel[channel] = (per_channel[channel] or 0) + 1
end
for channel, n in pairs(per_channel) do
  redis.call('HINCRBY', counts, channel .. ':digested', n)
end
return out
"""


@dataclasses.dataclass(frozen=True)
class DigestDue:
    city: str
    citizen: str
    channel: str
    slot: float
    period: str

    def to_wire(self) -> bytes:
        return dumps({"type": DIGEST_DUE, **dataclasses.asdict(self)})

    @classmethod
    def from_wire(cls, raw: bytes) -> DigestDue:
        d = loads(raw, DIGEST_DUE)
        try:
            return cls(
                str(d["city"]),
                str(d["citizen"]),
                str(d["channel"]),
                float(d["slot"]),
                str(d["period"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput("record", f"malformed {DIGEST_DUE}: {e}") from None


def _items_key(city: str, citizen: str, channel: str, slot: float) -> str:
    return key(city, "digest", citizen, channel, str(int(slot)))


async def add_to_digests(deps: Digesting, a: Announcement, audience: Audience) -> int:
    """Put the event in the digests of those who want it that way; how many digests."""
    wanted = [
        (cid, ch, cad)
        for cid, digests in audience.digests.items()
        for ch, cad in digests
        if ch in deps.enabled
    ]
    if not wanted:
        return 0
    citizens = await deps.store.citizens(a.city, sorted({c for c, _, _ in wanted}))
    now = time.time()
    plans = []
    for cid, channel, cadence in wanted:
        if cid in citizens:
            slot = cadence.next_due(citizens[cid].timezone, now)
            plans.append(DigestDue(a.city, cid, channel, slot, cadence.period))
    add = deps.store.redis.register_script(_ADD)  # once an announcement: no need to keep it
    counts = key(a.city, "event", a.id, "counts")
    first: list[int] = []
    for start in range(0, len(plans), ADD_PER_CALL):  # Redis is not held for long
        items = [
            (_items_key(a.city, d.citizen, d.channel, d.slot), d.channel)
            for d in plans[start : start + ADD_PER_CALL]
        ]
        args = [KEEP_SECONDS, a.id, a.version, json.dumps(items)]
        first += await add(keys=[counts], args=args)
    topic = deps.topics.digests
    # the first item put in a digest schedules the digest's release
    releases = [
        (due.slot, topic, due.citizen.encode(), due.to_wire())
        for due, new in zip(plans, first, strict=True)
        if new
    ]
    await deps.scheduler.later_many(a.city, releases)
    return len(plans)


async def release_digest(deps: DigestRelease, due: DigestDue) -> int:
    """Send one digest: the items still valid, in the citizen's language. 1 if queued."""
    k = _items_key(due.city, due.citizen, due.channel, due.slot)
    event_ids = sorted(await deps.store.redis.hkeys(k))
    try:
        citizen = await deps.store.citizen(due.city, due.citizen)
    except NotFound:  # erased since
        await deps.store.redis.delete(k)
        return 0
    items, languages, now = [], [], time.time()
    for eid in event_ids:
        try:
            stored = await deps.events.get(due.city, eid)
        except NotFound:
            continue
        if stored["status"] == "cancelled":
            continue
        a = Announcement.from_wire(stored["record"].encode())
        if a.expires_at is not None and a.expires_at <= now:
            continue
        lang, content = a.content_for(citizen.language)
        languages.append(lang)
        items.append(
            {
                "title": content.title,
                "body": content.body,
                "link": content.link,
                "department": deps.department_name(due.city, a.department, lang),
                "at": a.published_at,
            }
        )
    contacts = (await deps.store.confirmed_contacts(due.city, [due.citizen], due.channel)).get(
        due.citizen
    )
    queued = 0
    if items and contacts:
        queued = await _send(deps, due, citizen.language, items, contacts[0])
    await deps.store.redis.delete(k)
    return queued


async def _send(
    deps: DigestRelease,
    due: DigestDue,
    language: str,
    items: list[dict[str, object]],
    contact: ContactPoint,
) -> int:
    event = f"digest-{due.citizen}-{due.channel}-{int(due.slot)}"
    nid = notification_id(due.city, event, due.citizen, due.channel)
    [status] = await deps.ledger.enqueue(
        due.city, event, due.channel, [(nid, due.citizen, contact.id)]
    )
    if status not in ("queued", "sending"):
        return 0  # released before: it went out already
    lang = deps.renderer.language_for("digest", language)
    unsubscribe = unsubscribe_url(deps.secret_key, deps.base_url, due.city, due.channel, contact.id)
    context = {
        **deps.city_context(due.city),
        "areas": deps.city_name(due.city),
        "period": due.period,
        "items": items,
        "body": "; ".join(str(i["title"]) for i in items),
        "unsubscribe_url": (mark := unsubscribe_mark()),
    }
    parts = deps.renderer.render_parts("digest", due.channel, lang, context)
    if "url" in KINDS[due.channel].parts:  # where a click on the notification leads
        parts["url"] = deps.base_url
    variants, mark = settle_mark({lang: parts}, mark)
    recipient = Recipient(nid, due.citizen, contact.id, contact.address, lang, unsubscribe)
    batch = DeliveryBatch(
        due.city,
        event,
        "digest",
        variants,
        (recipient,),
        channel=due.channel,
        origin_at=due.slot,
        unsubscribe_mark=mark,
    )
    topic = deps.topics.deliveries(due.channel, DIGEST)  # digests last
    await deps.publish(topic, event.encode(), batch.to_wire())
    return 1
