"""Progress of an indexing run: one event type, and how the terminal shows it.

Reading counts files (PDFs and long pages take a while each); embedding, the slow part,
counts chunks, with the articles finished beside them. The page and the API turn the same
events into their own bars.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

READING, CLEANING, PREPARING, EMBEDDING, DONE = (
    "reading", "cleaning", "preparing", "embedding", "done")
# Without a terminal (a log file, CI) a plain line at most this often, in seconds.
LOG_EVERY = 30.0


@dataclass(frozen=True)
class IndexProgress:
    """Where an indexing run is. ``current`` names the file being read, or the step being
    prepared ("loading the embedding model")."""

    stage: str
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    articles_done: int = 0
    articles_total: int = 0
    current: str = ""

    @property
    def fraction(self) -> float:
        """0..1 over the whole run: reading and cleaning the first tenth, embedding the rest."""
        if self.stage == DONE:
            return 1.0
        if self.stage == EMBEDDING:
            share = self.chunks_done / self.chunks_total if self.chunks_total else 1.0
            return 0.1 + 0.9 * share
        if self.stage == PREPARING:
            return 0.1
        share = self.files_done / self.files_total if self.files_total else 0.0
        return (0.0 if self.stage == READING else 0.05) + 0.05 * share

    def describe(self) -> str:
        """One line for a person: 'Embedding 120/400 chunks · 1/3 articles'."""
        if self.stage == EMBEDDING:
            return (f"Embedding {self.chunks_done:,}/{self.chunks_total:,} chunks · "
                    f"{self.articles_done}/{self.articles_total} "
                    f"article{'s' if self.articles_total != 1 else ''}")
        if self.stage in (READING, CLEANING):
            verb = "Reading" if self.stage == READING else "Cleaning"
            return (f"{verb} file {min(self.files_done + 1, self.files_total)}/"
                    f"{self.files_total}" + (f": {self.current}" if self.current else ""))
        if self.stage == PREPARING:
            return f"Preparing: {self.current}" if self.current else "Preparing"
        return "Done"


ProgressFn = Callable[[IndexProgress], None]


def quiet(_: IndexProgress) -> None:
    """No progress shown."""


class TerminalProgress:
    """tqdm bars on a terminal (files while reading, chunks while embedding, with throughput
    and time left); on anything else a plain line now and then."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None  # Any: a tqdm bar
        self._stage = ""
        self._logged = 0.0

    def __call__(self, p: IndexProgress) -> None:
        if not self.tty:
            self._log(p)
            return
        from tqdm import tqdm

        if p.stage != self._stage:
            self.close()
            self._stage = p.stage
            if p.stage in (READING, CLEANING) and p.files_total > 1:
                self._bar = tqdm(total=p.files_total, unit="file", desc=p.stage,
                                 file=self.stream, leave=False)
            elif p.stage == EMBEDDING and p.chunks_total:
                self._bar = tqdm(total=p.chunks_total, unit="chunk", desc="embedding",
                                 file=self.stream)
        if self._bar is None:
            return
        done = p.chunks_done if p.stage == EMBEDDING else p.files_done
        self._bar.update(done - self._bar.n)
        if p.stage == EMBEDDING:
            self._bar.set_postfix_str(f"{p.articles_done}/{p.articles_total} articles",
                                      refresh=False)
        elif p.current:
            self._bar.set_postfix_str(p.current[-40:], refresh=False)

    def _log(self, p: IndexProgress) -> None:
        now = time.monotonic()
        last = p.articles_done == p.articles_total
        if p.stage == EMBEDDING and (p.chunks_done == 0 or last
                                     or now - self._logged >= LOG_EVERY):
            print(p.describe(), file=self.stream, flush=True)
            self._logged = now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_fn(progress: bool | ProgressFn | None) -> ProgressFn:
    """``True``: the terminal; a callable: itself; otherwise nothing."""
    if callable(progress):
        return progress
    return TerminalProgress() if progress else quiet
