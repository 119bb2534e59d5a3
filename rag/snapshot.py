"""The article records of one committed index, in one file an asking process reads without
Chroma.

An engine needs, before its first answer, every article record, the chunk count and the
store's fingerprint and embedding model. Read from Chroma, that costs importing chromadb and
opening the store (about 1.4 s of CPU at startup) plus reading and decoding the records (0.65
s at 609 articles), all on the first question's path, while the search child imports the
same chromadb on the other core. Written once per commit (and by the first reader of a
store without one), this file holds them; it is trusted only while the store's ``committed``
marker names the fingerprint it was written at, so a later commit, a rebuild swapped in or
another collection's run sends readers back to Chroma (which then writes a fresh one).

The format is a pickle: a measured 0.45 s to load the 609 articles' records against 0.65 s
to read them from Chroma (JSON of the same would decode the annotations again). It lives in
the store's own folder, written by this user, beside Chroma's own pickled index metadata.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from rag.types import Article

FORMAT = 1
FOLDER = "records"  # under the live home, beside chroma/ and bm25/


@dataclass(frozen=True)
class Snapshot:
    """What an engine reads of a store before answering, as of one commit."""

    collection: str
    fingerprint: str
    embed_model: str
    dim: int
    chunk_count: int
    articles: dict[str, Article]


def path_for(home: Path, collection: str) -> Path:
    return home / FOLDER / f"{collection}.pickle"


def load(home: Path, collection: str, fingerprint: str) -> Snapshot | None:
    """The snapshot of ``collection`` under ``home`` written at ``fingerprint``, or None when
    there is none, it was written at another commit or it cannot be read (the caller reads
    Chroma instead: a damaged snapshot costs time, never an answer)."""
    try:
        with path_for(home, collection).open("rb") as fh:
            form, snap = pickle.load(fh)
    except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, pickle.UnpicklingError):
        return None
    if (form != FORMAT or not isinstance(snap, Snapshot) or snap.collection != collection
            or snap.fingerprint != fingerprint):
        return None
    return snap


def save(home: Path, snap: Snapshot) -> None:
    """Write ``snap`` atomically (readers see the old file or the new one); a failure to
    write (disk full, read-only) only means the next start reads Chroma."""
    path = path_for(home, snap.collection)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tmp.open("wb") as fh:
            pickle.dump((FORMAT, snap), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
