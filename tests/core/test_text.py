"""Sentence spans and chunk offsets hold for any text (property tests)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunker import chunk_article
from rag.embeddings import get_embedder
from rag.text import split_sentences, terms
from rag.types import Article

WORDS = st.sampled_from(["The", "U.S.", "warned", "Russia", "on", "March", "7.", "Mr.", "Putin",
                         "said:", "“blackmail”.", "2.5", "No.", "1", "attack!", "Why?", "…", "-",
                         "ISIS-K", "Crocus", "é", "a", "\n", "\n\n", "  ", "Ünïcode", "end."])
TEXT = st.lists(WORDS, min_size=0, max_size=400).map(" ".join)


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


@given(TEXT)
def test_sentence_spans_are_ordered_trimmed_substrings(text: str) -> None:
    spans = split_sentences(text)
    last = 0
    for s, e in spans:
        assert last <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        last = e
    covered = "".join(text[s:e] for s, e in spans)
    assert covered.replace(" ", "") == "".join(text.split()).replace(" ", "")


@settings(max_examples=150, deadline=None)
@given(TEXT, st.integers(min_value=8, max_value=120))
def test_chunks_are_exact_slices_and_cover_the_article(text: str, budget: int) -> None:
    art = Article(doc_id="d", title="T", text=text, source_path="x")
    chunks = chunk_article(art, words, max_tokens=budget + 8)
    for c in chunks:
        assert text[c.start : c.end] == c.text
    if text.strip():
        joined = "".join(text[c.start : c.end] for c in chunks)
        assert set(text.split()) <= set(joined.split())


@settings(max_examples=25, deadline=None)
@given(TEXT)
def test_chunks_fit_the_real_tokenizer(text: str) -> None:
    emb = get_embedder()
    art = Article(doc_id="d", title="A title", text=text, source_path="x")
    for c in chunk_article(art, emb.count_tokens, max_tokens=60):
        assert text[c.start : c.end] == c.text
        assert emb.count_tokens([f"{art.title}\n{c.text}"])[0] <= 60 + 4


def test_abbreviations_do_not_end_sentences() -> None:
    text = "The U.S. Embassy warned on March 7. Mr. Putin said no. It ended."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "The U.S. Embassy warned on March 7.", "Mr. Putin said no.", "It ended."]


def test_terms_fold_acronyms_and_stems() -> None:
    assert terms("When did the U.S. warn Russia?") == ["us", "warn", "russia"]
    assert terms("warned warnings") == ["warn", "warn"]
    assert terms("The United States and Russian officials") == ["us", "russia", "offici"]


NEWS_LINES = [
    ("The fire started in San Diego, Calif. on Monday. Officials said it spread fast.", 2),
    ("Capt. John Smith led the team. He was praised.", 2),
    ("She earned a Ph.D. in physics. Then she joined NASA.", 2),
    ("J.P. Morgan said profits rose. Analysts agreed.", 2),
    ('"Where were you?" he asked. She did not answer.', 2),
    ("The U.S. Embassy to Moscow on March 7 warned its citizens. Russia said no.", 2),
    ("He moved to the U.S. He liked it.", 2),
    ("No. 1 seed lost 2.5 points. Fans left.", 2),
    ("He said no. Officials agreed.", 2),
    ("They wanted to “sow discord and panic… in our country and bring it down.”", 1),
    ("Mr. Peskov said so. Dr. Who agreed at 5 p.m. on Friday. It was late.", 3),
]


def test_news_style_abbreviations_and_quotes_do_not_split_sentences() -> None:
    for line, n in NEWS_LINES:
        got = [line[s:e] for s, e in split_sentences(line)]
        assert len(got) == n, got
        assert got[-1].endswith((".", "”"))
