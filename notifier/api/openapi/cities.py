"""JSON Schemas of the cities routes (``notifier.api.cities``), merged into the document's
components by ``notifier.api.openapi.components.components``."""

from __future__ import annotations

from typing import Any

from subscriptions.categories import CATEGORIES
from subscriptions.cities import CITY_ID, COLOUR, LIMITED, MAX_AREAS
from templates import LANGUAGES

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}
CHANNEL_NUMBERS: Schema = {
    "type": "object",
    "propertyNames": {"enum": list(LIMITED)},
    "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _level(description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "kind": {"type": "string", "pattern": "^[a-z_]{2,30}$", "examples": ["quartier"]},
            "code": {"type": "string", "description": "The property that holds an area's code."},
            "name": {"type": "string", "description": "The property that holds its name."},
            "parent": {
                "type": "string",
                "description": "Second level: the property naming "
                "the first-level code; none: the first-level area that holds it.",
            },
            "geojson": {
                "type": "object",
                "description": "A FeatureCollection of Polygons and "
                "MultiPolygons in lon/lat (WGS 84).",
            },
        },
        "required": ["code", "name", "geojson"],
    }


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
    "CityInput": {
        "type": "object",
        "description": "A city document (as `notifier city create` reads, with the GeoJSON "
        "inline). Languages, categories: among those the service has templates and channels "
        "for.",
        "properties": {
            "id": {"type": "string", "description": "If given, the city of the path."},
            "name": {"type": "string", "maxLength": 80},
            "timezone": {"type": "string", "examples": ["Europe/Paris"]},
            "default_language": {"enum": list(LANGUAGES)},
            "languages": {"type": "array", "items": {"enum": list(LANGUAGES)}, "minItems": 1},
            "categories": {"type": "array", "items": {"enum": list(CATEGORIES)}, "minItems": 1},
            "departments": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,39}$"},
            },
            "email": {"type": "object", "properties": {"from": STRING, "reply_to": STRING}},
            "country": {
                "type": "string",
                "pattern": "^[A-Z]{2}$",
                "description": "The city's country (ISO 3166 alpha-2; default FR): how a phone "
                "number typed without `+` is read.",
            },
            "sms": {
                "type": "object",
                "properties": {
                    "from": STRING,
                    "countries": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[A-Z]{2}$"},
                        "maxItems": 50,
                        "description": "The countries whose mobile numbers may be texted "
                        "(default: `country` only); another country's number is a 422 "
                        "naming `phone`.",
                    },
                },
            },
            "branding": {
                "type": "object",
                "properties": {
                    "colour": {"type": "string", "pattern": f"^{COLOUR.pattern}$"},
                    "logo_url": {"type": "string", "pattern": "^https://"},
                },
            },
            "limits": {
                "type": "object",
                "properties": {"rates": CHANNEL_NUMBERS, "monthly_quotas": CHANNEL_NUMBERS},
            },
            "areas": _level("The first level (e.g. arrondissements)."),
            "subareas": _level("An optional second level (e.g. quartiers)."),
        },
        "required": ["name", "areas"],
    },
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
