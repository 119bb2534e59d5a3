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


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    import uvicorn

    from rag.errors import RagError
    from rag.settings import Settings
    from ui.app import create_app

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
    print(f"Chat page: http://{args.host}:{args.port}/   REST API: /api/ask, /api/documents")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except OSError as e:  # e.g. the port is taken
        print(f"rag serve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
