"""rag.memory: freed heap memory goes back to the operating system."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a child process, so this test's own heap is what is measured: 125 MB of 64 KB blocks
# (below glibc's mmap threshold: they live in the heap), all freed but the last, which pins
# the heap's top so that it cannot shrink on its own.
_CHILD = textwrap.dedent("""
    import json
    from rag.memory import release_freed

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS"))

    blocks = [bytearray(64 * 1024) for _ in range(2000)]
    keep = blocks[-1]
    del blocks
    before = rss_mb()
    trimmed = release_freed()
    print(json.dumps({"trimmed": trimmed, "before": before, "after": rss_mb()}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_leave_the_resident_set() -> None:
    import json

    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         check=True).stdout
    got = json.loads(out)
    assert got["trimmed"] is True
    assert got["before"] - got["after"] > 80, got  # most of the 125 MB freed is given back

