"""What the handlers need, handed to them by the composition root."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from channels.base import Channel
from streams.event_store import EventStore
from streams.lanes import Lanes
from streams.ledger import Ledger
from streams.metrics import Metrics
from streams.quotas import Quotas
from streams.ratelimit import RateLimiter
from streams.scheduler import Scheduler
from streams.topics import Publish, TopicNames
from subscriptions.areas import AreaCatalogue
from subscriptions.cities import Cities, City
from subscriptions.matcher import Matcher
from subscriptions.store import SubscriptionStore
from templates.renderer import Renderer

__all__ = ["Deps", "Publish"]


@dataclasses.dataclass
class Deps:
    store: SubscriptionStore
    ledger: Ledger
    events: EventStore
    cities: Cities
    catalogues: dict[str, AreaCatalogue]  # cities.catalogues
    matcher: Matcher
    renderer: Renderer
    channels: dict[str, Channel[Any]]  # empty in the API process, which sends nothing itself
    publish: Publish
    scheduler: Scheduler
    limiter: RateLimiter
    quotas: Quotas
    metrics: Metrics
    topics: TopicNames
    base_url: str
    secret_key: str
    mail_from: str
    enabled: tuple[str, ...] = ("email",)  # the channels this deployment sends on
    send_concurrency: int = 16
    dead_letter_keep_seconds: float = 30 * 86400  # NOTIFIER_DEAD_LETTER_RETENTION_DAYS
    lanes: Lanes = dataclasses.field(default_factory=Lanes)  # the bulk lane gives way
    # this process, in the ledger's claims: its own claims it may take back at once
    instance: str = dataclasses.field(default_factory=lambda: secrets.token_hex(6))

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

    def receipts_url(self, city: str) -> str:
        """Where a provider posts the status of the messages it took (``Channel.receipts``:
        Twilio's, ``notifier.api.webhooks``)."""
        return f"{self.base_url}/v1/cities/{city}/twilio/status"
