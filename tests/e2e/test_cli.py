"""The ``notifier`` command as a user runs it."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

from notifier.dev import embedded
from tests.command import run
from tests.stage import eventually


def test_worker_without_services_says_what_to_set() -> None:
    r = run("worker")
    assert r.returncode == 2
    assert (
        "NOTIFIER_KAFKA_URL, NOTIFIER_REDIS_URL, NOTIFIER_SMTP_URL, NOTIFIER_SECRET_KEY" in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_a_bad_setting_is_a_clear_error() -> None:
    r = run("up", env={"NOTIFIER_API_PORT": "eighty"})
    assert (r.returncode, r.stderr.strip()) == (
        2,
        "notifier: NOTIFIER_API_PORT='eighty' is not a whole number",
    )


def test_department_key_create(redis_url: str) -> None:
    r = run(
        "department-key", "create", "--department", "voirie", env={"NOTIFIER_REDIS_URL": redis_url}
    )
    assert r.returncode == 0 and r.stdout.startswith("nk_")
    r = run(
        "department-key",
        "create",
        "--department",
        "Bad Name!",
        env={"NOTIFIER_REDIS_URL": redis_url},
    )
    assert r.returncode == 2 and "department:" in r.stderr and "Traceback" not in r.stderr


async def test_up_runs_the_walk_through_and_stops_everything(tmp_path: Path) -> None:
    port = embedded.free_port()
    env = embedded.child_env(
        {"NOTIFIER_DATA_DIR": str(tmp_path / "var"), "NOTIFIER_API_PORT": str(port)}
    )
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled)
            [sys.executable, "-m", "notifier", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    children: list[psutil.Process] = []
    try:
        banner = await eventually(
            lambda: "Department key" in log.read_text() and log.read_text(),
            what="the banner of `notifier up`",
        )
        key = re.search(r"Department key \(voirie, paris\): (\S+)", banner).group(1)
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) == 3  # broker, redis-server, worker
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base) as http:
            r = await http.post("/v1/cities/paris/citizens", json={"email": "alice@example.org"})
            alice = await r.json()

            async def outbox() -> list[dict[str, str]]:
                return (await (await http.get("/dev/outbox")).json())["messages"]

            [confirmation] = await eventually(outbox, what="the confirmation in the outbox")
            link = re.search(r"(/v1/confirm/\S+)", confirmation["text"]).group(1)
            assert (await http.post(link)).status == 200
            r = await http.post(
                f"/v1/cities/paris/citizens/{alice['citizen']['id']}/subscriptions",
                json={"area": "75105"},
                headers={"Authorization": f"Bearer {alice['token']}"},
            )
            assert r.status == 201
            r = await http.post(
                "/v1/cities/paris/announcements",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "category": "roadworks",
                    "target": {"areas": ["7510501"]},
                    "content": {"fr": {"title": "Travaux rue Monge", "body": "Fermée."}},
                },
            )
            href = (await r.json())["href"]

            async def sent() -> bool:
                r = await http.get(href, headers={"Authorization": f"Bearer {key}"})
                return (await r.json())["deliveries"] == {"email": {"sent": 1}}

            await eventually(sent, what="the announcement reported as sent")
            assert (await outbox())[0]["subject"] == "Travaux rue Monge"
        assert list((tmp_path / "var" / "redis").glob("appendonly*"))  # AOF on
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    deadline = time.monotonic() + 10
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < deadline, "a child of `notifier up` outlived it"
        await asyncio.sleep(0.1)
    assert up.returncode == 0


async def test_dead_letters_are_listed_shown_and_replayed(
    redis_url: str, kafka_url: str, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaConsumer

    from notifier.kafka_publisher import KafkaPublisher
    from notifier.settings import Settings
    from notifier.wiring import make_redis
    from streams.records import dead_letter
    from streams.state import dead_letters

    topic = f"t{tmp_path.name[-8:]}.city-events"
    redis = make_redis(Settings(redis_url=redis_url))
    publisher = KafkaPublisher(kafka_url.removeprefix("kafka://"))
    await publisher.start()
    try:
        letter = dead_letter(topic, b'{"type": "Nope/1"}', "invalid type: expected …")
        await dead_letters.put(redis, publisher.publish, f"{topic}.dead", b"", letter)
    finally:
        await publisher.stop()
        await redis.aclose()
    env = {"NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_KAFKA_URL": kafka_url}
    listed = run("dead-letters", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if topic in x)
    letter_id = line.split()[0]
    assert "invalid type: expected …" in line and "(replayed)" not in line
    shown = run("dead-letters", "show", letter_id, env=env)
    assert '"raw": "{\\"type\\": \\"Nope/1\\"}"' in shown.stdout
    replayed = run("dead-letters", "replay", letter_id, env=env)
    assert replayed.returncode == 0 and f"replayed {letter_id} to {topic}" in replayed.stdout
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_url.removeprefix("kafka://"),
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
        assert [m.value for ms in batch.values() for m in ms] == [b'{"type": "Nope/1"}']
    finally:
        await consumer.stop()
    assert "(replayed)" in run("dead-letters", "list", env=env).stdout
    missing = run("dead-letters", "show", "0-1", env=env)
    assert (missing.returncode, missing.stderr.strip()) == (2, "notifier: id: no dead letter 0-1")


def test_cap_import_from_the_command_line(redis_url: str, kafka_url: str, tmp_path: Path) -> None:
    from tests.cap_documents import paris_alert

    path = tmp_path / "crue.xml"
    path.write_bytes(paris_alert("cli-1"))
    env = {
        "NOTIFIER_REDIS_URL": redis_url,
        "NOTIFIER_KAFKA_URL": kafka_url,
        "NOTIFIER_TOPIC_PREFIX": f"t{tmp_path.name[-8:]}.",
    }
    r = run("cap-import", str(path), "--department", "prefecture", env=env)
    assert r.returncode == 0, r.stderr
    [result] = [json.loads(line) for line in r.stdout.splitlines()]
    assert result["identifier"] == "cli-1" and result["delivered"] is True
    r = run("cap-import", str(tmp_path / "absent.xml"), "--department", "prefecture", env=env)
    assert (r.returncode, r.stderr.strip()) == (2, f"notifier: file: no file {tmp_path}/absent.xml")


def test_a_broken_template_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    """A copy of the templates package with one template broken, first on the path."""
    import shutil

    import templates

    broken = tmp_path / "templates"
    shutil.copytree(Path(templates.__file__).parent, broken)
    (broken / "announcement" / "sms.fr.j2").write_text("{% if %}", encoding="utf-8")
    env = {
        "PYTHONPATH": str(tmp_path),
        "NOTIFIER_KAFKA_URL": "kafka://127.0.0.1:1",
        "NOTIFIER_REDIS_URL": "redis://127.0.0.1:1",
        "NOTIFIER_SMTP_URL": "smtp://127.0.0.1:1",
        "NOTIFIER_SECRET_KEY": "k" * 40,
    }
    r = run("worker", env=env, cwd=tmp_path)  # the current folder comes first on the path
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("notifier: broken template announcement/sms.fr.j2")
    assert "Traceback" not in r.stderr


def test_department_keys_are_listed_by_id_and_revoked(redis_url: str, tmp_path: Path) -> None:
    env = {"NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_DEFAULT_CITY": "paris"}
    created = run(
        "department-key",
        "create",
        "--department",
        "propretes",
        "--label",
        "test",
        "--scopes",
        "statistics",
        env=env,
    )
    api_key = created.stdout.strip()
    listed = run("department-key", "list", env=env)
    [line] = [x for x in listed.stdout.splitlines() if "propretes" in x]
    key_id = line.split()[0]
    assert api_key not in listed.stdout and "statistics" in line and "test" in line
    revoked = run("department-key", "revoke", key_id, env=env)
    assert revoked.stdout.strip() == f"revoked {key_id} of propretes (paris)"
    assert "propretes" not in run("department-key", "list", env=env).stdout
    again = run("department-key", "revoke", key_id, env=env)
    assert (again.returncode, again.stderr.strip()) == (
        2,
        f"notifier: id: no key {key_id} in paris",
    )
    bad = run("department-key", "create", "--department", "x-y", "--scopes", "root", env=env)
    assert bad.returncode == 2 and "scopes" in bad.stderr
