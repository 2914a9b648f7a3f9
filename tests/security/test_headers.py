"""Every HTML answer carries the pages' security headers (a CSP that forbids framing and
foreign scripts, nosniff, no referrer: tokens are in the link pages' URLs); every other
answer at least nosniff."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from subscriptions import tokens

Client = TestClient[Any, Any]


def assert_page_headers(headers: Any, where: str) -> None:
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, where
    assert "default-src 'self'" in csp, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "no-referrer", where


async def test_the_link_pages_and_manage_carry_the_security_headers(
    api: Client, settings: Any
) -> None:
    a = await (await api.post("/v1/cities/paris/citizens", json={"email": "a@example.org"})).json()
    cp, secret = a["contacts"][0]["id"], str(settings.secret_key)
    confirm = f"/v1/confirm/{tokens.sign(secret, 'confirm', 'paris', cp)}"
    unsubscribe = f"/v1/unsubscribe/{tokens.sign(secret, 'unsubscribe', 'paris', cp)}"
    html = {"Accept": "text/html"}
    answers = {
        "/manage": await api.get("/manage"),
        "confirm page": await api.get(confirm),
        "confirmed page": await api.post(confirm, headers=html),
        "unsubscribe page": await api.get(unsubscribe),
        "unsubscribed page": await api.post(unsubscribe, headers=html),
        "docs": await api.get("/v1/docs"),
        "portal": await api.get("/"),
    }
    for where, r in answers.items():
        assert r.status == 200 and r.content_type == "text/html", where
        assert_page_headers(r.headers, where)


async def test_json_answers_and_errors_are_nosniff(api: Client) -> None:
    for r in (
        await api.get("/v1/cities"),
        await api.get("/v1/cities/nowhere/areas"),  # a JSON 404
        await api.post(
            "/v1/cities/paris/citizens", data="{", headers={"Content-Type": "application/json"}
        ),
        await api.get("/v1/confirm/forged.token"),  # a 422
    ):
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (r.status, r.url)
