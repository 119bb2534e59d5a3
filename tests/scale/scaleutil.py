"""Helpers for the scale and reliability tests: real servers, real processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rag import Settings

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "data" / "articles"
VENV_BIN = Path(sys.executable).parent


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v2/heartbeat")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no Chroma server on port {port} after {timeout} s")


def server_settings(url: str, home: Path, token: str | None = None) -> Settings:
    """Settings for a fresh collection on the server (tests share one server, not data)."""
    return Settings.from_env().with_(home=home, chroma_url=url, chroma_token=token,
                                     collection=f"t{uuid.uuid4().hex[:10]}",
                                     articles_dir=ARTICLES)


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a ``rag`` subprocess needs to use ``settings``."""
    env = {**os.environ, "RAG_HOME": str(settings.home), "RAG_COLLECTION": settings.collection,
           "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_CHROMA_URL", None)
    env.pop("RAG_CHROMA_TOKEN", None)
    if settings.chroma_url:
        env["RAG_CHROMA_URL"] = settings.chroma_url
    if settings.chroma_token:
        env["RAG_CHROMA_TOKEN"] = settings.chroma_token
    return env


def rag_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *args]


class _AuthProxy(BaseHTTPRequestHandler):
    """Forwards to the server only requests carrying the expected bearer token, as an
    authenticating gateway in front of Chroma would (``chroma run`` has no auth of its own)."""

    upstream: int = 0
    token: str = ""

    def _forward(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            body = b'{"error":"Unauthorized","message":"missing or wrong token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else None
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "authorization", "content-length")}
        conn.request(self.command, self.path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def auth_proxy(server_url: str, token: str) -> Iterator[str]:
    """An authenticating proxy in front of ``server_url``; its URL."""
    handler = type("Handler", (_AuthProxy,), {"upstream": int(server_url.rsplit(":", 1)[1]),
                                              "token": token})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
