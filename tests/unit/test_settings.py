from __future__ import annotations

import re
from pathlib import Path

import pytest

from notifier.errors import ConfigError
from notifier.redis_urls import ClusterUrl, SentinelUrl
from notifier.settings import VARIABLES, Secret, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_need_nothing_configured() -> None:
    s = Settings.from_env({})
    assert s.kafka_url == "" and s.redis_url == "" and s.smtp_url == ""
    assert s.base_url == "http://127.0.0.1:8080"
    assert s.default_city == "paris"


def test_values_are_read_and_typed() -> None:
    s = Settings.from_env(
        {
            "NOTIFIER_KAFKA_URL": "kafka://k1:9092,k2:9092",
            "NOTIFIER_API_PORT": "9000",
            "NOTIFIER_SEND_CONCURRENCY": "64",
            "NOTIFIER_SMTP_CONNECTIONS": "32",
            "NOTIFIER_PUBLIC_URL": "https://alerts.paris.example/",
        }
    )
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.api_port == 9000 and s.send_concurrency == 64 and s.smtp_connections == 32
    assert s.base_url == "https://alerts.paris.example"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NOTIFIER_API_PORT": "eighty"}, "NOTIFIER_API_PORT='eighty' is not a whole number"),
        ({"NOTIFIER_API_PORT": "70000"}, "outside"),
        ({"NOTIFIER_KAFKA_URL": "http://k:9092"}, "NOTIFIER_KAFKA_URL must start with kafka://"),
        ({"NOTIFIER_REDIS_PORT": "1"}, "unknown setting(s): NOTIFIER_REDIS_PORT"),
        ({"NOTIFIER_LOG_LEVEL": "chatty"}, "NOTIFIER_LOG_LEVEL"),
    ],
)
def test_bad_values_say_which_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_secrets_do_not_show_in_reprs() -> None:
    s = Settings.from_env(
        {"NOTIFIER_SECRET_KEY": "k" * 40, "NOTIFIER_SMTP_URL": "smtp://user:hunter2@relay:587"}
    )
    assert "hunter2" not in repr(s) and "k" * 40 not in repr(s)
    assert str(s.smtp_url) == "smtp://user:hunter2@relay:587"
    assert repr(Secret("x")) == "Secret('**********')"


def test_separate_processes_need_real_services() -> None:
    with pytest.raises(ConfigError, match="NOTIFIER_KAFKA_URL, NOTIFIER_REDIS_URL"):
        Settings.from_env({}).require_services()


def test_round_trip_through_the_environment() -> None:
    s = Settings.from_env({"NOTIFIER_KAFKA_URL": "kafka://k:1", "NOTIFIER_TOPIC_PREFIX": "x."})
    assert Settings.from_env(s.to_env()) == s
    s = Settings.from_env(
        {
            "NOTIFIER_RATE_SMS": "5",
            "NOTIFIER_TOPIC_PARTITIONS": "6, fanout=24",
            "NOTIFIER_PUSH_LOOPBACK": "1",
            "NOTIFIER_TRUSTED_PROXIES": "10.1.2.3/8",
            "NOTIFIER_BROKER_SESSION_TIMEOUT": "5",
        }
    )
    assert s.rates == {"email": 0.0, "sms": 5.0, "push": 0.0}
    assert (s.topic_partitions, s.topic_partitions_by_name) == (6, {"fanout": 24})
    assert s.to_env()["NOTIFIER_TOPIC_PARTITIONS"] == "6,fanout=24"
    assert s.trusted_proxies == ("10.0.0.0/8",) and s.push_loopback
    assert Settings.from_env(s.to_env()) == s
    assert set(s.to_env()) == {f"NOTIFIER_{name}" for name in VARIABLES}


def test_the_defaults_are_the_documented_ones_read() -> None:
    """A field's default is its variable's default text, parsed: nothing set, nothing differs."""
    assert Settings() == Settings.from_env({})
    assert Settings().send_concurrency == 16 and Settings().broker_session_timeout == 10.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NOTIFIER_SEND_CONCURRENCY": "0"}, "NOTIFIER_SEND_CONCURRENCY=0 is outside 1..1024"),
        ({"NOTIFIER_RATE_SMS": "x"}, "NOTIFIER_RATE_SMS='x' is not a whole number"),
        ({"NOTIFIER_PUSH_LOOPBACK": "yes"}, "NOTIFIER_PUSH_LOOPBACK='yes' is not 0 or 1"),
        ({"NOTIFIER_DEFAULT_CITY": "Paris"}, "NOTIFIER_DEFAULT_CITY='Paris' must be a lower-case"),
        ({"NOTIFIER_TRUSTED_PROXIES": "x"}, "NOTIFIER_TRUSTED_PROXIES: 'x' is not an address or"),
        ({"NOTIFIER_PUSH_SERVICES": "a"}, "NOTIFIER_PUSH_SERVICES: 'a' is not a host name or"),
        ({"NOTIFIER_TOPIC_PARTITIONS": "0"}, "NOTIFIER_TOPIC_PARTITIONS: the default '0' is not"),
        ({"NOTIFIER_TOPIC_PARTITIONS": "6,nope=3"}, "'nope=3' is not topic=number with a topic"),
        ({"NOTIFIER_TWILIO_BASE_URL": "ftp://x"}, "NOTIFIER_TWILIO_BASE_URL must start with https"),
        ({"NOTIFIER_REDIS_URL": "redis+cluster://a:1/2"}, "a Redis Cluster has database 0 only"),
        ({"NOTIFIER_REDIS_URL": "redis+cluster://a:1,:7000"}, "REDIS_URL: :7000 is not host:port"),
        ({"NOTIFIER_REDIS_URL": "redis+sentinel://a:1,b/x"}, "REDIS_URL: b is not host:port"),
        ({"NOTIFIER_REDIS_URL": "redis+sentinel://a:1"}, "the service name (the primary's name"),
        ({"NOTIFIER_REDIS_URL": "redis+sentinel://a:1/x/y"}, "the database 'y' is not a number"),
        (
            {"NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS": "2"},
            "NOTIFIER_TOPIC_MIN_INSYNC_REPLICAS=2 is more than NOTIFIER_TOPIC_REPLICATION=1",
        ),
    ],
)
def test_each_kind_of_value_says_which_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_readme_documents_every_variable() -> None:
    readme = README.read_text()
    documented = set(re.findall(r"`NOTIFIER_([A-Z_]+)`", readme))
    assert documented == set(VARIABLES)
    # the table of settings: one row per variable, with its default as declared
    rows = re.findall(r"^\| `NOTIFIER_([A-Z_]+)` \| (.*?) \|", readme, re.MULTILINE)
    table = {name: "" if shown == "(empty)" else shown.strip("`") for name, shown in rows}
    assert len(rows) == len(table)
    assert table == {name: default for name, (default, _) in VARIABLES.items()}


def test_a_cluster_url_names_some_of_its_nodes_and_the_password() -> None:
    url = "redis+cluster://:p%40ss@n1:7000,[::1]:7001"
    assert ClusterUrl.parse(url) == ClusterUrl(nodes=(("n1", 7000), ("::1", 7001)), password="p@ss")
    assert Settings.from_env({"NOTIFIER_REDIS_URL": url}).redis_url == url


def test_a_sentinel_url_names_the_sentinels_the_primary_and_its_password() -> None:
    url = "redis+sentinel://:p%40ss@s1:26379,[::1]:26380/notifier/2?sentinel_password=sp"
    assert Settings.from_env({"NOTIFIER_REDIS_URL": url}).redis_url == url
    assert SentinelUrl.parse(url) == SentinelUrl(
        sentinels=(("s1", 26379), ("::1", 26380)),
        service="notifier",
        db=2,
        password="p@ss",
        sentinel_password="sp",
    )
