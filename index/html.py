"""Web pages -> the article's visible main text, title, date and site name.

trafilatura finds the main text (dropping navigation, cookie banners, adverts, related links
and footers) and its metadata; htmldate, inside it, finds the date. Before that, text a
reader cannot see is removed: a page must not be able to plant words in the index through
``display:none``, ``visibility:hidden``, the ``hidden`` or ``aria-hidden`` attributes, a
one-pixel font, zero opacity, text moved off-screen, or text in the background's colour.
Stylesheets in the page are applied first (css-inline; nothing is ever fetched), so a rule
in a ``<style>`` block hides text as surely as a ``style`` attribute does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Below these a text is unreadable: font sizes, opacity, and the WCAG contrast ratio between
# text and background (1.0 = the same colour; 1.3 is far under any readable contrast).
MAX_HIDDEN_FONT_PX = 2.0
MAX_HIDDEN_OPACITY = 0.05
MIN_VISIBLE_CONTRAST = 1.3
OFFSCREEN_PX = 500.0
_PX = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "em": 16.0, "rem": 16.0, "%": 0.16, "mm": 3.78,
       "cm": 37.8, "in": 96.0, "vw": 10.0, "vh": 10.0}
_LENGTH = re.compile(r"^\s*(-?\d*\.?\d+)\s*([a-z%]*)\s*(?:!important)?\s*$", re.IGNORECASE)
WHITE = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class WebArticle:
    """What a page gives: main text (paragraphs on lines), title, ISO date, site name."""

    text: str
    title: str = ""
    published: str | None = None
    site: str = ""


def extract(raw: str) -> WebArticle:
    """The visible main text of a page and its metadata."""
    import trafilatura

    tree = visible_tree(raw)
    if tree is None:
        return WebArticle(text="")
    doc = trafilatura.bare_extraction(tree, with_metadata=True, favor_precision=True,
                                      include_comments=False, include_tables=True)
    text = (getattr(doc, "text", None) or "") if doc is not None else ""
    if not text.strip():  # too little for trafilatura's main-text search: keep all visible text
        text = trafilatura.html2txt(tree) or ""
    title = str(getattr(doc, "title", None) or "").strip()
    site = str(getattr(doc, "sitename", None) or "").strip()
    date = getattr(doc, "date", None) or None
    return WebArticle(text=text, title=strip_site(title, site), published=date, site=site)


def strip_site(title: str, site: str) -> str:
    """'Headline | World | Daily Planet' -> 'Headline' when the tail names the site."""
    if not site:
        return title
    parts = re.split(r"\s+[|–—-]\s+", title)
    if len(parts) > 1 and parts[-1].strip().lower() == site.lower():
        parts = parts[:-1]
        while len(parts) > 1 and len(parts[-1].split()) <= 2:  # section labels: "| World"
            parts = parts[:-1]
        return " - ".join(parts).strip()
    return title


def visible_tree(raw: str) -> Any:  # Any: an lxml element
    """The page as an lxml tree, stylesheets applied and invisible elements removed."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        tree = lxml.html.document_fromstring(_inline_css(raw))
    except (ParserError, ValueError):
        return None
    for el in tree.xpath("//template|//script|//style|//noscript|//link"):
        _drop(el)
    _drop_hidden(tree, WHITE, None)
    return tree


def _inline_css(raw: str) -> str:
    """The page with its ``<style>`` rules written into ``style`` attributes."""
    import css_inline

    # <link> stylesheets are dropped unread: the indexer never fetches or opens anything.
    raw = re.sub(r"<link\b[^>]*>", "", raw, flags=re.IGNORECASE)
    try:
        inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False,
                                        keep_link_tags=False)
        return str(inliner.inline(raw))
    except Exception:  # noqa: BLE001 - broken CSS: keep the page, inline styles still count
        return raw


def _drop(el: Any) -> None:  # Any: an lxml element
    """Remove ``el`` but keep the text that follows it (its tail)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail or ""
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _drop_hidden(el: Any, background: tuple[float, float, float] | None,  # Any: an lxml element
                 color: tuple[float, float, float] | None) -> None:
    """Walk the tree top-down with the inherited colours; remove what nobody can see.

    ``background`` is None under a background image, where the colour behind text is unknown.
    """
    for child in list(el):
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        style = _declarations(child.get("style", ""))
        bg = _color(style.get("background-color") or style.get("background", "")) or background
        if re.search(r"url\(|gradient\(", style.get("background", "")
                     + style.get("background-image", "")):
            bg = None
        fg = _color(style.get("color", "")) or color
        if _hidden(child, style) or (fg is not None and bg is not None and child.text
                                     and child.text.strip()
                                     and _contrast(fg, bg) < MIN_VISIBLE_CONTRAST):
            _drop(child)
            continue
        _drop_hidden(child, bg, fg)


def _hidden(el: Any, style: dict[str, str]) -> bool:  # Any: an lxml element
    if el.get("hidden") is not None or el.get("aria-hidden", "").strip().lower() == "true":
        return True
    if el.tag == "input" and el.get("type", "").lower() == "hidden":
        return True
    if style.get("display", "").startswith("none"):
        return True
    if style.get("visibility", "").split(" ")[0] in ("hidden", "collapse"):
        return True
    opacity = _number(style.get("opacity", ""))
    if opacity is not None and opacity <= MAX_HIDDEN_OPACITY:
        return True
    size = _px(style.get("font-size", ""))
    if size is not None and size <= MAX_HIDDEN_FONT_PX:
        return True
    for side in ("left", "top", "text-indent"):
        offset = _px(style.get(side, ""))
        if offset is not None and offset <= -OFFSCREEN_PX and (
                side == "text-indent" or style.get("position") in ("absolute", "fixed")):
            return True
    clip = style.get("clip", "").replace(" ", "") + style.get("clip-path", "").replace(" ", "")
    if re.search(r"rect\(0(px)?,?0(px)?,?0(px)?,?0(px)?\)|inset\(50%\)", clip):
        return True
    if "hidden" in style.get("overflow", ""):
        sizes = [_px(style.get(d, "")) for d in ("width", "height", "max-height")]
        if any(v is not None and v <= 1.0 for v in sizes):
            return True
    return bool(re.search(r"scale\(\s*0(\.0*)?\s*\)", style.get("transform", "")))


def _declarations(style: str) -> dict[str, str]:
    """``style`` attribute -> {property: value}, later declarations winning."""
    out: dict[str, str] = {}
    for decl in style.split(";"):
        name, sep, value = decl.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip().lower().replace("!important", "").strip()
    return out


def _number(value: str) -> float | None:
    m = _LENGTH.match(value)
    return float(m.group(1)) if m and not m.group(2) else None


def _px(value: str) -> float | None:
    """A CSS length in CSS pixels (relative units against a 16 px font), or None."""
    m = _LENGTH.match(value)
    if not m:
        return None
    unit = m.group(2).lower() or "px"
    if unit not in _PX:
        return None
    return float(m.group(1)) * _PX[unit]


def _color(value: str) -> tuple[float, float, float] | None:
    """The opaque colour named in a CSS value (``background`` shorthand included), or None."""
    if not value:
        return None
    import tinycss2
    import tinycss2.color4

    for token in tinycss2.parse_component_value_list(value):
        if token.type == "whitespace":
            continue
        try:
            c = tinycss2.color4.parse_color(token)
        except Exception:  # noqa: BLE001 - an unparsable token is simply not a colour
            c = None
        if c is None or isinstance(c, str) or c.alpha < 0.5:
            continue
        r, g, b = c.to("srgb").coordinates
        return (min(max(r, 0.0), 1.0), min(max(g, 0.0), 1.0), min(max(b, 0.0), 1.0))
    return None


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 = identical, 21 = black on white)."""
    def lum(c: tuple[float, float, float]) -> float:
        lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
