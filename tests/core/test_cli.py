"""The `rag` command as a user runs it: answers, JSON, and clear errors that change nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARTICLES


def rag(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_HOME": str(home), "RAG_ARTICLES": str(ARTICLES)}
    env.pop("RAG_CHROMA_URL", None)
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], env=env, text=True,
                          capture_output=True, input=stdin, timeout=300)


@pytest.fixture()
def home(indexed_home: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(indexed_home, dst)
    return dst


def files(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_size for p in home.rglob("*")
            if p.is_file() and p.name != "index.lock"}


def test_ask_json_is_the_answer_object(home: Path) -> None:
    r = rag("ask", "--json", "when did the US warn Russia?", home=home)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert "March 7" in d["text"] and d["citations"] and d["refused"] is False


def test_ask_prints_answer_and_sources(home: Path) -> None:
    r = rag("ask", "What is the capital of France?", home=home)
    assert r.returncode == 0
    assert "The articles do not answer" in r.stdout


@pytest.mark.parametrize("question, message", [
    ("", "the question is empty"), ("   ", "the question is empty"),
    ("x" * 2001, "the limit is 2,000"),
])
def test_bad_questions_exit_non_zero(home: Path, question: str, message: str) -> None:
    before = files(home)
    r = rag("ask", question, home=home)
    assert r.returncode == 1 and message in r.stderr
    assert files(home) == before


def test_bad_paths_exit_non_zero_and_keep_the_index(home: Path, tmp_path: Path) -> None:
    before = files(home)
    r = rag("index", str(tmp_path / "missing"), home=home)
    assert r.returncode == 1 and "no such file or folder" in r.stderr
    doc = tmp_path / "report.xlsx"
    doc.write_bytes(b"PK\x03\x04 ...")
    r = rag("index", str(doc), home=home)
    assert r.returncode == 1 and "unsupported file type '.xlsx'" in r.stderr
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.7 ...")
    r = rag("index", str(doc), home=home)
    assert r.returncode == 1 and "report.pdf: cannot be read as a PDF" in r.stderr
    assert "0 indexed, 1 skipped: report.pdf" in r.stdout
    assert files(home) == before
    r = rag("ask", "--json", "Who is Matthew Miller?", home=home)
    assert r.returncode == 0 and json.loads(r.stdout)["citations"]


def test_interactive_prompt_answers_until_eof(home: Path) -> None:
    r = rag("ask", home=home, stdin="when did the US warn Russia?\n")
    assert r.returncode == 0, r.stderr
    assert "March 7" in r.stdout and "[1]" in r.stdout


def test_first_answer_indexes_the_bundled_articles(tmp_path: Path) -> None:
    r = rag("ask", "--json", "Who claimed responsibility for the attack?", home=tmp_path / "new")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["citations"]
    assert (tmp_path / "new" / "chroma").is_dir()


def test_index_reports_what_it_did(tmp_path: Path) -> None:
    r = rag("index", home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    assert "4 added" in r.stdout and "near-duplicates folded" in r.stdout
    r = rag("index", home=tmp_path / "h")
    assert "0 added, 0 updated, 4 unchanged; 0 chunks written" in r.stdout


def test_version() -> None:
    r = subprocess.run([sys.executable, "-m", "rag.cli", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("rag ") and r.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("k", ["0", "-3", "51", "many"])
def test_k_is_checked(home: Path, k: str) -> None:
    r = rag("ask", "-k", k, "when did the US warn Russia?", home=home)
    assert r.returncode == 2 and "1 to 50" in r.stderr.strip().splitlines()[-1]
    r = rag("ask", "-k", k, home=home, stdin="when?\n")  # interactive chat too
    assert r.returncode == 2


def test_k_reaches_interactive_chat(home: Path) -> None:
    wide = rag("ask", "-k", "1", home=home, stdin="when did the US warn Russia?\n")
    assert wide.returncode == 0, wide.stderr
    r = rag("ask", "--json", "-k", "1", "when did the US warn Russia?", home=home)
    assert json.loads(r.stdout)["text"] in wide.stdout


def test_answer_is_not_printed_twice(home: Path) -> None:
    r = rag("ask", "when did the US warn Russia?", home=home)
    assert r.returncode == 0, r.stderr
    sentence = "warned its citizens to avoid large gatherings"
    assert r.stdout.count(sentence) == 1  # the quote is the answer: not repeated under it
    assert "003_5868e0cb99ad3839" not in r.stdout  # sources by title, never by hash id
    assert "U.S. Warned Russia Of Possible ISIS Attack" in r.stdout


def test_empty_line_does_not_quit(home: Path) -> None:
    r = rag("ask", home=home, stdin="\n\nwhen did the US warn Russia?\nexit\nnot asked?\n")
    assert r.returncode == 0, r.stderr
    assert "'exit' to quit" in r.stdout and "March 7" in r.stdout
    assert r.stdout.count("[1]") >= 1 and "not asked" not in r.stdout


def test_docs_list_show_rm(home: Path) -> None:
    r = rag("docs", "list", home=home)
    assert r.returncode == 0, r.stderr
    assert "Putin dismissed US warning" in r.stdout and "000_c2c3de656e4087f2.txt" in r.stdout
    assert "4 article(s)" in r.stdout
    listed = json.loads(rag("docs", "list", "--json", home=home).stdout)["documents"]
    assert {d["id"] for d in listed} >= {"000_c2c3de656e4087f2"}
    r = rag("docs", "show", "000_c2c3de656e4087f2.txt", home=home)
    assert r.returncode == 0 and "── passage 1" in r.stdout and "Daily Express US" in r.stdout
    r = rag("docs", "rm", "000_c2c3de656e4087f2", "nope", home=home)
    assert r.returncode == 1 and "no document 'nope'" in r.stderr
    assert "4 article(s)" in rag("docs", "list", home=home).stdout  # one bad id: none removed
    r = rag("docs", "rm", "000_c2c3de656e4087f2", home=home)
    assert r.returncode == 0 and "deleted: Putin dismissed US warning" in r.stdout
    assert "3 article(s)" in rag("docs", "list", home=home).stdout
    r = rag("docs", "reindex", "003_5868e0cb99ad3839", home=home)
    assert r.returncode == 0 and "re-indexed" in r.stdout


def test_collections_from_the_cli(home: Path, tmp_path: Path) -> None:
    art = tmp_path / "bridge.txt"
    art.write_text("Velmora bridge opens\n\nThe Velmora harbour bridge opened on 3 May 2024.\n")
    r = rag("index", "--collection", "lab", str(art), home=home)
    assert r.returncode == 0, r.stderr
    out = rag("collections", home=home).stdout.split()
    assert "articles" in out and "lab" in out
    assert "bridge.txt" in rag("docs", "list", "--collection", "lab", home=home).stdout
    assert "bridge.txt" not in rag("docs", "list", home=home).stdout
    r = rag("index", "--collection", "Bad Name", str(art), home=home)
    assert r.returncode == 2 and "collection name" in r.stderr
    # rebuilding one collection leaves the other alone
    assert rag("index", "--rebuild", "--collection", "lab", str(art), home=home).returncode == 0
    assert "4 article(s)" in rag("docs", "list", home=home).stdout


def test_chat_has_line_editing_and_history(home: Path) -> None:
    """Under a terminal: the up arrow recalls the last question (readline), it is not sent as
    '^[[A'; the history is kept for the next session."""
    import pty
    import select
    import time

    env = {**os.environ, "RAG_HOME": str(home), "RAG_ARTICLES": str(ARTICLES), "TERM": "xterm"}

    def session(keys: list[bytes]) -> str:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the real CLI on a terminal
            os.execve(sys.executable, [sys.executable, "-m", "rag.cli", "ask"], env)
        out = b""

        def read_until(marker: bytes, timeout: float = 120) -> None:
            nonlocal out
            deadline = time.monotonic() + timeout
            while marker not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready:
                    try:
                        out += os.read(fd, 65536)
                    except OSError:
                        return

        read_until(b"? ")
        for key in keys:  # each a question: wait for its answer's last line
            os.write(fd, key)
            # The first question indexes the bundled articles (slow on a loaded machine).
            read_until(b"confidence", 900)
            # Ctrl-D only once the prompt is back: typed while the CLI is busy, the terminal
            # may drop it when readline takes the line over, and the session never ends.
            deadline = time.monotonic() + 60
            while not out.rstrip().endswith(b"?") and time.monotonic() < deadline:
                read_until(b"__prompt__", 0.5)
        os.write(fd, b"\x04")
        read_until(b"__never__", 5)
        os.waitpid(pid, 0)
        return out.decode(errors="replace")

    first = session([b"when did the US warn Russia?\r"])
    assert "March 7" in first
    second = session([b"\x1b[A\r"])  # up arrow, Enter: the question from the last session
    assert "^[[A" not in second and "March 7" in second
    assert (home / "ask_history").read_text().count("when did the US warn Russia?") >= 1


def test_serve_names_a_taken_port(home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {**os.environ, "RAG_HOME": str(home)}
        r = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0]
    assert f"--port {port + 1}" in lines[0] and "Traceback" not in r.stderr


def test_a_reader_that_stops_early_is_not_an_error(home: Path) -> None:
    """`rag ask ... | head -1`: the pipe closes before the sources are printed."""
    env = {**os.environ, "RAG_HOME": str(home), "RAG_ARTICLES": str(ARTICLES)}
    env.pop("RAG_CHROMA_URL", None)
    ask = subprocess.Popen([sys.executable, "-m", "rag.cli", "ask", "When did the US warn Russia?"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert ask.stdout is not None and ask.stderr is not None
    ask.stdout.read(1)  # the answer has begun
    ask.stdout.close()  # ...and the reader goes away
    err = ask.stderr.read().decode()
    assert ask.wait(timeout=300) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
