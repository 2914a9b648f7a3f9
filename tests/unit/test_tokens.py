from __future__ import annotations

import pytest

from subscriptions import tokens
from subscriptions.errors import InvalidInput

SECRET = "s" * 48


def test_a_token_verifies_for_its_purpose_and_city() -> None:
    t = tokens.sign(SECRET, "confirm", "paris", "cp_1")
    assert tokens.verify(SECRET, t, "confirm", "paris")["s"] == "cp_1"


@pytest.mark.parametrize(("purpose", "city"), [("unsubscribe", "paris"), ("confirm", "lyon")])
def test_a_token_does_not_work_for_another_purpose_or_city(purpose: str, city: str) -> None:
    t = tokens.sign(SECRET, "confirm", "paris", "cp_1")
    with pytest.raises(InvalidInput, match="not a"):
        tokens.verify(SECRET, t, purpose, city)


def test_a_forged_or_tampered_token_is_refused() -> None:
    t = tokens.sign(SECRET, "manage", "paris", "cit_1")
    body, _, mac = t.partition(".")
    forged = tokens.sign("another secret" * 4, "manage", "paris", "cit_2")
    for bad in (forged, forged.split(".")[0] + "." + mac, body + ".", "garbage", ""):
        with pytest.raises(InvalidInput, match="not a valid token"):
            tokens.verify(SECRET, bad, "manage")


def test_an_expired_token_is_refused() -> None:
    t = tokens.sign(SECRET, "confirm", "paris", "cp_1", now=0)
    with pytest.raises(InvalidInput, match="expired"):
        tokens.verify(SECRET, t, "confirm")
