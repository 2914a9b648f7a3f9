"""Builds what each process hands its stages from the settings: ``build_services`` for the API
and the command line, ``build_deps`` (the same and what sending uses) for the worker."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from channels.base import Channel
from channels.email import SmtpConfig, SmtpEmailChannel
from channels.push import WebPushChannel
from channels.sms import TwilioSmsChannel
from notifier import logs, redis_urls
from notifier.cluster_client import Cluster
from notifier.settings import Settings
from streams.delivery.lanes import KEY as LANES_KEY
from streams.delivery.lanes import Lanes
from streams.deps import Deps, Publish, Services
from streams.metrics import Metrics
from streams.state.event_store import EventStore
from streams.state.ledger import Ledger
from streams.state.quotas import Quotas
from streams.state.ratelimit import RateLimiter
from streams.state.scheduler import Backoff, Scheduler
from streams.topics import TopicNames
from subscriptions.cities import Cities
from subscriptions.matcher import Matcher
from subscriptions.store import SubscriptionStore
from templates.renderer import Brand, Renderer


class SentinelRedis(Redis):
    """The client of the primary that the Sentinels name, which also closes its connections to
    the Sentinels when it is closed (redis-py's leaves them open)."""

    sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            for client in self.sentinel.sentinels:
                await client.aclose()


def make_redis(settings: Settings) -> Redis:
    """A command that meets a connection the server closed (Redis restarted, or failed over) is
    sent once more on a new connection, rather than failing the request or holding the batch.
    Had the server run it before closing, it runs twice; the ledger's scripts, the schedule and
    the store's writes by id are idempotent, and the rare rest (a citizen created twice) is
    the price of not answering 500 to every request after a restart. A timeout is not retried.

    One server: a blocking pool, so that under a burst a request waits (up to 10 s) for a
    connection instead of failing at once with "Too many connections". Through Sentinel
    (``notifier.redis_urls``): each new connection asks the Sentinels where the primary is, and
    a connection to a primary that became a replica is closed at its first refused write (so
    the retry above goes to the new primary); while there is none, the commands fail as a
    connection error does (the API answers 503, the workers hold their records). A Redis
    Cluster: redis-py's client, which follows the slots as they move and fail over."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": 30,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "retry_on_error": [RedisConnectionError],
    }
    if settings.redis_url.startswith(redis_urls.SENTINEL):
        url = redis_urls.SentinelUrl.parse(settings.redis_url)
        sentinel = Sentinel(
            url.sentinels,
            sentinel_kwargs={"password": url.sentinel_password, "socket_timeout": 2.0},
        )
        client = sentinel.master_for(
            url.service,
            redis_class=SentinelRedis,
            db=url.db,
            password=url.password,
            max_connections=100,
            **options,
        )
        client.sentinel = sentinel
        return client
    if settings.redis_url.startswith(redis_urls.CLUSTER):
        cluster = redis_urls.ClusterUrl.parse(settings.redis_url)
        return cast(
            Redis,  # the same commands; the stores keep each operation's keys in one slot
            Cluster(
                startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
                password=cluster.password,
                max_connections=100,  # per node; the pool does not wait when they are all busy
                **options,
            ),
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=100, timeout=10, **options
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it


def make_channels(settings: Settings) -> dict[str, Channel[Any]]:
    """One channel per provider this deployment is configured for (``Settings.channels``, of
    ``channels.NAMES``), writing its delivery lines straight to the handler of the process's
    logging (``logs.setup``, called first), if any. A new provider is constructed here."""
    channels: dict[str, Channel[Any]] = {
        "email": SmtpEmailChannel(
            SmtpConfig.from_url(str(settings.smtp_url)),
            settings.mail_from,
            pool_size=min(settings.smtp_connections, settings.send_concurrency),
        )
    }
    if "sms" in settings.channels:
        channels["sms"] = TwilioSmsChannel(
            settings.twilio_account_sid,
            str(settings.twilio_auth_token),
            settings.twilio_from,
            base_url=settings.twilio_base_url,
            max_connections=settings.send_concurrency,
        )
    if "push" in settings.channels:
        channels["push"] = WebPushChannel(
            str(settings.vapid_private_key),
            settings.vapid_subject,
            outbound=settings.outbound,
            max_connections=settings.send_concurrency,
        )
    lines = logs.attempt_lines()
    for channel in channels.values():
        channel.attempt_lines = lines
    return channels


def build_services(settings: Settings, redis: Redis, publish: Publish) -> Services:
    """What the API process (and the command line) uses: no channel, lane or sender."""
    metrics = Metrics()
    icon = f"{settings.base_url}/static/icon-192.png"
    renderer = Renderer(brand=Brand(logo_url=icon, icon_url=icon))
    renderer.check()  # a broken template stops the start, not a send
    cities = Cities(redis, settings.default_city)
    return Services(
        store=SubscriptionStore(redis),
        ledger=Ledger(
            redis, settings.ledger_retention_days * 86400, settings.broker_session_timeout
        ),
        events=EventStore(redis),
        cities=cities,
        catalogues=cities.catalogues,
        matcher=Matcher(redis, cities.catalogues),
        renderer=renderer,
        enabled=settings.channels,
        publish=publish,
        scheduler=Scheduler(
            redis,
            Backoff(longest=settings.retry_max_delay, give_up_after=settings.retry_give_up_after),
        ),
        limiter=RateLimiter(
            redis,
            settings.rates,
            lambda ch, s: metrics.rate_limit_wait.labels(ch).inc(s),
            city_rates=lambda city: cities.get(city).rates,
        ),
        quotas=Quotas(redis),
        metrics=metrics,
        topics=TopicNames.with_prefix(settings.topic_prefix),
        base_url=settings.base_url,
        secret_key=str(settings.secret_key),
    )


def build_deps(
    settings: Settings, redis: Redis, publish: Publish, channels: dict[str, Channel[Any]]
) -> Deps:
    """The worker's: the services, and the channels, the lanes and the senders' settings."""
    services = build_services(settings, redis, publish)
    instance = secrets.token_hex(6)
    return Deps(
        **{f.name: getattr(services, f.name) for f in dataclasses.fields(services)},
        channels=channels,
        send_concurrency=settings.send_concurrency,
        dead_letter_keep_seconds=settings.dead_letter_retention_days * 86400,
        lanes=Lanes(redis, instance, f"{settings.topic_prefix}{LANES_KEY}"),
        instance=instance,
    )
