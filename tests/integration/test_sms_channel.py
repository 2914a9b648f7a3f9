"""The Twilio SMS channel (the real ``twilio`` library) against the local Twilio fake."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import MultiDict

from channels.base import PermanentChannelError, TransientChannelError
from channels.sms import OptedOutError, Sms, TwilioSmsChannel
from channels.twilio_webhooks import SIGNATURE_HEADER, parse_status_callback, signature_valid
from notifier.dev.embedded import free_port
from notifier.dev.twilio_fake import TwilioFake, start
from tests.stage import eventually

ACCOUNT = "AC" + "5e4d3c2b1a" * 3 + "f0"  # 34 characters, as Twilio's
TOKEN = "b7" * 16
NUMBER = "+15005550006"
SERVICE = "MG" + "9c" * 16
CITIZEN = "+33612345678"

Received = list[tuple[str, "MultiDict[str]", str | None]]


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[TwilioFake, str]]:
    fake = TwilioFake(ACCOUNT, TOKEN, numbers=[NUMBER], messaging_services=[SERVICE])
    runner, url = await start(fake, port=free_port())
    yield fake, url
    await runner.cleanup()


@pytest.fixture
async def sms(twilio: tuple[TwilioFake, str]) -> AsyncIterator[TwilioSmsChannel]:
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, NUMBER, base_url=twilio[1])
    yield channel
    await channel.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Received, str]]:
    """Our side of the status callbacks: keeps what Twilio posts."""
    got: Received = []

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        params = MultiDict((k, str(v)) for k, v in form.items())
        got.append((str(request.url), params, request.headers.get(SIGNATURE_HEADER)))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/twilio/status", handle)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    yield got, str(server.make_url("/twilio/status"))
    await server.close()


def text(body: str = "Travaux rue de Rivoli demain 8h-17h. STOP au 36xxx") -> Sms:
    return Sms(to=CITIZEN, body=body, notification_id="n-1")


async def test_a_message_is_accepted_as_twilio_received_it(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str]
) -> None:
    fake, _ = twilio
    sent = await sms.send("n-1", text())
    (m,) = fake.messages
    assert sent.provider_id == m.sid
    assert m.sid.startswith("SM") and len(m.sid) == 34
    assert (m.to, m.from_, m.messaging_service_sid) == (CITIZEN, NUMBER, None)
    assert m.body == text().body
    assert (m.status, m.status_callback) == ("queued", None)
    await sms.send("n-2", text("second"))  # the connection is reused
    assert [x.body for x in fake.sent_to(CITIZEN)] == [text().body, "second"]


async def test_a_messaging_service_picks_the_number(twilio: tuple[TwilioFake, str]) -> None:
    fake, url = twilio
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, SERVICE, base_url=url)
    try:
        sent = await channel.send("n-1", text())
    finally:
        await channel.close()
    (m,) = fake.messages
    assert (m.sid, m.from_, m.messaging_service_sid, m.status) == (
        sent.provider_id,
        None,
        SERVICE,
        "accepted",
    )


async def test_status_callbacks_are_signed_as_twilio_signs_them(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str], receiver: tuple[Received, str]
) -> None:
    fake, _ = twilio
    got, url = receiver
    callback = f"{url}?notification=n-1&city=paris"
    sent = await sms.send("n-1", Sms(CITIZEN, "Alerte crue", "n-1", status_callback=callback))
    await eventually(lambda: len(got) == 2, within=10, what="two status callbacks")

    statuses = []
    for request_url, params, signature in got:
        assert request_url == callback
        assert signature_valid(TOKEN, callback, params, signature)
        status = parse_status_callback(params)
        assert (status.message_sid, status.error_code) == (sent.provider_id, None)
        assert (params["To"], params["From"], params["AccountSid"]) == (CITIZEN, NUMBER, ACCOUNT)
        statuses.append(status.status)
    assert statuses == ["sent", "delivered"]
    assert [c.status for c in fake.callbacks] == [200, 200]
    assert fake.messages[0].status == "delivered"
    # another account's token does not verify them
    assert not signature_valid("0" * 32, callback, got[0][1], got[0][2])


async def test_status_callbacks_can_be_turned_off(
    twilio: tuple[TwilioFake, str], sms: TwilioSmsChannel, receiver: tuple[Received, str]
) -> None:
    fake, _ = twilio
    fake.status_callbacks = False
    await sms.send("n-1", Sms(CITIZEN, "x", "n-1", status_callback=receiver[1]))
    await fake.idle()
    assert fake.messages[0].status_callback == receiver[1]
    assert fake.callbacks == [] and receiver[0] == []


async def test_a_wrong_auth_token_is_refused_for_good(twilio: tuple[TwilioFake, str]) -> None:
    fake, url = twilio
    channel = TwilioSmsChannel(ACCOUNT, "not-the-token", NUMBER, base_url=url)
    try:
        with pytest.raises(PermanentChannelError) as e:
            await channel.send("n-1", text())
    finally:
        await channel.close()
    assert not isinstance(e.value, OptedOutError)
    assert e.value.reason == "Twilio HTTP 401 error 20003"
    assert fake.messages == []


async def test_429_is_transient_with_retry_after(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str]
) -> None:
    fake, _ = twilio
    fake.fail_next(1, status=429, code=20429, message="Too Many Requests", retry_after="7")
    with pytest.raises(TransientChannelError) as e:
        await sms.send("n-1", text())
    assert e.value.retry_after == 7.0
    assert "429" in e.value.reason and "20429" in e.value.reason
    await sms.send("n-1", text())  # the script is spent: the retry goes through
    assert len(fake.messages) == 1


async def test_500_is_transient(sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str]) -> None:
    fake, _ = twilio
    fake.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(TransientChannelError) as e:
            await sms.send("n-1", text())
        assert e.value.retry_after is None
    await sms.send("n-1", text())
    assert fake.requests == 3 and len(fake.messages) == 1


async def test_an_opted_out_recipient_raises_opted_out(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str]
) -> None:
    fake, _ = twilio
    fake.opted_out.add(CITIZEN)
    with pytest.raises(OptedOutError) as e:
        await sms.send("n-1", text())
    assert isinstance(e.value, PermanentChannelError)
    assert "21610" in e.value.reason and CITIZEN not in e.value.reason
    fake.opted_out.clear()
    fake.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(OptedOutError):
        await sms.send("n-1", text())
    assert fake.messages == []


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (Sms("0612345678", "x", "n"), 21211),  # not E.164
        (Sms("+33 6 12 34 56 78", "x", "n"), 21211),
        (Sms(CITIZEN, "", "n"), 21602),
        (Sms(CITIZEN, "x" * 1601, "n"), 21617),
        (Sms(CITIZEN, "x", "n", status_callback="http://bad_host.example/cb"), 21609),
        (Sms(CITIZEN, "x", "n", status_callback="ftp://example.org/cb"), 21609),
    ],
)
async def test_what_twilio_refuses_is_permanent(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str], message: Sms, code: int
) -> None:
    with pytest.raises(PermanentChannelError) as e:
        await sms.send("n", message)
    assert e.value.reason == f"Twilio HTTP 400 error {code}"
    assert twilio[0].messages == []


async def test_a_body_of_1600_characters_is_accepted(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str]
) -> None:
    await sms.send("n", Sms(CITIZEN, "é" * 1600, "n"))
    assert len(twilio[0].messages[0].body) == 1600


@pytest.mark.parametrize(
    ("sender", "code"),
    [("+15005550001", 21606), ("not a number!", 21212), ("MG" + "0" * 32, 21701)],
)
async def test_a_sender_that_is_not_ours_is_refused(
    twilio: tuple[TwilioFake, str], sender: str, code: int
) -> None:
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, sender, base_url=twilio[1])
    try:
        with pytest.raises(PermanentChannelError) as e:
            await channel.send("n-1", text())
    finally:
        await channel.close()
    assert f"error {code}" in e.value.reason


@pytest.mark.parametrize(
    ("account", "token", "sender"),
    [(ACCOUNT, TOKEN, "MG123"), (ACCOUNT, TOKEN, ""), (ACCOUNT, "", NUMBER), ("", TOKEN, NUMBER)],
)
def test_incomplete_configuration_is_refused(account: str, token: str, sender: str) -> None:
    with pytest.raises(ValueError):
        TwilioSmsChannel(account, token, sender, base_url="http://127.0.0.1:9")


async def test_twilio_environment_variables_do_not_move_the_base_url(
    twilio: tuple[TwilioFake, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """twilio's Client reads TWILIO_EDGE / TWILIO_REGION and would rewrite the host."""
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, NUMBER, base_url=twilio[1])
    try:
        await channel.send("n-1", text())
    finally:
        await channel.close()
    assert len(twilio[0].messages) == 1


async def test_nothing_listening_is_transient() -> None:
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, NUMBER, base_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(TransientChannelError) as e:
            await channel.send("n-1", text())
    finally:
        await channel.close()
    assert "ClientConnectorError" in e.value.reason


async def test_a_provider_that_does_not_answer_times_out_as_transient(hanging: str) -> None:
    channel = TwilioSmsChannel(ACCOUNT, TOKEN, NUMBER, base_url=hanging, timeout=0.3)
    try:
        with pytest.raises(TransientChannelError) as e:
            await channel.send("n-1", text())
    finally:
        await channel.close()
    assert e.value.reason == "twilio timeout: no answer within 0.3 s"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


async def test_no_token_and_no_phone_number_reach_the_logs(
    sms: TwilioSmsChannel, twilio: tuple[TwilioFake, str], all_logs: pytest.LogCaptureFixture
) -> None:
    fake, _ = twilio
    await sms.send("n-1", text())
    fake.opted_out.add(CITIZEN)
    with pytest.raises(OptedOutError):
        await sms.send("n-2", text())
    logged = "\n".join(r.getMessage() for r in all_logs.records)
    assert "outcome=sent" in logged and "outcome=permanent" in logged
    for secret in (TOKEN, CITIZEN, CITIZEN.lstrip("+"), "%2B33612345678"):
        assert secret not in logged


async def test_twilios_request_log_is_written_when_its_logger_is_on_and_made_only_then(
    sms: TwilioSmsChannel, caplog: pytest.LogCaptureFixture
) -> None:
    made: list[str] = []
    original = logging.Logger.info

    def info(self: logging.Logger, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.name.startswith("twilio"):
            made.append(str(msg))
        original(self, msg, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logging.Logger, "info", info)
        with caplog.at_level(logging.WARNING, logger="twilio"):
            await sms.send("n-1", text())
        assert made == []  # off: not even formatted (``notifier.logs`` keeps it off)
        with caplog.at_level(logging.INFO, logger="twilio"):
            await sms.send("n-2", text())
    twilio_lines = [r.getMessage() for r in caplog.records if r.name.startswith("twilio")]
    assert "-- BEGIN Twilio API Request --" in twilio_lines
    assert any(line.startswith("Response Status Code: 201") for line in twilio_lines)
    assert made == twilio_lines


async def test_the_fake_answers_like_twilio_without_credentials(
    twilio: tuple[TwilioFake, str],
) -> None:
    fake, url = twilio
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    form = {"To": CITIZEN, "From": NUMBER, "Body": "x"}
    async with aiohttp.ClientSession() as http:
        async with http.post(endpoint, data=form) as resp:
            body: dict[str, Any] = await resp.json()
            assert resp.status == 401
            assert body == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }
        other = endpoint.replace(ACCOUNT, "AC" + "0" * 32)
        async with http.post(other, data=form, headers=basic(ACCOUNT, TOKEN)) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 20404
        async with http.post(endpoint, data=form, headers=basic(ACCOUNT, TOKEN)) as resp:
            created = await resp.json()
            assert resp.status == 201
    assert created["sid"] == fake.messages[0].sid
    assert created["status"] == "queued" and created["direction"] == "outbound-api"
    assert created["num_segments"] == "1" and created["from"] == NUMBER
    assert created["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{created['sid']}.json"
