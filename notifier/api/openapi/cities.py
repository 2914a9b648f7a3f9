"""JSON Schemas of the cities routes (``notifier.api.cities``), merged into the document's
components by ``notifier.api.openapi.components.components``: the answers, and a citizen's
move; the city document taken is declared beside its check (``subscriptions.city_document``)."""

from __future__ import annotations

from typing import Any

from subscriptions import city_document
from subscriptions.categories import CATEGORIES
from subscriptions.cities import CITY_ID, COLOUR, MAX_AREAS
from templates import LANGUAGES

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


CITY: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": f"^{CITY_ID.pattern}$"},
        "name": STRING,
        "timezone": STRING,
        "default_language": {"enum": list(LANGUAGES)},
        "languages": {"type": "array", "items": {"enum": list(LANGUAGES)}},
        "categories": {"type": "array", "items": {"enum": list(CATEGORIES)}},
        "departments": {"type": "array", "items": STRING},
        "department_names": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": STRING},
            "description": "department id -> its name per language, as messages give it",
        },
        "branding": {
            "type": "object",
            "properties": {
                "colour": {"type": "string", "pattern": f"^{COLOUR.pattern}$"},
                "logo_url": STRING,
            },
        },
    },
    "required": ["id", "name", "timezone", "default_language", "languages", "categories"],
}

SCHEMAS: dict[str, Schema] = {
    "Cities": {
        "type": "object",
        "properties": {
            "cities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": STRING, "name": STRING},
                    "required": ["id", "name"],
                },
            }
        },
        "required": ["cities"],
    },
    "City": {
        **CITY,
        "properties": {
            **CITY["properties"],
            "areas": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "How many areas of each kind.",
            },
        },
    },
    "CityPut": {
        **CITY,
        "properties": {
            **CITY["properties"],
            "areas": {"type": "integer", "maximum": MAX_AREAS},
            "href": STRING,
        },
    },
    "CityInput": city_document.SCHEMA,
    "MoveInput": {
        "type": "object",
        "properties": {
            "to": {"type": "string", "description": "The city moved to (`GET /v1/cities`)."},
            "home": {
                "type": "object",
                "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}},
                "required": ["lon", "lat"],
                "description": "The new address.",
            },
            "radius_m": {"type": "number", "description": "Around `home`; 500 m if none."},
        },
        "required": ["to"],
    },
    "Moved": {
        "type": "object",
        "properties": {
            "city": STRING,
            "citizen": {"type": "object"},
            "token": STRING,
            "subscriptions": {"type": "array", "items": _ref("Subscription")},
            "to_choose_again": {"type": "array", "items": _ref("Subscription")},
            "following_in": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": STRING},
            },
        },
        "required": ["city", "citizen", "token", "subscriptions", "to_choose_again"],
    },
    "Usage": {
        "type": "object",
        "properties": {
            "city": STRING,
            "month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
            "channels": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "handed_over": {"type": "integer", "minimum": 0},
                        "monthly_quota": {"type": ["integer", "null"]},
                        "remaining": {"type": ["integer", "null"]},
                        "rate_per_second": {"type": ["number", "null"]},
                    },
                    "required": ["handed_over", "monthly_quota", "remaining", "rate_per_second"],
                },
            },
        },
        "required": ["city", "month", "channels"],
    },
}
OPERATOR_KEY: Schema = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "no_…",
    "description": "An operator key (`notifier operator-key create [--city C]`).",
}
