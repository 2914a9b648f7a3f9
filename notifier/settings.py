"""The one settings object, read from ``NOTIFIER_*`` environment variables once.

Nothing else in the code base reads ``os.environ``; the object is passed explicitly.
Each setting is declared once, as its field of ``Settings``: ``setting(name, default,
description, parse)`` (``notifier.variables``). The field's default is the default text parsed;
``from_env``, ``to_env`` and ``VARIABLES`` (which the README's table is checked against) are
made from the declarations.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from channels import NAMES as CHANNEL_NAMES
from channels.outbound import PUSH_SERVICES, OutboundPolicy
from notifier import redis_urls
from notifier.errors import ConfigError
from notifier.variables import (
    Parse,
    Source,
    Variable,
    field,
    flag,
    flag_text,
    hosts,
    listed,
    networks,
    path,
    seconds,
    setting,
    text,
    url,
    whole_number,
    whole_text,
)
from streams.topics import NAMES as TOPIC_NAMES


class Secret(str):
    """A string that does not show itself in reprs, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"


def per_channel(*variables: Variable[float]) -> dict[str, float]:
    """A field read from one variable per channel, named last (``RATE_EMAIL``: ``email``)."""
    by_channel = {v.name.rsplit("_", 1)[1].lower(): v for v in variables}

    def read(env: Mapping[str, str]) -> dict[str, float]:
        return {channel: v.read(env) for channel, v in by_channel.items()}

    def write(value: dict[str, float], _: Settings) -> dict[str, str]:
        return {by_channel[c].name: by_channel[c].show(rate) for c, rate in value.items()}

    return field(read({}), Source(variables, read, write))


def _secret(name: str, raw: str) -> Secret:
    return Secret(raw)


def _secret_url(*schemes: str) -> Parse[Secret]:
    parse = url(*schemes)
    return lambda name, raw: Secret(parse(name, raw))


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"NOTIFIER_{name}={level!r} is not DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(name: str, raw: str) -> str:
    log_format = raw.lower()
    if log_format not in {"text", "json"}:
        raise ConfigError(f"NOTIFIER_{name}={log_format!r} is not text or json")
    return log_format


def _city(name: str, raw: str) -> str:
    if not raw.isidentifier() or not raw.islower():
        raise ConfigError(f"NOTIFIER_{name}={raw!r} must be a lower-case identifier")
    return raw


Plan = tuple[int, dict[str, int]]  # partitions of every topic, then by topic name


def _partitions(name: str, raw: str) -> Plan:
    """``6,fanout=24,deliveries.email=24``: the default, then overrides by topic name."""
    head, *rest = [part.strip() for part in raw.split(",")]

    def number(digits: str, what: str) -> int:
        if not digits.isdigit() or not 1 <= int(digits) <= 10_000:
            raise ConfigError(
                f"NOTIFIER_{name}: {what} {digits!r} is not a number of partitions (1..10000)"
            )
        return int(digits)

    default = number(head, "the default")
    by_name: dict[str, int] = {}
    for part in rest:
        topic, sep, count = (x.strip() for x in part.partition("="))
        if not sep or topic not in TOPIC_NAMES.values():
            raise ConfigError(
                f"NOTIFIER_{name}: {part!r} is not topic=number with a topic among "
                + ", ".join(sorted(TOPIC_NAMES.values()))
            )
        by_name[topic] = number(count, topic)
    return default, by_name


def _plan_text(plan: Plan) -> str:
    default, by_name = plan
    return ",".join([str(default)] + [f"{n}={p}" for n, p in sorted(by_name.items())])


# the one variable of two fields (``topic_partitions`` declares it)
TOPIC_PARTITIONS = Variable(
    "TOPIC_PARTITIONS",
    "4",
    "Partitions of each topic `notifier topics create` makes and `check` expects: a number "
    "for all, then `topic=number` overrides, e.g. `6,fanout=24,deliveries.email=24` "
    "(names without the prefix).",
    _partitions,
    _plan_text,
)


def _partitions_field() -> int:
    def read(env: Mapping[str, str]) -> int:
        return TOPIC_PARTITIONS.read(env)[0]

    def write(value: int, settings: Settings) -> dict[str, str]:
        return {TOPIC_PARTITIONS.name: _plan_text((value, settings.topic_partitions_by_name))}

    return field(read({}), Source((TOPIC_PARTITIONS,), read, write))


def _partitions_by_name_field() -> dict[str, int]:
    def read(env: Mapping[str, str]) -> dict[str, int]:
        return TOPIC_PARTITIONS.read(env)[1]

    return field(read({}), Source((), read, lambda _, __: {}))  # written with the number


_PER_SECOND = seconds(0, 100_000)


@dataclasses.dataclass(frozen=True)
class Settings:
    kafka_url: str = setting(
        "KAFKA_URL",
        "",
        "Kafka bootstrap servers, `kafka://host:port[,host:port]`. "
        "Empty: `notifier up` starts an embedded Tansu broker.",
        url("kafka"),
    )
    redis_url: str = setting(
        "REDIS_URL",
        "",
        "Redis URL, `redis://host:port/db`, or the Sentinels watching the primary, "
        "`redis+sentinel://host:port,host:port/service`. "
        "Empty: `notifier up` starts an embedded redis-server.",
        redis_urls.check,
    )
    smtp_url: Secret = setting(
        "SMTP_URL",
        "",
        "SMTP relay, `smtp://user:password@host:port` (`smtps://` for implicit TLS, "
        "`?starttls=1` to require STARTTLS). Empty: `notifier up` runs a local outbox.",
        _secret_url("smtp", "smtps"),
    )
    mail_from: str = setting(
        "MAIL_FROM",
        "Ville de Paris <notifications@paris.example>",
        "From header of every email.",
        text,
    )
    twilio_account_sid: str = setting(
        "TWILIO_ACCOUNT_SID",
        "",
        "Twilio account SID (AC…). Empty: no SMS, except under `notifier up`, which runs a "
        "local Twilio-shaped server.",
        text,
    )
    twilio_auth_token: Secret = setting(
        "TWILIO_AUTH_TOKEN",
        "",
        "Twilio auth token; also checks the signature of Twilio's webhooks.",
        _secret,
    )
    twilio_from: str = setting(
        "TWILIO_FROM",
        "",
        "The sender: an E.164 number or a Messaging Service SID (MG…).",
        text,
    )
    twilio_base_url: str = setting(
        "TWILIO_BASE_URL",
        "https://api.twilio.com",
        "Twilio's API base URL.",
        url("https", "http", strip_slash=True),
    )
    vapid_private_key: Secret = setting(
        "VAPID_PRIVATE_KEY",
        "",
        "Web push VAPID private key (PEM or base64url; `notifier vapid-keys` makes one). Empty: "
        "no web push, except under `notifier up`, which keeps one under DATA_DIR.",
        _secret,
    )
    vapid_subject: str = setting(
        "VAPID_SUBJECT",
        "mailto:notifications@paris.example",
        "VAPID contact (mailto: or https:).",
        text,
    )
    push_services: tuple[str, ...] = setting(
        "PUSH_SERVICES",
        ",".join(PUSH_SERVICES),
        "The push services a web push endpoint may point at, comma-separated host names (or "
        "`*.domain` for its hosts); the default is the services browsers use (FCM, Mozilla "
        "autopush, Apple, Windows). Any other endpoint is refused when a browser registers it and "
        "again before each push, and every connection must reach a public address.",
        hosts,
        listed,
    )
    push_loopback: bool = setting(  # the embedded stack and the tests only
        "PUSH_LOOPBACK",
        "0",
        "`1` also lets through push endpoints on loopback (`http://127.0.0.1:…`, `localhost`): "
        "for the embedded stack's and the tests' local push service, never in production.",
        flag,
        flag_text,
    )
    api_host: str = setting("API_HOST", "127.0.0.1", "Address the HTTP API binds to.", text)
    api_port: int = setting("API_PORT", "8080", "Port of the HTTP API.", whole_number(0, 65535))
    public_url: str = setting(
        "PUBLIC_URL",
        "",
        "Base URL citizens reach the API at, used in links in messages. "
        "Empty: `http://API_HOST:API_PORT`.",
        lambda name, raw: raw.rstrip("/"),
    )
    trusted_proxies: tuple[str, ...] = setting(  # networks, e.g. ("10.0.0.0/8",)
        "TRUSTED_PROXIES",
        "",
        "Reverse proxies in front of the API (comma-separated addresses or networks, e.g. "
        "`10.0.0.0/8`): behind them the client is the last address of `X-Forwarded-For` that "
        "is not one of them (abuse limits count per client). Empty: the TCP peer.",
        networks,
        listed,
    )
    secret_key: Secret = setting(
        "SECRET_KEY",
        "",
        "Key that signs citizens' tokens (confirmation, management, unsubscribe links); "
        "at least 32 characters. Required by `notifier worker` and `notifier api`; "
        "`notifier up` keeps one under DATA_DIR.",
        _secret,
    )
    data_dir: Path = setting(
        "DATA_DIR",
        "var",
        "Where the embedded default keeps Redis data, the outbox and its secret key.",
        path,
    )
    default_city: str = setting(
        "DEFAULT_CITY",
        "paris",
        "The city (tenant) that is created on start with its area catalogue.",
        _city,
    )
    topic_prefix: str = setting(
        "TOPIC_PREFIX",
        "",
        "Prefix of every Kafka topic name (lets several deployments share a cluster).",
        text,
    )
    app_id: str = setting(
        "APP_ID", "notifier", "Faust application id, also the Kafka consumer group.", text
    )
    broker_session_timeout: float = setting(
        "BROKER_SESSION_TIMEOUT",
        "10",
        "Kafka consumer session and rebalance timeout, seconds.",
        seconds(1, 300),
        whole_text,
    )
    send_concurrency: int = setting(
        "SEND_CONCURRENCY",
        "16",
        "Messages handed to a provider at once by one worker, per channel and lane; a crash"
        " can send at most 5 times as many twice, per channel and lane.",
        whole_number(1, 1024),
    )
    smtp_connections: int = setting(
        "SMTP_CONNECTIONS",
        "8",
        "SMTP connections one worker keeps open to the relay (at most SEND_CONCURRENCY are"
        " used); raise it with SEND_CONCURRENCY when the relay is far and allows more.",
        whole_number(1, 256),
    )
    retry_max_delay: float = setting(
        "RETRY_MAX_DELAY",
        "300",
        "Longest wait, seconds, between two tries of a message a provider refused for the time "
        "being (an outage, a 4xx/5xx that may pass); the waits double from half a second up to "
        "it, with jitter.",
        seconds(1, 86_400),
        whole_text,
    )
    retry_give_up_after: float = setting(
        "RETRY_GIVE_UP_AFTER",
        "21600",
        "How long, seconds, such a message keeps being tried from its first refusal (never past "
        "its event's expiry); then it ends `failed`, in dead letters with its last error.",
        seconds(0, 30 * 86_400),
        whole_text,
    )
    ledger_retention_days: int = setting(
        "LEDGER_RETENTION_DAYS",
        "90",
        "Days a notification's delivery record (and a citizen's history entry) is kept after "
        "it was queued; an event's counts per channel and status stay. 7 at least.",
        whole_number(7, 3650),
    )
    dead_letter_retention_days: int = setting(
        "DEAD_LETTER_RETENTION_DAYS",
        "30",
        "Days a dead letter is kept in Redis (and, by `notifier topics create`, on the "
        "dead-letters topic) before it is dropped; a citizen's erasure strips theirs at once. "
        "1 at least.",
        whole_number(1, 3650),
    )
    rates: dict[str, float] = per_channel(  # channel -> per second
        Variable(
            "RATE_EMAIL",
            "0",
            "Emails per second per city, across all workers (0: no limit).",
            _PER_SECOND,
            whole_text,
        ),
        Variable(
            "RATE_SMS",
            "0",
            "SMS per second per city, across all workers (0: no limit); set it to what "
            "the Twilio account allows.",
            _PER_SECOND,
            whole_text,
        ),
        Variable(
            "RATE_PUSH",
            "0",
            "Web pushes per second per city, across all workers (0: no limit).",
            _PER_SECOND,
            whole_text,
        ),
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "Log level of the API and worker.", _log_level)
    worker_metrics_port: int = setting(
        "WORKER_METRICS_PORT",
        "0",
        "Port where `notifier worker` serves Prometheus /metrics and its readiness /readyz "
        "(200 once it has joined its group and loaded the cities); 0: none. The API serves its "
        "own at /metrics.",
        whole_number(0, 65535),
    )
    worker_metrics_host: str = setting(
        "WORKER_METRICS_HOST",
        "127.0.0.1",
        "Address `notifier worker` serves its metrics on (`0.0.0.0` in a container, for a "
        "scraper outside it; keep the port off the public network).",
        text,
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "text",
        "`text` (one readable line per record) or `json` (one JSON object per line, with the "
        "structured fields as keys; use it in production). Personal data is masked in both.",
        _log_format,
    )
    topic_partitions: int = _partitions_field()  # NOTIFIER_TOPIC_PARTITIONS, its first number
    # topic name (without the prefix) -> partitions, where it differs from ``topic_partitions``
    topic_partitions_by_name: dict[str, int] = _partitions_by_name_field()
    topic_replication: int = setting(
        "TOPIC_REPLICATION",
        "1",
        "Replication factor of the topics `notifier topics create` makes (3 on a production "
        "cluster).",
        whole_number(1, 32),
    )
    topic_min_insync_replicas: int = setting(
        "TOPIC_MIN_INSYNC_REPLICAS",
        "0",
        "`min.insync.replicas` set on each topic `notifier topics create` makes (2 with a "
        "replication of 3); 0: the broker's default.",
        whole_number(0, 32),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        unknown = sorted(
            k for k in env if k.startswith("NOTIFIER_") and k[len("NOTIFIER_") :] not in VARIABLES
        )
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        values = {f.name: _source(f).read(env) for f in dataclasses.fields(cls)}
        replication, min_insync = values["topic_replication"], values["topic_min_insync_replicas"]
        if min_insync > replication:
            raise ConfigError(
                f"NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS={min_insync} is more than "
                f"NOTIFIER_TOPIC_REPLICATION={replication}: nothing could be written"
            )
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            env.update(_source(f).write(getattr(self, f.name), self))
        return {f"NOTIFIER_{name}": text for name, text in env.items()}

    @property
    def outbound(self) -> OutboundPolicy:
        """What a web push endpoint may reach (``channels.outbound``)."""
        return OutboundPolicy(self.push_services, self.push_loopback)

    @property
    def api_on_loopback(self) -> bool:
        """Whether the API binds to a loopback address only (the dev routes need it)."""
        host = self.api_host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name: it could resolve to anything
            return False

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def require_services(self) -> None:
        """For processes that do not embed anything (``notifier worker`` / ``api``)."""
        missing = [
            n
            for n, v in (
                ("KAFKA_URL", self.kafka_url),
                ("REDIS_URL", self.redis_url),
                ("SMTP_URL", self.smtp_url),
                ("SECRET_KEY", self.secret_key),
            )
            if not v
        ]
        if missing:
            raise ConfigError(
                "set "
                + ", ".join(f"NOTIFIER_{m}" for m in missing)
                + " (or use `notifier up`, which embeds them)"
            )
        if len(self.secret_key) < 32:
            raise ConfigError("NOTIFIER_SECRET_KEY must be at least 32 characters")

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this deployment can send on, in ``channels.NAMES``'s order: those
        configured (email always)."""
        sms = bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)
        configured = {"email": True, "sms": sms, "push": bool(self.vapid_private_key)}
        return tuple(name for name in CHANNEL_NAMES if configured.get(name))

    def partitions_of(self, name: str) -> int:
        """Planned partitions of a topic, by its name without the prefix."""
        return self.topic_partitions_by_name.get(name, self.topic_partitions)

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_url.removeprefix("kafka://")


def _source(f: dataclasses.Field[Any]) -> Source[Any]:
    return cast(Source[Any], f.metadata["source"])


# name (without prefix) -> (default, description), from the declarations; the README's table is
# checked against it
VARIABLES: dict[str, tuple[str, str]] = {
    v.name: (v.default, v.description)
    for f in dataclasses.fields(Settings)
    for v in _source(f).variables
}
