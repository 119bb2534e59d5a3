"""Raw article text -> cleaned body, title and publish date.

News pages arrive with site furniture around the story: section labels, view counters, share
and comment prompts, "READ MORE" links and teaser items for unrelated stories. The rules below
remove that furniture and nothing else; the body keeps the article's own words and order.
Web pages go through trafilatura first (``index.html``); dates in any common form are read by
dateparser.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import terms

# Whole lines that are site furniture wherever they stand.
_BOILERPLATE_LINE = re.compile(
    r"""^(?:
        leave\ a\ (?:reply|review|comment).*
      | your\ email\ address\ will\ not\ be\ published.*
      | related\ (?:posts|articles|stories|news)\s*:?
      | share\ this\s*:?
      | source\ link
      | back\ to\ top(?:\ button)?
      | read\ (?:more|also)\s*:.*
      | for\ all\ the\ latest\ on\ news.*go\ to\ .*
      | (?:[\w&]+\ ){0,3}\|\ [\d,.]+\ views
      | advertisement(?:\s*[-–—:|].*)?
      | (?:©|\(c\)|copyright\b).*
      | .*\ball\ rights\ reserved\b.*
      | we\ use\ cookies\b.*
      | (?:accept|manage)\ (?:all\ )?(?:cookies|preferences).*
      | (?:sign\ up|subscribe)\ (?:to|for)\ (?:our|the)\ .{0,60}newsletter.*
      | [-–—•·*]
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Lines that only label a site section ("Business News", "Politics") when they stand alone.
_SECTION_LABEL = re.compile(
    r"^(?:world|politics|business|business news|news|economy|society|sport|sports|opinion|"
    r"analysis|technology|tech|culture|local|national|international|region|latest news)$",
    re.IGNORECASE,
)
_DATE_LINE = re.compile(
    r"^\s*(?:published(?:\s+on)?|date|posted(?:\s+on)?|updated)\s*:?\s*(?P<date>.+?)\s*$",
    re.IGNORECASE,
)
# "For all the latest on news ... go to Daily Express US": the furniture names the publisher.
_PUBLISHER = re.compile(r"^for all the latest on news.*\bgo to\s+([^\n.]+?)\.?\s*$",
                        re.IGNORECASE | re.MULTILINE)
_TITLE_SUFFIX = re.compile(r"(?:\s+\|\s+[\w &]{1,20})+$")  # "Headline | World | News"


@dataclass(frozen=True)
class Cleaned:
    """A cleaned article body with what was pulled out of it."""

    title: str
    text: str
    published: str | None
    source: str = ""


# Every date must name its day, month and year: "March 22" or "on Friday" is no publish date.
_DATE_SETTINGS = {"REQUIRE_PARTS": ["day", "month", "year"], "RETURN_AS_TIMEZONE_AWARE": False,
                  "PREFER_DAY_OF_MONTH": "first"}
# Words that introduce a date in a page's head ("Published On:", "Updated"), and separators.
_DATE_LABEL = re.compile(
    r"^\s*(?:(?:first\s+)?(?:published|posted|updated|date|dated)(?:\s+on)?\b\s*:?\s*)?",
    re.IGNORECASE)
_SEPARATORS = " \t,|·•-–—:"


def find_date(text: str) -> tuple[str, int, int] | None:
    """The first full date in ``text``: (ISO ``YYYY-MM-DD``, start, end), or None.

    dateparser reads "26 March 2024", "26/03/2024", "2024/03/26", "Mon, Mar 25th, 2024",
    "Tue, 26 Mar 2024 10:00:00 GMT" and ISO times alike; an ambiguous "03/04/2024" is
    read month first, as dateparser does for English.
    """
    if not re.search(r"\d", text):
        return None
    return _find_date(text[:300])


@lru_cache(maxsize=4096)
def _find_date(text: str) -> tuple[str, int, int] | None:
    from dateparser.search import search_dates

    try:
        found = search_dates(text, languages=["en"], settings=_DATE_SETTINGS)
        if not found and re.search(r"[^\x00-\x7f]", text):
            # "26 марта 2024", "2024年3月26日": let dateparser detect the language (slower)
            found = search_dates(text, settings=_DATE_SETTINGS)
    except (ValueError, OverflowError):
        return None
    for phrase, when in found or ():
        at = text.find(phrase)
        if at >= 0 and 1900 <= when.year <= 2100:
            return when.date().isoformat(), at, at + len(phrase)
    return None


def parse_date(text: str) -> str | None:
    """The first full date in ``text`` as ISO ``YYYY-MM-DD``, or None."""
    found = find_date(text)
    return found[0] if found else None


def head_date(line: str) -> tuple[str, str] | None:
    """A page-head line that gives the publish date: (ISO date, what else the line says).

    The date must open or close the line, after an optional label ("Published On:") or before
    or after a separator ("By Lois Lane | 26 March 2024", "date 2024-03-26 Headline"); a date
    inside a headline ("Attack on 22 March 2024 kills 137") is not the publish date.
    """
    label = _DATE_LABEL.match(line)
    rest = line[label.end():] if label else line
    found = find_date(rest)
    if not found:
        return None
    iso, start, end = found
    before, after = rest[:start].strip(_SEPARATORS), rest[end:].strip(_SEPARATORS)
    at_start = not before
    at_end = not after or bool(re.search(r"[|·•–—]\s*$", rest[:start]))
    if not (at_start or at_end):
        return None
    return iso, (after if at_start else before)


def clean(raw: str, *, is_html: bool = False, title: str | None = None,
          published: str | None = None, source: str | None = None) -> Cleaned:
    """Clean one article. ``title``/``published``/``source`` given by the caller win."""
    page_title = ""
    if is_html:
        from index.html import extract

        page = extract(raw)
        raw, page_title = page.text, page.title
        published = published or page.published
        source = source or page.site
    else:
        raw = html.unescape(raw) if re.search(r"&(?:[a-z]+|#\d+);", raw) else raw
    promo = _PUBLISHER.search(raw)
    source = source or (promo.group(1).strip() if promo else "")
    lines = [ln.strip() for ln in normalize(raw).split("\n")]

    # The head is everything before the first body paragraph: dates, counters, section
    # labels and headlines (the story's own, repeated, or an unrelated teaser).
    body_start = next((i for i, ln in enumerate(lines) if ln and not _is_head_line(ln)),
                      len(lines))
    headlines: list[str] = []
    for line in lines[:body_start]:
        dated = head_date(line) if line else None
        if dated:
            published = published or dated[0]
            line = dated[1]  # "date 2024-03-26 Headline": the headline stays a candidate
        if line and not _BOILERPLATE_LINE.match(line) and not _SECTION_LABEL.match(line):
            headlines.append(line)
    body = _drop_teaser_tail(lines[body_start:])
    body = [ln for ln in body if not _BOILERPLATE_LINE.match(ln)]
    paragraphs = _paragraphs(body)
    text = "\n\n".join(paragraphs)
    body_terms = set(terms(text))
    found_title = next((h for h in headlines if _related(h, body_terms)), "")

    final_title = (title or page_title or _TITLE_SUFFIX.sub("", found_title).strip())
    if not final_title and paragraphs:
        final_title = _shorten(paragraphs[0])
    return Cleaned(title=final_title, text=text, published=published, source=source)


def normalize(raw: str) -> str:
    """NFC, Unix line ends, no-break spaces as spaces, no byte-order marks."""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\u00a0", " ").replace("\ufeff", "")


def locate_pages(raw: str, page_starts: Sequence[int], text: str,
                 window: int = 6) -> tuple[tuple[int, int], ...]:
    """Where each page of ``raw`` begins in its cleaned ``text``: ((offset, page), ...).

    A page is found by the first run of ``window`` words of it that survived cleaning (its
    running header is gone, its first line may be furniture); a page none of whose words
    survived is left out, and its neighbours' ranges close over it.
    """
    found: list[tuple[int, int]] = []
    at = 0
    bounds = [*page_starts[1:], len(raw)]
    for number, (start, stop) in enumerate(zip(page_starts, bounds), start=1):
        if number == 1:
            found.append((0, 1))
            continue
        words = normalize(raw[start:stop]).split()
        for i in range(0, max(1, len(words) - window + 1)):
            chunk = words[i : i + window]
            if not chunk:
                break
            m = re.compile(r"\s+".join(map(re.escape, chunk))).search(text, at)
            if m:
                found.append((m.start(), number))
                at = m.start()
                break
    return tuple(found)


def _is_head_line(line: str) -> bool:
    """Furniture, a date, or a headline (short, no closing full stop): not yet the body."""
    if (_BOILERPLATE_LINE.match(line) or _SECTION_LABEL.match(line)
            or _DATE_LINE.match(line)):
        return True
    return len(line) <= 160 and not re.search(r"[.!?。！？][\"'”’)」』]*$", line)


def _related(line: str, body_terms: set[str]) -> bool:
    """A headline belongs to the story when most of its words recur in the body."""
    words = set(terms(_TITLE_SUFFIX.sub("", line)))
    return bool(words) and len(words & body_terms) / len(words) >= 0.5


def _drop_teaser_tail(lines: list[str]) -> list[str]:
    """Cut trailing teaser lists: a section label followed by dash-separated items."""
    for i in range(len(lines) // 3, len(lines) - 1):
        label, nxt = lines[i], next((x for x in lines[i + 1:] if x), "")
        if _SECTION_LABEL.match(label) and re.fullmatch(r"[-–—•·*]", nxt):
            return lines[:i]
    return lines


def _paragraphs(lines: list[str]) -> list[str]:
    """Collapse runs of lines into paragraphs; drop exact consecutive repeats (doubled titles)."""
    out: list[str] = []
    for ln in lines:
        ln = re.sub(r"\s+", " ", ln).strip()
        if not ln or (out and out[-1] == ln):
            continue
        out.append(ln)
    return out


def _shorten(text: str, limit: int = 90) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"
