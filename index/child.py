"""Indexing in a child process, for the server's uploads.

The child reads, embeds and writes; the server keeps answering with its own memory and GIL.
When the child ends, the memory it used goes back to the system (a server that indexed in
process grew by hundreds of MB over a few dozen uploads and kept it), and a crash in native
code while writing ends the child, not the server. The batch is published whole or not at all
(``Store.publish``), so a killed child leaves the index as it was.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from index.pipeline import IndexReport
from index.progress import IndexProgress, ProgressFn
from rag.errors import RagError, StoreError
from rag.settings import Settings


def index_in_child(paths: Sequence[Path], settings: Settings, timeout: float = 3600.0,
                   progress: ProgressFn | None = None) -> IndexReport:
    """``index_paths(paths, settings)`` run by a fresh interpreter; its errors re-raised here.
    The child's progress events (``IndexProgress``) come back over a pipe to ``progress``."""
    request = pickle.dumps(([Path(p) for p in paths], settings))
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-P", "-m", "index.child", str(write_fd)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 pass_fds=(write_fd,))
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reader = threading.Thread(target=_relay, args=(read_fd, progress), daemon=True)
    reader.start()
    try:
        out, _ = child.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise StoreError(f"indexing took over {timeout:g} s and was stopped; nothing was "
                         "added") from None
    finally:
        reader.join(timeout=5)
    done = subprocess.CompletedProcess(child.args, child.returncode, out)
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


def _relay(fd: int, progress: ProgressFn | None) -> None:
    """Read the child's progress lines (JSON of ``IndexProgress``) until it closes the pipe."""
    with os.fdopen(fd, "rb") as events:
        for line in events:
            if progress is None:
                continue
            try:
                event = IndexProgress(**json.loads(line))
            except (ValueError, TypeError):
                continue
            try:
                progress(event)
            except Exception:  # noqa: BLE001, S112 - a progress display never stops indexing
                continue


def _main() -> None:  # pragma: no cover - runs in the child
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # libraries' prints must not corrupt the reply
    paths, settings = pickle.loads(sys.stdin.buffer.read())
    from index.pipeline import index_paths

    events = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8") if len(sys.argv) > 1 else None

    def tell(p: IndexProgress) -> None:
        if events is not None:
            try:
                events.write(json.dumps(asdict(p)) + "\n")
                events.flush()
            except OSError:
                pass  # the parent stopped listening: indexing goes on

    try:
        reply: tuple[str, object] = ("ok", index_paths(paths, settings, progress=tell))
    except RagError as e:
        reply = ("error", e)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        reply = ("failed", f"{type(e).__name__}: {str(e)[:200]}")
    out.write(pickle.dumps(reply))
    out.flush()


if __name__ == "__main__":
    _main()
