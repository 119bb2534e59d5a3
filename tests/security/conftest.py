"""The red team's fixtures: the REAL server (``python -m ui.server``: uvicorn, Gradio, embedded
Chroma) on a free port over a private copy of an indexed RAG_HOME, watched by a socket guard.

The guard is a ``sitecustomize`` audit hook loaded into the server process: it refuses every
connection and name lookup that is not loopback or a local socket, and writes each attempt to
a log the tests read. "The server never connects out" is then an assertion on that log.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES, free_port, stop

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 600  # a loaded 2-core machine (other test suites beside) is slow

SOCKET_GUARD = r'''
import os, sys

_LOG = os.environ.get("RAG_TEST_NET_LOG")
_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "", None)


def _note(event, target):
    with open(_LOG, "a") as fh:
        fh.write(f"{event} {target!r}\n")


def _hook(event, args):
    if not _LOG:
        return
    if event == "socket.connect" or event == "socket.sendto":
        address = args[1]
        if isinstance(address, tuple) and address and address[0] not in _LOCAL:
            _note(event, address)
            raise PermissionError("network blocked by the test's socket guard")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("latin-1")
        if host not in _LOCAL:
            _note(event, host)
            raise PermissionError("name lookups blocked by the test's socket guard")


sys.addaudithook(_hook)
'''


@dataclass
class Server:
    """A running ``rag serve``: its URL, RAG_HOME, log files and process."""

    url: str
    port: int
    home: Path
    log: Path
    net_log: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(kw.pop("headers", {}))
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 600), headers=headers,
                            **kw)

    def outbound(self) -> list[str]:
        """Every outside connection or name lookup the server attempted."""
        return self.net_log.read_text().splitlines() if self.net_log.exists() else []

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            stop(self.proc)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def copy_home(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("index.lock"))
    return dest


@pytest.fixture(scope="session")
def guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("socket-guard")
    (d / "sitecustomize.py").write_text(SOCKET_GUARD)
    return d


@pytest.fixture(scope="session")
def launch(
    guard_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    """Start servers: ``launch(home, env=..., args=...)``; any still running when the session
    ends are stopped then (fixtures stop theirs sooner with ``Server.stop``)."""
    started: list[Server] = []

    def start(home: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
              wait: bool = True) -> Server:
        port = free_port()
        tmp = tmp_path_factory.mktemp("server")
        log, net_log = tmp / "server.log", tmp / "net.log"
        full_env = {
            **{k: v for k, v in os.environ.items()
               if k not in ("GRADIO_TEMP_DIR", "RAG_API_TOKEN", "RAG_CHROMA_URL")},
            "RAG_HOME": str(home),
            "RAG_ARTICLES": str(ARTICLES),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(guard_dir), str(ROOT)]),
            "RAG_TEST_NET_LOG": str(net_log),
            **(env or {}),
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ui.server", "--port", str(port), *args],
                cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", port, home, log, net_log, proc, full_env,
                        full_env.get("RAG_API_TOKEN"))
        started.append(server)
        if wait:
            wait_ready(server)
        return server

    yield start
    for s in started:
        if s.alive():
            stop(s.proc)


@pytest.fixture()
def start_server(launch: Callable[..., Server]) -> Iterator[Callable[..., Server]]:
    """``launch`` for one test: the servers it starts are stopped when the test ends."""
    mine: list[Server] = []

    def start(*args: Any, **kwargs: Any) -> Server:
        mine.append(launch(*args, **kwargs))
        return mine[-1]

    yield start
    for s in mine:
        s.stop()


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if not server.alive():
            pytest.fail(f"the server exited ({server.proc.returncode}):\n"
                        f"{server.log_text()[-3000:]}")
        try:
            r = httpx.get(server.url + "/api/health", timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not start:\n{server.log_text()[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def server(indexed_home: Path, launch: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Server:
    """One server shared by the tests that do not change its limits or break its index."""
    home = copy_home(indexed_home, tmp_path_factory.mktemp("sec") / "home")
    s = launch(home)
    # Warm it up: the first question loads the models.
    with s.client() as c:
        assert c.post("/api/ask", json={"question": "When did the US warn Russia?"}
                      ).status_code == 200
    return s


# -- Gradio's own protocol, as the page's JavaScript speaks it ------------------------------

def gradio_config(s: Server, client: httpx.Client | None = None) -> dict[str, Any]:
    c = client or s.client()
    r = c.get("/config")
    r.raise_for_status()
    return r.json()


def fn_index(config: dict[str, Any], elem_id: str) -> int:
    """The event whose inputs include the component with ``elem_id``."""
    ids = {c["id"] for c in config["components"] if c["props"].get("elem_id") == elem_id}
    for dep in config["dependencies"]:
        if ids & set(dep["inputs"]):
            return int(dep["id"])
    raise LookupError(elem_id)


def file_data(path: str, name: str = "article.txt") -> dict[str, Any]:
    return {"path": path, "url": None, "orig_name": name, "size": None, "mime_type": None,
            "is_stream": False, "meta": {"_type": "gradio.FileData"}}


def join(client: httpx.Client, fn: int, data: list[Any], session: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[httpx.Response, str]:
    """POST queue/join for event ``fn``; returns the response and the session hash."""
    session = session or secrets.token_hex(8)
    body = {"data": data, "fn_index": fn, "session_hash": session, "event_data": None,
            "trigger_id": None}
    return client.post("/gradio_api/queue/join", json=body, headers=headers or {}), session


def events(client: httpx.Client, session: str, timeout: float = 300) -> list[dict[str, Any]]:
    """The server-sent events of a session until its process completes."""
    out: list[dict[str, Any]] = []
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session},
                       timeout=timeout) as r:
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            out.append(msg)
            if msg.get("msg") == "process_completed":
                break
    return out


def upload(client: httpx.Client, files: list[tuple[str, bytes]],
           headers: dict[str, str] | None = None) -> httpx.Response:
    """POST files to Gradio's upload route, as the page's file picker does."""
    return client.post("/gradio_api/upload",
                       files=[("files", (name, data, "text/plain")) for name, data in files],
                       headers=headers or {})


def browser_client(s: Server) -> httpx.Client:
    """A client that behaves like the page: same-origin headers, the session cookie."""
    c = s.client(headers={"Origin": s.url, "Referer": s.url + "/"})
    c.get("/")  # the page load hands out the session cookie
    return c


def add_articles(s: Server, files: list[tuple[str, bytes]],
                 client: httpx.Client | None = None) -> str:
    """Upload and index ``files`` through the page's own two steps; the status HTML."""
    c = client or browser_client(s)
    r = upload(c, files)
    assert r.status_code == 200, r.text
    fn = fn_index(gradio_config(s, c), "upload")
    # the event's inputs: the files, then the collection chosen at the top of the page
    r, session = join(c, fn, [[file_data(p, n) for p, (n, _) in zip(r.json(), files)],
                              "articles"])
    assert r.status_code == 200, r.text
    done = events(c, session)[-1]
    assert done.get("success"), done
    return str(done["output"]["data"][0])


def error_text(r: httpx.Response) -> str:
    """The one-line message of an error: the REST routes' ``{"error", "field"}`` or the
    middleware's ``{"detail"}``."""
    body = r.json()
    return str(body.get("error") or body.get("detail") or "")


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# The llama.cpp server of the LLM tests, for the injection corpus on the generative path.
from tests.llm.conftest import llama_server, smollm2_path  # noqa: E402,F401
