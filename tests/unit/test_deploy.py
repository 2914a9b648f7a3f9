"""The container image and the compose file match the code: every ``NOTIFIER_*`` variable they
set is a setting (with a value the settings accept), every command they run is a real
``notifier`` command, and the stack has the shape docs/deployment.md describes. Docker is not
needed: the files are read, not run."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.cli.main import _parser
from notifier.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
# what an operator puts in deploy/.env for the variables compose.yaml requires (${X:?...})
REQUIRED = {
    "NOTIFIER_SECRET_KEY": "s" * 48,
    "REDIS_PASSWORD": "0123456789abcdef",
    "NOTIFIER_SMTP_URL": "smtp://mailer:pw@relay.paris.example:587?starttls=1",
    "NOTIFIER_PUBLIC_URL": "https://alertes.paris.example",
}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def ours(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run our image."""
    return {n: s for n, s in services.items() if s.get("image") == "notifier:local"}


def interpolate(value: str) -> str:
    """Compose's ``${X:?error}`` and ``${X:-default}``, as with a filled-in deploy/.env."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op == ":?":
            assert name in REQUIRED, f"{name} is required by compose.yaml: add it to REQUIRED"
            return REQUIRED[name]
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:\?|:-)([^}]*))?\}", one, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each line, continuations joined, comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
        for parts in [line.strip().split(None, 1)]
    ]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile():
        if instruction == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def exec_form(instruction: str) -> list[str]:
    [args] = [a for i, a in dockerfile() if i == instruction]
    value = yaml.safe_load(args)  # the JSON array of the exec form
    assert isinstance(value, list), f"{instruction} must be in exec form (a JSON array)"
    return [str(v) for v in value]


def env_example() -> dict[str, str]:
    lines = [x for x in ENV_EXAMPLE.read_text().splitlines() if x.strip() and x[0] != "#"]
    return dict(line.split("=", 1) for line in lines)


def test_every_notifier_variable_they_set_is_a_setting() -> None:
    names = set(image_env()) | set(env_example())
    for service in compose()["services"].values():
        names |= set(environment(service))
    notifier = {n for n in names if n.startswith("NOTIFIER_")}
    assert len(notifier) > 20  # the stack sets the services' addresses, secrets and topics
    assert sorted(n for n in notifier if n.removeprefix("NOTIFIER_") not in VARIABLES) == []


def test_the_values_they_give_are_ones_the_settings_accept() -> None:
    services = ours(compose()["services"])
    assert set(services) == {"topics-init", "worker", "api"}
    for name, service in services.items():
        env = image_env() | environment(service)
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NOTIFIER_")})
        settings.require_services()  # Kafka, Redis, SMTP and the secret key are all given
        assert settings.api_host == "0.0.0.0", name  # reachable from outside the container
        assert settings.log_format == "json"
        assert settings.redis_url == f"redis://:{REQUIRED['REDIS_PASSWORD']}@redis:6379/0"


def test_the_commands_they_run_are_notifier_commands() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert exec_form("ENTRYPOINT") == ["notifier"] and "notifier" in project["scripts"]
    commands = [exec_form("CMD")] + [s["command"] for s in ours(compose()["services"]).values()]
    assert ["topics", "create"] in commands and ["worker"] in commands and ["api"] in commands
    for command in commands:
        _parser().parse_args(command)  # argparse exits on anything it does not know
    with pytest.raises(SystemExit):
        _parser().parse_args(["topics", "make"])  # and it would say so here


def test_the_image_installs_every_package_and_runs_as_a_user() -> None:
    lines = dockerfile()
    stages = [args.split()[0] for i, args in lines if i == "FROM"]
    assert stages and all(s == "python:3.11-slim" for s in stages)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    copied = {args.split()[0] for i, args in lines if i == "COPY" and "--from" not in args}
    folders = {p.split(".")[0] for p in packages}  # a sub-package comes with its folder
    assert folders <= copied, "a package the build configuration lists is not copied"
    assert any(i == "RUN" and "pip install" in a and a.rstrip().endswith(" .") for i, a in lines)
    [user] = [args for i, args in lines if i == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var"} <= set(ignored)


def test_the_stack_has_the_shape_the_guide_describes() -> None:
    services = compose()["services"]
    brokers = sorted(n for n, s in services.items() if s.get("image", "").startswith("apache/"))
    assert brokers == ["kafka-1", "kafka-2", "kafka-3"]
    broker_env = [environment(services[b]) for b in brokers]
    assert all(e["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false" for e in broker_env)
    assert all(e["KAFKA_PROCESS_ROLES"] == "broker,controller" for e in broker_env)
    settings = Settings.from_env(
        {k: v for k, v in environment(services["worker"]).items() if k.startswith("NOTIFIER_")}
    )
    # the topics `notifier topics create` makes are as safe as the brokers' own defaults
    assert settings.topic_replication == 3 <= len(brokers)
    assert {e["KAFKA_MIN_INSYNC_REPLICAS"] for e in broker_env} == {
        str(settings.topic_min_insync_replicas)
    }
    # the service reaches every broker on the listener they advertise
    advertised = {e["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://") for e in broker_env}
    assert set(settings.kafka_bootstrap.split(",")) == advertised
    # one consumer group of two workers, which wait for the topics and Redis
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    for name in ("worker", "api"):
        after = services[name]["depends_on"]
        assert after["topics-init"] == {"condition": "service_completed_successfully"}
        assert after["redis"] == {"condition": "service_healthy"}
    env = {n: environment(s) for n, s in ours(services).items()}
    # one set of settings; the workers also serve their metrics on the compose network
    metrics = {"NOTIFIER_WORKER_METRICS_HOST": "0.0.0.0", "NOTIFIER_WORKER_METRICS_PORT": "9100"}
    assert env["worker"] == env["api"] | metrics
    assert env["api"] == env["topics-init"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["api"]["ports"] == ["127.0.0.1:8080:8080"]  # only the proxy reaches it
