"""`rag serve`: the chat page and REST API with uvicorn, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag serve",
        description="Serve the chat page (/) and the REST API (/api).",
        epilog="Beyond 127.0.0.1 the server needs RAG_API_TOKEN (a secret every request must "
        "carry: 'Authorization: Bearer TOKEN', or open /?token=TOKEN once in the browser). "
        "RAG_ALLOWED_HOSTS: extra host names the page may be opened as (comma-separated).",
    )
    p.add_argument(
        "--host",
        default=os.environ.get("RAG_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1: this machine only; any other address "
        "needs RAG_API_TOKEN)",
    )
    p.add_argument(
        "--port", type=int, default=int(os.environ.get("RAG_PORT", "7860")), help="default 7860"
    )
    p.add_argument("--no-warm", action="store_true", help="load models on the first question")
    return p


def port_taken(host: str, port: int) -> str | None:
    """One line naming the port and the fix when ``host:port`` cannot be bound, else None."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return f"rag serve: cannot use the address {host!r} ({e.strerror}); try --host 127.0.0.1"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (f"rag serve: port {port} is already in use on {host}; stop the other "
                        f"server or choose another port, e.g. 'rag serve --port {port + 1}'")
            if e.errno == errno.EACCES:
                return (f"rag serve: port {port} needs more privileges on {host}; choose a "
                        "port above 1023, e.g. 'rag serve --port 7860'")
            return f"rag serve: cannot listen on {host}:{port} ({e.strerror})"
    return None


def guarded_h11(header_timeout: float, max_header_bytes: int) -> type:
    """uvicorn's h11 protocol with a deadline for the request head and JSON errors.

    h11 (not httptools) because it caps the size of the request head; the deadline drops
    clients that open connections and trickle headers (slowloris), which uvicorn never does.
    """
    import asyncio

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:  # Any: uvicorn's arguments
            config = kwargs.get("config", args[0] if args else None)
            if config is not None:
                config.h11_max_incomplete_event_size = max_header_bytes
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(header_timeout, self._head_too_slow, self.scope)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self, scope_then: Any) -> None:  # Any: uvicorn's request scope
            if self.scope is scope_then and not self.transport.is_closing():
                self.transport.close()  # no complete request head in time

        def connection_made(self, transport: Any) -> None:  # Any: an asyncio transport
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            before = self.scope
            super().handle_events()
            if self.scope is not before:
                self._disarm()  # a request head arrived; the body has its own timeout

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this keep-alive connection gets a deadline too

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            import h11

            # uvicorn passes one message for every parse error; the buffer tells them apart
            pending = len(getattr(self.conn, "_receive_buffer", b""))
            status = 431 if pending > max_header_bytes else 400
            detail = "The request head is too large." if status == 431 else "Invalid request."
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            try:
                for event in (
                    h11.Response(status_code=status, headers=headers),
                    h11.Data(data=json.dumps({"detail": detail}).encode()),
                    h11.EndOfMessage(),
                ):
                    self.transport.write(self.conn.send(event))
            except h11.LocalProtocolError:
                pass  # the connection is beyond answering; just close it
            self.transport.close()

    return GuardedH11


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    from ui.guard import ServerSettings

    server = ServerSettings.from_env(host=args.host)
    if not server.is_local and not server.api_token:  # checked before anything heavy loads
        print(
            f"rag serve: refusing to listen on {args.host} without RAG_API_TOKEN: anyone who "
            "can reach it could read and add documents. Set RAG_API_TOKEN to a secret, e.g. "
            "RAG_API_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())')",
            file=sys.stderr,
        )
        return 2
    os.umask(0o077)  # the index, uploads and temporary files: this user's only
    import uvicorn

    from rag.errors import RagError
    from rag.settings import Settings
    from ui.app import create_app

    taken = port_taken(args.host, args.port)
    if taken:
        print(taken, file=sys.stderr)
        return 1
    try:
        app = create_app(Settings.from_env(), warm=not args.no_warm, server=server)
    except RagError as e:
        print(f"rag serve: {e}", file=sys.stderr)
        return 1
    print(f"Chat page: http://{args.host}:{args.port}/   REST API: /api (docs at /docs)")
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            http=guarded_h11(server.read_timeout, server.max_header_bytes),
            limit_concurrency=1000,  # beyond this many connections: 503, not memory growth
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,  # a stop ends the server even if a question hangs
            access_log=False,  # request lines hold questions; nothing of a request is logged
        )
    except OSError as e:  # e.g. the port is taken
        print(f"rag serve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
