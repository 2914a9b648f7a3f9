"""JSON bodies no client library makes, to every operation that takes one, past the doors (real
ids, a valid key or token): numbers around and past Python's 4,300-digit limit on integers,
floats out of range, deep nests, lone surrogates, control characters, duplicate keys. Each is
answered below 500, with our JSON error when refused.

Schemathesis (``tests/integration/test_hostile.py``) builds its bodies with a JSON library,
which cannot write a 5,000-digit integer; a client on the network can. ``FUZZ_EXAMPLES`` and
``FUZZ_RANDOM`` as in ``tests/hostile_stage.py`` (``make fuzz``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from notifier.api.openapi import document as openapi
from tests.hostile_stage import DERANDOMIZE, EXAMPLES, TIMEOUT, Served, World

OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi.document()["paths"].items()
    for method, op in item.items()
    if method in openapi.METHODS
    and "application/json" in op.get("requestBody", {}).get("content", {})
]

_digits = st.sampled_from([1, 19, 20, 309, 4299, 4300, 4301, 5000, 20_000]).map(lambda n: "9" * n)
NUMBERS = st.one_of(
    st.integers().map(str),
    _digits,
    _digits.map(lambda d: "-" + d),
    st.sampled_from(["1e999999", "-1E400", "1e-999999", "0.0000000000000000000001", "-0"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
STRINGS = st.one_of(
    st.text(max_size=40).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from([r'"\ud800"', r'"\udfff x"', r'"\u0000"', '"\\u202e\\u0007"', '"a\\nb"']),
)
SCALARS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["true", "false", "null"]))
FIELDS = st.sampled_from(
    ["email", "phone", "language", "area", "radius_m", "point", "code", "category", "target",
     "content", "severity", "expires_at", "push", "endpoint", "keys", "lon", "lat", "fr", "title",
     "body", "service_code", "service_request_id", "status", "quiet_hours", "channels"]
)  # fmt: skip


def _object(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(FIELDS, children), max_size=6)  # duplicate keys included
    return pairs.map(lambda ps: "{" + ",".join(f'"{k}":{v}' for k, v in ps) + "}")


VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda xs: "[" + ",".join(xs) + "]"),
        _object(children),
    ),
    max_leaves=20,
)
BODIES = st.one_of(_object(VALUES), st.integers(1, 200).map(lambda n: "[" * n + "]" * n))


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_raw_json_bodies_are_answered_below_500(
    served: Served, world: World, method: str, path: str
) -> None:
    url = served.url + path.format(**world.path)
    by_department = ("/announcements", "/requests", "/drafts")
    auth = world.department if any(p in path for p in by_department) else world.citizen
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {auth}"}
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(body=BODIES)
    def run(body: str) -> None:
        r = requests.request(method, url, data=body.encode(), headers=headers, timeout=30)
        if r.status_code >= 500:
            failures.append(f"{r.status_code} for {body[:200]!r}")
        elif r.status_code >= 400 and r.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            error: Any = r.json().get("error")
            if not (isinstance(error, dict) and error.get("reason")):
                failures.append(f"{r.status_code} without a reason for {body[:200]!r}")

    run()
    assert not failures, "\n".join(dict.fromkeys(failures))
