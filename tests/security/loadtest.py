"""``make loadtest``: N concurrent clients ask the real server for S seconds.

Passes (exit 0) when no request failed and the server's memory stayed flat: the median RSS of
the last tenth of the run is within ``--rss-slack`` MB of the median of the second tenth (the
first tenth warms caches). ``--uploads N`` also adds N articles through the page's upload
route while the clients ask, as a user would. Prints one JSON object with the figures.

    python -m tests.security.loadtest [--clients 50] [--seconds 60] [--uploads 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "evals" / "cases.jsonl"
CORPUS = ROOT / "evals" / "data" / "multihop_rag" / "corpus.jsonl"


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _tree_rss_mb(pid: int) -> float:
    """The server and its children (the search worker, an indexing child)."""
    total = _rss_mb(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += _rss_mb(int(child))
            except OSError:
                pass
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(c: httpx.AsyncClient, questions: list[str], until: float, i: int,
                  stats: dict[str, Any]) -> None:
    n = i
    while time.monotonic() < until:
        q = questions[n % len(questions)]
        n += 7
        t0 = time.perf_counter()
        try:
            r = await c.post("/api/ask", json={"question": q})
            ok = r.status_code == 200
            if not ok:
                stats["errors"].append(f"{r.status_code}: {r.text[:120]}")
        except httpx.HTTPError as e:
            ok = False
            stats["errors"].append(f"{type(e).__name__}")
        stats["latency"].append((time.perf_counter() - t0) * 1000)
        stats["ok"] += ok


async def _uploader(c: httpx.AsyncClient, n: int, until: float, stats: dict[str, Any]) -> None:
    if not n:
        return
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[200 : 200 + n]
    gap = max(1.0, (until - time.monotonic()) * 0.8 / n)
    await c.get("/")  # the session cookie
    config = (await c.get("/config")).json()
    ids = {x["id"] for x in config["components"] if x["props"].get("elem_id") == "upload"}
    fn = next(d["id"] for d in config["dependencies"] if ids & set(d["inputs"]))
    for k, line in enumerate(lines):
        if time.monotonic() > until:
            break
        d = json.loads(line)
        body = f"{d['title']}\n\n{d['body']}\n".encode()
        r = await c.post("/gradio_api/upload", files=[("files", (f"up{k}.txt", body))])
        if r.status_code != 200:
            stats["upload_errors"].append(r.status_code)
            continue
        path = r.json()[0]
        session = f"load{k}"
        file = {"path": path, "orig_name": f"up{k}.txt", "meta": {"_type": "gradio.FileData"}}
        r = await c.post("/gradio_api/queue/join", json={
            "data": [[file]], "fn_index": fn, "session_hash": session})
        if r.status_code != 200:
            stats["upload_errors"].append(r.status_code)
            continue
        async with c.stream("GET", "/gradio_api/queue/data",
                            params={"session_hash": session}, timeout=600) as s:
            async for raw in s.aiter_lines():
                if raw.startswith("data:") and "process_completed" in raw:
                    stats["uploads"] += "Added" in raw
                    break
        await asyncio.sleep(gap)


async def _run(url: str, pid: int, clients: int, seconds: float, uploads: int
               ) -> dict[str, Any]:
    questions = [json.loads(line)["question"] for line in CASES.read_text().splitlines()]
    stats: dict[str, Any] = {"ok": 0, "errors": [], "latency": [], "uploads": 0,
                             "upload_errors": []}
    rss: list[tuple[float, float]] = []
    start = time.monotonic()
    until = start + seconds
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                 headers={"Origin": url}) as c:

        async def sample() -> None:
            while time.monotonic() < until:
                rss.append((time.monotonic() - start, _tree_rss_mb(pid)))
                await asyncio.sleep(1)

        await asyncio.gather(sample(), _uploader(c, uploads, until, stats),
                             *(_client(c, questions, until, i, stats) for i in range(clients)))
    lat = sorted(stats["latency"])
    tenth = max(1, len(rss) // 10)
    early = statistics.median(r for _, r in rss[tenth : 2 * tenth]) if len(rss) > 2 else 0.0
    late = statistics.median(r for _, r in rss[-tenth:]) if rss else 0.0
    return {
        "clients": clients, "seconds": seconds, "requests": len(lat), "ok": stats["ok"],
        "errors": len(stats["errors"]), "error_samples": stats["errors"][:5],
        "throughput_rps": round(len(lat) / seconds, 1),
        "latency_ms_p50": round(lat[len(lat) // 2], 1) if lat else None,
        "latency_ms_p95": round(lat[int(len(lat) * 0.95)], 1) if lat else None,
        "rss_mb_early": round(early, 1), "rss_mb_late": round(late, 1),
        "rss_mb_max": round(max((r for _, r in rss), default=0.0), 1),
        "uploads_added": stats["uploads"], "upload_errors": stats["upload_errors"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="loadtest", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--uploads", type=int, default=0)
    p.add_argument("--rss-slack", type=float, default=100.0, help="MB (default 100)")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="rag-load-"))
    env = {**os.environ, "RAG_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1",
           "RAG_UPLOADS_PER_MINUTE": "1000", "RAG_UPLOAD_MB_PER_MINUTE": "1000"}
    env.pop("GRADIO_TEMP_DIR", None)
    try:
        subprocess.run([sys.executable, "-m", "rag.cli", "index"], env=env, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        port = _free_port()
        log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen([sys.executable, "-m", "ui.server", "--port", str(port)],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.post(url + "/api/ask", json={"question": "When did the US warn "
                                                      "Russia?"}, timeout=60).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((tmp / "server.log").read_text()[-2000:], file=sys.stderr)
                return 2
            time.sleep(0.5)
        try:
            result = asyncio.run(_run(url, server.pid, args.clients, args.seconds,
                                      args.uploads))
            result["server_alive"] = server.poll() is None
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    flat = result["rss_mb_late"] - result["rss_mb_early"] <= args.rss_slack
    result["rss_flat"] = flat
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and flat and result["server_alive"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
