"""Event categories and the CAP severity scale."""

from __future__ import annotations

import re

from subscriptions.errors import InvalidInput
from subscriptions.rules import Schema

# The city's category list (per city once cities carry their own).
CATEGORIES = (
    "roadworks",
    "water",
    "waste",
    "transport",
    "events",
    "safety",
    "weather",
    "environment",
    "culture",
    "general",
)

# CAP 1.2 <severity>, lowest first; "unknown" ranks lowest, so any threshold above it filters it.
SEVERITIES = ("unknown", "minor", "moderate", "severe", "extreme")


def severity_rank(value: str) -> int:
    return SEVERITIES.index(value)


def check_category(value: object, field: str = "category") -> str:
    if value not in CATEGORIES:
        raise InvalidInput(field, f"must be one of {', '.join(CATEGORIES)}", "not_category")
    return str(value)


def check_severity(value: object, field: str = "severity") -> str:
    if isinstance(value, str) and value.lower() in SEVERITIES:
        return value.lower()
    raise InvalidInput(field, f"must be one of {', '.join(SEVERITIES)}", "not_severity")


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# what ``check_category`` and ``check_severity`` take (a severity in any case), and a severity
# as the API answers it
SCHEMAS: dict[str, Schema] = {
    "Category": {"enum": list(CATEGORIES)},
    "Severity": {"enum": list(SEVERITIES), "description": "CAP 1.2 severity, lowest first"},
    "SeverityInput": {
        "type": "string",
        "pattern": "^(" + "|".join(_any_case(s) for s in SEVERITIES) + ")$",
        "description": f"one of {', '.join(SEVERITIES)} (CAP 1.2), in any case",
        "examples": list(SEVERITIES),
    },
}
