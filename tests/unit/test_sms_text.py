"""SMS encoding and length on real Paris text: GSM-7 when possible, UCS-2 otherwise, never a
"?" for a character, within the budget of segments, the link and STOP line kept whole."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from templates.renderer import Renderer
from templates.sms import BODY, fit, measure

DATA = Path(__file__).parents[1] / "data" / "dansmarue_anomalies_2023-2024_trottoirs_sample.csv"


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters count twice
        ("€" * 81, "GSM-7", 2),
        ("Fermée à 20 h, réouverture à 8 h", "GSM-7", 1),  # é, à are GSM-7
        ("Fête de la musique le 21 juin", "UCS-2", 1),  # ê is not
        ("û" * 70, "UCS-2", 1),
        ("û" * 71, "UCS-2", 2),
        ("🚧" * 35, "UCS-2", 1),  # two UTF-16 units each
    ],
)
def test_encoding_and_segments(text: str, encoding: str, segments: int) -> None:
    m = measure(text)
    assert (m.encoding, m.segments) == (encoding, segments)


def test_typography_is_downgraded_and_letters_never_lost() -> None:
    m = measure("« Travaux » – rue de l’Église… “fermée”")
    assert m.text == '" Travaux " - rue de l\'Église... "fermée"'
    assert m.encoding == "GSM-7"
    assert "?" not in measure("Fête – août – œuvre").text
    assert measure("Fête – août – œuvre").text == "Fête - août - œuvre"  # UCS-2, letters kept


def test_fit_cuts_the_body_and_keeps_the_link_and_stop() -> None:
    rendered = f"Paris : Travaux. {BODY} https://www.paris.fr/x Répondez STOP pour ne plus recevoir"
    body = "Le trottoir est affaissé devant le 12. " * 20
    m = fit(rendered, body, 2)
    assert m.segments == 2 and m.text.endswith(
        "https://www.paris.fr/x Répondez STOP pour ne plus recevoir"
    )
    assert "..." in m.text
    short = fit(rendered, "Court.", 2)
    assert short.segments == 1 and "Court." in short.text


def test_every_dans_ma_rue_address_fits_an_alert_sms() -> None:
    with DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    r = Renderer()
    for row in rows:
        body = f"{row['soustype']} signalé au {row['adresse']} ({row['conseilquartier']})."
        for lang in ("fr", "en"):
            sms = r.render_sms(
                "announcement",
                lang,
                {
                    "title": "Trottoir",
                    "body": body,
                    "link": "https://www.paris.fr/dansmarue",
                    "severity": "minor",
                    "department": "voirie",
                    "city_name": "Paris",
                    "areas": "",
                    "unsubscribe_url": "",
                    "is_update": False,
                },
            )
            assert sms.segments <= 2, sms.text
            assert "https://www.paris.fr/dansmarue" in sms.text and "STOP" in sms.text
            assert "?" not in sms.text
