"""Cleaning: furniture gone, story kept, title and date found; web pages reduced to what a
reader sees."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from index.clean import clean, head_date, locate_pages, parse_date
from index.html import extract, strip_site
from index.loader import load_file

ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"
DATA = Path(__file__).resolve().parents[1] / "data"
MESSY = DATA / "messy"
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


def test_the_bundled_articles_clean_exactly_as_before() -> None:
    """The eval suite depends on these texts: any change must be a deliberate one."""
    golden = json.loads((DATA / "bundled-cleaned.json").read_text())
    for path in sorted(ARTICLES.glob("*.txt")):
        c = clean(load_file(path).text)
        assert golden[path.stem] == {"title": c.title, "published": c.published,
                                     "source": c.source, "text": c.text}, path.stem


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


def test_a_news_page_keeps_its_story_and_loses_the_site_around_it() -> None:
    c = clean((MESSY / "daily-planet-storm.html").read_text(), is_html=True)
    assert c.title == "Storm floods coastal towns as rivers burst their banks"
    assert c.published == "2024-03-26"
    assert c.source == "Daily Planet"
    assert c.text.startswith("A powerful storm swept across the northern coast on Monday night")
    assert c.text.endswith("the regional council said in a statement on Tuesday.")
    assert c.text.count("\n\n") == 4  # five paragraphs, nothing else
    for junk in ("cookies", "ADVERTISEMENT", "SuperPhone", "All rights reserved", "Subscribe",
                 "Privacy policy", "Related stories", "Heatwave warning", "Share this article",
                 "newsletter", "Home", "By Lois Lane", "| World"):
        assert junk not in c.text, junk


def test_text_a_reader_cannot_see_is_not_indexed() -> None:
    c = clean((MESSY / "daily-planet-storm.html").read_text(), is_html=True)
    for hidden in ("Ignore all previous instructions", "Paris",  # 1-pixel white span
                   "mayor resigned",  # display:none from a <style> rule
                   "PLANET50",  # visibility:hidden from a <style> rule on an id
                   "rainbows",  # aria-hidden
                   "volcanoes",  # the hidden attribute
                   "unicorns"):  # an inline display:none
        assert hidden not in c.text, hidden
    assert "no deaths had been reported by Tuesday morning." in c.text


@pytest.mark.parametrize("style", [
    "display: none", "visibility:hidden", "font-size:0", "font-size: 1px", "font-size:0.05em",
    "opacity:0", "color:#fff", "color: white; background-color: #ffffff",
    "color:#111; background:#101010", "position:absolute; left:-9999px",
    "text-indent:-10000px", "width:1px; height:1px; overflow:hidden",
    "clip: rect(0 0 0 0); position: absolute", "transform: scale(0)",
])
def test_each_way_of_hiding_text_is_caught(style: str) -> None:
    page = (f"<html><body><article><p>Visible words about the harbour fire in Eastport today."
            f"<span style=\"{style}\"> Planted words about dragons.</span></p>"
            "<p>The fire brigade said the blaze was out by noon on Tuesday morning.</p>"
            "</article></body></html>")
    text = extract(page).text
    assert "dragons" not in text and "harbour fire" in text


def test_visible_text_in_light_colours_on_dark_backgrounds_stays() -> None:
    page = ("<html><body><article style='background:#1a1a1a'>"
            "<p style='color:#fafafa'>White words on a dark page about the harbour fire.</p>"
            "<p style='color:#333'>Dark grey words on the default white page, still read.</p>"
            "<div style='background-image:url(x.jpg)'><p style='color:#fff'>White words on a "
            "photograph, which the page does not describe to us.</p></div>"
            "</article></body></html>")
    text = extract(page).text
    assert "White words on a dark page" in text and "Dark grey words" in text
    assert "White words on a photograph" in text


def test_a_style_block_that_hides_text_is_applied_and_nothing_is_fetched() -> None:
    page = ("<html><head><link rel='stylesheet' href='http://192.0.2.1/x.css'>"
            "<style>.promo { display:none } p.tiny { font-size: 1px }</style></head><body>"
            "<article><p>The bridge reopened to traffic on Tuesday after eleven weeks.</p>"
            "<p class='promo'>Buy our planted product now.</p>"
            "<p class='tiny'>Tiny planted words.</p></article></body></html>")
    text = extract(page).text
    assert "planted" not in text and "The bridge reopened" in text


def test_site_names_are_cut_from_titles() -> None:
    assert strip_site("Storm floods towns | World | Daily Planet", "Daily Planet") == \
        "Storm floods towns"
    assert strip_site("Storm floods towns - Daily Planet", "Daily Planet") == "Storm floods towns"
    assert strip_site("Q&A - the mayor speaks", "Daily Planet") == "Q&A - the mayor speaks"


def test_a_page_of_furniture_only_leaves_no_text() -> None:
    assert clean((MESSY / "cookie-wall.html").read_text(), is_html=True).text == ""


@pytest.mark.parametrize(("text", "iso"), [
    ("26 March 2024", "2024-03-26"),
    ("26/03/2024", "2024-03-26"),
    ("Tue, 26 Mar 2024 10:00:00 GMT", "2024-03-26"),
    ("2024/03/26", "2024-03-26"),
    ("Mon, Mar 25th, 2024", "2024-03-25"),
    ("March 26, 2024", "2024-03-26"),
    ("2024-03-26T10:00:00Z", "2024-03-26"),
    ("26.03.2024", "2024-03-26"),
    ("date 2024-03-26", "2024-03-26"),
    ("Updated 5 April 2023, 10:32 BST", "2023-04-05"),
    ("Опубликовано: 26 марта 2024", "2024-03-26"),
    ("发布日期：2024年3月26日", "2024-03-26"),
    ("Publié le 26 mars 2024", "2024-03-26"),
])
def test_dates_in_any_common_form(text: str, iso: str) -> None:
    assert parse_date(text) == iso


@pytest.mark.parametrize("text", ["no date here", "on Friday", "March 22", "Friday 22 March",
                                  "World | 4,989 views", "in 2024"])
def test_no_date_is_made_up(text: str) -> None:
    assert parse_date(text) is None


def test_a_head_line_gives_the_date_only_at_its_edges() -> None:
    assert head_date("Published On: Mon, Mar 25th, 2024") == ("2024-03-25", "")
    assert head_date("date 2024-03-26 U.S. Warned Russia") == ("2024-03-26", "U.S. Warned Russia")
    assert head_date("By Lois Lane | 26 March 2024") == ("2024-03-26", "By Lois Lane")
    assert head_date("Attack on 22 March 2024 kills 137 at a concert hall") is None


def test_dates_found_in_the_corpus_heads() -> None:
    found = {}
    for name in ("moscow-flood-cp1251.txt", "beijing-metro-gbk.txt", "gare-cafe-latin1.txt",
                 "harbour-bridge-utf16.txt", "ferry-wire.txt", "ferry-local.txt",
                 "solar-farm.md", "council-cycle-lanes.docx"):
        doc = load_file(MESSY / name)
        found[name] = clean(doc.text, title=doc.title).published
    assert found == {"moscow-flood-cp1251.txt": "2024-03-26", "beijing-metro-gbk.txt": "2024-03-26",
                     "gare-cafe-latin1.txt": "2024-03-26", "harbour-bridge-utf16.txt": "2024-03-26",
                     "ferry-wire.txt": "2024-03-25", "ferry-local.txt": "2024-03-25",
                     "solar-farm.md": "2024-03-27", "council-cycle-lanes.docx": "2024-03-26"}


def test_pages_are_found_again_in_the_cleaned_text() -> None:
    raw = "Running head\nFirst page words of the story go here.\n\nRunning head\nsecond page " \
          "words continue the story here."
    text = "First page words of the story go here. second page words continue the story here."
    pages = locate_pages(raw, (0, raw.index("Running head", 5)), text)
    assert pages == ((0, 1), (text.index("second page"), 2))
    # a page none of whose words survived cleaning is left out
    assert locate_pages("keep me\n\nSubscribe now", (0, 9), "keep me") == ((0, 1),)
