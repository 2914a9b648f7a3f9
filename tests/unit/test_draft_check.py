"""What the check step compares between the French and English texts of an announcement: the
dates, times, numbers and links each says, whatever the language writes them like."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.actions.draft_check import differences, facts, sms_cut

FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]  # fmt: skip
EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]  # fmt: skip


@pytest.mark.parametrize(
    ("french", "english"),
    [
        ("le 5 décembre", "on December 5"),
        ("le 1er décembre 2026", "on December 1st, 2026"),
        ("le 05/12/2026", "on 05.12.2026"),
        ("de 14 h 30 à 18h", "from 2:30 pm to 6 p.m."),
        ("à 0h", "at 12 am"),
        ("1 000 foyers", "1,000 homes"),
        ("2,5 km", "2.5 km"),
        ("voir https://paris.fr/eau.", "see https://paris.fr/eau"),
    ],
)
def test_the_same_facts_written_in_each_language_agree(french: str, english: str) -> None:
    assert facts(french) == facts(english)
    assert differences({"title": "", "body": french}, {"title": "", "body": english}) == []


def test_what_one_language_says_and_the_other_does_not_is_named() -> None:
    fr = {"title": "Coupure d'eau", "body": "Le 5 décembre de 8 h à 12 h, 300 foyers."}
    en = {"title": "Water cut", "body": "On December 6 from 8 am to 12 pm, 30 homes."}
    assert differences(fr, en) == [
        {"kind": "dates", "fr": ["12-05"], "en": ["12-06"]},
        {"kind": "numbers", "fr": ["300"], "en": ["30"]},
    ]
    with_link = {**fr, "link": "https://paris.fr/eau"}
    assert differences(with_link, {**en, "body": fr["body"]})[0] == {
        "kind": "links",
        "fr": ["https://paris.fr/eau"],
        "en": [],
    }


def test_words_that_look_like_times_are_not_times() -> None:
    assert facts("2 hours, 3 heures")["times"] == set()


@given(st.integers(1, 28), st.integers(1, 12), st.integers(0, 23), st.integers(0, 59))
def test_any_date_and_time_reads_the_same_in_french_and_english(
    day: int, month: int, hour: int, minute: int
) -> None:
    twelve = f"{hour % 12 or 12}:{minute:02d} {'pm' if hour >= 12 else 'am'}"
    french = facts(f"Le {day} {FR_MONTHS[month - 1]} à {hour} h {minute:02d}.")
    english = facts(f"On {EN_MONTHS[month - 1]} {day} at {twelve}.")
    assert french == english
    assert french["dates"] == {f"{month:02d}-{day:02d}"}
    assert french["times"] == {f"{hour:02d}:{minute:02d}"}


@given(st.integers(0, 10**9))
def test_any_number_reads_the_same_with_either_separator(n: int) -> None:
    assert facts(f"{n:,} foyers".replace(",", " ")) == facts(f"{n:,} homes")
    assert facts(f"{n:,} homes")["numbers"] == {str(n)}


def test_an_sms_that_holds_the_whole_text_is_not_cut() -> None:
    body = "La rue Monge est fermée « du 1er au 5 décembre »."
    assert not sms_cut(body, 'Paris : La rue Monge est fermée " du 1er au 5 décembre ". STOP')
    assert sms_cut(body, "Paris : La rue Monge est fermée... STOP")
