"""Raw article text -> cleaned body, title and publish date.

News pages arrive with site furniture around the story: section labels, view counters, share
and comment prompts, "READ MORE" links and teaser items for unrelated stories. The rules below
remove that furniture and nothing else; the body keeps the article's own words and order.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser

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
      | advertisement
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
_ISO_DATE = re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?!\d)")
_MONTHS = {m: i for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_TEXT_DATE = re.compile(
    r"\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+"
    r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?,?\s+(?P<y>(?:19|20)\d\d)\b",
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


def parse_date(text: str) -> str | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD``, or None."""
    for rx in (_ISO_DATE, _TEXT_DATE):
        m = rx.search(text)
        if not m:
            continue
        g = m.groupdict()
        month = int(g["m"]) if "m" in g and g.get("m") else _MONTHS[g["mon"][:3].lower()]
        try:
            return date(int(g["y"]), month, int(g["d"])).isoformat()
        except ValueError:
            continue
    return None


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, block elements on their own lines; title and date kept."""

    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section",
              "article", "header", "footer", "blockquote", "ul", "ol", "table", "hr"}
    _SKIP = {"script", "style", "noscript", "nav", "aside", "form", "svg", "iframe", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.published: str | None = None
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and not self.published:
            key = (a.get("property") or a.get("name") or "").lower()
            if "published" in key or key in {"date", "pubdate", "dc.date"}:
                self.published = parse_date(a.get("content", ""))
        elif tag == "time" and not self.published:
            self.published = parse_date(a.get("datetime", ""))
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_to_text(raw: str) -> tuple[str, str, str | None]:
    """(text, title, published) of an HTML document."""
    p = _HTMLText()
    p.feed(raw)
    p.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(p.parts))
    return text, " ".join(p.title.split()), p.published


def clean(raw: str, *, is_html: bool = False, title: str | None = None,
          published: str | None = None, source: str | None = None) -> Cleaned:
    """Clean one article. ``title``/``published``/``source`` given by the caller win."""
    page_title = ""
    if is_html:
        raw, page_title, html_date = html_to_text(raw)
        published = published or html_date
    else:
        raw = html.unescape(raw) if re.search(r"&(?:[a-z]+|#\d+);", raw) else raw
    promo = _PUBLISHER.search(raw)
    source = source or (promo.group(1).strip() if promo else "")
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\ufeff", "")
    lines = [ln.strip() for ln in text.split("\n")]

    # The head is everything before the first body paragraph: dates, counters, section
    # labels and headlines (the story's own, repeated, or an unrelated teaser).
    body_start = next((i for i, ln in enumerate(lines) if ln and not _is_head_line(ln)),
                      len(lines))
    headlines: list[str] = []
    for line in lines[:body_start]:
        m = _DATE_LINE.match(line)
        if m and parse_date(m.group("date")):
            published = published or parse_date(m.group("date"))
            line = _strip_leading_date(m.group("date"))  # "date 2024-03-26 Headline"
        if line and not _BOILERPLATE_LINE.match(line) and not _SECTION_LABEL.match(line):
            headlines.append(line)
    body = _drop_teaser_tail(lines[body_start:])
    body = [ln for ln in body if not _BOILERPLATE_LINE.match(ln)]
    paragraphs = _paragraphs(body)
    text = "\n\n".join(paragraphs)
    body_terms = set(terms(text))
    found_title = next((h for h in headlines if _related(h, body_terms)), "")

    final_title = title or _TITLE_SUFFIX.sub("", found_title).strip() or page_title
    if not final_title and paragraphs:
        final_title = _shorten(paragraphs[0])
    return Cleaned(title=final_title, text=text, published=published, source=source)


def _strip_leading_date(s: str) -> str:
    for rx in (_ISO_DATE, _TEXT_DATE):
        m = rx.match(s.strip())
        if m:
            return s.strip()[m.end():].strip(" ,|-")
    # "Mon, Mar 25th, 2024": a weekday before the date
    m = re.match(r"^\w{3,9},?\s+", s)
    if m:
        return _strip_leading_date(s[m.end():]) if parse_date(s) else s
    return s


def _is_head_line(line: str) -> bool:
    """Furniture, a date, or a headline (short, no closing full stop): not yet the body."""
    if _BOILERPLATE_LINE.match(line) or _SECTION_LABEL.match(line) or _DATE_LINE.match(line):
        return True
    return len(line) <= 160 and not re.search(r"[.!?][\"'”’)]*$", line)


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
