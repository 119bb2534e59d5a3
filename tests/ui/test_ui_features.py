"""The page as users of chat-with-your-documents tools expect it, in a real headless Chromium:
conversations that survive a reload, copy and export, managing documents, collections, the
answer streaming in, and a phone-sized screen.

Each view is also saved under docs/screenshots/ when RAG_DOCS_SHOTS=1 (``make screenshots``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import ARTIFACTS, ROOT
from tests.ui.test_ui_browser import ask, documents_count, last_answer, upload

pytestmark = pytest.mark.browser

QUESTION = "When did the US warn Russia?"
DOCS = ROOT / "docs" / "screenshots"

ARTICLE = (
    b"Glasshouse museum in Tarnby reopens after restoration\n\n"
    b"Published: 2024-04-18\n\n"
    b"The glasshouse museum in Tarnby reopened on Thursday, 18 April 2024, after a two-year "
    b"restoration of its iron frame.\n\n"
    b"Curator Odile Vask said the restoration cost 9.5 million kroner and that 2,400 panes of "
    b"glass were replaced.\n"
)


def keep(tab: Any, name: str, full_page: bool = True) -> Path:
    """A screenshot in artifacts/ui/, and in docs/screenshots/ when asked for."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("RAG_DOCS_SHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(DOCS / f"{name}.png"), full_page=full_page)
    return path


def saved(tab: Any) -> None:
    """Wait until the page has kept the open conversation's id in the browser."""
    tab.wait_for_function("() => !!localStorage.getItem('rag-conversation')")


@pytest.fixture
def tab_at(chromium: Any, ui_server: Any) -> Iterator[Callable[..., Any]]:
    """New tabs with their own storage; the viewport and permissions chosen by the test."""
    contexts: list[Any] = []

    def open_tab(width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = chromium.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(ui_server.url + "/")
        tab.wait_for_selector("#question textarea")
        return tab

    yield open_tab
    for c in contexts:
        c.close()


def test_conversation_survives_a_reload_and_is_listed(tab_at: Any) -> None:
    tab = tab_at()
    ask(tab, QUESTION)
    answer = last_answer(tab).inner_text()
    tab.wait_for_function("q => document.querySelector('#conversations').innerText.includes(q)",
                          arg=QUESTION)
    saved(tab)
    tab.reload()
    tab.wait_for_selector("#chat [data-testid='bot'] a.cite")
    assert QUESTION in tab.locator("#chat [data-testid='user']").first.inner_text()
    assert last_answer(tab).inner_text() == answer
    assert tab.locator(".src-turn").count() == 1  # its sources are back too
    # the conversation is the checked one in the list, and asking goes on in it
    checked = tab.locator("#conversations input:checked")
    assert checked.count() == 1
    ask(tab, "What did Putin call it?")
    assert tab.locator(".src-turn").count() == 2
    keep(tab, "conversations")

    tab.click("#new-conv")
    tab.wait_for_function("() => !document.querySelector('#chat [data-testid=bot]')")
    assert tab.locator(".src-turn").count() == 0
    # an older conversation is one click away
    tab.locator("#conversations label", has_text=QUESTION).first.click()
    tab.wait_for_function("() => document.querySelectorAll('.src-turn').length === 2")


def test_copy_an_answer_with_its_sources_and_export_markdown(tab_at: Any) -> None:
    tab = tab_at(permissions=["clipboard-read", "clipboard-write"])
    ask(tab, QUESTION)
    last_answer(tab).locator("a.copy").click()
    tab.wait_for_function("() => document.querySelector('#chat a.copy').textContent === "
                          "'Copied'")
    copied = tab.evaluate("() => navigator.clipboard.readText()")
    assert "March 7" in copied and "[1] *" in copied and "“" in copied

    saved(tab)  # the export is ready once the conversation is saved
    with tab.expect_download() as info:
        tab.click("#export")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# {QUESTION}") and "[1] *" in text and "March 7" in text


def test_follow_up_shows_the_question_it_searched_for(tab_at: Any) -> None:
    tab = tab_at()
    ask(tab, "What did Putin call the US warning?")
    ask(tab, "Who claimed responsibility for it?")
    follow = tab.locator("#chat [data-testid='user']").last
    assert "Searched for:" in follow.inner_text()
    assert "Searched for:" not in tab.locator("#chat [data-testid='user']").first.inner_text()


def test_answer_text_arrives_before_its_sources(tab_at: Any) -> None:
    """The page shows the answer as it streams: text in the bubble first, sources at the end."""
    tab = tab_at()
    tab.evaluate("""() => {
      window.seen = [];
      new MutationObserver(() => {
        const bot = [...document.querySelectorAll('#chat [data-testid=bot]')].pop();
        if (bot && bot.innerText.includes('March') && !window.seen.includes('text'))
          window.seen.push('text');
        if (document.querySelector('.src-turn') && !window.seen.includes('sources'))
          window.seen.push('sources');
      }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    ask(tab, QUESTION)
    assert tab.evaluate("() => window.seen") == ["text", "sources"]


def test_manage_documents_open_reindex_delete(tab_at: Any) -> None:
    tab = tab_at()
    tab.get_by_role("tab", name="Documents").click()
    before = documents_count(tab)
    upload(tab, "tarnby-glasshouse.txt", ARTICLE)
    tab.wait_for_selector("#upload-status .status-ok", timeout=180_000)
    tab.wait_for_function("n => document.querySelector('#documents').innerText.includes("
                          "(n + 1) + ' article')", arg=before)
    row = tab.locator("#doc-table [role=gridcell]", has_text="Glasshouse museum").first
    row.click()
    tab.wait_for_selector("#doc-view .doc-view")
    view = tab.locator("#doc-view").inner_text()
    assert "tarnby-glasshouse.txt" in view and "Passage 1" in view and "Odile Vask" in view
    keep(tab, "documents")

    tab.click("#doc-reindex")
    tab.wait_for_selector("#doc-status .status-ok")
    assert "Re-indexed" in tab.locator("#doc-status").inner_text()

    tab.click("#doc-delete")
    tab.wait_for_selector("#doc-confirm")
    keep(tab, "documents-delete")
    tab.click("#doc-confirm")
    tab.wait_for_function("() => document.querySelector('#doc-status').innerText"
                          ".includes('Deleted')")
    tab.wait_for_function("n => document.querySelector('#documents').innerText.includes("
                          "n + ' article')", arg=before)
    assert "Glasshouse museum" not in tab.locator("#doc-table").inner_text()
    tab.get_by_role("tab", name="Ask").click()
    ask(tab, "How many panes of glass were replaced at the Tarnby glasshouse museum?")
    assert "2,400" not in last_answer(tab).inner_text()


def test_a_new_collection_is_asked_on_its_own(tab_at: Any) -> None:
    tab = tab_at()
    box = tab.locator("#collection input")
    box.fill("browser-lab")
    box.press("Enter")
    tab.get_by_role("tab", name="Documents").click()
    tab.wait_for_function("() => document.querySelector('#documents').innerText"
                          ".includes('Nothing is indexed')")
    upload(tab, "glasshouse.txt", ARTICLE)
    tab.wait_for_selector("#upload-status .status-ok", timeout=180_000)
    assert "browser-lab" in tab.locator("#upload-status").inner_text()
    tab.wait_for_function("() => document.querySelector('#documents').innerText"
                          ".includes('1 article')")
    tab.get_by_role("tab", name="Ask").click()
    ask(tab, "When did the Tarnby glasshouse museum reopen?")
    assert "18 April 2024" in last_answer(tab).inner_text()
    keep(tab, "collections")

    box.fill("articles")
    box.press("Enter")
    tab.wait_for_function("() => !document.querySelector('#chat [data-testid=bot]')")
    ask(tab, "When did the Tarnby glasshouse museum reopen?")
    assert last_answer(tab).locator(".refusal").count() == 1


def test_only_configured_backends_are_offered(tab_at: Any, ui_server: Any) -> None:
    tab = tab_at()
    tab.get_by_text("Settings").click()
    tab.wait_for_selector("text=Passages to retrieve")
    # extractive is the only configured backend: there is nothing to choose
    assert tab.get_by_text("Answering backend").count() == 0


def test_phone_sources_open_in_a_sheet_with_a_way_back(tab_at: Any) -> None:
    tab = tab_at(390, 844, is_mobile=True, has_touch=True)
    keep(tab, "phone-start", full_page=False)
    ask(tab, QUESTION)
    answer = last_answer(tab)
    answer.scroll_into_view_if_needed()
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scroll
    answer.locator("a.cite").first.click()
    sheet = tab.locator("#sources-col")
    tab.wait_for_function("() => getComputedStyle(document.querySelector('#sources-col'))"
                          ".transform === 'none'")
    box = sheet.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= 844 + 1  # on screen, over chat
    card = tab.locator(".src-turn:not([hidden]) .src-card.active")
    assert card.is_visible() and card.locator("mark").is_visible()
    title = card.locator(".src-title").inner_text()
    assert title and "_" not in title  # a title, not a hash id
    assert "004_" not in card.inner_text()
    keep(tab, "phone-sources", full_page=False)
    tab.click("#sheet-back")
    tab.wait_for_function("() => getComputedStyle(document.querySelector('#sources-col'))"
                          ".visibility === 'hidden'")
    # back where the user was: the answer is on screen
    a = answer.bounding_box()
    assert a and a["y"] < 844 and a["y"] + a["height"] > 0
    keep(tab, "phone-answer", full_page=False)


def test_phone_documents_show_titles(tab_at: Any) -> None:
    tab = tab_at(390, 844, is_mobile=True, has_touch=True)
    tab.get_by_role("tab", name="Documents").click()
    tab.wait_for_function("() => document.querySelector('#doc-table').innerText"
                          ".includes('Putin')")
    assert "Putin dismissed US warning" in tab.locator("#doc-table").inner_text()
    keep(tab, "phone-documents", full_page=False)
