"""High: a damaged or rebuilding index never takes answering down; a batch is all or nothing."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import ARTICLES, settings_for
from tests.security.conftest import ROOT, Server, copy_home, error_text

QUESTION = {"question": "When did the US warn Russia?"}
FILLER = 1200  # enough vectors that Chroma builds its HNSW files (it keeps a few in its log)


def add_filler(home: Path, n: int = FILLER) -> None:
    """An article of ``n`` one-line chunks with random unit vectors, written straight into the
    store: fast, and it fills the on-disk HNSW index that native search code reads."""
    from rag.embeddings import get_embedder
    from rag.store import Store
    from rag.types import Article, Chunk

    emb = get_embedder()
    lines = [f"Filler line {i} about the weather in Osk." for i in range(n)]
    text = "\n".join(lines)
    article = Article(doc_id="zz_filler", title="Filler", text=text, source_path="",
                      published=None, content_hash="filler-v1")
    chunks, at = [], 0
    for i, line in enumerate(lines):
        chunks.append(Chunk(chunk_id=f"zz_filler:{i:06d}", doc_id="zz_filler", text=line,
                            start=at, end=at + len(line), title="Filler"))
        at += len(line) + 1
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(n, emb.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    Store(settings_for(home), create=True, embed_model=emb.name, dim=emb.dim).put_articles(
        [(article, chunks, vecs)])


def hnsw_headers(home: Path) -> list[Path]:
    """header.bin of every HNSW segment that holds vectors."""
    out = []
    for header in (home / "chroma").glob("*/header.bin"):
        count = struct.unpack("<iQQQ", header.read_bytes()[:28])[3]
        if count:
            out.append(header)
    return out


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))


def worker_pids(server: Server) -> list[int]:
    """The search workers serving ``server``'s store (their command line names its path)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"rag/worker.py" in cmd and str(server.home).encode() in cmd:
            pids.append(int(proc.name))
    assert pids, "no search worker found"
    return pids


@pytest.fixture(scope="module")
def big_home(indexed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = copy_home(indexed_home, tmp_path_factory.mktemp("big") / "home")
    add_filler(home)
    assert hnsw_headers(home), "Chroma wrote no HNSW file: the damage tests would test nothing"
    return home


def ask(s: Server) -> httpx.Response:
    with s.client() as c:
        return c.post("/api/ask", json=QUESTION)


def test_a_flipped_byte_in_the_vector_index_is_named_and_the_server_lives(
        big_home: Path, start_server, tmp_path: Path) -> None:
    home = copy_home(big_home, tmp_path / "home")
    for header in hnsw_headers(home):
        flip(header, 40)  # this byte made hnswlib read out of bounds: SIGSEGV, server gone
    s = start_server(home, args=("--no-warm",))
    for _ in range(3):
        r = ask(s)
        assert r.status_code in (500, 503), r.text
        detail = error_text(r)
        assert "damaged" in detail and "rag index --rebuild" in detail
        assert "\n" not in detail and "Traceback" not in detail
        assert s.alive()
    assert httpx.get(s.url + "/api/health").json()["status"] == "ok"


def test_a_search_process_that_crashes_mid_question_costs_one_answer(
        big_home: Path, start_server, tmp_path: Path) -> None:
    """Damage that appears while serving (after the checks on open): the native search
    crashes in the worker, the question gets an error, the server and other questions live."""
    home = copy_home(big_home, tmp_path / "home")
    s = start_server(home)
    assert ask(s).status_code == 200  # warm: the worker holds the healthy index
    for pid in worker_pids(s):
        os.kill(pid, signal.SIGKILL)  # lost between questions: restarted, nobody notices
    assert ask(s).status_code == 200
    for header in hnsw_headers(home):
        flip(header, 40)  # the disk goes bad under the running server
    for pid in worker_pids(s):
        os.kill(pid, signal.SIGKILL)  # the next search opens the damaged files
    r = ask(s)
    assert s.alive()
    assert r.status_code in (500, 503), r.text  # a StoreError is 503 in the REST API
    assert "rag index --rebuild" in error_text(r)
    assert "SIGSEGV" in error_text(r) or "damaged" in error_text(r)
    assert httpx.get(s.url + "/api/health").status_code == 200


def test_a_damaged_keyword_index_is_rebuilt_not_fatal(indexed_home: Path, start_server,
                                                      tmp_path: Path) -> None:
    home = copy_home(indexed_home, tmp_path / "home")
    for npy in (home / "bm25" / "current" / "bm25").glob("indices*.npy"):
        data = bytearray(npy.read_bytes())
        for i in range(len(data) - 40, len(data), 4):
            data[i:i + 4] = b"\xff\xff\xff\x7f"  # row numbers far past the end
        npy.write_bytes(bytes(data))
    s = start_server(home, args=("--no-warm",))
    for q in ("When did the US warn Russia?", "Russia", "Moscow attack"):
        with s.client() as c:
            r = c.post("/api/ask", json={"question": q})
        assert r.status_code == 200, r.text
    assert s.alive()


@pytest.mark.parametrize("offset", [100, 4096 + 200, 20_000])
def test_a_corrupted_database_byte_names_the_damage(indexed_home: Path, start_server,
                                                    tmp_path: Path, offset: int) -> None:
    home = copy_home(indexed_home, tmp_path / "home")
    db = home / "chroma" / "chroma.sqlite3"
    data = bytearray(db.read_bytes())
    for i in range(offset, offset + 16):
        data[i] ^= 0xA5
    db.write_bytes(bytes(data))
    s = start_server(home, args=("--no-warm",))
    r = ask(s)
    assert s.alive()
    if r.status_code == 200:  # the bytes hit unused space: nothing was damaged that matters
        return
    detail = error_text(r)
    assert "damaged" in detail and "rag index --rebuild" in detail, detail
    assert "not writable" not in detail and "Traceback" not in s.log_text()


def test_rebuild_while_serving_is_no_outage(indexed_home: Path, start_server,
                                            tmp_path: Path) -> None:
    home = copy_home(indexed_home, tmp_path / "home")
    s = start_server(home)
    extra = tmp_path / "articles"
    extra.mkdir()
    for f in ARTICLES.iterdir():
        (extra / f.name).write_bytes(f.read_bytes())
    (extra / "zz_new.txt").write_text(
        "Velmora harbour reopens\n\nThe harbour of Velmora reopened on Tuesday after a "
        "three-week strike by dock workers ended, port officials said.\n")
    statuses: list[int] = []
    stop = threading.Event()

    def asking() -> None:
        with s.client(timeout=600) as c:
            while not stop.is_set():
                statuses.append(c.post("/api/ask", json=QUESTION).status_code)

    threads = [threading.Thread(target=asking) for _ in range(3)]
    for t in threads:
        t.start()
    env = {**s.env, "RAG_HOME": str(home)}
    env.pop("RAG_TEST_NET_LOG", None)
    rebuild = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--rebuild", str(extra)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    time.sleep(3)  # readers notice the swap within a second
    stop.set()
    for t in threads:
        t.join()
    assert rebuild.returncode == 0, rebuild.stderr
    assert statuses and set(statuses) == {200}, statuses
    with s.client() as c:
        docs = c.get("/api/documents").json()
        assert any("Velmora" in d["title"] for d in docs["documents"]), docs
        r = c.post("/api/ask", json={"question": "When did the harbour of Velmora reopen?"})
        assert r.status_code == 200 and "Tuesday" in r.text
    assert s.alive()


def test_a_failed_rebuild_leaves_the_live_index_answering(indexed_home: Path, start_server,
                                                          tmp_path: Path) -> None:
    home = copy_home(indexed_home, tmp_path / "home")
    s = start_server(home, args=("--no-warm",))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.txt").write_text("Fine\n\nA fine article about the Osk ferry.\n")
    env = {**s.env, "RAG_HOME": str(home)}
    env.pop("RAG_TEST_NET_LOG", None)
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", "--rebuild", str(bad)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (home / "gens").exists():
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the rebuild dies half-way
    proc.wait()
    r = ask(s)
    assert r.status_code == 200 and r.json()["citations"]
    with s.client() as c:
        assert c.get("/api/documents").json()["count"] >= 4


def test_kill_9_mid_upload_batch_leaves_nothing_half_done(indexed_home: Path, start_server,
                                                          tmp_path: Path) -> None:
    """30 articles indexed by a process killed part-way: none or all of them are visible."""
    from rag.store import Store

    home = copy_home(indexed_home, tmp_path / "home")
    src = tmp_path / "batch"
    src.mkdir()
    corpus = ROOT / "evals" / "data" / "multihop_rag" / "corpus.jsonl"
    import json

    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()[:90]]
    for i in range(30):  # long articles: more than one group of chunks, so a kill can land
        first, *more = rows[3 * i : 3 * i + 3]  # between the first group and the publish
        body = "\n\n".join(d["body"] for d in (first, *more))
        (src / f"{first['doc_id']}.txt").write_text(f"{first['title']}\n\n{body}\n")
    settings = settings_for(home)
    before = set(Store(settings).articles(max_age=0))
    chunks_before = Store(settings).chunk_count()
    env = {**os.environ, "RAG_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", str(src)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            if Store(settings).chunk_count() > chunks_before:
                break
        except Exception:  # noqa: BLE001 - mid-write reads may fail; try again
            continue
    assert proc.poll() is None, "indexing finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = set(Store(settings).articles(max_age=0))
    assert after == before, f"{len(after - before)} of 30 went live from a killed batch"
    s = start_server(home, args=("--no-warm",))
    with s.client() as c:
        assert c.get("/api/documents").json()["count"] == len(before)
        assert c.post("/api/ask", json=QUESTION).status_code == 200


@pytest.fixture()
def small_fs(tmp_path: Path):
    """A 16 MB tmpfs (root only): a disk that can really be filled."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                                            str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_mid_upload_says_free_space_not_rebuild(indexed_home: Path, start_server,
                                                            small_fs: Path) -> None:
    import json

    from tests.security.conftest import add_articles

    home = copy_home(indexed_home, small_fs / "home")
    s = start_server(home, env={"GRADIO_TEMP_DIR": str(small_fs.parent / "gradio-tmp")})
    filler = small_fs / "filler"
    with open(filler, "wb") as f:  # leave about 300 KB: the upload starts, then runs out
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    filler.write_bytes(b"\0" * max(0, filler.stat().st_size - 300_000))
    corpus = ROOT / "evals" / "data" / "multihop_rag" / "corpus.jsonl"
    files = []
    for line in corpus.read_text(encoding="utf-8").splitlines()[40:60]:
        d = json.loads(line)
        files.append((f"{d['doc_id']}.txt", f"{d['title']}\n\n{d['body']}\n".encode()))
    status = add_articles(s, files)
    assert "Added" not in status, status
    assert "space" in status and "rebuild" not in status, status
    assert ask(s).status_code == 200  # the index is as it was
    filler.unlink()
    status = add_articles(s, files[:3])
    assert "Added" in status, status
