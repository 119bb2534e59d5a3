"""The chat page in a real headless Chromium: what a new user does, end to end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rag.settings import DEFAULT_ARTICLES

pytestmark = pytest.mark.browser

QUESTION = "Did the US warn Russia before the Crocus City Hall attack?"

NEW_ARTICLE = (
    b"Harbour bridge in Velmora opens after six years of work\n\n"
    b"Published: 2024-05-03\n\n"
    b"The new harbour bridge in the town of Velmora opened to traffic on Friday, 3 May 2024, "
    b"after six years of construction.\n\n"
    b"Mayor Ilse Brandvik said the bridge cost 48 million euros and will carry about 12,000 cars "
    b"a day.\n\n"
    b"The old ferry service across the harbour will stop running at the end of June.\n"
)


def ask(tab: Any, question: str) -> None:
    """Type a question and wait for its answer to finish streaming."""
    turns = tab.locator(".src-turn").count()
    tab.fill("#question textarea", question)
    tab.keyboard.press("Enter")
    # done when the sources panel gains this answer's turn (it comes with the final answer)
    tab.wait_for_function("n => document.querySelectorAll('.src-turn').length > n", arg=turns)


def last_answer(tab: Any) -> Any:
    return tab.locator("#chat [data-testid='bot']").last


def documents_count(page: Any) -> int:
    """The number of articles the Documents tab says the collection holds."""
    page.wait_for_selector("#documents .doc-count")
    return int(page.locator("#documents .doc-count").inner_text().split()[0])


def upload(page: Any, name: str, data: bytes) -> None:
    """Choose one file in the Documents tab and press Add."""
    page.set_input_files("#upload input[type=file]",
                         files=[{"name": name, "mimeType": "text/plain", "buffer": data}])
    page.click("#add")


def test_ask_see_answer_open_citation_and_highlight(page: Any, shot: Any) -> None:
    shot("01-start")
    ask(page, QUESTION)
    answer = last_answer(page)
    assert "Crocus" in answer.inner_text()
    links = answer.locator("a.cite")
    assert links.count() >= 1
    shot("02-answer")

    links.last.click()
    target = links.last.get_attribute("href")  # "#src-<turn>-<n>"
    assert target and target.startswith("#src-0-")
    card = page.locator(f".src-turn:not([hidden]) {target}")
    assert "active" in (card.get_attribute("class") or "")
    mark = card.locator("mark")
    assert mark.count() == 1 and mark.is_visible()
    # the highlight is the cited quote, shown inside its paragraph with the title and date
    api = httpx.post(page.url.rstrip("/") + "/api/ask", json={"question": QUESTION}, timeout=120)
    quotes = {c["quote"] for c in api.json()["citations"]}
    assert mark.inner_text().strip() in {q.strip() for q in quotes}
    assert card.locator(".src-title").inner_text().strip()
    assert card.locator(".src-date").inner_text().strip()
    shot("03-citation")
    assert page.external_requests == []


def test_example_questions_are_clickable_and_chat_is_multi_turn(page: Any, shot: Any) -> None:
    page.locator("#chat button", has_text="What did Putin call").first.click()
    page.wait_for_selector("#chat a.cite")
    page.wait_for_function("() => document.querySelectorAll('.src-turn').length === 1")
    assert "What did Putin call" in page.locator("#chat [data-testid='user']").first.inner_text()
    assert "provocative" in last_answer(page).inner_text()
    ask(page, "Who claimed responsibility for it?")
    assert page.locator(".src-turn").count() == 2
    # an older answer's marker brings back that answer's sources
    first = page.locator("#chat [data-testid='bot']").first.locator("a.cite").first
    first.click()
    assert page.locator('.src-turn[data-turn="0"]').is_visible()
    assert not page.locator('.src-turn[data-turn="1"]').is_visible()
    shot("04-multi-turn")


def test_refusal_is_plain_and_hostile_input_is_inert(page: Any, shot: Any) -> None:
    hostile = 'Who is <img src="http://example.invalid/x.png" onerror="window.pwned=1"> Zelda?'
    ask(page, hostile)
    text = last_answer(page).inner_text()
    assert last_answer(page).locator(".refusal").count() == 1
    assert text.count("do not answer") == 1  # said once, not three times
    assert "do not answer" not in page.locator(".src-turn:not([hidden])").inner_text()
    assert page.locator("#chat img").count() == 0
    assert page.evaluate("() => window.pwned === undefined")
    assert page.locator(".src-turn:not([hidden]) .src-empty").is_visible()
    assert page.external_requests == []
    shot("05-refusal")


def test_question_over_the_limit_is_counted_not_cut(page: Any, shot: Any) -> None:
    page.fill("#question textarea", "why " * 100)
    page.wait_for_function("() => document.querySelector('#qcount').textContent.includes('400')")
    assert "/ 2,000" in page.locator("#qcount").inner_text()
    page.fill("#question textarea", "x" * 2345)
    assert len(page.input_value("#question textarea")) == 2345  # nothing silently cut
    page.wait_for_selector("#qcount.over")
    assert "345 too many" in page.locator("#qcount").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Shorten it to ask it")  # the page says so, too
    assert page.locator("#chat [data-testid='user']").count() == 0  # and sends nothing
    assert len(page.input_value("#question textarea")) == 2345
    shot("10-too-long")


def test_upload_an_article_and_ask_about_it(page: Any, shot: Any) -> None:
    page.get_by_role("tab", name="Documents").click()
    before = documents_count(page)

    # a bad file first: a clear message, and nothing changes
    upload(page, "Q&amp;A.txt", b"%PDF-1.4 \x00")
    page.wait_for_selector("#upload-status .status-err")
    status = page.locator("#upload-status").inner_text()
    # the name is shown as typed, never interpreted as HTML (that would show "Q&A.txt")
    assert "Q&amp;A.txt" in status and "PDF" in status and "Nothing was changed" in status
    shot("06-bad-upload")

    upload(page, "velmora-bridge.txt", NEW_ARTICLE)
    page.wait_for_selector("#upload-status .status-ok", timeout=180_000)
    assert "velmora-bridge.txt" in page.locator("#upload-status").inner_text()
    page.wait_for_function("n => document.querySelector('#documents').innerText.includes("
                           "(n + 1) + ' article')", arg=before)
    assert "Velmora" in page.locator("#doc-table").inner_text()
    assert "velmora-bridge.txt" in page.locator("#doc-table").inner_text()  # not upload-<hash>
    shot("07-uploaded")

    page.get_by_role("tab", name="Ask").click()
    ask(page, "When did the Velmora harbour bridge open?")
    answer = last_answer(page)
    assert "3 May 2024" in answer.inner_text()
    answer.locator("a.cite").first.click()
    card = page.locator(".src-turn:not([hidden]) .src-card.active")
    assert "Velmora" in card.inner_text()
    shot("08-ask-upload")


def test_uploading_a_known_story_is_folded_not_doubled(page: Any, shot: Any) -> None:
    page.get_by_role("tab", name="Documents").click()
    before = documents_count(page)
    copy = next(DEFAULT_ARTICLES.glob("000_*.txt")).read_bytes()
    upload(page, "copy of putin.txt", copy)
    page.wait_for_selector("#upload-status .status-ok", timeout=180_000)
    assert "same story as" in page.locator("#upload-status").inner_text()
    # the list keeps one row; the original records the copy by the name it was uploaded as
    page.wait_for_function("n => document.querySelector('#documents').innerText.includes("
                           "n + ' article')", arg=before)
    page.locator("#doc-table [role=gridcell]", has_text="Putin dismissed").first.click()
    page.wait_for_selector("#doc-view .doc-view")
    assert "copy of putin.txt" in page.locator("#doc-view").inner_text()
    shot("09-duplicate-upload")
