"""The ``rag`` command: index, ask, serve, eval, bench."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from rag.errors import RagError
from rag.settings import Settings

# Subcommands that live outside rag/ are dispatched lazily: "name": "module:main".
EXTERNAL = {
    "serve": ("ui.server:main", "start the chat page and REST API"),
    "eval": ("evals.cli:main", "run the eval suites and check the floors"),
    "bench": ("evals.bench:main", "measure speed and memory as a user sees them"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Cited answers from news articles, offline.",
        epilog="Environment: RAG_HOME (store folder, default ./.rag), RAG_CHROMA_URL (use a "
               "Chroma server), RAG_BACKEND (extractive|openai|local), RAG_LLM_URL, "
               "RAG_LLM_MODEL, RAG_LLM_API_KEY, RAG_LLM_PATH.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ix = sub.add_parser("index", help="index article files (.txt, .md, .html) or folders",
                        description="Index article files or folders. Re-indexing the same "
                                    "files adds nothing; a changed file replaces its chunks.")
    ix.add_argument("paths", nargs="*", type=Path,
                    help="files or folders (default: the bundled data/articles)")
    ix.add_argument("--rebuild", action="store_true",
                    help="drop the index and build it again from these paths")

    ask = sub.add_parser("ask", help="answer a question (no question: interactive chat)",
                         description="Answer a question with cited passages. Without a "
                                     "question, start an interactive chat.")
    ask.add_argument("question", nargs="?", help="the question (omit for interactive mode)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve (default 8)")
    ask.add_argument("--backend", default=None,
                     help="answering backend: extractive (default), openai, local")

    for name, (_, help_text) in EXTERNAL.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTERNAL:
        module, _, func = EXTERNAL[argv[0]][0].partition(":")
        try:
            return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
        except RagError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    settings = Settings.from_env()
    try:
        if args.command == "index":
            return _index(args, settings)
        return _ask(args, settings)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from index import index_paths

    paths = args.paths or [settings.articles_dir]
    report = index_paths(paths, settings, progress=True, rebuild=args.rebuild)
    print(report.summary())
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.engine import Engine, check_question

    if args.question is None:
        return _interactive(args, settings)
    check_question(args.question)  # fail fast, before any model loads
    engine = Engine(settings)
    if args.json:
        ans = engine.answer(args.question, k=args.k, backend=args.backend)
        print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
        return 0
    from rag.types import Answer

    for item in engine.stream(args.question, k=args.k, backend=args.backend):
        if isinstance(item, Answer):
            print()
            _print_sources(item)
        else:
            print(item, end="", flush=True)
    return 0


def _print_sources(ans: object) -> None:
    from rag.types import Answer

    assert isinstance(ans, Answer)
    for c in ans.citations:
        date = f", {c.published}" if c.published else ""
        also = f" (also published as {', '.join(c.also_in)})" if c.also_in else ""
        source = f", {c.source}" if c.source else ""
        print(f"  [{c.n}] {c.title}{source}{date} - {c.doc_id}{also}")
        print(f"      \u201c{c.quote}\u201d" + (f"  ({c.note})" if c.note else ""))
    if not ans.refused:
        print(f"  confidence {ans.confidence:.2f}")


def _interactive(args: argparse.Namespace, settings: Settings) -> int:
    from rag.engine import Engine
    from rag.types import Answer

    engine = Engine(settings)
    try:
        from rag.chat import Chat

        chat = Chat(engine, backend=args.backend)
        stream = chat.stream
    except ImportError:
        def stream(q: str, **_: object):  # type: ignore[no-untyped-def]
            return engine.stream(q, k=args.k, backend=args.backend)
    print("Ask about the articles. Empty line or Ctrl-D to quit.")
    while True:
        try:
            q = input("? ").strip()
        except EOFError:
            print()
            return 0
        if not q:
            return 0
        try:
            for item in stream(q):
                if isinstance(item, Answer):
                    print()
                    _print_sources(item)
                else:
                    print(item, end="", flush=True)
        except RagError as e:
            print(f"error: {e}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
