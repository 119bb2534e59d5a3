"""Terms computed at index time and read back at ask time without analysing text again.

Answering compares the question's terms with those of every sentence of ~100 candidate
passages; analysing those sentences afresh (fold, stem, split) for a question whose passages
were never seen in the process was a third of the answer time on MultiHop-RAG (issue 14:
p50 234 ms with the per-text caches cold, 103 ms warm). A ``TermTable`` stores, for each row
(a sentence, a chunk), the terms of each of its sentences: one UTF-8 blob plus row offsets,
memory-mapped, so loading costs nothing and a row is decoded only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

Row = tuple[tuple[str, ...], ...]  # the terms of each sentence of one row


class TermTable:
    """Rows of sentence terms: ``table[i]`` is row ``i``. Terms hold no whitespace (they are
    ``rag.text.terms`` output), so a sentence is its terms joined by spaces, ended by a
    newline."""

    def __init__(self, blob: bytes | np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    @classmethod
    def build(cls, rows: Iterable[Sequence[Sequence[str]]]) -> TermTable:
        parts: list[bytes] = []
        offsets = [0]
        for row in rows:
            encoded = "".join(" ".join(sentence) + "\n" for sentence in row).encode("utf-8")
            parts.append(encoded)
            offsets.append(offsets[-1] + len(encoded))
        return cls(b"".join(parts), np.asarray(offsets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> Row:
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        text = bytes(self._blob[a:b]).decode("utf-8")
        return tuple(tuple(line.split(" ")) if line else () for line in text.split("\n")[:-1])

    def save(self, folder: Path, name: str) -> None:
        (folder / f"{name}.terms").write_bytes(bytes(self._blob))
        np.save(folder / f"{name}.offsets.npy", self._offsets)

    @classmethod
    def load(cls, folder: Path, name: str) -> TermTable:
        """The saved table (memory-mapped); ``ValueError`` when its files do not agree."""
        offsets = np.load(folder / f"{name}.offsets.npy", allow_pickle=False)
        path = folder / f"{name}.terms"
        size = path.stat().st_size
        if (offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != size
                or (np.diff(offsets) < 0).any()):
            raise ValueError(f"{path}: the term rows do not match the offsets")
        blob = np.memmap(path, dtype=np.uint8, mode="r") if size else b""
        return cls(blob, offsets)
