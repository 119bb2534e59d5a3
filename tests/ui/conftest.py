"""Fixtures for the UI tests: the REAL server (``python -m ui.server``) on a free port, a real
index in a private RAG_HOME, and a real headless Chromium driven by Playwright.

Nothing here skips: a missing Chromium is a failure that says how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "ui"
CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
STARTUP_SECONDS = 120


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the chat page in a real headless Chromium")




@dataclass(frozen=True)
class UIServer:
    """A running ``rag serve`` and the RAG_HOME it answers from."""

    url: str
    home: Path
    port: int
    log: Path


def _own_index(tmp: Path) -> Path:
    """Index the bundled articles ourselves (used when tests/conftest.py has no indexed_home)."""
    from index import index_paths
    from rag.settings import DEFAULT_ARTICLES, Settings

    home = tmp / "indexed"
    index_paths([DEFAULT_ARTICLES], Settings.from_env().with_(home=home))
    return home


@pytest.fixture(scope="session")
def ui_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of an indexed RAG_HOME: the upload tests add articles to it."""
    tmp = tmp_path_factory.mktemp("ui")
    try:
        source = Path(request.getfixturevalue("indexed_home"))
    except pytest.FixtureLookupError:
        source = _own_index(tmp)
    home = tmp / "home"
    shutil.copytree(source, home, ignore=shutil.ignore_patterns("*.lock", "index.lock"))
    return home


@pytest.fixture(scope="session")
def ui_server(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """``python -m ui.server`` against ``ui_home``; Gradio's upload cache is private too."""
    port = free_port()
    tmp = tmp_path_factory.mktemp("ui-server")
    log = tmp / "server.log"
    env = {
        **os.environ,
        "RAG_HOME": str(ui_home),
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                f"the server did not start in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.3)
    try:
        yield UIServer(url=url, home=ui_home, port=port, log=log)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium from Debian's package (Playwright cannot download one here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: install it with "
            "'sudo apt-get update && sudo apt-get install -y chromium' (or set RAG_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(request: pytest.FixtureRequest, chromium: Any, ui_server: UIServer) -> Iterator[Any]:
    """A fresh tab on the chat page; it records every request that leaves this server."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.external_requests = []  # type: ignore[attr-defined]

    def note(req: Any) -> None:
        if not req.url.startswith((ui_server.url, "data:", "blob:")):
            tab.external_requests.append(req.url)  # type: ignore[attr-defined]

    tab.on("request", note)
    (ARTIFACTS / f"FAILED-{request.node.name}.png").unlink(missing_ok=True)  # from an old run
    tab.goto(ui_server.url + "/")
    tab.wait_for_selector("#question textarea")
    try:
        yield tab
        if request.node.stash.get(_FAILED, False):  # what the user would have seen
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def shot(page: Any) -> Callable[[str], Path]:
    """Keep a screenshot of ``page`` under artifacts/ui/ (CI uploads it as a test artifact)."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
