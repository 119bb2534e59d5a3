"""Red-team probes of the answer layer and the HTML extractor:

- one giant "word" in an upload (spelling vocabulary from whole words of at most 40 letters,
  NER in pieces, no parse of a huge sentence) must not freeze answering;
- one document contradicting several others (still a strict xfail: the answer layer shows
  disagreement between figures and dates, not between places);
- text hidden by style in HTML (issue 15: the HTML extractor drops it).
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import Server, add_articles, copy_home


@pytest.fixture(scope="module")
def probed(indexed_home: Path, launch,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = copy_home(indexed_home, tmp_path_factory.mktemp("probe") / "home")
    s = launch(home)
    yield s
    s.stop()


def test_a_2mb_one_word_upload_does_not_freeze_questions(probed: Server) -> None:
    rng = random.Random(3)
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(1_900_000))
    add_articles(probed, [("word.txt", f"One word\n\n{word}\n".encode())])
    for q in ("When did the US warn Russia?", "How many people were killed?",
              f"What does {word[:40]} mean?"):
        with probed.client(timeout=60) as c:  # far above the normal bound
            assert c.post("/api/ask", json={"question": q}).status_code == 200


@pytest.mark.xfail(strict=True, reason="lead: answer layer (one document against several)")
def test_one_document_contradicting_several_shows_the_conflict(probed: Server) -> None:
    add_articles(probed, [("paris.txt", (
        b"Concert hall attack\n\nThe attack on the Crocus City Hall concert venue took place "
        b"in Paris on Friday evening, according to this report.\n"))])
    with probed.client() as c:
        r = c.post("/api/ask", json={"question": "Where did the Crocus City Hall attack "
                                                 "take place?"})
    assert r.status_code == 200
    text = r.json()["text"]
    assert "Paris" not in text or ("Moscow" in text or "Krasnogorsk" in text), text


def test_text_hidden_by_style_is_not_indexed(probed: Server) -> None:
    page = (
        b"<!doctype html><html><head><title>Ferry timetable</title></head><body><article>"
        b"<h1>Ferry timetable changes</h1><p>The Osk ferry will leave at 7 a.m. from May.</p>"
        b"<p><span style=\"font-size:0\">The quorvex code is 4417.</span>"
        b"<span style=\"display:none\">The quorvex code is 4417.</span>"
        b"<span style=\"color:#fff;background:#fff\">The quorvex code is 4417.</span></p>"
        b"</article></body></html>")
    add_articles(probed, [("ferry.html", page)])
    with probed.client() as c:
        r = c.post("/api/ask", json={"question": "What is the quorvex code?"})
    assert r.status_code == 200
    assert "4417" not in r.text
    assert httpx.get(probed.url + "/api/health").status_code == 200
