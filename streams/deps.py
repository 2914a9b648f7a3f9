"""What each stage is handed, typed, and the objects the composition root builds to hand it.

``notifier.wiring`` builds one ``Services`` for the API process (and the command line), and one
``Deps`` for the worker: the same, plus what only sending and the lanes use (the channels, the
lanes, this process's id, the senders' concurrency, how long dead letters are kept). Each stage
takes the protocol below that names the few collaborators it uses, so mypy proves it uses
nothing else and a test builds only those. The stages call one another (expansion puts events in
digests, a fallback queues through expansion, a sender ends a failure in a dead letter), so
their needs compose, and they are on one page: what a stage needs is read here, side by side.

What travels together is one name: ``Rendering`` (the templates, a city's name and look, the
site's address and the key that signs the links in a message).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.base import Channel
from streams.delivery.lanes import Lanes
from streams.metrics import Metrics
from streams.records import DeliveryBatch
from streams.state.event_store import EventStore
from streams.state.ledger import Ledger
from streams.state.quotas import Quotas
from streams.state.ratelimit import RateLimiter
from streams.state.scheduler import Scheduler
from streams.topics import Publish, TopicNames
from subscriptions.areas import AreaCatalogue
from subscriptions.cities import Cities, City
from subscriptions.matcher import Matcher
from subscriptions.store import SubscriptionStore
from templates.renderer import Renderer

__all__ = [
    "CityEvents",
    "DeadLettering",
    "Deps",
    "DigestRelease",
    "DigestsDue",
    "Digesting",
    "Expansion",
    "Fallback",
    "Outbox",
    "Publish",
    "Publishes",
    "Queueing",
    "Rendering",
    "RequestUpdates",
    "Scheduling",
    "Sending",
    "Services",
    "Tracking",
    "Watching",
]


class Publishes(Protocol):
    """Writes a record to a topic (read-only: a dataclass's callable field is a method to mypy)."""

    @property
    def publish(self) -> Publish: ...


# (topic, record, its batch) -> whether this worker sent it, within a wait
# (``streams.handlers.sender_at_once``); False: the record is written to its topic
SendNow = Callable[[str, bytes, DeliveryBatch], Awaitable[bool]]


class SendsAtOnce(Protocol):
    """Sends a small batch it wrote itself, in the worker (read-only: see ``Publishes``)."""

    @property
    def send_now(self) -> SendNow | None: ...


class Rendering(Protocol):
    """What a message is rendered with: the templates, its city's name, look and areas, the
    site it links to and the key that signs those links."""

    renderer: Renderer
    catalogues: dict[str, AreaCatalogue]
    base_url: str
    secret_key: str

    def city_context(self, city: str) -> dict[str, Any]: ...

    def department_name(self, city: str, department: str, language: str) -> str: ...


class Queueing(Rendering, Publishes, SendsAtOnce, Protocol):
    """Queueing an announcement's messages on a channel (``expand.queue_announcement``): the
    ledger, the recipients' contact points, their batches written in their lane, or to the
    scheduler for the end of their quiet hours."""

    store: SubscriptionStore
    ledger: Ledger
    lanes: Lanes
    scheduler: Scheduler
    topics: TopicNames


class Digesting(Protocol):
    """Putting an event in the digests of those who want it so (``digests.add_to_digests``)."""

    store: SubscriptionStore
    scheduler: Scheduler
    topics: TopicNames
    enabled: tuple[str, ...]


class Expansion(Queueing, Digesting, Protocol):
    """From an announcement, its shards or its cancellation to queued messages (``expand``)."""

    events: EventStore
    cities: Cities
    matcher: Matcher


class Fallback(Queueing, Protocol):
    """An undelivered web push alert queued on the citizen's fallback channel (``fallback``)."""

    events: EventStore
    enabled: tuple[str, ...]


class DigestRelease(Rendering, Publishes, Protocol):
    """A digest sent when it is due (``digests.release_digest``)."""

    store: SubscriptionStore
    events: EventStore
    ledger: Ledger
    topics: TopicNames

    def city_name(self, city: str) -> str: ...


class DigestsDue(DigestRelease, Protocol):
    """A digest due on ``digests`` (``handlers.release_digest_due``): released in its turn
    (``streams.delivery.lanes``: digests last), counted."""

    lanes: Lanes
    cities: Cities
    metrics: Metrics


class CityEvents(Expansion, DigestsDue, Fallback, Protocol):
    """What comes on ``city-events`` (``handlers.handle_city_event``), counted."""

    metrics: Metrics


class RequestUpdates(Rendering, Publishes, Protocol):
    """A service request's change told to its followers (``requests``)."""

    store: SubscriptionStore
    ledger: Ledger
    cities: Cities
    topics: TopicNames
    enabled: tuple[str, ...]

    def city(self, city: str) -> City: ...


class DeadLettering(Publishes, Protocol):
    """A record or a message that failed for good, kept with its reason (``handlers.guarded``)."""

    store: SubscriptionStore
    topics: TopicNames
    metrics: Metrics
    dead_letter_keep_seconds: float


class Sending(DeadLettering, Protocol):
    """A batch handed to its provider once (``send``): the ledger's claims, consent, staleness,
    the city's quota and rate limit, retries through the scheduler, the lanes."""

    ledger: Ledger
    events: EventStore
    cities: Cities
    channels: dict[str, Channel[Any]]
    limiter: RateLimiter
    quotas: Quotas
    scheduler: Scheduler
    lanes: Lanes
    renderer: Renderer
    base_url: str
    send_concurrency: int
    instance: str

    def city(self, city: str) -> City: ...

    def receipts_url(self, city: str) -> str: ...


class Tracking(Protocol):
    """A provider's receipt folded into the ledger (``track``)."""

    channels: dict[str, Channel[Any]]
    ledger: Ledger
    store: SubscriptionStore


class Scheduling(Publishes, Protocol):
    """What the scheduler holds, published once due (``handlers.release_scheduled``)."""

    scheduler: Scheduler
    catalogues: dict[str, AreaCatalogue]


class Outbox(Publishes, Protocol):
    """Events accepted and not yet processed, published again (``handlers.sweep_outbox``)."""

    events: EventStore
    catalogues: dict[str, AreaCatalogue]
    topics: TopicNames


class Watching(Protocol):
    """The backlog's figures on ``/metrics`` (``watch.observe``)."""

    store: SubscriptionStore
    catalogues: dict[str, AreaCatalogue]
    metrics: Metrics


@dataclasses.dataclass
class Services:
    """What both processes build: the API's routes and actions take it, and the worker's
    ``Deps`` adds to it."""

    store: SubscriptionStore
    ledger: Ledger
    events: EventStore
    cities: Cities
    catalogues: dict[str, AreaCatalogue]  # cities.catalogues
    matcher: Matcher
    renderer: Renderer
    publish: Publish
    scheduler: Scheduler
    limiter: RateLimiter  # the API shows a city's rates (``GET /v1/cities/{city}/usage``)
    quotas: Quotas
    metrics: Metrics
    topics: TopicNames
    base_url: str
    secret_key: str
    enabled: tuple[str, ...] = ("email",)  # the channels this deployment sends on

    def city(self, city: str) -> City:
        return self.cities.get(city)

    def city_name(self, city: str) -> str:
        return self.cities.get(city).name

    def city_context(self, city: str) -> dict[str, Any]:
        """What every message of a city is rendered with: its name and look (``Brand``)."""
        c, default = self.cities.get(city), self.renderer.brand
        brand = dataclasses.replace(
            default,
            name=c.name,
            colour=c.colour,
            logo_url=c.logo_url or default.logo_url,
            timezone=c.timezone,
        )
        return {"city_name": c.name, "brand": brand}

    def department_name(self, city: str, department: str, language: str) -> str:
        """The department's name as the city document gives it, else its id."""
        return self.cities.get(city).department_name(department, language)


@dataclasses.dataclass(kw_only=True)
class Deps(Services):
    """The worker's: every stage's needs (it satisfies each protocol above)."""

    channels: dict[str, Channel[Any]]
    send_concurrency: int = 16
    dead_letter_keep_seconds: float = 30 * 86400  # NOTIFIER_DEAD_LETTER_RETENTION_DAYS
    lanes: Lanes = dataclasses.field(default_factory=Lanes)  # the bulk lane gives way
    # this process, in the ledger's claims: its own claims it may take back at once
    instance: str = dataclasses.field(default_factory=lambda: secrets.token_hex(6))
    # a small batch sent by the worker that wrote it (the worker's agents set it); None: every
    # batch goes through its topic, as in the handlers' tests
    send_now: SendNow | None = None

    def receipts_url(self, city: str) -> str:
        """Where a provider posts the status of the messages it took (``Channel.receipts``:
        Twilio's, ``notifier.api.webhooks``)."""
        return f"{self.base_url}/v1/cities/{city}/twilio/status"
