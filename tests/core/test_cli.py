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
