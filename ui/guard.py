"""The server's front door: one ASGI middleware that every request passes, whatever route it is
for (ours, Gradio's, and routes added later), so no route needs its own protection code.

In order, a request must: name an allowed Host (DNS rebinding), carry no more headers than
allowed, present the API token when one is configured, come from this page's own origin when it
changes state (CSRF), stay away from routes that fetch URLs or read files outside Gradio's upload
cache, keep its body under the limit and send it in time, send valid JSON (no NaN, no lone
surrogates), and, for an upload, stay inside the per-minute and disk quotas. A file may reach an
event only by a path the upload route handed to the same browser session. Every refusal is a
one-line JSON error; nothing of the request is echoed or logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Scope = MutableMapping[str, Any]  # Any: ASGI messages
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_COOKIE = "rag_token"
SESSION_COOKIE = "rag_session"
UPLOAD_ROUTE = "/gradio_api/upload"
DOCUMENTS_ROUTE = "/api/documents"  # POST: articles uploaded through the REST API
JOIN_ROUTE = "/gradio_api/queue/join"
# Gradio routes that fetch a URL given by the client (server-side request forgery) or that
# exist only for apps loaded from elsewhere: never needed by this page.
_FETCHING_PREFIXES = ("/gradio_api/proxy=", "/proxy=", "/gradio_api/file/", "/file/")
_FILE_PREFIXES = ("/gradio_api/file=", "/file=")
_OPEN_PATHS = ("/api/health",)  # liveness probes need no token


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class ServerSettings:
    """The server edge's settings: who may talk to it, and how much."""

    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()  # extra Host names (RAG_ALLOWED_HOSTS)
    api_token: str | None = None  # RAG_API_TOKEN: required beyond localhost
    max_body: int = 1 << 20  # Gradio's routes (an event with its state is a few KB)
    max_api_body: int = 64 << 10  # /api: a 2,000-character question plus a long history
    # One upload request (Gradio's upload route or POST /api/documents); ui.app raises it to
    # one file at RAG_MAX_FILE_MB when that is larger.
    max_upload_body: int = 42 << 20
    max_headers: int = 64
    max_header_bytes: int = 16 << 10  # enforced by the HTTP parser (ui.server)
    read_timeout: float = 15.0  # seconds to send the headers, or the next piece of a body
    uploads_per_minute: int = 60  # files, per client
    upload_mb_per_minute: int = 64  # bytes, per client
    upload_quota_mb: int = 512  # raw uploads kept on disk (Gradio's cache and ours)

    @classmethod
    def from_env(cls, host: str | None = None,
                 env: Mapping[str, str] | None = None) -> ServerSettings:
        e = os.environ if env is None else env
        d = cls()
        extra = tuple(h.strip().lower() for h in e.get("RAG_ALLOWED_HOSTS", "").split(",")
                      if h.strip())
        return cls(
            host=(host or e.get("RAG_HOST") or d.host).lower(),
            allowed_hosts=extra,
            api_token=e.get("RAG_API_TOKEN") or None,
            max_body=_env_int(e, "RAG_MAX_BODY_KB", d.max_body >> 10) << 10,
            uploads_per_minute=_env_int(e, "RAG_UPLOADS_PER_MINUTE", d.uploads_per_minute),
            upload_mb_per_minute=_env_int(e, "RAG_UPLOAD_MB_PER_MINUTE", d.upload_mb_per_minute),
            upload_quota_mb=_env_int(e, "RAG_UPLOAD_QUOTA_MB", d.upload_quota_mb),
            read_timeout=float(e.get("RAG_READ_TIMEOUT", d.read_timeout)),
        )

    @property
    def is_local(self) -> bool:
        return self.host in LOOPBACK

    def hosts(self) -> frozenset[str]:
        """Host names a request may address (without port)."""
        names = {*LOOPBACK, "[::1]", *self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host)
        return frozenset(names)


class Refusal(Exception):
    """A request we answer with ``status`` and a one-line JSON ``detail``."""

    def __init__(self, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = list(headers)


async def send_error(send: Send, status: int, detail: str,
                     headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A one-line JSON error (the same shape FastAPI uses: ``{"detail": ...}``)."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def _host_name(value: str) -> str:
    """``Host``/origin authority without port, lower-cased ("[::1]:80" -> "[::1]")."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _file_target(path: str) -> str | None:
    """The target of a Gradio file URL, decoded until stable (so %252F tricks are seen)."""
    for prefix in _FILE_PREFIXES:
        if path.startswith(prefix):
            target = path[len(prefix):]
            for _ in range(5):
                decoded = unquote(target)
                if decoded == target:
                    break
                target = decoded
            return target
    return None


def _strict_json(body: bytes) -> Any:  # Any: JSON
    """Parse ``body``; ``Refusal`` (422) for bad syntax, NaN/Infinity or invalid Unicode."""

    def no_constant(name: str) -> Any:  # Any: JSON
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=no_constant)
        # A lone surrogate ("\\ud800") parses, then breaks whatever encodes it later.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise Refusal(422, "The request is not valid UTF-8 text: remove invalid characters "
                           "(such as lone surrogates) and send it again.") from None
    except ValueError as e:
        msg = str(e).split(":")[0] if "allows" not in str(e) else str(e)
        raise Refusal(422, f"The request body is not valid JSON ({msg}): send numbers as "
                           "finite values and text as UTF-8.") from None
    return value


def _file_paths(value: Any) -> Iterable[str]:  # Any: JSON (Gradio event data)
    """Every ``path`` of a file object (Gradio's FileData) anywhere inside ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            p = v.get("path")
            if isinstance(p, str):
                yield p
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    raw = headers.get(b"cookie", b"").decode("latin-1")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


def folder_bytes(folders: Iterable[Path]) -> int:
    """Bytes of the files under ``folders`` (missing folders count as empty)."""
    total = 0
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
    return total


@dataclass
class _UploadLedger:
    """Per-client upload counts of the last minute, and which paths were handed to whom."""

    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # path -> (session, t)
    recent: dict[str, deque[tuple[float, int, int]]] = field(
        default_factory=lambda: defaultdict(deque))  # client -> (t, files, bytes)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def window(self, client: str, now: float) -> tuple[int, int]:
        q = self.recent[client]
        while q and now - q[0][0] > 60:
            q.popleft()
        return sum(f for _, f, _ in q), sum(b for _, _, b in q)

    def record(self, client: str, session: str, paths: list[str], size: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.recent[client].append((now, len(paths), size))
            for p in paths:
                self.issued[os.path.realpath(p)] = (session, now)
            # Forget paths older than Gradio's cache lifetime (an hour).
            for p in [p for p, (_, t) in self.issued.items() if now - t > 3600]:
                del self.issued[p]

    def owner(self, path: str) -> str | None:
        with self.lock:
            got = self.issued.get(os.path.realpath(path))
        return got[0] if got else None


class Guard:
    """The middleware (see the module docstring). ``upload_dirs``: where raw uploads live
    (Gradio's cache first); ``denied_dirs``: folders never served (RAG_HOME, the articles)."""

    def __init__(self, app: ASGIApp, settings: ServerSettings, upload_dirs: list[Path],
                 denied_dirs: list[Path]) -> None:
        self.app = app
        self.settings = settings
        self.hosts = settings.hosts()
        self.upload_dirs = [d.resolve() for d in upload_dirs]
        self.denied_dirs = [d.resolve() for d in denied_dirs]
        self.ledger = _UploadLedger()
        self._disk: tuple[float, int] = (0.0, 0)

    # -- the checks, each raising Refusal ----------------------------------------------------

    def check_host(self, headers: dict[bytes, bytes]) -> None:
        host = headers.get(b"host", b"").decode("latin-1")
        if _host_name(host) not in self.hosts:
            raise Refusal(421, "This server does not answer for that host name; open it as "
                               "http://127.0.0.1 or add the name to RAG_ALLOWED_HOSTS.")

    def check_token(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        """True when the request is a token login (``/?token=``) to answer with a cookie."""
        token = self.settings.api_token
        if not token or scope["path"] in _OPEN_PATHS:
            return False
        auth = headers.get(b"authorization", b"").decode("latin-1")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        given = given or _cookies(headers).get(TOKEN_COOKIE, "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = (query.get("token") or [""])[0]
        if scope["method"] == "GET" and offered and hmac.compare_digest(offered.encode(),
                                                                        token.encode()):
            return True
        raise Refusal(401, "This server needs its API token: send 'Authorization: Bearer "
                           "<RAG_API_TOKEN>', or open the page once as /?token=<RAG_API_TOKEN>.",
                      [(b"www-authenticate", b"Bearer")])

    def check_origin(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        """A script on another origin may neither read nor change anything (Gradio answers
        any localhost origin with CORS headers, so reads are checked too); a state-changing
        request from a browser must come from this page's own origin."""
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        origin = headers.get(b"origin")
        if origin is not None and scope["method"] not in STATE_CHANGING:
            parts = urlsplit(origin.decode("latin-1").strip())
            if parts.netloc.lower() != host:
                raise Refusal(403, "Cross-site requests are refused: use the page this "
                                   "server serves.")
            return
        if scope["method"] not in STATE_CHANGING:
            return
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site in ("cross-site", "same-site"):
            raise Refusal(403, "Cross-site requests are refused: use the page this server "
                               "serves.")
        for name in (b"origin", b"referer"):
            value = headers.get(name)
            if value is None:
                continue
            parts = urlsplit(value.decode("latin-1").strip())
            if parts.netloc.lower() != host or parts.scheme not in ("http", "https"):
                raise Refusal(403, "Cross-site requests are refused: use the page this "
                                   "server serves.")
            return  # Origin decides when present; Referer only stands in for it

    def check_path(self, scope: Scope) -> None:
        """No URL fetching, no file outside Gradio's upload cache."""
        raw_path = scope.get("raw_path")
        raw = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else ""
        for path in (scope["path"], raw, unquote(raw)):
            if path.startswith(_FETCHING_PREFIXES):
                raise Refusal(403, "This route is turned off: the server fetches nothing "
                                   "on request.")
            target = _file_target(path)
            if target is not None and not self._file_allowed(target):
                raise Refusal(403, "File not allowed.")

    def _file_allowed(self, target: str) -> bool:
        if "://" in target or target.startswith(("http:", "https:", "//", "\\\\")):
            return False
        try:
            path = Path(target).resolve()
        except (OSError, ValueError):
            return False
        if any(path.is_relative_to(d) for d in self.denied_dirs):
            return False
        return any(path.is_relative_to(d) for d in self.upload_dirs[:1])

    def check_upload_quota(self, client: str, length: int) -> None:
        s = self.settings
        with self.ledger.lock:
            files, size = self.ledger.window(client, time.monotonic())
        if files >= s.uploads_per_minute or size + length > s.upload_mb_per_minute << 20:
            raise Refusal(429, f"Too many uploads: at most {s.uploads_per_minute} files and "
                               f"{s.upload_mb_per_minute} MB a minute; wait a minute and "
                               "try again.", [(b"retry-after", b"60")])
        now = time.monotonic()
        at, used = self._disk
        if now - at > 5.0:  # walking the folders is cheap but not free: at most every 5 s
            used = folder_bytes(self.upload_dirs)
            self._disk = (now, used)
        if used + length > s.upload_quota_mb << 20:
            raise Refusal(413, f"The upload space ({s.upload_quota_mb} MB) is full: add the "
                               "files you uploaded, or wait an hour for unused ones to be "
                               "removed, or raise RAG_UPLOAD_QUOTA_MB.")

    def check_files(self, session: str, value: Any) -> None:  # Any: JSON (Gradio event data)
        """Every file an event names must be one the upload route gave this session."""
        for path in _file_paths(value):
            owner = self.ledger.owner(path)
            if owner is None or not hmac.compare_digest(owner, session):
                raise Refusal(403, "Files can only be added through the upload button of "
                                   "this page.")

    # -- plumbing ----------------------------------------------------------------------------

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes, each piece within the read timeout."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.settings.read_timeout)
            except TimeoutError:
                raise Refusal(408, "The request body came too slowly; send it again.") from None
            if message["type"] != "http.request":
                raise ConnectionError("client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refusal(413, f"The request body is over the {limit >> 10} KB limit.")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _timed_receive(self, receive: Receive, limit: int) -> Receive:
        """``receive`` that enforces the size limit and read timeout while a body streams."""
        state = {"size": 0, "done": False}

        async def wrapped() -> Message:
            if state["done"]:
                return await receive()  # after the body: waits for a disconnect, no timeout
            try:
                message = await asyncio.wait_for(receive(), self.settings.read_timeout)
            except TimeoutError:
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["size"] += len(message.get("body", b""))
                if state["size"] > limit:
                    return {"type": "http.disconnect"}
                state["done"] = not message.get("more_body")
            return message

        return wrapped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            await self._guarded(scope, receive, send)
        except Refusal as r:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_error(send, r.status, r.detail, r.headers)
        except ConnectionError:
            return

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = scope.get("headers") or []
        if len(raw_headers) > self.settings.max_headers:
            raise Refusal(431, f"Too many request headers (the limit is "
                               f"{self.settings.max_headers}).")
        headers = dict(raw_headers)
        self.check_host(headers)
        if scope["type"] == "websocket":
            origin = headers.get(b"origin")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc.lower() != \
                    headers.get(b"host", b"").decode("latin-1").lower():
                raise Refusal(403, "Cross-site requests are refused.")
            self.check_token({**scope, "method": "GET"}, headers)
            await self.app(scope, receive, send)
            return
        login = self.check_token(scope, headers)
        if login:
            await self._login(scope, send)
            return
        self.check_origin(scope, headers)
        self.check_path(scope)
        cookies = _cookies(headers)
        session = cookies.get(SESSION_COOKIE, "")
        send = self._with_session_cookie(send, session, scope)
        method, path = scope["method"], scope["path"]
        if method not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        length_header = headers.get(b"content-length")
        if length_header is not None and not length_header.isdigit():
            raise Refusal(400, "The Content-Length header is not a number.")
        length = int(length_header or 0)
        documents = method == "POST" and path.rstrip("/") == DOCUMENTS_ROUTE
        if path == UPLOAD_ROUTE or documents:
            limit = self.settings.max_upload_body
            if length > limit:
                raise Refusal(413, f"The upload is over the {limit >> 20} MB limit per "
                                   "request; send fewer or smaller files.")
            self.check_upload_quota(client, length)
            if not documents:  # the REST route indexes what it is sent; no path is handed out
                send = self._recording_upload(send, client, session, length)
            await self.app(scope, self._timed_receive(receive, limit), send)
            return
        limit = self.settings.max_api_body if path.startswith("/api/") else self.settings.max_body
        if length > limit:
            raise Refusal(413, f"The request body is over the {limit >> 10} KB limit.")
        body = await self._read_body(receive, limit)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (content_type == b"application/json" or path == JOIN_ROUTE):
            value = _strict_json(body)
            if not path.startswith("/api/"):  # Gradio's events, whichever route carries them
                self.check_files(session, value)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _login(self, scope: Scope, send: Send) -> None:
        """``/?token=...``: keep the token in an HttpOnly cookie and drop it from the URL."""
        cookie = (f"{TOKEN_COOKIE}={self.settings.api_token}; Path=/; HttpOnly; "
                  "SameSite=Strict")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", scope["path"].encode("latin-1") or b"/"),
                                (b"set-cookie", cookie.encode("latin-1")),
                                (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def _with_session_cookie(self, send: Send, session: str, scope: Scope) -> Send:
        """Give a browser loading the page a session id, which its uploads are tied to."""
        if session or scope["method"] != "GET" or scope["path"] != "/":
            return send
        new = secrets.token_urlsafe(24)
        cookie = f"{SESSION_COOKIE}={new}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*(message.get("headers") or []), (b"set-cookie", cookie)]
            await send(message)

        return wrapped

    def _recording_upload(self, send: Send, client: str, session: str, length: int) -> Send:
        """Note the paths the upload route hands out, and to which session."""
        status = {"code": 0}
        body: list[bytes] = []

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "http.response.body" and status["code"] == 200:
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        paths = [p for p in json.loads(b"".join(body)) if isinstance(p, str)]
                    except (ValueError, TypeError):
                        paths = []
                    self.ledger.record(client, session, paths, length)
                    self._disk = (0.0, 0)  # re-measure the disk on the next upload
            await send(message)

        return wrapped
