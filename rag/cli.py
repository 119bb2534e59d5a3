"""The ``rag`` command: index, ask, docs, collections, serve, eval, bench."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import InvalidOption, RagError
from rag.settings import MAX_K, Settings, check_collection, check_k

if TYPE_CHECKING:
    from rag.chat import Chat
    from rag.documents import DocumentInfo
    from rag.engine import Engine
    from rag.types import Answer

# Subcommands that live outside rag/ are dispatched lazily: "name": "module:main".
EXTERNAL = {
    "serve": ("ui.server:main", "start the chat page and REST API"),
    "eval": ("evals.cli:main", "run the eval suites and check the floors"),
    "bench": ("evals.bench:main", "measure speed and memory as a user sees them"),
}
QUIT = {"exit", "quit", ":q", "/exit", "/quit"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rag-cited")
    except PackageNotFoundError:
        return "unknown"


def _k(value: str) -> int:
    try:
        return check_k(value)
    except InvalidOption as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _collection(value: str) -> str:
    try:
        return check_collection(value)
    except InvalidOption as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Cited answers from news articles, offline.",
        epilog="Environment: RAG_HOME (store folder, default ./.rag), RAG_COLLECTION (default "
               "'articles'), RAG_CHROMA_URL (use a Chroma server), RAG_BACKEND "
               "(extractive|openai|local), RAG_LLM_URL, RAG_LLM_MODEL, RAG_LLM_API_KEY, "
               "RAG_LLM_PATH, RAG_MAX_FILE_MB (one file's size limit, default 10).")
    p.add_argument("--version", action="version", version=f"rag {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--collection", type=_collection, default=None, metavar="NAME",
                       help="the named index to use (default: RAG_COLLECTION, 'articles')")

    ix = sub.add_parser(
        "index", parents=[where],
        help="index article files (.txt, .md, .html, .pdf, .docx) or folders",
        description="Index article files or folders: .txt, .md, .html, .pdf and .docx, up to "
                    "RAG_MAX_FILE_MB (default 10) each, text in any common encoding. "
                    "Re-indexing the same files adds nothing; a changed file replaces its "
                    "chunks. Every readable file is indexed; each file that is not gets one "
                    "line saying why, and the exit status is 1 when any file was skipped. "
                    "A new --collection name creates that collection.")
    ix.add_argument("paths", nargs="*", type=Path,
                    help="files or folders (default: the bundled data/articles)")
    ix.add_argument("--rebuild", action="store_true",
                    help="drop the collection's index and build it again from these paths")
    ix.add_argument("--json", action="store_true",
                    help="print the outcome as JSON (counts, and one entry per problem file)")

    ask = sub.add_parser("ask", parents=[where],
                         help="answer a question (no question: interactive chat)",
                         description="Answer a question with cited passages. Without a "
                                     "question, start an interactive chat with line editing "
                                     "and history.")
    ask.add_argument("question", nargs="?", help="the question (omit for interactive mode)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("-k", type=_k, default=None, metavar="N",
                     help=f"passages to retrieve, 1 to {MAX_K} (default: RAG_TOP_K, 8)")
    ask.add_argument("--backend", default=None,
                     help="answering backend: extractive (default), openai, local")

    docs = sub.add_parser("docs", help="list, show, delete or re-index indexed documents",
                          description="The documents of a collection. DOC is a file name "
                                      "as 'rag docs list' shows it, or a document id.")
    dsub = docs.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = dsub.add_parser("list", parents=[where], help="title, file, publisher, date, passages")
    ls.add_argument("--json", action="store_true", help="print JSON (with ids)")
    show = dsub.add_parser("show", parents=[where], help="the cleaned text, passage by passage")
    show.add_argument("doc", metavar="DOC")
    show.add_argument("--json", action="store_true", help="print JSON")
    rm = dsub.add_parser("rm", parents=[where],
                         help="delete documents (their passages and BM25 entries too)")
    rm.add_argument("docs", nargs="+", metavar="DOC")
    re = dsub.add_parser("reindex", parents=[where], help="read a document's file again")
    re.add_argument("doc", metavar="DOC")

    sub.add_parser("collections", help="list the collections (named indexes)")

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
    try:
        settings = Settings.from_env()
        if getattr(args, "collection", None):
            settings = settings.with_(collection=args.collection)
        if args.command == "index":
            return _index(args, settings)
        if args.command == "docs":
            return _docs(args, settings)
        if args.command == "collections":
            return _collections(settings)
        return _ask(args, settings)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`rag ask ... | head -1`): not an error of ours. Point stdout at
        # nothing so that Python's flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from index import index_paths

    paths = args.paths or [settings.articles_dir]
    report = index_paths(paths, settings, progress=True, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for line in report.lines():  # one per problem file: what is wrong, what to do
            print(line, file=sys.stderr)
        print(report.summary())
    return 0 if report.ok else 1


# -- documents and collections -------------------------------------------------------------


def _docs(args: argparse.Namespace, settings: Settings) -> int:
    from rag.documents import list_documents, open_document, resolve_document
    from rag.store import Store

    store = Store(settings)
    docs = list_documents(store, settings.home)
    if args.action == "list":
        if args.json:
            print(json.dumps({"collection": settings.collection,
                              "documents": [d.to_dict() for d in docs]},
                             ensure_ascii=False, indent=2))
        else:
            _print_table(docs, settings.collection)
        return 0
    if args.action == "show":
        detail = open_document(store, settings.home, resolve_document(docs, args.doc))
        if args.json:
            print(json.dumps(detail.to_dict(), ensure_ascii=False, indent=2))
            return 0
        info = detail.info
        print(info.title)
        facts = [info.file_name, info.source, info.published or "date unknown",
                 f"{info.passages} passage(s)", f"added {(info.added or '?')[:10]}"]
        print("  " + " · ".join(f for f in facts if f))
        for i, chunk in enumerate(detail.passages, 1):
            print(f"\n── passage {i} (characters {chunk.start}-{chunk.end}) ──")
            print(chunk.text)
        return 0
    from index.manage import reindex_document, remove_documents

    if args.action == "rm":
        ids = [resolve_document(docs, ref) for ref in args.docs]  # all found, or none removed
        titles = {d.doc_id: d.title for d in docs}
        report = remove_documents(ids, settings)
        for doc_id in report.removed:
            print(f"deleted: {titles.get(doc_id, doc_id)}")
        for doc_id in report.unfolded:
            print(f"forgot the duplicate copy {doc_id}")
        print(f"{settings.collection} holds {report.total_articles} articles in "
              f"{report.total_chunks} passages")
        return 0
    doc_id = resolve_document(docs, args.doc)
    result = reindex_document(doc_id, settings)
    title = next(d.title for d in docs if d.doc_id == doc_id)
    print(f"re-indexed: {title} ({'changed' if result.changed else 'unchanged'}; "
          f"{result.passages} passages)")
    return 0


def _print_table(docs: Sequence[DocumentInfo], collection: str) -> None:
    if not docs:
        print(f"nothing is indexed in {collection!r}; add files with "
              f"'rag index --collection {collection} PATH'")
        return
    rows = [("TITLE", "FILE", "PUBLISHER", "PUBLISHED", "PASSAGES", "ADDED")]
    for d in docs:
        title = d.title if len(d.title) <= 48 else d.title[:47] + "…"
        rows.append((title, d.file_name, d.source or "-", d.published or "-", str(d.passages),
                     (d.added or "-")[:10]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i != 4 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    print(f"{len(docs)} article(s) in {collection!r}")


def _collections(settings: Settings) -> int:
    from rag.store import list_collections

    names = list_collections(settings)
    if not names:
        print("no collection yet; create one with 'rag index [--collection NAME] PATH'")
    for name in names:
        print(name + ("  (default)" if name == settings.collection else ""))
    return 0


# -- asking --------------------------------------------------------------------------------


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.engine import check_question

    if args.question is None:
        return _interactive(args, settings)
    check_question(args.question)  # fail fast, before any model loads
    engine = _engine(settings)
    if args.json:
        ans = engine.answer(args.question, k=args.k, backend=args.backend)
        print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
        return 0
    _show(engine.stream(args.question, k=args.k, backend=args.backend), args.question)
    return 0


def _engine(settings: Settings) -> Engine:
    from index import index_bundled
    from rag.engine import Engine
    from rag.settings import DEFAULT_COLLECTION

    # Only the default collection fills itself with the bundled articles when empty.
    return Engine(settings, on_empty=index_bundled
                  if settings.collection == DEFAULT_COLLECTION else None)


def _show(stream: Iterator[str | Answer], question: str) -> None:
    """Print the answer as it arrives (a spinner until then, on a terminal), then its sources."""
    from rag.types import Answer

    spinner = _spinner()
    try:
        for item in stream:
            spinner.stop()
            if isinstance(item, Answer):
                print()
                searched = " ".join(item.question.split())
                if searched != " ".join(question.split()):
                    print(f"  (searched for: {searched})")
                _print_sources(item)
            else:
                print(item, end="", flush=True)
    finally:
        spinner.stop()


class _Spinner:
    """rich's spinner on stderr while the answer is on its way; nothing when not a terminal."""

    def __init__(self) -> None:
        self._status = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status("Searching the articles…")
            self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _spinner() -> _Spinner:
    return _Spinner()


def _print_sources(ans: Answer) -> None:
    """Each source by its title; its quote only where the answer does not already say it."""
    text = " ".join(ans.text.split())
    for c in ans.citations:
        page = f"p. {c.page}" if c.page else ""
        where = ", ".join(x for x in (c.source, c.published or "", page) if x)
        print(f"  [{c.n}] {c.title}" + (f" ({where})" if where else ""))
        quote = " ".join(c.quote.split())
        if quote not in text:
            print(f"      \u201c{quote}\u201d")
        if c.note:
            print(f"      ({c.note})")
    if not ans.refused:
        print(f"  confidence {ans.confidence:.2f}")


def _interactive(args: argparse.Namespace, settings: Settings) -> int:
    from rag.chat import Chat

    _line_editing(settings)
    chat = Chat(_engine(settings), backend=args.backend, k=args.k)
    print("Ask about the articles; follow-up questions are understood. "
          "Type 'exit' or press Ctrl-D to quit.")
    while True:
        try:
            q = input("? ").strip()
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:  # Ctrl-C on the prompt clears the line, as in a shell
            print()
            continue
        if not q:
            print("  (type a question, or 'exit' to quit)")
            continue
        if q.lower() in QUIT:
            return 0
        _turn(chat, q)


def _turn(chat: Chat, question: str) -> None:
    try:
        _show(chat.stream(question), question)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\n  (stopped)")


def _line_editing(settings: Settings) -> None:
    """Arrow keys, Ctrl-R and a history kept across sessions (GNU readline, when present)."""
    try:
        import readline
    except ImportError:  # e.g. Windows without pyreadline: plain input() still works
        return
    import atexit

    history = Path(settings.home) / "ask_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    readline.set_history_length(1000)

    def save() -> None:
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history)
        except OSError:
            pass

    atexit.register(save)


if __name__ == "__main__":
    raise SystemExit(main())
