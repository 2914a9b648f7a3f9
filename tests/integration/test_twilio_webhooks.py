"""Twilio webhook signatures (twilio-python's vectors), status callbacks and inbound SMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from multidict import MultiDict

from channels.twilio_webhooks import (
    WebhookError,
    compute_signature,
    keyword_of,
    parse_inbound_sms,
    parse_status_callback,
    signature_valid,
)

DATA = Path(__file__).parents[1] / "data" / "twilio"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


VECTORS = load("signature_test_vectors.json")
STOP = load("DERIVED_inbound_stop_example_signed.json")


def test_the_reference_vector_string_to_sign_and_signature() -> None:
    token, url, params = VECTORS["auth_token"], VECTORS["url"], VECTORS["params"]
    assert compute_signature(token, url, params) == VECTORS["expected_signature"]
    assert signature_valid(token, url, params, VECTORS["expected_signature"])


@pytest.mark.parametrize(
    "case", [v for v in VECTORS["more_vectors"] if v.get("params") == "same as above"]
)
def test_urls_with_ports_as_twilio_may_sign_them(case: dict[str, Any]) -> None:
    assert signature_valid(
        VECTORS["auth_token"], case["url"], VECTORS["params"], case["expected_signature"]
    )


def test_repeated_parameters_are_sorted_by_value_and_deduplicated() -> None:
    (case,) = [v for v in VECTORS["more_vectors"] if "params_list" in v]
    params = MultiDict([(k, v) for k, v in case["params_list"]])
    assert signature_valid(VECTORS["auth_token"], case["url"], params, case["expected_signature"])


def test_forged_or_missing_signatures_are_refused() -> None:
    token, url, params = VECTORS["auth_token"], VECTORS["url"], VECTORS["params"]
    good = VECTORS["expected_signature"]
    assert not signature_valid("54321", url, params, good)  # another account's token
    assert not signature_valid(token, url, {**params, "Digits": "9999"}, good)
    assert not signature_valid(token, url.replace("foo=1", "foo=2"), params, good)
    assert not signature_valid(token, url, params, None)
    assert not signature_valid(token, url, params, "")
    assert not signature_valid(token, url, params, good[:-2] + "A=")


def test_the_signed_stop_webhook() -> None:
    params = MultiDict(parse_qsl(STOP["form_body"], keep_blank_values=True))
    assert dict(params) == STOP["params"]
    assert signature_valid(STOP["auth_token"], STOP["url"], params, STOP["X-Twilio-Signature"])

    sms = parse_inbound_sms(params)
    assert sms.keyword == "STOP"
    assert sms.opt_out_type == "STOP"
    assert sms.from_ == "+571138050810"
    assert sms.message_sid == "SMa56324aa4a31735561b7205472192d68"
    assert sms.messaging_service_sid == "MG00000000000000000000000000000000"
    assert "+571138050810" not in repr(sms)  # phone numbers stay out of logs


def test_a_stop_webhook_with_its_body_changed_is_refused() -> None:
    params = MultiDict(parse_qsl(STOP["form_body"], keep_blank_values=True))
    params["Body"] = "START"
    assert not signature_valid(STOP["auth_token"], STOP["url"], params, STOP["X-Twilio-Signature"])
    # the URL is part of what is signed: the same request posted elsewhere is refused
    assert not signature_valid(
        STOP["auth_token"],
        "https://example.org/twilio/status",
        MultiDict(parse_qsl(STOP["form_body"], keep_blank_values=True)),
        STOP["X-Twilio-Signature"],
    )


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop \n", "STOP"),
        ("ARRET", "STOP"),
        ("arrête", "STOP"),
        ("Arrêt", "STOP"),
        ("unsubscribe", "STOP"),
        ("STOPALL", "STOP"),
        ("End", "STOP"),
        ("quit", "STOP"),
        ("revoke", "STOP"),
        ("optout", "STOP"),
        ("Cancel", "STOP"),
        ("START", "START"),
        ("yes", "START"),
        ("unstop", "START"),
        ("help", "HELP"),
        ("stop please", None),
        ("Please STOP", None),
        ("stopped", None),
        ("", None),
        ("Merci !", None),
    ],
)
def test_keywords_count_only_when_they_are_the_whole_body(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


def test_inbound_sms_without_opt_out_type_is_read_from_its_body() -> None:
    params = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "AC" + "2" * 32,
        "From": "+33612345678",
        "To": "+33700000000",
        "Body": "Arret",
    }
    sms = parse_inbound_sms(params)
    assert (sms.keyword, sms.opt_out_type, sms.body) == ("STOP", None, "Arret")
    assert parse_inbound_sms({**params, "Body": "Bonjour"}).keyword is None
    # Twilio's own OptOutType wins over our reading of the body
    assert parse_inbound_sms({**params, "Body": "oui", "OptOutType": "START"}).keyword == "START"
    with pytest.raises(WebhookError):
        parse_inbound_sms({k: v for k, v in params.items() if k != "From"})


def test_status_callbacks() -> None:
    base = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "b" * 32, "ApiVersion": "x"}
    sent = parse_status_callback({**base, "MessageStatus": "sent", "SmsStatus": "sent"})
    assert (sent.message_sid, sent.status, sent.error_code, sent.final) == (
        base["MessageSid"],
        "sent",
        None,
        False,
    )
    failed = parse_status_callback({**base, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert (failed.status, failed.error_code, failed.final) == ("undelivered", 30003, True)
    legacy = parse_status_callback({"SmsSid": base["MessageSid"], "SmsStatus": "delivered"})
    assert legacy.status == "delivered" and legacy.final
    with pytest.raises(WebhookError):
        parse_status_callback({"MessageStatus": "sent"})
    with pytest.raises(WebhookError):
        parse_status_callback({"MessageSid": base["MessageSid"]})
    with pytest.raises(WebhookError):
        parse_status_callback({**base, "MessageStatus": "failed", "ErrorCode": "x"})


async def test_replying_with_the_code_confirms_the_number(redis: Any, settings: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from notifier.api.app import create_api
    from notifier.settings import Secret
    from notifier.wiring import build_services
    from subscriptions.store import SubscriptionStore

    token = "f" * 32
    s = settings.replace(twilio_auth_token=Secret(token))

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        raise AssertionError("an inbound SMS publishes nothing")

    store = SubscriptionStore(redis)
    c = await store.create_citizen("paris", "en")
    cp = await store.add_contact("paris", c.id, "sms", "+33612345678", "pending", "import")
    await store.set_code("paris", cp.id, "246810")
    url = f"{s.base_url}/v1/cities/paris/twilio/inbound"
    async with TestClient(TestServer(create_api(s, build_services(s, redis, publish)))) as client:
        for sid, body, status in (("a", "111111", "pending"), ("b", " 246810 ", "confirmed")):
            params = {
                "MessageSid": "SM" + sid * 32,  # each message its own (a replay is ignored)
                "AccountSid": "AC" + "1" * 32,
                "From": "+33612345678",
                "To": "+33700000001",
                "Body": body,
            }
            headers = {"X-Twilio-Signature": compute_signature(token, url, params)}
            r = await client.post("/v1/cities/paris/twilio/inbound", data=params, headers=headers)
            assert r.status == 200
            assert (await store.contact("paris", cp.id)).status == status
        assert "Number confirmed" in await r.text()
    assert (await store.consent_log("paris", c.id))[-1]["how"] == "SMS code reply"
