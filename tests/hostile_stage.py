"""The API as an outsider meets it, for the fuzzing (``tests/integration/test_hostile.py``,
``tests/security/test_raw_json.py``): ``notifier api`` as its own process with SMS (signed
webhooks) and web push on (``served``, one per test module), and the ids, key and token a
request needs to get past the doors (``world``). Registered by ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from channels.push import generate_vapid_keys
from notifier.api.auth import create_department_key
from notifier.dev import embedded
from notifier.settings import Secret, Settings
from notifier.wiring import make_redis
from subscriptions import tokens

SECRET = "test-secret-" + "x" * 40
TWILIO_TOKEN = "f" * 32
# per operation and generation mode (positive, negative), for each variant: `make test` runs 20,
# the same ones every time; `make fuzz` runs FUZZ_EXAMPLES (500) new ones (FUZZ_RANDOM=1)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "0") != "1"
TIMEOUT = 110 * max(1, EXAMPLES // 20)  # seconds per operation
# A body past the JSON limit is refused with 413 (documented on the operations that take one);
# schemathesis counts only 400, 401, 403, 404, 405, 406, 409, 415, 422, 428 and 429 as a
# rejection of invalid data, so a large invalid case failed or passed with the generated sizes.
SCHEMATHESIS = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    *(str(s) for s in (400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429)),
                    "5xx",
                ]
            }
        }
    }
)
ANNOUNCEMENT: dict[str, Any] = {
    "category": "roadworks",
    "target": {"areas": ["75105"]},
    "content": {"fr": {"title": "Travaux", "body": "Rue fermée."}},
}


@dataclasses.dataclass
class Served:
    url: str
    settings: Settings
    schema: Any


@pytest.fixture(scope="module")
def served(kafka_url: str, redis_url: str, logs: Path) -> Iterator[Served]:
    """``notifier api`` as a real process, with SMS (signed webhooks) and web push on."""
    port = embedded.free_port()
    s = Settings(
        kafka_url=kafka_url,
        redis_url=redis_url,
        smtp_url=Secret("smtp://127.0.0.1:9"),  # the API sends nothing itself
        secret_key=Secret(SECRET),
        topic_prefix=f"h{uuid.uuid4().hex[:8]}.",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=Secret(TWILIO_TOKEN),
        twilio_from="+33700000001",
        vapid_private_key=Secret(generate_vapid_keys().private_key),
        api_port=port,
        public_url=f"http://127.0.0.1:{port}",
    )
    proc = embedded.spawn(
        embedded.python_module("notifier", "api"),
        logs / f"api-hostile-{port}.log",
        env=embedded.child_env(s.to_env()),
    )
    try:
        embedded.wait_port(port, proc)
        url = f"http://127.0.0.1:{port}"
        schema = schemathesis.openapi.from_url(url + "/v1/openapi.json", config=SCHEMATHESIS)
        yield Served(url, s, schema)
    finally:
        embedded.stop(proc)


@dataclasses.dataclass
class World:
    """What a fuzzed request needs to get past the doors: real ids, a key, a token."""

    path: dict[str, str]
    citizen: str  # management token
    department: str  # department key


async def _key(redis_url: str) -> str:
    r = make_redis(Settings(redis_url=redis_url))
    try:
        await r.flushdb()
        return await create_department_key(r, "paris", "voirie")
    finally:
        await r.aclose()


@pytest.fixture
def world(served: Served, redis_url: str) -> World:
    """An empty database, then a citizen with an email, a phone and a subscription, a
    department key, one announcement, one draft and one service request."""
    key = asyncio.run(_key(redis_url))
    base = served.url + "/v1/cities/paris"
    c = requests.post(
        base + "/citizens", json={"email": "a@example.org", "phone": "0612345678"}, timeout=10
    ).json()
    cid, token = c["citizen"]["id"], c["token"]
    h = {"Authorization": f"Bearer {token}"}
    sub = requests.post(
        f"{base}/citizens/{cid}/subscriptions", json={"area": "75105"}, headers=h, timeout=10
    ).json()
    dh = {"Authorization": f"Bearer {key}"}
    event = requests.post(base + "/announcements", json=ANNOUNCEMENT, headers=dh, timeout=10)
    filed = requests.post(
        base + "/requests", json={"service_code": "pothole", "service_request_id": "14-1"},
        headers=dh, timeout=10,
    )  # fmt: skip
    draft = requests.post(base + "/drafts", json=ANNOUNCEMENT, headers=dh, timeout=10)
    assert (event.status_code, filed.status_code) == (202, 201), (event.text, filed.text)
    assert draft.status_code == 201, draft.text
    email, phone = sorted(c["contacts"], key=lambda x: x["channel"])
    return World(
        path={
            "city": "paris",
            "cid": cid,
            "pid": phone["id"],
            "sid": sub["id"],
            "eid": event.json()["id"],
            "did": draft.json()["id"],
            "rid": "14-1",
            "token": tokens.sign(SECRET, "unsubscribe", "paris", email["id"]),
        },
        citizen=token,
        department=key,
    )
