"""The LLM backends: configuration errors, misbehaving servers, and SmolLM2 behind llama.cpp."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.backends import get_synthesizer
from rag.errors import BackendError
from rag.llm import LocalSynthesizer, OpenAISynthesizer
from rag.settings import Settings
from rag.types import Answer, Article, Passage
from tests.llm.conftest import prepared_for

pytestmark = pytest.mark.llm

PASSAGES: list[Passage] = []
ARTICLES: dict[str, Article] = {}


@pytest.fixture(autouse=True)
def _corpus(hand_corpus: tuple[list[Passage], dict[str, Article]]) -> None:
    global PASSAGES, ARTICLES
    PASSAGES, ARTICLES = hand_corpus


QUESTION = "When did the US warn Russia?"


# --- a server that misbehaves -----------------------------------------------------------------


class _Bad(BaseHTTPRequestHandler):
    mode = "500"

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        if self.mode == "slow":
            time.sleep(5)
        body = b'{"error": {"message": "model crashed", "type": "server_error"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Bad,), {"mode": request.param})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _openai(url: str, timeout: float = 60.0) -> OpenAISynthesizer:
    return OpenAISynthesizer(Settings(backend="openai", llm_url=url, llm_timeout=timeout))


@pytest.mark.parametrize("bad_server", ["500"], indirect=True)
def test_a_server_answering_500_gives_a_clear_error(bad_server: str) -> None:
    with pytest.raises(BackendError, match=r"answered HTTP 500: .*model crashed"):
        _openai(bad_server).answer(prepared_for(QUESTION, PASSAGES), ARTICLES)
    with pytest.raises(BackendError, match="HTTP 500"):
        list(_openai(bad_server).stream(prepared_for(QUESTION, PASSAGES), ARTICLES))


@pytest.mark.parametrize("bad_server", ["slow"], indirect=True)
def test_a_server_that_times_out_gives_a_clear_error(bad_server: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(BackendError, match=r"did not answer within 1s.*RAG_LLM_TIMEOUT"):
        _openai(bad_server, timeout=1).answer(prepared_for(QUESTION, PASSAGES), ARTICLES)
    assert time.monotonic() - t0 < 15  # one retry at most, not the client's default three


def test_a_refused_connection_gives_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        assert socket.socket().connect_ex(("127.0.0.1", port)) != 0
    with pytest.raises(BackendError, match="cannot reach the LLM server .* is it running"):
        _openai(f"http://127.0.0.1:{port}/v1").answer(prepared_for(QUESTION, PASSAGES), ARTICLES)


def test_configuration_errors_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="set RAG_LLM_URL"):
        get_synthesizer("openai", Settings(backend="openai"))
    with pytest.raises(BackendError, match="set RAG_LLM_PATH"):
        LocalSynthesizer(Settings(backend="local"))
    with pytest.raises(BackendError, match="does not name a file"):
        LocalSynthesizer(Settings(backend="local", llm_path=str(tmp_path / "none.gguf")))
    with pytest.raises(BackendError, match="unknown backend"):
        get_synthesizer("gpt", Settings())


# --- SmolLM2 behind a real llama.cpp server ---------------------------------------------------


def test_smollm2_answer_is_grounded(llama_server: Any, grounded: Any) -> None:
    before = llama_server.requests()
    answer = _openai(llama_server.url).answer(prepared_for(QUESTION, PASSAGES), ARTICLES)
    assert llama_server.requests() == before + 1  # the log really counts model calls
    assert answer.backend in {"openai", "extractive"}  # extractive when nothing held up
    grounded(answer)
    assert {"generate_ms", "ground_ms"} <= set(answer.timings)


def test_smollm2_streams_deltas_then_the_checked_answer(llama_server: Any, grounded: Any) -> None:
    items = list(_openai(llama_server.url).stream(prepared_for(QUESTION, PASSAGES), ARTICLES))
    *deltas, final = items
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    grounded(final)
    # only checked text is ever shown: the deltas add up to the final answer
    assert "".join(deltas) == final.text


def test_local_backend_runs_smollm2_in_process(smollm2_path: Path, grounded: Any) -> None:
    synth = LocalSynthesizer(Settings(backend="local", llm_path=str(smollm2_path)))
    answer = synth.answer(prepared_for(QUESTION, PASSAGES), ARTICLES)
    assert answer.backend in {"local", "extractive"}
    grounded(answer)
    *deltas, final = list(synth.stream(prepared_for(QUESTION, PASSAGES), ARTICLES))
    assert isinstance(final, Answer) and "".join(deltas) == final.text


def test_stream_never_shows_an_unsupported_sentence(tmp_path: Path) -> None:
    """A scripted model: its hallucinated sentence must not appear in any delta."""

    class Scripted(OpenAISynthesizer):
        def _generate_stream(self, messages: Any, max_tokens: int) -> Iterator[str]:
            text = (
                "The US Embassy warned of an attack on March 7, 2014 [1]. "
                "The US Embassy issued a precautionary warning on March 7 [1]."
            )
            yield from (text[i : i + 4] for i in range(0, len(text), 4))

    synth = Scripted(Settings(backend="openai", llm_url="http://127.0.0.1:9/v1"))
    *deltas, final = list(synth.stream(prepared_for(QUESTION, PASSAGES), ARTICLES))
    assert "2014" not in "".join(deltas)
    assert (
        "".join(deltas)
        == final.text
        == ("The US Embassy issued a precautionary warning on March 7 [1].")
    )
    assert final.unsupported == ("The US Embassy warned of an attack on March 7, 2014.",)
