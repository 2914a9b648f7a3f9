"""The one settings object, read from ``NOTIFIER_*`` environment variables once.

Nothing else in the code base reads ``os.environ``; the object is passed explicitly.
Every variable is listed in ``VARIABLES`` (and in the README, which a test keeps in step).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from channels.outbound import PUSH_SERVICES, OutboundPolicy
from notifier.errors import ConfigError
from streams.topics import NAMES as TOPIC_NAMES


class Secret(str):
    """A string that does not show itself in reprs, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"


# name (without prefix) -> (default, description). The README's table is checked against this.
VARIABLES: dict[str, tuple[str, str]] = {
    "KAFKA_URL": (
        "",
        "Kafka bootstrap servers, `kafka://host:port[,host:port]`. "
        "Empty: `notifier up` starts an embedded Tansu broker.",
    ),
    "REDIS_URL": (
        "",
        "Redis URL, `redis://host:port/db`. Empty: `notifier up` starts an embedded redis-server.",
    ),
    "SMTP_URL": (
        "",
        "SMTP relay, `smtp://user:password@host:port` (`smtps://` for implicit TLS, "
        "`?starttls=1` to require STARTTLS). Empty: `notifier up` runs a local outbox.",
    ),
    "MAIL_FROM": ("Ville de Paris <notifications@paris.example>", "From header of every email."),
    "TWILIO_ACCOUNT_SID": (
        "",
        "Twilio account SID (AC…). Empty: no SMS, except under `notifier up`, which runs a "
        "local Twilio-shaped server.",
    ),
    "TWILIO_AUTH_TOKEN": ("", "Twilio auth token; also checks the signature of Twilio's webhooks."),
    "TWILIO_FROM": ("", "The sender: an E.164 number or a Messaging Service SID (MG…)."),
    "TWILIO_BASE_URL": ("https://api.twilio.com", "Twilio's API base URL."),
    "VAPID_PRIVATE_KEY": (
        "",
        "Web push VAPID private key (PEM or base64url; `notifier vapid-keys` makes one). Empty: "
        "no web push, except under `notifier up`, which keeps one under DATA_DIR.",
    ),
    "VAPID_SUBJECT": ("mailto:notifications@paris.example", "VAPID contact (mailto: or https:)."),
    "PUSH_SERVICES": (
        ",".join(PUSH_SERVICES),
        "The push services a web push endpoint may point at, comma-separated host names (or "
        "`*.domain` for its hosts); the default is the services browsers use (FCM, Mozilla "
        "autopush, Apple, Windows). Any other endpoint is refused when a browser registers it and "
        "again before each push, and every connection must reach a public address.",
    ),
    "PUSH_LOOPBACK": (
        "0",
        "`1` also lets through push endpoints on loopback (`http://127.0.0.1:…`, `localhost`): "
        "for the embedded stack's and the tests' local push service, never in production.",
    ),
    "API_HOST": ("127.0.0.1", "Address the HTTP API binds to."),
    "API_PORT": ("8080", "Port of the HTTP API."),
    "TRUSTED_PROXIES": (
        "",
        "Reverse proxies in front of the API (comma-separated addresses or networks, e.g. "
        "`10.0.0.0/8`): behind them the client is the last address of `X-Forwarded-For` that "
        "is not one of them (abuse limits count per client). Empty: the TCP peer.",
    ),
    "PUBLIC_URL": (
        "",
        "Base URL citizens reach the API at, used in links in messages. Empty: `http://API_HOST:API_PORT`.",
    ),
    "SECRET_KEY": (
        "",
        "Key that signs citizens' tokens (confirmation, management, unsubscribe links); "
        "at least 32 characters. Required by `notifier worker` and `notifier api`; "
        "`notifier up` keeps one under DATA_DIR.",
    ),
    "DATA_DIR": (
        "var",
        "Where the embedded default keeps Redis data, the outbox and its secret key.",
    ),
    "DEFAULT_CITY": (
        "paris",
        "The city (tenant) that is created on start with its area catalogue.",
    ),
    "TOPIC_PREFIX": (
        "",
        "Prefix of every Kafka topic name (lets several deployments share a cluster).",
    ),
    "APP_ID": ("notifier", "Faust application id, also the Kafka consumer group."),
    "BROKER_SESSION_TIMEOUT": ("10", "Kafka consumer session and rebalance timeout, seconds."),
    "SEND_CONCURRENCY": (
        "16",
        "Messages handed to a provider at once by one worker, per channel and lane; a crash"
        " can send at most 5 times as many twice, per channel and lane.",
    ),
    "SMTP_CONNECTIONS": (
        "8",
        "SMTP connections one worker keeps open to the relay (at most SEND_CONCURRENCY are"
        " used); raise it with SEND_CONCURRENCY when the relay is far and allows more.",
    ),
    "RETRY_MAX_DELAY": (
        "300",
        "Longest wait, seconds, between two tries of a message a provider refused for the time "
        "being (an outage, a 4xx/5xx that may pass); the waits double from half a second up to "
        "it, with jitter.",
    ),
    "RETRY_GIVE_UP_AFTER": (
        "21600",
        "How long, seconds, such a message keeps being tried from its first refusal (never past "
        "its event's expiry); then it ends `failed`, in dead letters with its last error.",
    ),
    "RATE_EMAIL": ("0", "Emails per second per city, across all workers (0: no limit)."),
    "RATE_SMS": (
        "0",
        "SMS per second per city, across all workers (0: no limit); set it to what "
        "the Twilio account allows.",
    ),
    "RATE_PUSH": ("0", "Web pushes per second per city, across all workers (0: no limit)."),
    "LOG_LEVEL": ("INFO", "Log level of the API and worker."),
    "LEDGER_RETENTION_DAYS": (
        "90",
        "Days a notification's delivery record (and a citizen's history entry) is kept after "
        "it was queued; an event's counts per channel and status stay. 7 at least.",
    ),
    "DEAD_LETTER_RETENTION_DAYS": (
        "30",
        "Days a dead letter is kept in Redis (and, by `notifier topics create`, on the "
        "dead-letters topic) before it is dropped; a citizen's erasure strips theirs at once. "
        "1 at least.",
    ),
    "WORKER_METRICS_HOST": (
        "127.0.0.1",
        "Address `notifier worker` serves its metrics on (`0.0.0.0` in a container, for a "
        "scraper outside it; keep the port off the public network).",
    ),
    "WORKER_METRICS_PORT": (
        "0",
        "Port where `notifier worker` serves Prometheus /metrics; 0: none. "
        "The API serves its own at /metrics.",
    ),
    "LOG_FORMAT": (
        "text",
        "`text` (one readable line per record) or `json` (one JSON object per line, with the "
        "structured fields as keys; use it in production). Personal data is masked in both.",
    ),
    "TOPIC_PARTITIONS": (
        "4",
        "Partitions of each topic `notifier topics create` makes and `check` expects: a number "
        "for all, then `topic=number` overrides, e.g. `6,fanout=24,deliveries.email=24` "
        "(names without the prefix).",
    ),
    "TOPIC_REPLICATION": (
        "1",
        "Replication factor of the topics `notifier topics create` makes (3 on a production "
        "cluster).",
    ),
    "TOPIC_MIN_INSYNC_REPLICAS": (
        "0",
        "`min.insync.replicas` set on each topic `notifier topics create` makes (2 with a "
        "replication of 3); 0: the broker's default.",
    ),
}


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(f"NOTIFIER_{name}", VARIABLES[name][0]).strip()


def _int(environ: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = _env(environ, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"NOTIFIER_{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"NOTIFIER_{name}={value} is outside {low}..{high}")
    return value


def _url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    raw = _env(environ, name)
    if raw and urlsplit(raw).scheme not in schemes:
        raise ConfigError(
            f"NOTIFIER_{name} must start with {' or '.join(s + '://' for s in schemes)}"
        )
    return raw


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    out = []
    for part in (p.strip() for p in _env(env, name).split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"NOTIFIER_{name}: {part!r} is not an address or network") from None
    return tuple(out)


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    out = tuple(h.strip().lower() for h in _env(env, name).split(",") if h.strip())
    for host in out:
        labels = host.removeprefix("*.").split(".")
        plain = all(lb and len(lb) <= 63 and lb.replace("-", "").isalnum() for lb in labels)
        if not plain or len(labels) < 2 or not host.isascii() or labels[-1].isdigit():
            raise ConfigError(f"NOTIFIER_{name}: {host!r} is not a host name or *.domain")
    return out


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = _env(env, name)
    if raw not in ("0", "1"):
        raise ConfigError(f"NOTIFIER_{name}={raw!r} is not 0 or 1")
    return raw == "1"


def _partitions(raw: str) -> tuple[int, dict[str, int]]:
    """``6,fanout=24,deliveries.email=24``: the default, then overrides by topic name."""
    head, *rest = [part.strip() for part in raw.split(",")]

    def number(text: str, what: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= 10_000:
            raise ConfigError(
                f"NOTIFIER_TOPIC_PARTITIONS: {what} {text!r} is not a number of partitions "
                "(1..10000)"
            )
        return int(text)

    default = number(head, "the default")
    by_name: dict[str, int] = {}
    for part in rest:
        name, sep, count = (x.strip() for x in part.partition("="))
        if not sep or name not in TOPIC_NAMES.values():
            raise ConfigError(
                f"NOTIFIER_TOPIC_PARTITIONS: {part!r} is not topic=number with a topic among "
                + ", ".join(sorted(TOPIC_NAMES.values()))
            )
        by_name[name] = number(count, name)
    return default, by_name


@dataclasses.dataclass(frozen=True)
class Settings:
    kafka_url: str = ""
    redis_url: str = ""
    smtp_url: Secret = Secret("")
    mail_from: str = VARIABLES["MAIL_FROM"][0]
    twilio_account_sid: str = ""
    twilio_auth_token: Secret = Secret("")
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    vapid_private_key: Secret = Secret("")
    vapid_subject: str = VARIABLES["VAPID_SUBJECT"][0]
    push_services: tuple[str, ...] = PUSH_SERVICES
    push_loopback: bool = False  # the embedded stack and the tests only
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    public_url: str = ""
    trusted_proxies: tuple[str, ...] = ()  # networks, e.g. ("10.0.0.0/8",)
    secret_key: Secret = Secret("")
    data_dir: Path = Path("var")
    default_city: str = "paris"
    topic_prefix: str = ""
    app_id: str = "notifier"
    broker_session_timeout: float = 10.0
    send_concurrency: int = 16
    smtp_connections: int = 8
    retry_max_delay: float = 300.0
    retry_give_up_after: float = 21600.0
    ledger_retention_days: int = 90
    dead_letter_retention_days: int = 30
    rates: dict[str, float] = dataclasses.field(default_factory=dict)  # channel -> per second
    log_level: str = "INFO"
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    log_format: str = "text"
    topic_partitions: int = 4
    # topic name (without the prefix) -> partitions, where it differs from ``topic_partitions``
    topic_partitions_by_name: dict[str, int] = dataclasses.field(default_factory=dict)
    topic_replication: int = 1
    topic_min_insync_replicas: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        unknown = sorted(
            k for k in env if k.startswith("NOTIFIER_") and k[len("NOTIFIER_") :] not in VARIABLES
        )
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        host = _env(env, "API_HOST")
        port = _int(env, "API_PORT", 0, 65535)
        level = _env(env, "LOG_LEVEL").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"NOTIFIER_LOG_LEVEL={level!r} is not DEBUG, INFO, WARNING or ERROR")
        city = _env(env, "DEFAULT_CITY")
        log_format = _env(env, "LOG_FORMAT").lower()
        if log_format not in {"text", "json"}:
            raise ConfigError(f"NOTIFIER_LOG_FORMAT={log_format!r} is not text or json")
        partitions, by_name = _partitions(_env(env, "TOPIC_PARTITIONS"))
        replication = _int(env, "TOPIC_REPLICATION", 1, 32)
        min_insync = _int(env, "TOPIC_MIN_INSYNC_REPLICAS", 0, 32)
        if min_insync > replication:
            raise ConfigError(
                f"NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS={min_insync} is more than "
                f"NOTIFIER_TOPIC_REPLICATION={replication}: nothing could be written"
            )
        if not city.isidentifier() or not city.islower():
            raise ConfigError(f"NOTIFIER_DEFAULT_CITY={city!r} must be a lower-case identifier")
        return cls(
            kafka_url=_url(env, "KAFKA_URL", ("kafka",)),
            redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
            smtp_url=Secret(_url(env, "SMTP_URL", ("smtp", "smtps"))),
            mail_from=_env(env, "MAIL_FROM"),
            twilio_account_sid=_env(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=Secret(_env(env, "TWILIO_AUTH_TOKEN")),
            twilio_from=_env(env, "TWILIO_FROM"),
            twilio_base_url=_url(env, "TWILIO_BASE_URL", ("https", "http")).rstrip("/"),
            vapid_private_key=Secret(_env(env, "VAPID_PRIVATE_KEY")),
            vapid_subject=_env(env, "VAPID_SUBJECT"),
            push_services=_hosts(env, "PUSH_SERVICES"),
            push_loopback=_flag(env, "PUSH_LOOPBACK"),
            api_host=host,
            api_port=port,
            public_url=_env(env, "PUBLIC_URL").rstrip("/"),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            secret_key=Secret(_env(env, "SECRET_KEY")),
            data_dir=Path(_env(env, "DATA_DIR")),
            default_city=city,
            topic_prefix=_env(env, "TOPIC_PREFIX"),
            app_id=_env(env, "APP_ID"),
            broker_session_timeout=float(_int(env, "BROKER_SESSION_TIMEOUT", 1, 300)),
            send_concurrency=_int(env, "SEND_CONCURRENCY", 1, 1024),
            smtp_connections=_int(env, "SMTP_CONNECTIONS", 1, 256),
            retry_max_delay=float(_int(env, "RETRY_MAX_DELAY", 1, 86_400)),
            retry_give_up_after=float(_int(env, "RETRY_GIVE_UP_AFTER", 0, 30 * 86_400)),
            ledger_retention_days=_int(env, "LEDGER_RETENTION_DAYS", 7, 3650),
            dead_letter_retention_days=_int(env, "DEAD_LETTER_RETENTION_DAYS", 1, 3650),
            rates={
                c: float(_int(env, f"RATE_{c.upper()}", 0, 100_000))
                for c in ("email", "sms", "push")
            },
            log_level=level,
            worker_metrics_port=_int(env, "WORKER_METRICS_PORT", 0, 65535),
            worker_metrics_host=_env(env, "WORKER_METRICS_HOST"),
            log_format=log_format,
            topic_partitions=partitions,
            topic_partitions_by_name=by_name,
            topic_replication=replication,
            topic_min_insync_replicas=min_insync,
        )

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

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {
            "NOTIFIER_KAFKA_URL": self.kafka_url,
            "NOTIFIER_REDIS_URL": self.redis_url,
            "NOTIFIER_SMTP_URL": str(self.smtp_url),
            "NOTIFIER_MAIL_FROM": self.mail_from,
            "NOTIFIER_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "NOTIFIER_TWILIO_AUTH_TOKEN": str(self.twilio_auth_token),
            "NOTIFIER_TWILIO_FROM": self.twilio_from,
            "NOTIFIER_TWILIO_BASE_URL": self.twilio_base_url,
            "NOTIFIER_VAPID_PRIVATE_KEY": str(self.vapid_private_key),
            "NOTIFIER_VAPID_SUBJECT": self.vapid_subject,
            "NOTIFIER_PUSH_SERVICES": ",".join(self.push_services),
            "NOTIFIER_PUSH_LOOPBACK": "1" if self.push_loopback else "0",
            "NOTIFIER_API_HOST": self.api_host,
            "NOTIFIER_API_PORT": str(self.api_port),
            "NOTIFIER_PUBLIC_URL": self.public_url,
            "NOTIFIER_TRUSTED_PROXIES": ",".join(self.trusted_proxies),
            "NOTIFIER_SECRET_KEY": str(self.secret_key),
            "NOTIFIER_DATA_DIR": str(self.data_dir),
            "NOTIFIER_DEFAULT_CITY": self.default_city,
            "NOTIFIER_TOPIC_PREFIX": self.topic_prefix,
            "NOTIFIER_APP_ID": self.app_id,
            "NOTIFIER_BROKER_SESSION_TIMEOUT": str(int(self.broker_session_timeout)),
            "NOTIFIER_SEND_CONCURRENCY": str(self.send_concurrency),
            "NOTIFIER_SMTP_CONNECTIONS": str(self.smtp_connections),
            "NOTIFIER_RETRY_MAX_DELAY": str(int(self.retry_max_delay)),
            "NOTIFIER_RETRY_GIVE_UP_AFTER": str(int(self.retry_give_up_after)),
            "NOTIFIER_LEDGER_RETENTION_DAYS": str(self.ledger_retention_days),
            "NOTIFIER_DEAD_LETTER_RETENTION_DAYS": str(self.dead_letter_retention_days),
            **{f"NOTIFIER_RATE_{c.upper()}": str(int(r)) for c, r in self.rates.items()},
            "NOTIFIER_LOG_LEVEL": self.log_level,
            "NOTIFIER_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "NOTIFIER_WORKER_METRICS_HOST": self.worker_metrics_host,
            "NOTIFIER_LOG_FORMAT": self.log_format,
            "NOTIFIER_TOPIC_PARTITIONS": ",".join(
                [str(self.topic_partitions)]
                + [f"{n}={p}" for n, p in sorted(self.topic_partitions_by_name.items())]
            ),
            "NOTIFIER_TOPIC_REPLICATION": str(self.topic_replication),
            "NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS": str(self.topic_min_insync_replicas),
        }

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
        """The channels this deployment can send on."""
        sms = bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)
        return (
            ("email",) + (("sms",) if sms else ()) + (("push",) if self.vapid_private_key else ())
        )

    def partitions_of(self, name: str) -> int:
        """Planned partitions of a topic, by its name without the prefix."""
        return self.topic_partitions_by_name.get(name, self.topic_partitions)

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_url.removeprefix("kafka://")
