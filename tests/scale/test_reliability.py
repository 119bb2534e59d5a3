"""Faults with real processes and real signals: kill -9, two writers, readers during a write,
read-only and full disks, a damaged store. docs/reliability.md tabulates what each showed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scaleutil import ARTICLES, ROOT, env_for, rag_cmd

from index import index_paths
from rag import Engine, Settings, StoreError
from rag.store import Store, index_lock

CORPUS = ROOT / "evals" / "data" / "multihop_rag" / "corpus.jsonl"


def settings_at(home: Path) -> Settings:
    return Settings.from_env().with_(home=home, chroma_url=None, articles_dir=ARTICLES)


def write_corpus(folder: Path, n: int) -> Path:
    """``n`` MultiHop-RAG articles as .txt files (title on the first line)."""
    folder.mkdir(parents=True, exist_ok=True)
    for line in CORPUS.read_text(encoding="utf-8").splitlines()[:n]:
        d = json.loads(line)
        (folder / f"{d['doc_id']}.txt").write_text(f"{d['title']}\n\n{d['body']}\n",
                                                   encoding="utf-8")
    return folder


def assert_consistent(settings: Settings) -> None:
    """Every chunk belongs to a committed article of the same text; no id twice."""
    store = Store(settings)
    arts = store.articles(max_age=0)
    ids = []
    for chunk, digest in store.iter_chunks():
        ids.append(chunk.chunk_id)
        assert chunk.doc_id in arts, f"orphan chunk {chunk.chunk_id}"
        assert arts[chunk.doc_id].content_hash == digest, f"stale chunk {chunk.chunk_id}"
        assert arts[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
    assert len(ids) == len(set(ids))
    with_chunks = {i.rsplit(":", 1)[0] for i in ids}
    assert with_chunks == set(arts), "an article without chunks"


def run_rag(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(rag_cmd(*args), env=env_for(settings), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_kill_9_during_index_then_rerun_is_consistent(tmp_path: Path) -> None:
    """A batch is published whole: killed after its first chunks are written, nothing shows;
    the re-run indexes all of it."""
    src = write_corpus(tmp_path / "src", 40)
    settings = settings_at(tmp_path / "home")
    proc = subprocess.Popen(rag_cmd("index", str(src)), env=env_for(settings), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    staged = committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            store = Store(settings)
            staged, committed = store.chunk_count(), store.docs.count()
        except Exception:  # noqa: BLE001 - not created yet
            continue
        if staged:
            break
    assert proc.poll() is None, "indexing finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert staged > 0 and committed == 0
    assert Store(settings).articles(max_age=0) == {}  # none of the batch is visible
    again = run_rag(settings, "index", str(src))
    assert again.returncode == 0, again.stderr
    assert "40 added" in again.stdout
    assert_consistent(settings)
    assert len(Store(settings).articles(max_age=0)) == 40
    third = index_paths([src], settings)  # idempotent after the recovery
    assert third.chunks_written == 0 and len(third.unchanged) == 40


def _hold_lock(home: Path, seconds: float) -> subprocess.Popen:
    code = ("import sys,time; from pathlib import Path; from rag import Settings; "
            "from rag.store import index_lock\n"
            f"with index_lock(Settings().with_(home=Path({str(home)!r}))):\n"
            f"    print('locked', flush=True); time.sleep({seconds})\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         cwd=ROOT)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "home")
    holder = _hold_lock(settings.home, 3)
    t = time.monotonic()
    out = run_rag(settings, "index", str(ARTICLES))
    holder.wait()
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t >= 2.5  # it waited for the lock rather than writing beside it
    assert_consistent(settings)


def test_a_writer_that_cannot_wait_fails_with_a_clear_message(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "home")
    holder = _hold_lock(settings.home, 5)
    try:
        with pytest.raises(StoreError, match="another 'rag index' is writing"), \
                index_lock(settings, wait=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_16_threads_answer_while_another_process_indexes(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "home")
    index_paths([ARTICLES], settings)
    src = write_corpus(tmp_path / "src", 25)
    engine = Engine(settings)
    questions = ["when did the US warn Russia?", "Who claimed responsibility for the attack?",
                 "How many people died in the concert hall attack?",
                 "What is the capital of France?"]
    errors: list[BaseException] = []
    answered = [0]
    writer = subprocess.Popen(rag_cmd("index", str(src)), env=env_for(settings), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def ask(i: int) -> None:
        while writer.poll() is None or answered[0] < 32:
            try:
                ans = engine.answer(questions[i % len(questions)])
                arts = engine.articles()
                for c in ans.citations:
                    assert arts[c.doc_id].text[c.start : c.end] == c.quote
                answered[0] += 1
            except BaseException as e:  # noqa: BLE001 - every failure is the finding
                errors.append(e)
                return

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    _, err = writer.communicate(timeout=900)
    assert writer.returncode == 0, err
    assert not errors, repr(errors[:3])
    assert answered[0] >= 32
    assert_consistent(settings)


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 12 MB tmpfs (root only): a disk that can be filled or made read-only for real."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs",
                                            str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_home_is_a_clear_error(small_fs: Path) -> None:
    index_paths([ARTICLES], settings_at(small_fs / "home"))
    ro = small_fs.parent / "ro"
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(small_fs), str(ro)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
    settings = settings_at(ro / "home")
    try:
        _read_only_checks(settings)
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def _read_only_checks(settings: Settings) -> None:
    out = run_rag(settings, "index", str(ARTICLES))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "not writable" in out.stderr
    ask = run_rag(settings, "ask", "when did the US warn Russia?")
    assert "Traceback" not in ask.stderr, ask.stderr  # answers, or says clearly why not


def test_full_disk_is_a_clear_error_and_keeps_the_index(small_fs: Path, tmp_path: Path) -> None:
    settings = settings_at(small_fs / "home")
    index_paths([ARTICLES], settings)
    filler = small_fs / "filler"
    with open(filler, "wb") as f:  # leave almost nothing free
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    out = run_rag(settings, "index", str(write_corpus(tmp_path / "src", 20)))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "space" in out.stderr
    filler.unlink()
    assert_consistent(settings)
    ask = run_rag(settings, "ask", "when did the US warn Russia?")
    assert ask.returncode == 0 and "March 7" in ask.stdout


def test_damaged_store_names_the_fix(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "home")
    index_paths([ARTICLES], settings)
    db = settings.home / "chroma" / "chroma.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    out = run_rag(settings, "ask", "when did the US warn Russia?")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "rag index --rebuild" in out.stderr
    fixed = run_rag(settings, "index", "--rebuild", str(ARTICLES))
    assert fixed.returncode == 0, fixed.stderr
    assert run_rag(settings, "ask", "when did the US warn Russia?").returncode == 0


def test_missing_segment_files_name_the_fix(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "home")
    index_paths([ARTICLES], settings)
    for seg in (settings.home / "chroma").iterdir():
        if seg.is_dir():
            shutil.rmtree(seg)  # the vector index files gone, the catalogue left
    out = run_rag(settings, "ask", "when did the US warn Russia?")
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 0 or "rag index --rebuild" in out.stderr
