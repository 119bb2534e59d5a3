"""Indexing in a child process, for the server's uploads.

The child reads, embeds and writes; the server keeps answering with its own memory and GIL.
When the child ends, the memory it used goes back to the system (a server that indexed in
process grew by hundreds of MB over a few dozen uploads and kept it), and a crash in native
code while writing ends the child, not the server. The batch is published whole or not at all
(``Store.publish``), so a killed child leaves the index as it was.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from index.pipeline import IndexReport
from rag.errors import RagError, StoreError
from rag.settings import Settings


def index_in_child(paths: Sequence[Path], settings: Settings,
                   timeout: float = 3600.0) -> IndexReport:
    """``index_paths(paths, settings)`` run by a fresh interpreter; its errors re-raised here."""
    request = pickle.dumps(([Path(p) for p in paths], settings))
    try:
        done = subprocess.run([sys.executable, "-P", "-m", "index.child"], input=request,
                              stdout=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise StoreError(f"indexing took over {timeout:g} s and was stopped; nothing was "
                         "added") from None
    if done.returncode == 0:
        status, value = pickle.loads(done.stdout)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        if isinstance(value, RagError):
            raise value
        raise StoreError(f"indexing failed ({value}); nothing was added")
    code = done.returncode
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    raise StoreError(f"indexing stopped unexpectedly ({how}); nothing was added. If this "
                     "repeats, rebuild the index with 'rag index --rebuild'")


def _main() -> None:  # pragma: no cover - runs in the child
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # libraries' prints must not corrupt the reply
    paths, settings = pickle.loads(sys.stdin.buffer.read())
    from index.pipeline import index_paths

    try:
        reply: tuple[str, object] = ("ok", index_paths(paths, settings))
    except RagError as e:
        reply = ("error", e)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        reply = ("failed", f"{type(e).__name__}: {str(e)[:200]}")
    out.write(pickle.dumps(reply))
    out.flush()


if __name__ == "__main__":
    _main()
