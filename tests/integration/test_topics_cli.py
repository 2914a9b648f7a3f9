"""``notifier topics create|check`` against the real (Tansu) broker, as an operator runs them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from notifier.dev import embedded
from notifier.errors import ConfigError
from notifier.settings import Settings
from streams.topics import NAMES
from tests.command import run


@pytest.fixture
def env(kafka_url: str) -> dict[str, str]:
    """A prefix and an app id of this test's own, so its topics are its own."""
    run_id = uuid.uuid4().hex[:8]
    return {
        "NOTIFIER_KAFKA_URL": kafka_url,
        "NOTIFIER_TOPIC_PREFIX": f"t{run_id}.",
        "NOTIFIER_APP_ID": f"notifier-{run_id}",
        "NOTIFIER_TOPIC_PARTITIONS": "3,fanout=6,deliveries.email=5",
    }


@pytest.fixture
async def admin(kafka_url: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_url.removeprefix("kafka://"))
    await client.start()
    yield client
    await client.close()


def names(env: dict[str, str]) -> list[str]:
    prefix = env["NOTIFIER_TOPIC_PREFIX"]
    return [prefix + n for n in NAMES.values()] + [f"{env['NOTIFIER_APP_ID']}-__assignor-__leader"]


async def partitions_on_the_broker(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """What the broker holds, asked for every topic (asking by name would create them)."""
    metadata = await admin._get_cluster_metadata(topics=None)
    return {t["topic"]: len(t["partitions"]) for t in metadata.to_object()["topics"]}


async def test_create_makes_every_topic_as_planned_and_check_agrees(
    env: dict[str, str], admin: AIOKafkaAdminClient
) -> None:
    before = run("topics", "check", env=env)
    assert before.returncode == 1 and "Traceback" not in before.stderr
    assert f"{len(names(env))} problem(s) with the topics" in before.stderr
    for name in names(env):
        assert f"{name} is missing" in before.stderr

    created = run("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    prefix = env["NOTIFIER_TOPIC_PREFIX"]
    assert f"created  {prefix}fanout (6 partition(s), replication 1)" in created.stdout
    assert f"created  {prefix}city-events (3 partition(s), replication 1)" in created.stdout
    on_broker = await partitions_on_the_broker(admin)
    expected = {prefix + n: 3 for n in NAMES.values()}
    expected |= {f"{prefix}fanout": 6, f"{prefix}deliveries.email": 5}
    expected[f"{env['NOTIFIER_APP_ID']}-__assignor-__leader"] = 1
    assert {n: on_broker.get(n) for n in expected} == expected

    checked = run("topics", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    ok = [line for line in checked.stdout.splitlines() if line.startswith("ok ")]
    assert len(ok) == len(expected)  # every topic of the service, and Faust's leader topic

    again = run("topics", "create", env=env)  # idempotent: an init job may run it every time
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert f"exists   {prefix}fanout (6 partition(s); left as it is)" in again.stdout


async def test_check_names_wrong_partitions_and_replication(
    env: dict[str, str], admin: AIOKafkaAdminClient
) -> None:
    prefix = env["NOTIFIER_TOPIC_PREFIX"]
    await admin.create_topics([NewTopic(f"{prefix}fanout", 2, 1)])  # made by hand, too small
    created = run("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    assert f"exists   {prefix}fanout (2 partition(s), planned 6" in created.stdout
    assert (await partitions_on_the_broker(admin))[f"{prefix}fanout"] == 2  # left as it was

    checked = run("topics", "check", env=env)
    assert checked.returncode == 1
    assert f"WRONG    {prefix}fanout: 2 partition(s), planned 6" in checked.stdout
    assert (
        f"notifier: 1 problem(s) with the topics: {prefix}fanout: 2 partition(s), planned 6"
        in checked.stderr
    )

    # the same cluster, checked against a plan with a replication of 2
    stricter = run("topics", "check", env=env | {"NOTIFIER_TOPIC_REPLICATION": "2"})
    assert stricter.returncode == 1
    assert f"{prefix}request-status: replication 1, planned 2" in stricter.stderr
    assert "Traceback" not in stricter.stderr


async def test_min_insync_replicas_is_set_and_checked_where_the_broker_reports_it(
    env: dict[str, str], admin: AIOKafkaAdminClient
) -> None:
    """Tansu answers DescribeConfigs with what a topic was made with, and nothing for a topic
    made without: the first is checked, the second is reported as not verified."""
    prefix = env["NOTIFIER_TOPIC_PREFIX"]
    env = env | {"NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS": "1"}
    await admin.create_topics(
        [
            NewTopic(f"{prefix}receipts", 3, 1),  # no config given
            NewTopic(f"{prefix}dead-letters", 3, 1, topic_configs={"min.insync.replicas": "2"}),
        ]
    )
    assert run("topics", "create", env=env).returncode == 0
    checked = run("topics", "check", env=env)
    assert checked.returncode == 1
    assert f"{prefix}dead-letters: min.insync.replicas=2, planned 1" in checked.stderr
    assert f"ok       {prefix}fanout (6 partition(s), replication 1, min.insync.replicas 1)" in (
        checked.stdout
    )  # made by us with it: verified
    assert "min.insync.replicas not verified for 1 topic(s)" in checked.stderr
    assert f"{prefix}receipts:" not in checked.stderr


@pytest.mark.parametrize("action", ["create", "check"])
def test_an_unreachable_broker_is_a_clear_error(action: str) -> None:
    port = embedded.free_port()  # nothing listens there
    r = run("topics", action, env={"NOTIFIER_KAFKA_URL": f"kafka://127.0.0.1:{port}"})
    assert r.returncode == 1
    assert r.stderr.startswith(f"notifier: cannot reach the Kafka cluster at 127.0.0.1:{port}: ")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_without_a_kafka_url_it_says_what_to_set() -> None:
    r = run("topics", "check")
    assert (r.returncode, r.stderr.strip()) == (
        2,
        "notifier: set NOTIFIER_KAFKA_URL: `notifier topics` works on a running cluster",
    )


def test_partitions_are_read_per_topic() -> None:
    s = Settings.from_env({"NOTIFIER_TOPIC_PARTITIONS": "6, fanout=24 ,deliveries.sms=12"})
    assert (s.partitions_of("city-events"), s.partitions_of("fanout")) == (6, 24)
    assert s.partitions_of("deliveries.sms") == 12
    assert Settings.from_env(s.to_env()) == s


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NOTIFIER_TOPIC_PARTITIONS": "0"}, "the default '0' is not a number of partitions"),
        ({"NOTIFIER_TOPIC_PARTITIONS": "4,fanuot=8"}, "'fanuot=8' is not topic=number"),
        ({"NOTIFIER_TOPIC_PARTITIONS": "4,fanout"}, "'fanout' is not topic=number"),
        ({"NOTIFIER_TOPIC_PARTITIONS": "4,fanout=many"}, "fanout 'many' is not a number"),
        (
            {"NOTIFIER_TOPIC_REPLICATION": "1", "NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS": "2"},
            "NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS=2 is more than NOTIFIER_TOPIC_REPLICATION=1",
        ),
    ],
)
def test_bad_topic_settings_say_which_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)
