"""Logs as an operator reads them: JSON lines with the delivery's fields as keys, and no
address, phone number, push endpoint or token in them, whatever a provider answers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import types
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from channels import base as channels_base
from channels.base import Channel, PermanentChannelError, Sent
from channels.email import Email, SmtpConfig, SmtpEmailChannel
from channels.sms import Sms, TwilioSmsChannel
from notifier import logs
from notifier.api.app import create_api
from notifier.dev import embedded, twilio_fake
from notifier.kafka_publisher import KafkaPublisher
from notifier.settings import Secret, Settings
from notifier.wiring import build_services, make_channels
from streams.topics import TopicNames
from tests.stage import SmtpSink, eventually

ALICE = "alice.martin@example.org"
PHONE = "+33612345678"
SENDER = "+33700000001"
SID, TOKEN = "AC" + "2" * 32, "e" * 32
CANONICAL = {"notification_id", "channel", "provider", "outcome", "duration_ms", "error"}
# what must never be written, in any of the forms it could take
PERSONAL = (ALICE, "alice.martin", PHONE, PHONE.lstrip("+"), "%2B33612345678", "06 12 34 56 78")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line, parsed: a line that is not a JSON object fails the test."""
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SMTP 550: 5.1.1 <alice.martin@example.org>: no such user", "SMTP 550: 5.1.1 <<email>>"),
        ("The 'To' number +33612345678 is not valid", "The 'To' number <phone> is not valid"),
        ("To=%2B33612345678&Body=x", "To=<phone>&Body=x"),
        ("rappel au 06 12 34 56 78", "rappel au <phone>"),
        (
            "https://fcm.googleapis.com/fcm/send/dGVzdC1lbmRwb2ludA:APA91b",
            "https://fcm.googleapis.com/…",
        ),
        ("smtp://mailer:hunter2@relay.example:587", "smtp://mailer:…@relay.example:587"),
        ("redis://:s3cret@redis:6379/0", "redis://:…@redis:6379/…"),
        ("POST /v1/unsubscribe/" + "eyJwIjoidW5zdWIifQ" * 3 + ".c2ln", "POST /v1/unsubscribe/…"),
        ("key nk_" + "A1b2C3d4" * 6, "key …"),
        ("event confirmation-cp_0123456789abcdef-1715240125123456789", "cp_0123456789abcdef-17152"),
        ("kafka://k1:9092,k2:9092", "kafka://k1:9092,k2:9092"),  # what is not personal stays
        ("notification=ntf_0123456789abcdef01234567 duration_ms=12.5", "ntf_0123456789abcdef"),
        ("2026-05-09 07:35:25,123 at +01:00", "2026-05-09 07:35:25,123 at +01:00"),
    ],
)
def test_personal_data_and_secrets_are_masked(text: str, shown: str) -> None:
    masked = logs.redact(text)
    assert shown in masked
    for secret in ("alice", "33612345678", "hunter2", "s3cret", "APA91b", "A1b2C3d4", "c2ln"):
        assert secret not in masked or secret in shown


async def test_a_delivery_logs_one_json_line_with_its_fields_and_no_address(
    smtp: tuple[SmtpSink, str], restore_logging: None
) -> None:
    sink, url = smtp
    out = io.StringIO()
    logs.setup(Settings(log_format="json", log_level="DEBUG"), "worker", stream=out)
    fake = twilio_fake.TwilioFake(SID, TOKEN, numbers=[SENDER])
    runner, twilio_url = await twilio_fake.start(fake)
    email = SmtpEmailChannel(SmtpConfig.from_url(url), "Ville <no-reply@paris.example>")
    sms = TwilioSmsChannel(SID, TOKEN, SENDER, base_url=twilio_url)
    email.attempt_lines = sms.attempt_lines = logs.attempt_lines()  # as the worker's channels
    message = Email(ALICE, "Travaux", "Rue Monge fermée.", "<p>Rue Monge fermée.</p>", "<n1@x>")
    try:
        await email.send("ntf_1", message)
        # the relay's refusal quotes the address, as real ones do
        sink.replies.append(f"550 5.1.1 <{ALICE}>: mailbox unavailable")
        with pytest.raises(PermanentChannelError):
            await email.send("ntf_2", message)
        await sms.send("ntf_3", Sms(PHONE, "Coupure d'eau rue Monge.", "ntf_3"))
    finally:
        await email.close()
        await sms.close()
        await fake.idle()
        await runner.cleanup()
    written = out.getvalue()
    lines = json_lines(written)
    deliveries = {r["notification_id"]: r for r in lines if r["logger"] == "notifier.delivery"}
    assert set(deliveries) == {"ntf_1", "ntf_2", "ntf_3"}  # one line per attempt
    for record in deliveries.values():
        assert CANONICAL <= set(record) and record["component"] == "worker"
        assert isinstance(record["duration_ms"], float) and record["level"] == "INFO"
    assert [deliveries[n]["outcome"] for n in ("ntf_1", "ntf_2", "ntf_3")] == [
        "sent",
        "permanent",
        "sent",
    ]
    assert (deliveries["ntf_1"]["channel"], deliveries["ntf_1"]["provider"]) == ("email", "smtp")
    assert (deliveries["ntf_3"]["channel"], deliveries["ntf_3"]["provider"]) == ("sms", "twilio")
    assert deliveries["ntf_1"]["error"] is None
    assert deliveries["ntf_2"]["error"].startswith("SMTP 550: 5.1.1 <<email>>")
    for secret in (*PERSONAL, TOKEN):
        assert secret not in written


def test_text_logs_are_masked_too(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(Settings(log_format="text"), "api", stream=out)
    logging.getLogger("notifier.test").warning("refused %s then %s", ALICE, PHONE)
    line = out.getvalue().strip()
    assert line.endswith("WARNING notifier.test refused <email> then <phone>")


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("nid", ["ntf_0123456789abcdef", f"Ntf-for-{PHONE}"])
def test_the_delivery_line_written_directly_is_the_one_logging_writes(
    log_format: str, nid: str, restore_logging: None
) -> None:
    out = io.StringIO()
    handler = logs.setup(Settings(log_format=log_format), "worker", stream=out)
    # as in the worker: the Kafka record being handled
    context = logs.KafkaRecordContext(TopicNames.with_prefix("x."))
    record = types.SimpleNamespace(topic="x.deliveries.email", partition=3, offset=41, key=b"evt_1")
    event = types.SimpleNamespace(message=record)
    context.current_event = lambda: event  # type: ignore[assignment,return-value]
    handler.addFilter(context)
    attempt = (nid, "email", "smtp", "permanent", 1234.56)  # an id that is a plain word, or not
    error = f"SMTP 550: 5.1.1 <{ALICE}>: unknown, call {PHONE}"
    assert logs.AttemptLines(handler)(*attempt, error)  # written without a LogRecord
    direct = out.getvalue()
    channels_base.log_attempt(*attempt, error)  # through logging
    through_logging = out.getvalue()[len(direct) :]
    stamp = re.compile(r"^\S+ \S+ |\"ts\": \"[^\"]+\"")  # text: date and time; JSON: "ts"
    assert stamp.sub("", direct) == stamp.sub("", through_logging)
    assert "duration_ms=1234.6" in direct and ALICE not in direct and PHONE not in direct
    if log_format == "json":
        [line] = json_lines(direct)
        assert line["error"] == "SMTP 550: 5.1.1 <<email>>: unknown, call <phone>"
        assert (line["topic"], line["partition"], line["offset"], line["event_id"]) == (
            "x.deliveries.email",
            3,
            41,
            "evt_1",
        )


class Attempts(Channel[str]):
    """A channel whose provider takes every message at once: its ``send`` writes the line."""

    name, provider = "sms", "twilio"

    async def _send(self, message: str) -> Sent:
        return Sent(message)

    async def close(self) -> None:
        pass


async def test_the_delivery_lines_of_a_turn_go_out_at_its_end_and_keep_their_place(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    handler = logs.setup(Settings(log_format="text"), "worker", stream=out)
    channel = Attempts()
    channel.attempt_lines = logs.attempt_lines()  # as the composition root gives it
    await channel.send("ntf_1", "SM1")
    await channel.send("ntf_2", "SM2")
    assert out.getvalue() == ""  # not yet: the turn is not over
    await asyncio.sleep(0)
    assert [line.split()[5] for line in out.getvalue().splitlines()] == [
        "notification=ntf_1",
        "notification=ntf_2",
    ]
    # a record of another logger in the same turn goes after the lines made before it
    await channel.send("ntf_3", "SM3")
    logging.getLogger("notifier.streams").warning("after ntf_3")
    await channel.send("ntf_4", "SM4")
    handler.flush()  # as ``logging.shutdown`` does at exit
    tail = [line.split(" ", 4)[4] for line in out.getvalue().splitlines()[2:]]
    assert [t.split()[0] if t.startswith("delivery") else t for t in tail] == [
        "delivery",
        "after ntf_3",
        "delivery",
    ]
    assert "ntf_3" in tail[0] and "ntf_4" in tail[2]
    await asyncio.sleep(0)  # the turn's write finds nothing left
    assert len(out.getvalue().splitlines()) == 5


async def test_the_channels_write_directly_only_when_given_the_writer(
    restore_logging: None,
) -> None:
    """The composition root gives its channels the writer of the logging it set up; a channel
    made without it, or before that setup, logs its line through ``logging``, the same."""
    assert logs.attempt_lines() is None  # no ``logs.setup`` yet: nothing to write to
    out = io.StringIO()
    logs.setup(Settings(log_format="text"), "worker", stream=out)
    made = make_channels(Settings(smtp_url=Secret("smtp://127.0.0.1:1")))
    writer = made["email"].attempt_lines
    assert isinstance(writer, logs.AttemptLines)
    assert writer.handler is logging.getLogger().handlers[0]
    await made["email"].close()
    plain = Attempts()
    await plain.send("ntf_1", "SM1")
    assert "notification=ntf_1" in out.getvalue()  # through ``logging``: at once


def test_each_delivery_line_names_the_kafka_record_it_was_written_in(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    handler = logs.setup(Settings(log_format="json"), "worker", stream=out)
    context = logs.KafkaRecordContext(TopicNames.with_prefix("x."))
    handled: list[types.SimpleNamespace | None] = [None]
    context.current_event = lambda: handled[0]  # type: ignore[assignment,return-value]
    handler.addFilter(context)
    write = logs.AttemptLines(handler)
    for offset in (7, 7, 8, None):  # a record's lines, the next record's, then none
        handled[0] = None
        if offset is not None:
            record = types.SimpleNamespace(
                topic="x.deliveries.sms", partition=1, offset=offset, key=b"evt_2"
            )
            handled[0] = types.SimpleNamespace(message=record)
        assert write(f"ntf_{offset}", "sms", "twilio", "sent", 1.0, None)
    lines = json_lines(out.getvalue())
    assert [line.get("offset") for line in lines] == [7, 7, 8, None]
    assert [line.get("event_id") for line in lines] == ["evt_2", "evt_2", "evt_2", None]


async def test_the_delivery_line_reaches_any_other_handler_through_logging(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    handler = logs.setup(Settings(log_format="json"), "worker", stream=out)
    channel = Attempts()
    channel.attempt_lines = logs.AttemptLines(handler)
    seen: list[logging.LogRecord] = []

    class Other(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logging.getLogger().addHandler(Other())
    assert not logs.AttemptLines(handler)("ntf_1", "sms", "twilio", "sent", 3.0, None)
    await channel.send("ntf_1", "SM1")  # the writer declines: ``logging`` writes it
    assert [(r.name, r.notification_id) for r in seen] == [("notifier.delivery", "ntf_1")]  # type: ignore[attr-defined]
    assert json_lines(out.getvalue())[0]["notification_id"] == "ntf_1"


@pytest.mark.parametrize(
    "created",
    [1_795_000_000.0, 1_795_000_000.123456, 1_795_000_000.9994999, 1_795_000_000.9999996, -0.25],
)
def test_json_times_are_isoformat_in_utc_to_the_millisecond(created: float) -> None:
    formatter = logs.JsonFormatter("worker")
    for t in (created - 86400, created, created):  # another day's second kept, then this one's
        expected = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
        assert formatter.ts(t) == expected


def test_the_log_format_is_a_setting() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"NOTIFIER_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(Exception, match="NOTIFIER_LOG_FORMAT='xml' is not text or json"):
        Settings.from_env({"NOTIFIER_LOG_FORMAT": "xml"})


@pytest.fixture
async def world(
    settings: Settings, redis: Redis, smtp: tuple[SmtpSink, str], logs: Path
) -> AsyncIterator[tuple[TestClient[Any, Any], twilio_fake.TwilioFake, Settings, Path]]:
    """The API in this process, ``notifier worker`` as a process writing JSON logs to a file."""
    fake = twilio_fake.TwilioFake(SID, TOKEN, numbers=[SENDER])
    runner, twilio_url = await twilio_fake.start(fake)
    s = settings.replace(
        twilio_account_sid=SID,
        twilio_auth_token=Secret(TOKEN),
        twilio_from=SENDER,
        twilio_base_url=twilio_url,
        log_format="json",
    )
    publisher = KafkaPublisher(s.kafka_bootstrap)
    await publisher.start()
    api = TestClient(TestServer(create_api(s, build_services(s, redis, publisher.publish))))
    await api.start_server()
    log = logs / f"worker-json-{s.app_id}.log"
    worker = embedded.spawn(
        embedded.python_module("notifier", "worker"), log, env=embedded.child_env(s.to_env())
    )
    try:
        yield api, fake, s, log
    finally:
        embedded.stop(worker)
        await api.close()
        await publisher.stop()
        await fake.idle()
        await runner.cleanup()


async def test_the_worker_writes_json_lines_with_the_record_and_no_personal_data(
    world: tuple[TestClient[Any, Any], twilio_fake.TwilioFake, Settings, Path],
    smtp: tuple[SmtpSink, str],
) -> None:
    api, fake, settings, log = world
    sink, _ = smtp
    sink.replies.append(f"451 4.2.0 <{ALICE}>: greylisted, try again later")  # then it takes it
    body = {"email": ALICE, "phone": "06 12 34 56 78"}
    r = await api.post("/v1/cities/paris/citizens", json=body)
    assert r.status == 201, await r.text()
    await eventually(lambda: sink.to(ALICE), what="the confirmation email, on the second try")
    await eventually(lambda: fake.sent_to(PHONE), what="the confirmation code by SMS")

    def attempts() -> list[dict[str, Any]]:
        found = [r for r in json_lines(log.read_text()) if r["logger"] == "notifier.delivery"]
        return found if len(found) >= 3 else []

    deliveries = await eventually(attempts, within=10, what="three delivery lines in the log")
    emails = [d for d in deliveries if d["channel"] == "email"]
    [text] = [d for d in deliveries if d["channel"] == "sms"]
    assert [d["outcome"] for d in emails] == ["transient", "sent"]
    assert emails[0]["error"].startswith("SMTP 451: 4.2.0 <<email>>: greylisted")
    assert emails[0]["notification_id"] == emails[1]["notification_id"]
    prefix = settings.topic_prefix
    for d in deliveries:
        assert CANONICAL <= set(d) and d["component"] == "worker"
        # the Kafka record being handled: its topic, partition, offset and key (the event id)
        assert d["topic"] == f"{prefix}deliveries.{d['channel']}"
        assert isinstance(d["partition"], int) and isinstance(d["offset"], int)
        assert d["event_id"]
    assert text["outcome"] == "sent" and text["provider"] == "twilio"
    written = log.read_text()
    json_lines(written)  # every line the worker wrote, Faust's and aiokafka's included
    assert '"logger": "faust.' in written or '"logger": "mode.' in written
    for secret in (*PERSONAL, TOKEN, str(settings.secret_key)):
        assert secret not in written
    assert not re.search(r"\d{6} est votre code", written)  # nor the code it texted
