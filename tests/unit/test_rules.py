"""Input rules declared once (``subscriptions.rules``): a field's check and its schema come from
the same declaration, and agree on what they both can say."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from notifier.actions.request_filing import REQUESTER
from notifier.api.citizens import CODE, CONTACT
from notifier.api.openapi import document
from streams.announcements import CANCEL, CONTENT, MAX_LINK
from streams.records import MAX_BODY, MAX_TITLE
from streams.request_records import INFO
from subscriptions.errors import InvalidInput
from subscriptions.rules import Field, at_least_one, body_schema, exactly_one, given

COMPONENTS = document.document()["components"]


def schema_accepts(field: Field, value: object) -> bool:
    schema = {**field.described(), "components": COMPONENTS}
    return Draft202012Validator(schema).is_valid(value)


def check_accepts(field: Field, value: object) -> bool:
    try:
        field.read({"x": value}, "x")
    except InvalidInput:
        return False
    return True


SAMPLES: list[tuple[dict[str, Field], str, Any]] = [
    (CONTENT, "title", "Travaux"),
    (CONTENT, "title", "  Rue\n\tfermée  "),
    (CONTENT, "title", ""),
    (CONTENT, "title", "   "),
    (CONTENT, "title", None),
    (CONTENT, "title", 42),
    (CONTENT, "title", "x" * MAX_TITLE),
    (CONTENT, "title", "x" * (MAX_TITLE + 1)),
    (CONTENT, "body", "x" * (MAX_BODY + 1)),
    (CONTENT, "body", "Ligne 1\nLigne 2"),
    (CONTENT, "link", None),
    (CONTENT, "link", ""),
    (CONTENT, "link", "https://paris.fr/x"),
    (CONTENT, "link", " http://paris.fr"),
    (CONTENT, "link", "ftp://paris.fr"),
    (CONTENT, "link", "https://" + "x" * MAX_LINK),
    (CONTENT, "instructions", None),
    (CONTENT, "instructions", "Contournez."),
    (CANCEL, "notify", False),
    (CANCEL, "notify", "yes"),
    (CANCEL, "reason", "Reporté"),
    (CANCEL, "reason", None),
    (INFO, "service_name", "Nid-de-poule"),
    (INFO, "service_name", 3),
    (INFO, "description", "x" * 4001),
    (INFO, "lat", "48.85"),
    (INFO, "lat", 91),
    (INFO, "long", "east"),
    (CODE, "code", "123456"),
    (CODE, "code", "12a456"),
    (CODE, "code", ""),
    (CODE, "code", None),
    (CODE, "code", 123456),
    (REQUESTER, "language", "en"),
    (REQUESTER, "language", "de"),
    (REQUESTER, "language", None),
]


@pytest.mark.parametrize(("fields", "name", "value"), SAMPLES)
def test_a_fields_check_and_its_schema_agree(
    fields: dict[str, Field], name: str, value: object
) -> None:
    field = fields[name]
    assert check_accepts(field, value) == schema_accepts(field, value), (name, value)


def test_a_control_character_is_refused_by_the_check_and_said_in_the_description() -> None:
    title = CONTENT["title"]
    assert schema_accepts(title, "Crue\x00") and not check_accepts(title, "Crue\x00")
    assert "control character" in title.schema["description"]


def test_a_bodys_schema_is_made_of_its_fields() -> None:
    fields = {
        "a": Field({"type": "string"}, required=True),
        "b": Field({"type": "integer"}, default=3),
    }
    assert body_schema(fields, additionalProperties=False) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer", "default": 3}},
        "additionalProperties": False,
        "required": ["a"],
    }
    assert Field({}, lambda v, where: (v, where), default=3).read({}, "b") == (3, "b")


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@b.fr"}, {"email": "a@b.fr", "phone": None}, {"phone": "0612345678"}]
    + [{"email": "a@b.fr", "phone": "0612345678"}, {"push": None}, {"email": None}],
)
def test_exactly_one_says_what_given_finds(body: dict[str, Any]) -> None:
    schema = {**exactly_one(CONTACT), "components": COMPONENTS}
    valid = Draft202012Validator(schema).is_valid(body)
    assert valid == (len(given(body, CONTACT)) == 1), body
    assert Draft202012Validator({"anyOf": at_least_one(CONTACT)}).is_valid(body) == bool(
        given(body, CONTACT)
    ), body
