"""Cleaning the bundled articles: furniture gone, story kept, title and date found."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from index.clean import clean, parse_date
from index.loader import load_file

ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"
FURNITURE = ["Leave a Reply", "Leave a review", "Related posts", "Related Posts", "Share this:",
             "READ MORE:", "Source link", "Back to top button", "Related Articles",
             "Your email address will not be published", "4,989 views", "Daily Express US"]


def cleaned(stem: str):  # noqa: ANN201
    path = next(ARTICLES.glob(f"{stem}_*.txt"))
    return clean(load_file(path).text)


@pytest.mark.parametrize("stem", ["000", "001", "002", "003", "004"])
def test_boilerplate_is_gone_and_the_story_stays(stem: str) -> None:
    c = cleaned(stem)
    for junk in FURNITURE:
        assert junk not in c.text
    assert "Crocus" in c.text or "Moscow" in c.text
    assert c.text == unicodedata.normalize("NFC", c.text)


def test_unrelated_teasers_are_removed() -> None:
    assert "Aliyev" not in cleaned("002").text  # unrelated headline above the story
    assert "Aliyev" not in cleaned("002").title
    tail = cleaned("004").text
    for teaser in ("Polad Aslanov", "Ukrainian Center in Baku", "Nijat Ibrahim", "Kyrgyzstan"):
        assert teaser not in tail
    assert tail.endswith("he concluded.")


def test_titles_and_dates() -> None:
    c0 = cleaned("000")
    assert c0.title == "Putin dismissed US warning about imminent terror attack"
    assert c0.published == "2024-03-25"
    c3 = cleaned("003")
    assert c3.title == "U.S. Warned Russia Of Possible ISIS Attack in Moscow - State Dept"
    assert c3.published == "2024-03-26"
    assert cleaned("001").title.startswith("US Alerted Russia to ISIS Threat")
    assert cleaned("004").text.count("U.S. Warned Russia Of Possible") == 0  # title not in body


def test_the_body_keeps_every_story_sentence() -> None:
    raw = load_file(next(ARTICLES.glob("000_*.txt"))).text
    body = cleaned("000").text
    for line in raw.splitlines():
        if line.startswith(("Two weeks prior", "The US Embassy issued", "The intelligence")):
            assert line.strip() in body


def test_html_is_reduced_to_its_text() -> None:
    page = """<html><head><title>Storm hits coast</title>
    <meta property="article:published_time" content="2024-05-01T10:00:00Z">
    <script>var x = "<p>not text</p>";</script></head>
    <body><nav>Home | World</nav><h1>Storm hits coast</h1>
    <p>A storm hit the coast on Monday &amp; flooded 300 homes.</p>
    <p>Share this:</p><p>Officials said repairs would take weeks.</p></body></html>"""
    c = clean(page, is_html=True)
    assert c.title == "Storm hits coast"
    assert c.published == "2024-05-01"
    assert "A storm hit the coast on Monday & flooded 300 homes." in c.text
    assert "not text" not in c.text and "Share this" not in c.text and "Home |" not in c.text


def test_parse_date_forms() -> None:
    assert parse_date("Mon, Mar 25th, 2024") == "2024-03-25"
    assert parse_date("date 2024-03-26") == "2024-03-26"
    assert parse_date("no date here") is None
