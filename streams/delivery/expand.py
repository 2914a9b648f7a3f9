"""From an announcement (or its cancellation) to notifications queued in the ledger and written
to ``deliveries.<channel>`` in batches.

One message per (event version, citizen, channel): a citizen matched by several subscriptions
is told once per channel they chose; only confirmed contact points are used. An update reaches
whom its ``retell`` says (``streams.delivery.retell``): those an earlier version reached, as an
update naming what changed in their language, and those it newly reaches, as a first message. A
cancellation stops what has not gone out (the sender checks) and, when asked, tells those
already told, on the channels they were told on, with the reason in their language.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from channels import KINDS
from streams.announcements import Announcement, Cancellation, Content
from streams.delivery.digests import add_to_digests
from streams.delivery.fanout import SHARD_SIZE, FanoutShard, shards
from streams.delivery.lanes import BULK, SMALL, URGENT
from streams.delivery.retell import Earlier, reads_a_change
from streams.deps import Expansion, Queueing, Rendering
from streams.records import (
    UNSUBSCRIBE_PLACEHOLDER,
    WRITTEN_AT,
    DeliveryBatch,
    Recipient,
    settle_mark,
    unsubscribe_mark,
    unsubscribe_url,
)
from streams.state.ledger import notification_id
from subscriptions.contacts import ContactPoint
from subscriptions.live_index import CHANNEL_BIT, Audience, Reason
from subscriptions.preferences import DEFERRED_CHANNELS, PASS_THROUGH
from subscriptions.store import Citizen
from templates.i18n import in_words, language_name, places

log = logging.getLogger("notifier.streams")
BATCH_SIZE = 500
PENDING = ("queued", "sending")
PickLanguage = Callable[[str], tuple[str, Content]]
# (language, channel, unsubscribe mark) -> the rendered parts
Render = Callable[[str, str, str], dict[str, str]]
# citizen id -> the citizen, and their contact points, as the store reads them
Reach = dict[str, tuple[Citizen, list[ContactPoint]]]
Reasons = tuple[Reason, ...]  # what a reader subscribed to that matched


def version_key(event: str, version: int) -> str:
    """What notification ids derive from: the event, and the version after the first."""
    return event if version == 1 else f"{event}#v{version}"


async def expand_announcement(a: Announcement, deps: Expansion) -> int:
    """Match the announcement and queue one message per reached citizen and channel, in place
    for an audience of one shard, else through shards on the fanout topic
    (``streams.delivery.fanout``); the number queued here."""
    catalogue = deps.catalogues[a.city]
    began, started = time.perf_counter(), time.time()  # the log line says where they went
    # matched, and a small audience queued, at once: the large lanes wait meanwhile
    with deps.lanes.going(SMALL):
        if await _stale(deps, a.city, a.id, a.version):
            return 0
        audience = await deps.matcher.match(
            a.city,
            a.target.resolve(catalogue),
            a.category,
            a.severity,
            a.department,
            reasons=SHARD_SIZE,  # what each reader subscribed to, named in their messages
        )
        matched = len(audience)
        match_ms = (time.perf_counter() - began) * 1000
        earlier = None
        if a.version > 1:  # to whom it is a first message; those told before: below
            earlier = await Earlier.read(deps.ledger, a.city, a.id)
            audience = earlier.first_told(audience, a.retell)
        small = len(audience) <= SHARD_SIZE
        queued = await _expand(deps, a, audience, SMALL) if small else 0
    if not small:  # every worker expands a part (a large lane's turns: out of the small one)
        for shard in shards(a.city, a.id, a.version, audience):
            key = f"{a.id}:{shard.shard}".encode()  # the shards spread over the partitions
            await deps.publish(deps.topics.fanout, key, shard.to_wire())
    if earlier is not None and a.retell == "all":  # those told before, if what they read changed
        for channel in deps.enabled:
            told = earlier.told_on(channel)
            lane = lane_of(a.severity, len(told))
            queued += await queue_announcement(
                deps, a, channel, told, lane=lane, update=True, at_once=at_once(lane, told)
            )
    await deps.events.processed(
        a.city,
        a.id,
        a.version,
        processed_at=str(time.time()),
        matched=matched,
        queued=queued,  # here: the shards' are in the ledger's figures
        shards=0 if small else (len(audience) + SHARD_SIZE - 1) // SHARD_SIZE,
        lane=lane_of(a.severity, len(audience)),  # for the watch (``streams.watch``)
    )
    written = WRITTEN_AT.get()
    log.info(
        "event=%s v%d city=%s matched=%d queued here=%d%s in %.0f ms (matched after %.0f)%s",
        a.id,
        a.version,
        a.city,
        len(audience),
        queued,
        "" if small else " (in shards)",
        (time.perf_counter() - began) * 1000,
        match_ms,
        f"; {(started - written) * 1000:.0f} ms on the event log before" if written else "",
    )
    return queued


async def expand_shard(raw: bytes, deps: Expansion) -> int:
    """One shard of a large audience (``streams.delivery.fanout``): the number queued."""
    shard = FanoutShard.from_wire(raw)
    if await _stale(deps, shard.city, shard.event, shard.version):
        return 0
    stored = await deps.events.get(shard.city, shard.event)
    a = Announcement.from_wire(stored["record"].encode())
    await deps.cities.require(a.city)  # its areas, to name them: loaded if made since we started
    if a.version != shard.version:  # a newer version came after the staleness check
        return 0
    lane = large_lane(a.severity)
    with deps.lanes.going(lane):  # a severe event's shards before the others' batches
        return await _expand(deps, a, shard.audience, lane)


def large_lane(severity: str) -> str:
    """The lane of a large audience's batches (``streams.delivery.lanes``): severe and extreme
    first."""
    return URGENT if severity in PASS_THROUGH else BULK


def lane_of(severity: str, audience: int) -> str:
    """The lane of an audience of this size: up to a shard's, the small one."""
    return SMALL if audience <= SHARD_SIZE else large_lane(severity)


async def _stale(deps: Expansion, city: str, event: str, version: int) -> bool:
    status, current = await deps.events.state(city, event)
    if status == "cancelled" or current > version:
        log.info("event=%s v%d is stale (%s, v%d): not expanded", event, version, status, current)
        return True
    return False


async def _expand(deps: Expansion, a: Announcement, audience: Audience, lane: str) -> int:
    """``lane``: the batches' (``streams.delivery.lanes``): a shard of a large audience's is a large
    lane, whose batches are written in its turn."""
    await deps.lanes.turn(lane)
    queued = await add_to_digests(deps, a, audience) if a.version == 1 else 0
    enabled = sum(CHANNEL_BIT[c] for c in deps.enabled)
    told = [c for c, m in zip(audience.citizens, audience.channels, strict=True) if m & enabled]
    reach: Reach = {}  # read once for every channel, a thousand at a time, each in its turn
    for start in range(0, len(told), 2 * BATCH_SIZE):
        await deps.lanes.turn(lane)
        chunk = told[start : start + 2 * BATCH_SIZE]
        reach.update(await deps.store.citizens_and_contacts(a.city, chunk))
    now = at_once(lane, told)
    # the channels side by side: one's CPU work overlaps another's waits on Redis and Kafka;
    # the readers of each channel by what they subscribed to (when the matcher said), each
    # group's messages naming theirs
    done = await asyncio.gather(
        *(
            queue_announcement(deps, a, channel, group, reach, lane, reasons=why, at_once=now)
            for channel in deps.enabled
            for why, group in by_reason(audience, channel)
        ),
        return_exceptions=True,  # every channel finishes before the shard may fail
    )
    for n in done:
        if isinstance(n, BaseException):
            raise n  # redelivered, the shard queues what is missing only
        queued += n
    return queued


def at_once(lane: str, citizens: list[str]) -> bool:
    """Whether this worker sends these citizens' messages at once, not through their topic:
    an event of up to a batch's audience, whose record would wait for a sender's next fetch
    (``streams.handlers.sender_at_once``)."""
    return lane == SMALL and len(citizens) <= BATCH_SIZE


def by_reason(audience: Audience, channel: str) -> list[tuple[Reasons | None, list[str]]]:
    """The citizens to tell at once on ``channel``, by what they subscribed to that matched
    (one group, reasons None, when the audience does not say: a large one)."""
    wanting = audience.wanting(channel)
    if audience.reasons is None:
        return [(None, wanting)]
    reason_of = dict(zip(audience.citizens, audience.reasons, strict=True))
    groups: dict[Reasons, list[str]] = {}
    for cid in wanting:
        groups.setdefault(reason_of[cid], []).append(cid)
    return sorted(groups.items())


async def expand_cancellation(c: Cancellation, deps: Expansion) -> int:
    """Tell those already told that the announcement is cancelled (when asked to)."""
    queued = 0
    if c.notify:
        stored = await deps.events.get(c.city, c.id)
        a = Announcement.from_wire(stored["record"].encode())
        for channel in deps.enabled:
            told = sorted({cit for cit, _ in await deps.ledger.reached(c.city, c.id, channel)})
            lane = lane_of(a.severity, len(told))
            queued += await _queue(
                deps,
                a,
                "cancellation",
                channel,
                told,
                f"{c.id}#cancel",
                lambda lang, ch, mark: render_cancellation(a, c, lang, ch, deps, mark),
                c.version,
                lane=lane,
                at_once=at_once(lane, told),
            )
    await deps.events.processed(c.city, c.id, c.version)
    log.info("event=%s cancelled city=%s notices=%d", c.id, c.city, queued)
    return queued


async def queue_announcement(
    deps: Queueing,
    a: Announcement,
    channel: str,
    citizens: list[str],
    reach: Reach | None = None,
    lane: str = SMALL,
    update: bool = False,
    reasons: Reasons | None = None,
    at_once: bool = False,
) -> int:
    """Queue this version of the announcement for these citizens on one channel (those with a
    confirmed contact point on it); how many still to send. ``reach``: what
    ``SubscriptionStore.citizens_and_contacts`` read of them already. ``update``: they were told
    an earlier version; only those who read something new are told, of what changed.
    ``reasons``: what they subscribed to that matched (their messages name it), None: the
    announcement's areas. ``at_once``: sent by this worker (``_queue``)."""
    id_key = version_key(a.id, a.version)

    def render(lang: str, channel: str, mark: str) -> dict[str, str]:
        return render_announcement(a, lang, channel, deps, mark, update=update, reasons=reasons)

    def keep(lang: str) -> bool:
        return reads_a_change(a, lang)

    return await _queue(
        deps,
        a,
        "announcement",
        channel,
        citizens,
        id_key,
        render,
        reach=reach,
        lane=lane,
        keep=keep if update else None,
        at_once=at_once,
    )


async def _queue(
    deps: Queueing,
    a: Announcement,
    kind: str,
    channel: str,
    citizen_ids: list[str],
    id_key: str,
    render: Render,
    version: int | None = None,
    reach: Reach | None = None,
    lane: str = SMALL,
    keep: Callable[[str], bool] | None = None,
    at_once: bool = False,
) -> int:
    """Record the notifications as queued and write the batches (those in their quiet hours
    to the scheduler, for the end of them) to the channel's topic in ``lane``; how many still
    to send. A batch's worth at a time: a large lane takes its turn before each, so a small
    event's work never waits behind more than one (a shard's Redis calls and CPU in one go
    held a neighbourhood's event for hundreds of milliseconds, ``bench/citywide.py``).
    ``at_once``: the batches are sent by this worker (``at_once``), written to their topic only
    if not out within a wait."""
    defer = (
        kind == "announcement" and channel in DEFERRED_CHANNELS and (a.severity not in PASS_THROUGH)
    )
    topic = deps.topics.deliveries(channel, lane)
    send_now = deps.send_now if at_once else None
    mark = unsubscribe_mark()
    rendered: dict[str, dict[str, str]] = {}  # language -> parts, rendered once
    queued = 0
    for start in range(0, len(citizen_ids), BATCH_SIZE):
        await deps.lanes.turn(lane)  # a more urgent lane's work first, if some goes
        # a small lane's writing holds the large lanes back
        with deps.lanes.going(SMALL) if lane == SMALL else contextlib.nullcontext():
            chunk = citizen_ids[start : start + BATCH_SIZE]
            recipients, quiet = await _recipients(
                deps, a.city, id_key, chunk, channel, a.content_for, defer, reach, keep
            )
            rows = [(r.id, r.citizen, r.contact) for r in recipients]
            statuses = await deps.ledger.enqueue(a.city, a.id, channel, rows)
            await deps.lanes.turn(lane)  # and again once written: what came meanwhile first
            # a redelivered record resends only what is still pending
            pending = [r for r, s in zip(recipients, statuses, strict=True) if s in PENDING]
            for lang in {r.language for r in pending} - rendered.keys():
                rendered[lang] = render(lang, channel, mark)
            variants, batch_mark = settle_mark(
                {lang: rendered[lang] for lang in sorted({r.language for r in pending})}, mark
            )
            by_due: dict[float | None, list[Recipient]] = {}
            for r in pending:
                by_due.setdefault(quiet.get(r.id), []).append(r)
            for due, group in by_due.items():
                batch = DeliveryBatch(
                    a.city,
                    a.id,
                    kind,
                    variants,
                    tuple(group),
                    a.expires_at if kind == "announcement" else None,
                    a.version if version is None else version,
                    channel,
                    a.severity,
                    a.published_at,
                    batch_mark,
                )
                # keyed by its first notification: a large audience's batches spread over the
                # partitions, so every sender of the group takes part
                key = f"{a.id}:{group[0].id}".encode()
                raw = batch.to_wire()
                if due is not None:
                    await deps.scheduler.later(a.city, due, topic, key, raw)
                elif send_now is None or not await send_now(topic, raw, batch):
                    await deps.publish(topic, key, raw)
            queued += len(pending)
    return queued


async def _recipients(
    deps: Queueing,
    city: str,
    id_key: str,
    citizen_ids: list[str],
    channel: str,
    pick_language: PickLanguage,
    defer: bool = False,
    reach: Reach | None = None,
    keep: Callable[[str], bool] | None = None,
) -> tuple[list[Recipient], dict[str, float]]:
    """The recipients, and when those in their quiet hours are due (when ``defer``); ``keep``:
    whether a reader of this language is told."""
    if reach is None:
        reach = await deps.store.citizens_and_contacts(city, citizen_ids)
    citizens = {cid: reach[cid][0] for cid in citizen_ids if cid in reach}
    # consent first: confirmed contact points on the channel, as ``confirmed_contacts`` says
    contacts: dict[str, list[ContactPoint]] = {}
    for cid in citizens:
        for cp in reach[cid][1]:
            if cp.channel == channel and cp.status == "confirmed":
                contacts.setdefault(cp.citizen, []).append(cp)
    out = []
    quiet: dict[str, float] = {}
    now = time.time()
    for cid, citizen in citizens.items():
        cps = contacts.get(cid)
        if not cps:
            continue
        pid, address = cps[0].id, cps[0].address  # one message per (event, citizen, channel)
        lang, _ = pick_language(citizen.language)
        if keep is not None and not keep(lang):
            continue
        unsubscribe = unsubscribe_url(deps.secret_key, deps.base_url, city, channel, pid)
        nid = notification_id(city, id_key, cid, channel)
        out.append(Recipient(nid, cid, pid, address, lang, unsubscribe))
        if defer and citizen.quiet_hours is not None:
            until = citizen.quiet_hours.until(citizen.timezone, now)
            if until is not None:
                quiet[nid] = until
    return out, quiet


def context_of(
    a: Announcement,
    lang: str,
    deps: Rendering,
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER,
    update: bool | None = None,
    reasons: Reasons | None = None,
) -> dict[str, object]:
    """What the announcement's templates are given; ``unsubscribe``: the mark where each
    recipient's unsubscribe URL goes; ``update``: the reader was told an earlier version
    (default: any version after the first), and ``changes`` says what changed, in words;
    ``reasons``: what the readers subscribed to that matched ("areas" names those, else the
    announcement's areas)."""
    _, content = a.content_for(lang)
    catalogue = deps.catalogues[a.city]
    areas = (
        a.target.area_names(catalogue)
        if not reasons
        else places(reasons, lang, lambda code: catalogue.get(code).name)
    )
    is_update = a.version > 1 if update is None else update
    changed = a.changes_for(lang) if is_update else None
    city = deps.city_context(a.city)
    return {
        "title": content.title,
        "body": content.body,
        "link": content.link,
        "severity": a.severity,
        "department": deps.department_name(a.city, a.department, lang),
        **city,
        "areas": areas,
        "unsubscribe_url": unsubscribe,
        "is_update": is_update,
        "changes": in_words(changed, lang) if changed else "",
        "instructions": content.instructions,
        "expires_at": a.expires_at,
    }


def _with_url(
    parts: dict[str, str], a: Announcement, lang: str, channel: str, deps: Rendering
) -> dict[str, str]:
    if "url" in KINDS[channel].parts:  # where a click on the notification leads
        parts["url"] = a.content_for(lang)[1].link or deps.base_url
    return parts


def render_announcement(
    a: Announcement,
    lang: str,
    channel: str,
    deps: Rendering,
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER,
    update: bool | None = None,
    reasons: Reasons | None = None,
) -> dict[str, str]:
    context = context_of(a, lang, deps, unsubscribe, update, reasons)
    parts = deps.renderer.render_parts("announcement", channel, lang, context)
    return _with_url(parts, a, lang, channel, deps)


def render_cancellation(
    a: Announcement,
    c: Cancellation,
    lang: str,
    channel: str,
    deps: Rendering,
    unsubscribe: str = UNSUBSCRIBE_PLACEHOLDER,
) -> dict[str, str]:
    reason, written_in = c.reason_for(lang, a.main_language)
    context = {
        **context_of(a, lang, deps, unsubscribe, update=False),
        "reason": reason,
        # a reason not in the reader's language is introduced with the language it is in
        "reason_language": language_name(written_in, lang) if written_in != lang else "",
        "reason_lang": written_in,
    }
    parts = deps.renderer.render_parts("cancellation", channel, lang, context)
    return _with_url(parts, a, lang, channel, deps)
