"""A real Chroma server (``chroma run``) for the session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from scaleutil import VENV_BIN, wait_for_port

from tests.conftest import free_port


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` server on a free port; its URL."""
    chroma = shutil.which("chroma", path=str(VENV_BIN)) or shutil.which("chroma")
    if not chroma:
        pytest.skip("the chroma CLI is missing (it ships with the chromadb package)")
    path = tmp_path_factory.mktemp("chroma_server")
    port = free_port()
    log = open(path / "server.log", "w")  # noqa: SIM115 - open for the session
    proc = subprocess.Popen([chroma, "run", "--path", str(path / "data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
