"""Bulk import of a subscriber list: real Redis; confirmations published to a list, or to the
real Kafka when the command runs (``run``, and ``python -m notifier import-subscribers``)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from notifier.bulk_import import importer
from notifier.bulk_import.importer import FileError, import_csv
from notifier.cli import import_subscribers
from notifier.dev import embedded
from notifier.errors import ConfigError
from notifier.settings import Secret, Settings
from notifier.wiring import build_services
from streams.deps import Services
from streams.records import DeliveryBatch
from subscriptions.areas import load_catalogue
from subscriptions.matcher import Target
from subscriptions.store import key, new_id
from subscriptions.subscription import parse_subscription
from tests.handler_stage import Published
from tests.stage import stored

DATA = Path(__file__).parents[1] / "data" / "bulk_import.csv"
PARIS = load_catalogue("paris")
HEADER = "contact,language,area,address,radius_m,categories,channels,consent_date,consent_source"
UNPROVEN = (
    "contact: held by an account that has not confirmed it yet; import this row again once it "
    "is confirmed, or once it has ended (7 days unconfirmed)"
)
REJECTED = [
    "row 11: contact: also on row 2 (one row per contact)",
    "row 12: contact: also on row 3 (one row per contact)",
    "row 13: contact: missing: an email address or a phone number",
    "row 14: area: unknown area code '99999'",
    "row 15: contact: must be a mobile number (text messages are sent to it)",
    "row 16: contact: not a valid phone number",
    "row 17: address: give an area or an address, not both",
    "row 18: consent_date: '31/12/2022' is not a date YYYY-MM-DD",
    "row 19: contact: not an email address",
    "row 20: language: must be one of fr, en",
    "row 20: categories: 'roadwork': must be one of roadworks, water, waste, transport, events, "
    "safety, weather, environment, culture, general",
    "row 20: channels: 'fax': must be one of email, sms, push",
    "row 21: channels: push is not offered here",
    'row 22: area: missing: give an area code or an address ("lat,lon")',
    'row 23: address: must be "lat,lon" in decimal degrees',
    "row 24: address: is outside the city",
    "row 25: address: latitude must be between -90 and 90",
    "row 26: radius_m: must be between 50 and 5000",
    "row 27: radius_m: must be a number of metres",
    "row 28: radius_m: applies to an address only",
    "row 29: consent_date: is in the future",
    "row 30: consent_source: missing: where the consent of that date was given",
    "row 31: consent_date: missing: the date of the consent consent_source names",
    "row 32: consent_source: one line of at most 200 characters",
    "row 33: columns: 10 cells, but the header names 9 columns",
]
DETAIL = "new citizens 5, already registered 2 (subscription already held 1), "
DETAIL += "confirmed by a recorded consent 2"
# with held_before: deja@ is pending, typed into the API by whoever, so not proved
REJECTED_HELD = [f"row 7: {UNPROVEN}", *REJECTED]
SUMMARY = (
    f"read 31, imported 7, rejected 24, confirmations sent 3 ({DETAIL}); "
    "some rows were rejected (24, listed above): exit code 1"
)


class ImportStage(NamedTuple):
    """What an import uses (the API's services: no channel, no sender), and what it published."""

    deps: Services
    published: Published


@pytest.fixture
async def import_stage(redis: Redis) -> ImportStage:
    """What an import uses: email and SMS offered."""
    published: Published = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        published.append((topic, key, value))

    settings = Settings(secret_key=Secret("k" * 48), public_url="https://alerts.example")
    d = build_services(settings, redis, publish)
    d.enabled = ("email", "sms")
    return ImportStage(d, published)


async def held_before(d: Services) -> dict[str, str]:
    """What the city holds before the import: the citizens of rows 7, 8 and 9."""
    store, ids = d.store, {}
    for name, channel, address, status in (
        ("deja", "email", "deja@example.org", "pending"),
        ("confirme", "email", "confirme@example.org", "confirmed"),
        ("stop", "sms", "+33611111111", "opted_out"),
    ):
        c = await store.create_citizen("paris", "fr")
        await store.add_contact("paris", c.id, channel, address, status, "api")
        ids[name] = c.id
    sub, index = parse_subscription(
        {"area": "75112"}, sid=new_id("sub"), citizen=ids["confirme"], catalogue=PARIS
    )
    await store.add_subscription("paris", sub, index)
    return ids


async def citizens(redis: Redis) -> set[str]:
    return {k for k in await stored(redis, "n:{paris}:citizen:*") if k.count(":") == 3}


async def by_address(d: Services, channel: str, address: str) -> Any:
    cp = await d.store.contact_by_address("paris", channel, address)
    assert cp is not None, address
    return cp


def imported(import_stage: ImportStage, path: Path = DATA, dry_run: bool = False) -> Any:
    return import_csv(import_stage.deps, "paris", path, dry_run, lambda done, total: None)


async def test_good_rows_are_imported_and_every_rejected_row_says_why(
    import_stage: ImportStage,
) -> None:
    d, published = import_stage
    before = await held_before(d)
    report = await imported(import_stage)
    assert report.lines() == [*REJECTED_HELD, SUMMARY]
    assert report.exit_code == 1
    assert len(await citizens(d.store.redis)) == 3 + 5  # no second citizen for a held address

    alice = await by_address(d, "email", "alice@example.org")
    assert alice.status == "confirmed"
    [entry] = await d.store.consent_log("paris", alice.citizen)
    assert (entry["contact"], entry["change"], entry["how"]) == (
        alice.id,
        "confirmed",
        "import from Newsletter mairie du 5e consent given 2021-03-04",
    )
    [sub] = await d.store.subscriptions_of("paris", alice.citizen)
    assert (sub.area, sub.categories, sub.channels) == ("75105", ("roadworks", "water"), ("email",))
    assert (await d.store.citizen("paris", alice.citizen)).language == "fr"

    phone = await by_address(d, "sms", "+33612345678")
    [point] = await d.store.subscriptions_of("paris", phone.citizen)
    assert {k: v for k, v in point.public().items() if k not in ("id", "cadence")} == {
        "kind": "point",
        "point": {"lon": 2.347, "lat": 48.8462},
        "radius_m": 300.0,
        "categories": [],
        "min_severity": "unknown",
        "channels": ["sms"],
    }
    assert (phone.status, (await d.store.citizen("paris", phone.citizen)).language) == (
        "confirmed",
        "en",
    )

    # no consent: pending, and asked to confirm (an email link, an SMS code)
    bob = await by_address(d, "email", "bob@example.org")
    sms = await by_address(d, "sms", "+33698765432")
    carol = await by_address(d, "email", "carol@example.org")
    assert [bob.status, sms.status, carol.status] == ["pending"] * 3
    assert carol.address == "Carol@example.org"
    [carols] = await d.store.subscriptions_of("paris", carol.citizen)
    assert (carols.radius_m, carols.channels) == (500.0, ("email", "sms"))
    assert [e["how"] for e in await d.store.consent_log("paris", bob.citizen)] == [
        "import without a recorded consent"
    ]
    batches = [(topic, DeliveryBatch.from_wire(value)) for topic, _, value in published]
    assert sorted(
        (t, b.kind, b.recipients[0].to, b.recipients[0].language) for t, b in batches
    ) == [
        ("deliveries.email", "confirmation", "Carol@example.org", "en"),
        ("deliveries.email", "confirmation", "bob@example.org", "fr"),
        ("deliveries.sms", "confirmation", "+33698765432", "fr"),
    ]
    assert await d.store.redis.exists(key("paris", "code", sms.id))
    assert not await d.store.redis.exists(key("paris", "import", "owed"))  # all sent

    # held addresses: the subscription goes to their citizen; an opt-out stays one; a pending
    # one typed into the API (by its owner, or by someone squatting it) is left alone: neither
    # confirmed by the recorded consent nor given the subscription (invariant 9)
    deja = await by_address(d, "email", "deja@example.org")
    assert (deja.citizen, deja.status) == (before["deja"], "pending")
    assert [e["how"] for e in await d.store.consent_log("paris", deja.citizen)] == ["api"]
    assert await d.store.subscriptions_of("paris", deja.citizen) == []
    assert len(await d.store.subscriptions_of("paris", before["confirme"])) == 1  # the same one
    stop = await by_address(d, "sms", "+33611111111")
    assert (stop.citizen, stop.status) == (before["stop"], "opted_out")
    assert [s.area for s in await d.store.subscriptions_of("paris", stop.citizen)] == ["75118"]
    assert len(await d.store.consent_log("paris", stop.citizen)) == 1

    # the matcher finds them through the indexes
    found = await d.matcher.match("paris", Target(codes=("7510501",)), "roadworks", "minor")
    assert set(found.citizens) == {alice.citizen, phone.citizen, bob.citizen}


async def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(
    import_stage: ImportStage,
) -> None:
    d, published = import_stage
    await held_before(d)
    redis = d.store.redis
    snapshot = {k: await redis.dump(k) for k in await stored(redis)}
    report = await imported(import_stage, dry_run=True)
    assert {k: await redis.dump(k) for k in await stored(redis)} == snapshot
    assert published == []
    summary = SUMMARY.replace("imported 7", "would be imported 7").replace("ns sent", "ns to send")
    assert report.lines() == [*REJECTED_HELD, f"dry run, nothing written: {summary}"]


async def test_importing_the_same_file_again_duplicates_nothing(
    import_stage: ImportStage,
) -> None:
    d, published = import_stage
    await held_before(d)
    await imported(import_stage)
    subs = await stored(d.store.redis, "n:{paris}:sub:*")
    again = await imported(import_stage)
    assert again.lines()[-1] == (
        "read 31, imported 7, rejected 24, confirmations sent 0 (new citizens 0, already "
        "registered 7 (subscription already held 7), confirmed by a recorded consent 0); "
        "some rows were rejected (24, listed above): exit code 1"
    )
    assert len(await stored(d.store.redis, "n:{paris}:sub:*")) == len(subs)
    assert len(await citizens(d.store.redis)) == 8 and len(published) == 3


async def test_confirmations_that_could_not_be_sent_are_sent_by_running_it_again(
    import_stage: ImportStage,
) -> None:
    d, published = import_stage
    publish = d.publish

    async def broker_away(topic: str, key: bytes, value: bytes) -> None:
        raise ConnectionError("broker away")

    d.publish = broker_away
    with pytest.raises(ConnectionError):
        await imported(import_stage)
    owed = await d.store.redis.smembers(key("paris", "import", "owed"))
    assert len(owed) == 3  # written, pending, still owed their confirmation
    d.publish = publish
    report = await imported(import_stage)
    assert (report.new_citizens, report.confirmations) == (0, 3)
    assert sorted(DeliveryBatch.from_wire(v).recipients[0].contact for _, _, v in published) == (
        sorted(owed)
    )
    assert not await d.store.redis.exists(key("paris", "import", "owed"))


async def test_an_address_registered_during_the_import_keeps_one_citizen(
    import_stage: ImportStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch watches its addresses: registered meanwhile, it is read again and found (and,
    pending with an account that has not proved it, left alone: the row is rejected)."""
    d, published = import_stage
    read_held = importer._read_held
    registered: list[str] = []

    async def meanwhile(*args: Any) -> Any:
        held = await read_held(*args)
        if not registered:  # as the API registers a citizen, between the read and the write
            c = await d.store.create_citizen("paris", "en")
            await d.store.add_contact("paris", c.id, "email", "bob@example.org", "pending", "api")
            registered.append(c.id)
        return held

    monkeypatch.setattr(importer, "_read_held", meanwhile)
    report = await imported(import_stage)
    assert (report.imported, report.new_citizens) == (7, 7)
    assert f"row 4: {UNPROVEN}" in [r.line() for r in report.rejections]  # bob's row
    bob = await by_address(d, "email", "bob@example.org")
    assert (bob.citizen, bob.status) == (registered[0], "pending")
    assert await d.store.subscriptions_of("paris", bob.citizen) == []
    assert "bob@example.org" not in {
        DeliveryBatch.from_wire(v).recipients[0].to for *_, v in published
    }


async def test_two_addresses_of_one_citizen_with_the_same_subscription_add_it_once(
    import_stage: ImportStage, tmp_path: Path
) -> None:
    d, _ = import_stage
    c = await d.store.create_citizen("paris", "en")
    await d.store.add_contact("paris", c.id, "email", "ann@example.org", "confirmed", "api")
    await d.store.add_contact("paris", c.id, "sms", "+33612345678", "confirmed", "api")
    path = tmp_path / "two.csv"
    path.write_text(
        "contact,area,channels\nann@example.org,75101,email;sms\n0612345678,75101,sms;email\n"
    )
    report = await imported(import_stage, path)
    assert (report.imported, report.held, report.unchanged) == (2, 2, 1)
    [sub] = await d.store.subscriptions_of("paris", c.id)
    assert (sub.area, sub.channels) == ("75101", ("email", "sms"))


async def test_an_address_half_registered_is_rejected_for_now(
    import_stage: ImportStage, tmp_path: Path
) -> None:
    d, _ = import_stage
    await d.store.redis.set(key("paris", "address", "email", "ann@example.org"), "cp_x")
    path = tmp_path / "one.csv"
    path.write_text("contact,area\nann@example.org,75101\nzoe@example.org,75102\n")
    report = await imported(import_stage, path)
    assert report.lines()[0] == "row 2: contact: being registered right now; import this row again"
    assert (report.imported, report.rejected) == (1, 1)


async def test_phone_numbers_are_refused_where_sms_is_not_offered(
    import_stage: ImportStage, tmp_path: Path
) -> None:
    d, _ = import_stage
    d.enabled = ("email",)
    path = tmp_path / "phones.csv"
    path.write_text("contact,area,channels,,\n06 12 34 56 78,75101,\nann@example.org,75101,sms,,\n")
    assert (await imported(import_stage, path)).lines()[:2] == [
        "row 2: contact: a phone number, but sms is not offered here",
        "row 3: channels: sms is not offered here",
    ]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "no header row: the first row names the columns (contact, area, ...)"),
        (b"\n\nann@example.org,75101\n", "no header row"),
        (b"contact;area\nann@example.org;75101\n", "the header is not comma-separated"),
        (b"contact,area,name\n", "unknown column(s) 'name': the columns are contact, language"),
        (b"email,area\n", "unknown column(s) 'email'"),
        (b"contact,area,area\n", "column(s) named twice: area"),
        (b"language,area\n", "no contact column"),
        (b"contact,language\n", "neither an area nor an address column"),
        (
            b"contact,area\nann\xe9@example.org,75101\n",
            "list.csv: line 2 is not UTF-8 text (save the file as UTF-8)",
        ),
    ],
)
async def test_a_file_without_a_valid_header_is_refused_whole(
    import_stage: ImportStage, tmp_path: Path, content: bytes, error: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(FileError) as e:
        await imported(import_stage, path)
    assert error in str(e.value)
    assert await stored(import_stage.deps.store.redis) == []


def generate(rows: int) -> str:
    """``rows`` valid rows with a recorded consent: areas, addresses, emails, phones."""
    lines = [HEADER]
    for i in range(rows):
        contact = f"user{i}@example.org" if i % 2 else f"+336{10_000_000 + i:08d}"
        where = "75105,," if i % 4 < 2 else f',"48.85{i % 97:02d},2.34{i % 89:02d}",250'
        lines.append(f"{contact},fr,{where},water,,2021-03-04,Ancienne liste")
    return "\n".join(lines) + "\n"


async def test_twenty_thousand_rows_in_batches_with_a_line_every_thousand(
    import_stage: ImportStage, tmp_path: Path
) -> None:
    d, published = import_stage
    path = tmp_path / "big.csv"
    path.write_text(generate(20_000))
    stderr = io.StringIO()
    report = await import_csv(d, "paris", path, False, import_subscribers.progress(stderr))
    assert (report.read, report.imported, report.new_citizens, report.rejected) == (20_000,) * 3 + (
        0,
    )
    assert report.lines()[-1].endswith("; every row imported") and report.exit_code == 0
    assert stderr.getvalue().splitlines() == [
        f"{n:,}/20,000 rows" for n in range(1000, 20001, 1000)
    ]
    assert await on_area(d.store.redis, "75105") == 10_000
    assert len(await citizens(d.store.redis)) == 20_000 and published == []


def test_on_a_terminal_progress_is_one_counter_rewritten() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    show = import_subscribers.progress(out)
    for done in (500, 1000, 1200):
        show(done, 1200)
    assert out.getvalue() == "\r500/1,200 rows\r1,000/1,200 rows\r1,200/1,200 rows\n"


# the command: run() as cli.py calls it, and the real process


def command_settings(settings: Settings) -> Settings:
    """The test settings, with SMS offered (nothing is sent to Twilio: the worker sends)."""
    return settings.replace(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=Secret("t"),
        twilio_from="+33700000000",
    )


async def records_on(kafka_url: str, topic: str, count: int) -> list[DeliveryBatch]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_url.removeprefix("kafka://"), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        out: list[DeliveryBatch] = []
        for _ in range(30):
            batch = await consumer.getmany(timeout_ms=1000)
            out += [DeliveryBatch.from_wire(m.value) for ms in batch.values() for m in ms]
            if len(out) >= count:
                return out
        return out
    finally:
        await consumer.stop()


async def test_run_imports_and_sends_confirmations_through_kafka(
    settings: Settings, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    s = command_settings(settings)
    args = argparse.Namespace(file=DATA, city=None, dry_run=True)
    assert await import_subscribers.run(s, args) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("dry run, nothing written: read 31")
    assert await stored(redis) == []
    args.dry_run = False
    assert await import_subscribers.run(s, args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[: len(REJECTED)] == REJECTED
    assert out[-1].startswith("read 31, imported 8, rejected 23, confirmations sent 3")
    emails = await records_on(s.kafka_url, f"{s.topic_prefix}deliveries.email", 2)
    texts = await records_on(s.kafka_url, f"{s.topic_prefix}deliveries.sms", 1)
    assert sorted(b.recipients[0].to for b in emails + texts) == [
        "+33698765432",
        "Carol@example.org",
        "bob@example.org",
    ]


async def test_run_stops_when_kafka_is_away_and_finishes_when_run_again(
    settings: Settings, redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(file=DATA, city=None, dry_run=False)
    away = command_settings(settings).replace(kafka_url="kafka://127.0.0.1:1")
    assert await import_subscribers.run(away, args) == 1
    err = capsys.readouterr().err
    assert err.startswith("notifier: import stopped: KafkaConnectionError: ")
    assert err.endswith(f"{import_subscribers.AGAIN}\n")
    assert await redis.scard(key("paris", "import", "owed")) == 3
    assert await import_subscribers.run(command_settings(settings), args) == 1
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("read 31, imported 8, rejected 23, confirmations sent 3 (new citizens 0")
    )
    assert await redis.scard(key("paris", "import", "owed")) == 0


async def test_run_says_what_is_wrong_with_the_file_or_the_settings(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(file=tmp_path / "absent.csv", city=None, dry_run=False)
    assert await import_subscribers.run(settings, args) == 2
    err = capsys.readouterr().err
    assert err == f"notifier: file: {tmp_path}/absent.csv: No such file or directory\n"
    with pytest.raises(ConfigError, match="set NOTIFIER_KAFKA_URL as the service has them"):
        await import_subscribers.run(settings.replace(kafka_url=""), args)
    header_only = tmp_path / "empty.csv"
    header_only.write_text(HEADER + "\n")
    args = argparse.Namespace(file=header_only, city="paris", dry_run=False)
    assert await import_subscribers.run(settings, args) == 0
    assert capsys.readouterr().out.startswith("read 0, imported 0, rejected 0")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", "import-subscribers", *args],
        capture_output=True,
        text=True,
        env=embedded.child_env(env),
        timeout=120,
    )


async def test_the_command_line(settings: Settings, redis: Redis, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in command_settings(settings).to_env().items()
        if k.split("_", 1)[1] in {"REDIS_URL", "KAFKA_URL", "SECRET_KEY", "TOPIC_PREFIX"}
        or k.startswith("NOTIFIER_TWILIO")
    }
    dry = cli(str(DATA), "--dry-run", env=env)
    assert dry.returncode == 1, dry.stderr
    assert dry.stdout.splitlines() == [*REJECTED, dry.stdout.splitlines()[-1]]
    assert "dry run, nothing written" in dry.stdout and await stored(redis) == []
    real = cli(str(DATA), "--city", "paris", env=env)
    assert real.returncode == 1, real.stderr
    assert real.stdout.splitlines()[-1].startswith("read 31, imported 8, rejected 23")
    assert len(await stored(redis, "n:{paris}:sub:*")) == 8
    bad = tmp_path / "bad.csv"
    bad.write_text("contact;area\n")
    refused = cli(str(bad), env=env)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "notifier: file: the header is not comma-separated (columns are separated by commas)\n"
    )


async def on_area(redis: Redis, code: str) -> int:
    """The subscriptions the matching processes index on the area ``code`` (their own
    ``index`` field, as ``subscriptions.live_index`` reads it)."""
    keys = [k async for k in redis.scan_iter("n:{paris}:sub:*", count=10_000)]
    indexes = []
    for i in range(0, len(keys), 1000):
        async with redis.pipeline(transaction=False) as p:
            for k in keys[i : i + 1000]:
                p.hget(k, "index")
            indexes += await p.execute()
    return sum(["area", code] in json.loads(x or "[]") for x in indexes)
