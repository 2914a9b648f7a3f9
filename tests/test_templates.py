from __future__ import annotations

import pytest

from templates.renderer import CHANNELS, KINDS, LANGUAGES, PARTS, Renderer, TemplateError

SAMPLE = {
    "announcement": {
        "title": "Travaux",
        "body": "Rue fermée.\n\nDéviation.",
        "link": "",
        "severity": "minor",
        "department": "Voirie",
        "city_name": "Paris",
        "areas": "Panthéon",
        "unsubscribe_url": "https://x/u",
        "is_update": False,
    },
    "confirmation": {"city_name": "Paris", "confirm_url": "https://x/c"},
}
SAMPLE["cancellation"] = {**SAMPLE["announcement"], "reason": "Les travaux sont reportés."}
SAMPLE["confirmation"]["code"] = "123456"
SAMPLE["magic_link"] = {"city_name": "Paris", "manage_url": "https://x/manage#t"}
SAMPLE["request_status"] = {
    "request_id": "14-00684314",
    "service_name": "Nid-de-poule",
    "address": "12 rue Monge",
    "status": "scheduled",
    "status_notes": "Intervention prévue le 5 novembre.",
    "body": "Intervention prévue le 5 novembre.",
    "is_closed": False,
    "role": "requester",
    "updated_date": "03/11/2024",
    "updated_time": "08:00",
    "city_name": "Paris",
    "unsubscribe_url": "https://x/u",
}


@pytest.mark.parametrize(("kind", "channel"), [(k, c) for k in KINDS for c in CHANNELS[k]])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_on_every_channel(kind: str, channel: str, lang: str) -> None:
    out = Renderer().render_parts(kind, channel, lang, SAMPLE[kind])
    assert all(v.strip() for v in out.values())
    if channel == "sms":
        assert "\n" not in out["text"] and len(out["text"]) <= 320
    if channel == "push":
        assert len(out["title"]) + len(out["body"]) < 1000


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_email_renders(kind: str, lang: str) -> None:
    out = Renderer().render_email(kind, lang, SAMPLE[kind])
    assert out["subject"] and "\n" not in out["subject"]
    assert out["html"].startswith("<!doctype html>") and f'lang="{lang}"' in out["html"]
    assert out["text"].strip()


def test_all_templates_load_at_start() -> None:
    per_language = sum(len(PARTS[c]) for k in KINDS for c in CHANNELS[k])
    assert Renderer().check() == per_language * len(LANGUAGES)


def test_department_content_is_data_not_template_code() -> None:
    ctx = dict(
        SAMPLE["announcement"],
        title="{{ 7*7 }} <script>alert(1)</script>",
        body="{% for x in range(3) %}x{% endfor %}",
    )
    out = Renderer().render_email("announcement", "fr", ctx)
    assert "{{ 7*7 }}" in out["text"] and "49" not in out["text"]
    assert "{% for x in range(3) %}" in out["text"]
    assert "<script>" not in out["html"] and "&lt;script&gt;" in out["html"]
    assert "<script>" in out["text"]  # plain text is not HTML: nothing to escape


def test_updates_and_cancellations_say_so() -> None:
    r = Renderer()
    update = {**SAMPLE["announcement"], "is_update": True}
    assert r.render_email("announcement", "fr", update)["subject"] == "Mise à jour : Travaux"
    assert r.render_email("announcement", "en", update)["subject"] == "Update: Travaux"
    cancelled = r.render_email("cancellation", "fr", SAMPLE["cancellation"])
    assert cancelled["subject"] == "Annulé : Travaux"
    assert "Les travaux sont reportés." in cancelled["text"]


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    ctx = dict(SAMPLE["announcement"])
    del ctx["title"]
    with pytest.raises(TemplateError, match="title"):
        Renderer().render_email("announcement", "fr", ctx)


def test_unknown_language_falls_back_to_the_default() -> None:
    r = Renderer(default_language="en")
    assert r.language_for("announcement", "de") == "en"
    assert Renderer().language_for("announcement", "de") == "fr"


def test_sandbox_refuses_unsafe_attribute_access() -> None:
    env = Renderer().env
    with pytest.raises(Exception, match="unsafe|access"):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
