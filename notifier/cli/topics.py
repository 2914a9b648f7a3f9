"""``notifier topics create|check``: the service's topics on a real cluster, as the settings plan
them (names from ``streams.topics`` with ``NOTIFIER_TOPIC_PREFIX``; partitions, replication and
``min.insync.replicas`` from ``NOTIFIER_TOPIC_*``), plus the one-partition leader topic Faust's
timers need (``<APP_ID>-__assignor-__leader``), made here with the same replication rather than
with Faust's default of 1.

``create`` makes what is missing and leaves what exists as it is (adding partitions to a keyed
topic moves keys between partitions: that is an operator's decision, see docs/deployment.md).
``check`` compares the cluster with the plan: missing topics, other partition counts, another
replication factor, partitions out of sync or without a leader, another ``min.insync.replicas``.

Topics are listed with a metadata request for *all* topics: asking for topics by name lets a
broker with ``auto.create.topics.enable`` create them (Tansu does), which would hide a missing
topic. Brokers that do not answer ``DescribeConfigs`` (or do not report a value, as Tansu for a
topic made without it) leave ``min.insync.replicas`` unverified, and ``check`` says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from notifier.settings import Settings
from streams.topics import NAMES

TIMEOUT = 30.0  # seconds for a whole command: a cluster that does not answer is an error
TOPIC_ALREADY_EXISTS = 36
MIN_INSYNC = "min.insync.replicas"
RETENTION = "retention.ms"


class BrokerUnreachableError(Exception):
    """The cluster did not answer (nothing listens, wrong address, or too slow)."""


@dataclasses.dataclass(frozen=True)
class PlannedTopic:
    name: str
    partitions: int
    replication: int
    configs: dict[str, str]
    why: str


@dataclasses.dataclass
class Report:
    lines: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    unverified: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def plan(settings: Settings) -> list[PlannedTopic]:
    configs = (
        {MIN_INSYNC: str(settings.topic_min_insync_replicas)}
        if settings.topic_min_insync_replicas
        else {}
    )
    # dead letters hold recipients' addresses: they go when the Redis copy goes
    kept = str(settings.dead_letter_retention_days * 86_400_000)
    topics = [
        PlannedTopic(
            settings.topic_prefix + name,
            settings.partitions_of(name),
            settings.topic_replication,
            {**configs, RETENTION: kept} if name == NAMES["dead_letters"] else configs,
            "service topic",
        )
        for name in NAMES.values()
    ]
    topics.append(
        PlannedTopic(
            f"{settings.app_id}-__assignor-__leader",
            1,
            settings.topic_replication,
            configs,
            "Faust's leader election (timers run on the leader)",
        )
    )
    return topics


async def create(settings: Settings) -> Report:
    return await _with_admin(settings, _create)


async def check(settings: Settings) -> Report:
    return await _with_admin(settings, _check)


async def _with_admin(settings: Settings, work: Any) -> Report:
    bootstrap = settings.kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # our one message says it; not its retries as well
    try:
        try:
            await asyncio.wait_for(admin.start(), TIMEOUT)
        except (KafkaError, OSError, TimeoutError) as e:
            raise BrokerUnreachableError(
                f"cannot reach the Kafka cluster at {bootstrap}: {_why(e)}"
            ) from None
        try:
            report: Report = await asyncio.wait_for(work(admin, plan(settings)), TIMEOUT)
        except (KafkaError, OSError, TimeoutError) as e:
            raise BrokerUnreachableError(
                f"the Kafka cluster at {bootstrap} stopped answering: {_why(e)}"
            ) from None
        return report
    finally:
        kafka_log.setLevel(level)
        await admin.close()


def _why(e: BaseException) -> str:
    name, text = type(e).__name__, str(e)
    if not text:
        return f"{name} (no answer in time)"
    return text if text.startswith(name) else f"{name}: {text}"


async def _existing(admin: AIOKafkaAdminClient) -> dict[str, dict[str, Any]]:
    """Every topic of the cluster with its partitions, without creating any."""
    metadata = await admin._get_cluster_metadata(topics=None)  # None: all, never auto-created
    return {t["topic"]: t for t in metadata.to_object()["topics"]}


async def _create(admin: AIOKafkaAdminClient, planned: list[PlannedTopic]) -> Report:
    report = Report()
    existing = await _existing(admin)
    missing = [t for t in planned if t.name not in existing]
    errors: dict[str, str] = {}
    if missing:
        new = [
            NewTopic(t.name, t.partitions, t.replication, topic_configs=t.configs) for t in missing
        ]
        response = await admin.create_topics(new)
        for name, code, *message in response.topic_errors:  # v0 has no message
            if code not in (0, TOPIC_ALREADY_EXISTS):
                errors[name] = f"error {code}: {(message or [None])[0] or 'no reason given'}"
    for t in planned:
        shape = f"{t.partitions} partition(s), replication {t.replication}"
        if t.name in errors:
            report.lines.append(f"FAILED   {t.name}: {errors[t.name]}")
            report.problems.append(f"{t.name} not created ({errors[t.name]})")
        elif t in missing:
            report.lines.append(f"created  {t.name} ({shape})")
        else:
            found = len(existing[t.name]["partitions"])
            note = f"{found} partition(s)"
            if found != t.partitions:
                note += f", planned {t.partitions}: `notifier topics check` says more"
            report.lines.append(f"exists   {t.name} ({note}; left as it is)")
    return report


async def _check(admin: AIOKafkaAdminClient, planned: list[PlannedTopic]) -> Report:
    report = Report()
    existing = await _existing(admin)
    present = [t for t in planned if t.name in existing]
    configs = await _min_insync(admin, [t for t in present if MIN_INSYNC in t.configs], report)
    for t in planned:
        found = existing.get(t.name)
        if found is None:
            report.lines.append(f"MISSING  {t.name} ({t.why})")
            report.problems.append(f"{t.name} is missing")
            continue
        wrong = _compare(t, found, configs.get(t.name))
        if wrong:
            report.lines.append(f"WRONG    {t.name}: {'; '.join(wrong)}")
            report.problems += [f"{t.name}: {w}" for w in wrong]
        else:
            shape = f"{t.partitions} partition(s), replication {t.replication}"
            if t.name in configs:
                shape += f", {MIN_INSYNC} {configs[t.name]}"
            report.lines.append(f"ok       {t.name} ({shape})")
    return report


def _compare(t: PlannedTopic, found: dict[str, Any], min_insync: str | None) -> list[str]:
    wrong = []
    partitions = found["partitions"]
    if found.get("error_code"):
        wrong.append(f"the broker reports error {found['error_code']} for it")
    if len(partitions) != t.partitions:
        wrong.append(f"{len(partitions)} partition(s), planned {t.partitions}")
    factors = sorted({len(p["replicas"]) for p in partitions})
    if factors and factors != [t.replication]:
        shown = "/".join(map(str, factors))
        wrong.append(f"replication {shown}, planned {t.replication}")
    leaderless = [p["partition"] for p in partitions if p["leader"] < 0]
    if leaderless:
        wrong.append(f"no leader for partition(s) {_ids(leaderless)}")
    behind = [p["partition"] for p in partitions if len(p["isr"]) < len(p["replicas"])]
    if behind:
        wrong.append(f"partition(s) {_ids(behind)} under-replicated (in-sync < replicas)")
    wanted = t.configs.get(MIN_INSYNC)
    if wanted and min_insync is not None and min_insync != wanted:
        wrong.append(f"{MIN_INSYNC}={min_insync}, planned {wanted}")
    return wrong


def _ids(ids: list[int]) -> str:
    return ",".join(map(str, sorted(ids)))


async def _min_insync(
    admin: AIOKafkaAdminClient, topics: list[PlannedTopic], report: Report
) -> dict[str, str]:
    """``min.insync.replicas`` of each topic, where the broker tells it."""
    if not topics:
        return {}
    # Without a filter on the names: Tansu 0.6 drops the connection when given one.
    resources = [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in topics]
    try:
        responses = await admin.describe_configs(resources)
    except (KafkaError, OSError) as e:
        report.unverified.append(
            f"{MIN_INSYNC} not verified: the broker did not answer DescribeConfigs ({_why(e)})"
        )
        return {}
    values: dict[str, str] = {}
    for response in responses:
        for code, message, _type, name, entries in response.resources:
            if code:
                report.unverified.append(
                    f"{MIN_INSYNC} of {name} not verified: error {code} {message or ''}".rstrip()
                )
                continue
            for entry in entries:
                if entry[0] == MIN_INSYNC:
                    values[name] = str(entry[1])
    quiet = [t.name for t in topics if t.name not in values]
    if quiet:
        report.unverified.append(
            f"{MIN_INSYNC} not verified for {len(quiet)} topic(s): the broker does not report it "
            "(Tansu reports only what a topic was made with)"
        )
    return values
