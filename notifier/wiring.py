"""Builds the handlers' dependencies from the settings: shared by the worker and the API."""

from __future__ import annotations

from redis.asyncio import Redis

from channels.base import Channel
from channels.email import Email, SmtpConfig, SmtpEmailChannel
from notifier.settings import Settings
from streams.deps import Deps, Publish
from streams.event_store import EventStore
from streams.ledger import Ledger
from streams.topics import TopicNames
from subscriptions.areas import load_catalogue
from subscriptions.store import SubscriptionStore
from templates.renderer import Renderer


def make_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url, decode_responses=True, health_check_interval=30, socket_keepalive=True
    )


def make_email_channel(settings: Settings) -> SmtpEmailChannel:
    return SmtpEmailChannel(
        SmtpConfig.from_url(str(settings.smtp_url)),
        settings.mail_from,
        pool_size=max(1, min(8, settings.send_concurrency)),
    )


def build_deps(
    settings: Settings, redis: Redis, publish: Publish, email: Channel[Email] | None
) -> Deps:
    renderer = Renderer()
    renderer.check()  # a broken template stops the start, not a send
    store = SubscriptionStore(redis)
    return Deps(
        store=store,
        ledger=Ledger(redis),
        events=EventStore(redis),
        catalogues={settings.default_city: load_catalogue(settings.default_city)},
        renderer=renderer,
        email=email,
        publish=publish,
        topics=TopicNames.with_prefix(settings.topic_prefix),
        base_url=settings.base_url,
        secret_key=str(settings.secret_key),
        mail_from=settings.mail_from,
        send_concurrency=settings.send_concurrency,
    )
