from __future__ import annotations

import re
from pathlib import Path

import pytest

from notifier.errors import ConfigError
from notifier.settings import VARIABLES, Secret, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


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


def test_readme_documents_every_variable() -> None:
    readme = README.read_text()
    documented = set(re.findall(r"`NOTIFIER_([A-Z_]+)`", readme))
    assert documented == set(VARIABLES)
