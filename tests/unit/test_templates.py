from __future__ import annotations

import csv
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

import templates
from channels.email import Email, build_message
from streams.delivery.send import ALLOWED
from templates import BATCH_KINDS, LANGUAGES, MESSAGE_KINDS
from templates.renderer import PARTS, Brand, Renderer, TemplateError

DATA = Path(__file__).parents[1] / "data"
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
        "changes": "",
    },
    "confirmation": {"city_name": "Paris", "confirm_url": "https://x/c"},
}
SAMPLE["cancellation"] = {
    **SAMPLE["announcement"],
    "reason": "Les travaux sont reportés.",
    "reason_language": "",
    "reason_lang": "fr",
}
SAMPLE["confirmation"]["code"] = "123456"
SAMPLE["magic_link"] = {"city_name": "Paris", "manage_url": "https://x/manage#t"}
SAMPLE["announcement"].update(instructions="", expires_at=None)
SAMPLE["digest"] = {
    "city_name": "Paris",
    "areas": "Panthéon",
    "period": "daily",
    "unsubscribe_url": "https://x/u",
    "body": "Travaux rue Monge; Coupure d'eau",
    "items": [
        {
            "title": "Travaux rue Monge",
            "body": "Fermée.",
            "link": "",
            "department": "voirie",
            "at": 1_772_546_400,
        },
        {
            "title": "Coupure d'eau",
            "body": "De 8 h à 12 h.",
            "link": "https://www.paris.fr",
            "department": "eau",
            "at": 1_772_550_000,
        },
    ],
}
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
SAMPLE["help"] = SAMPLE["number_confirmed"] = {"city_name": "Paris"}  # replies to an SMS


@pytest.mark.parametrize(
    ("kind", "channel"), [(k, c) for k, m in MESSAGE_KINDS.items() for c in m.channels]
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_on_every_channel(kind: str, channel: str, lang: str) -> None:
    out = Renderer().render_parts(kind, channel, lang, SAMPLE[kind])
    assert all(v.strip() for v in out.values())
    if channel == "sms":
        assert "\n" not in out["text"] and len(out["text"]) <= 320
    if channel == "push":
        assert len(out["title"]) + len(out["body"]) < 1000


@pytest.mark.parametrize("kind", [k for k, m in MESSAGE_KINDS.items() if "email" in m.channels])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_email_renders(kind: str, lang: str) -> None:
    out = Renderer().render_email(kind, lang, SAMPLE[kind])
    assert out["subject"] and "\n" not in out["subject"]
    assert out["html"].startswith("<!doctype html>") and f'lang="{lang}"' in out["html"]
    assert out["text"].strip()


def test_all_templates_load_at_start() -> None:
    per_language = sum(len(PARTS[c]) for m in MESSAGE_KINDS.values() for c in m.channels)
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


def test_an_update_says_what_changed_and_a_reason_in_another_language_says_which() -> None:
    r = Renderer()
    update = {**SAMPLE["announcement"], "is_update": True, "changes": "the text and the area"}
    for channel in ("email", "sms", "push"):
        parts = r.render_parts("announcement", channel, "en", update)
        assert "the text and the area" in " ".join(parts.values()), channel
    email = r.render_email("announcement", "en", update)
    assert "What changed: the text and the area." in email["text"]
    french = {**SAMPLE["cancellation"], "reason_language": "French", "reason_lang": "fr"}
    cancelled = r.render_email("cancellation", "en", french)
    assert "Reason (in French): Les travaux sont reportés." in cancelled["text"]
    assert '<span lang="fr">Les travaux sont reportés.</span>' in cancelled["html"]
    sms = r.render_parts("cancellation", "sms", "en", french)["text"]
    assert "(in French) Les travaux sont reportés." in sms


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    ctx = dict(SAMPLE["announcement"])
    del ctx["title"]
    with pytest.raises(TemplateError, match="title"):
        Renderer().render_email("announcement", "fr", ctx)


def test_unknown_language_falls_back_to_the_default() -> None:
    r = Renderer(default_language="en")
    assert r.language_for("announcement", "de") == "en"
    assert Renderer().language_for("announcement", "de") == "fr"
    # the replies to an SMS have no email: their language is looked up by their SMS
    assert Renderer().language_for("help", "en") == "en"
    assert Renderer().render("help", "sms", "de", SAMPLE["help"]).startswith("Alertes de Paris")


def test_sandbox_refuses_unsafe_attribute_access() -> None:
    env = Renderer().env
    with pytest.raises(Exception, match="unsafe|access"):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


def test_dates_read_in_the_citizens_language_and_the_city_time() -> None:
    tuesday = datetime(2026, 3, 3, 14, 0, tzinfo=UTC).timestamp()  # 15:00 in Paris (CET)
    r = Renderer()
    ctx = dict(
        SAMPLE["announcement"], expires_at=tuesday, instructions="Contournez par la rue Cuvier."
    )
    fr = r.render_email("announcement", "fr", ctx)
    assert "Valable jusqu'au mardi 3 mars à 15 h 00." in fr["text"]
    assert "Que faire : Contournez par la rue Cuvier." in fr["text"]
    assert (
        "Valid until Tuesday 3 March at 3:00 PM."
        in r.render_email("announcement", "en", ctx)["text"]
    )
    digest = r.render_email(
        "digest",
        "fr",
        dict(SAMPLE["digest"], items=[dict(SAMPLE["digest"]["items"][0], at=tuesday)]),
    )
    assert "(voirie, mardi 3 mars à 15 h 00)" in digest["text"]
    assert digest["subject"] == "Paris : 1 information du jour"


def test_the_email_layout_carries_the_city_brand() -> None:
    brand = Brand(name="Paris", colour="#123456", logo_url="https://x/static/icon-192.png")
    html = Renderer(brand=brand).render_email("announcement", "fr", SAMPLE["announcement"])["html"]
    assert "background:#123456" in html and 'src="https://x/static/icon-192.png"' in html
    assert 'alt=""' in html and '<html lang="fr">' in html


def test_an_email_is_multipart_alternative_with_the_unsubscribe_headers() -> None:
    parts = Renderer().render_email("announcement", "fr", SAMPLE["announcement"])
    email = Email(
        to="a@example.org",
        subject=parts["subject"],
        text=parts["text"],
        html=parts["html"],
        message_id="<n1@paris.example>",
        headers=(
            ("List-Unsubscribe", "<https://x/u>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )
    msg = message_from_bytes(
        bytes(build_message("Paris <n@paris.example>", email)), policy=policy.default
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe"] == "<https://x/u>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Rue fermée." in msg.get_body(("plain",)).get_content()


def test_dans_ma_rue_reports_read_right_in_sms_and_push() -> None:
    with (DATA / "dansmarue_anomalies_2023-2024_trottoirs_sample.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    old = (DATA / "dansmarue_anomalies_2017_sample_oldschema.csv").read_text(encoding="utf-8")
    r = Renderer()
    reports = [(row["soustype"], row["adresse"]) for row in rows[:300]]
    reports += [(line.split(";")[1], line.split(";")[2]) for line in old.splitlines()[1:]]
    for soustype, address in reports:
        ctx = dict(
            SAMPLE["announcement"],
            title=soustype.split(":")[0].strip(),
            body=f"{soustype} au {address}.",
        )
        push = r.render_parts("announcement", "push", "fr", ctx)
        assert push["title"] == ctx["title"]
        # the real data has double spaces ("1  Rue Montmartre"): a notification collapses them
        assert " ".join(address.split()) in push["body"] or push["body"].endswith("…")
        sms = r.render_sms("announcement", "fr", ctx)
        assert "?" not in sms.text and sms.segments <= 2
        assert all(c in sms.text for c in "éèàç" if c in ctx["body"][:60])


def test_a_message_is_built_once_and_filled_per_recipient() -> None:
    from channels.email import MessageCache

    parts = Renderer().render_email(
        "announcement",
        "fr",
        SAMPLE["announcement"]
        | {"unsubscribe_url": "@@UNSUBSCRIBE_URL@@", "body": "Rue fermée. " * 200},
    )
    cache = MessageCache("Ville de Paris <notifications@paris.example>")
    seen = []
    for n in range(3):
        url = f"https://x/v1/unsubscribe/token-{n}"
        email = Email(
            to=f"c{n}@example.org",
            subject=parts["subject"],
            text=parts["text"],
            html=parts["html"],
            message_id=f"<n{n}@paris.example>",
            headers=(
                ("List-Unsubscribe", f"<{url}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ),
            fills=(("@@UNSUBSCRIBE_URL@@", url),),
        )
        raw = cache.render(email)
        assert raw is not None  # the fast path
        msg = message_from_bytes(raw, policy=policy.default)
        assert (msg["To"], msg["Message-ID"]) == (f"c{n}@example.org", f"<n{n}@paris.example>")
        assert msg["List-Unsubscribe"] == f"<{url}>" and "placeholder" not in raw.decode()
        assert url in msg.get_body(("plain",)).get_content()
        assert f'href="{url}"' in msg.get_body(("html",)).get_content()
        assert "Rue fermée. Rue fermée." in msg.get_body(("plain",)).get_content()
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        seen.append(msg["Date"])
    assert len(cache._cache) == 1  # built once
    odd = Email(to="zoé@exemple.fr", subject="s", text="t", html="<p>h</p>", message_id="<m@x>")
    assert cache.render(odd) is None  # a non-ASCII address takes the slow path


def test_the_template_folders_are_the_message_kinds_in_the_languages() -> None:
    """``templates.MESSAGE_KINDS`` and ``LANGUAGES`` are the one list of each: a folder or a
    language file that neither names is never loaded."""
    root = Path(templates.__file__).parent
    folders = {p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.j2"))}
    assert folders - {"layout"} == set(MESSAGE_KINDS)
    written_in = {p.name.split(".")[-2] for p in root.glob("*/*.j2") if p.parent.name != "layout"}
    assert written_in == set(LANGUAGES)
    assert set(ALLOWED) == set(BATCH_KINDS)  # who may receive each kind a batch carries
