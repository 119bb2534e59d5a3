"""`rag serve`: the chat page and REST API with uvicorn, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag serve", description="Serve the chat page (/) and the REST API (/api)."
    )
    p.add_argument(
        "--host",
        default=os.environ.get("RAG_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1: this machine only; "
        "0.0.0.0 exposes the app to your network, which has no login)",
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


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    import uvicorn

    from rag.errors import RagError
    from rag.settings import Settings
    from ui.app import create_app

    taken = port_taken(args.host, args.port)
    if taken:
        print(taken, file=sys.stderr)
        return 1
    try:
        app = create_app(Settings.from_env(), warm=not args.no_warm)
    except RagError as e:
        print(f"rag serve: {e}", file=sys.stderr)
        return 1
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"rag serve: warning: listening on {args.host}; anyone who can reach it can use it",
            file=sys.stderr,
        )
    print(f"Chat page: http://{args.host}:{args.port}/   REST API: /api (docs at /docs)")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except OSError as e:  # e.g. the port is taken
        print(f"rag serve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
