"""The MLflow UI in a real browser: a fresh 2-job sweep in a temp SQLite store, `mlflow ui` on
127.0.0.1 on a free port, Debian's headless Chromium driven by Playwright (from the dev extra, no
browser download; `.ci/run` installs chromium). The URL that `make ui` prints
(`src.tracking.ui_url`) opens on the runs table: one parent named `<date time> · optim · 2 jobs`
whose children are named as the jobs (`adam · online`, `amsgrad · online`); a child's page shows
its `x` chart and its `trajectory.png` (logged by default: `log.figures=true`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import run_main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
CHILDREN = ["adam · online", "amsgrad · online"]
PARENT_SUFFIX = " · optim · 2 jobs"
WAIT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,  # a sweep, an MLflow server and a browser: about 40 s
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="no Debian chromium (.ci/run)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_ui_url(uri: str, port: int) -> str:
    """What `make ui` prints (the same module, run as the Makefile runs it)."""
    out = subprocess.run(
        [sys.executable, "-m", "src.tracking.ui_url", "--store", uri, "--port", str(port)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("the runs: ", 1)[1].split()[0]


def wait_healthy(server: subprocess.Popen, port: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return
        except OSError:
            assert server.poll() is None, "mlflow ui exited"
            assert time.monotonic() < deadline, "mlflow ui did not answer /health"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MlflowClient]]:
    """A 2-job sweep in a fresh SQLite store and `mlflow ui` serving it: (the URL `make ui`
    prints, a client on the store)."""
    tmp = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{tmp}/mlflow.db"
    run_main(
        "-m",
        "optim=adam,amsgrad",
        "fn=online",
        "steps=2000",
        "log.points=50",
        f"hydra.sweep.dir={tmp}/multirun",
        f"tracking.uri={uri}",
    )
    port = free_port()
    url = make_ui_url(uri, port)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    try:
        wait_healthy(server, port)
        yield url, MlflowClient(uri)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless; each `browser.new_page()` is a fresh context (no state kept
    between tests, such as which parent rows are unfolded)."""
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.slow
def test_make_ui_url_opens_on_the_parent_and_its_named_children(ui, browser) -> None:
    url, _ = ui
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    parent = page.get_by_text(PARENT_SUFFIX).first
    parent.wait_for(timeout=WAIT_MS)
    body = page.inner_text("body")
    assert "Run Name" in body  # the runs table, not the GenAI overview
    assert "Token usage" not in body
    rows = page.locator("[role=row]", has_text=PARENT_SUFFIX)
    assert rows.count() == 1  # one parent; its children are folded under it
    rows.first.locator("button").first.click()  # unfold the children
    for name in CHILDREN:
        page.get_by_text(name, exact=True).first.wait_for(timeout=WAIT_MS)
    page.close()


def scroll_until_visible(page, locator, tries: int = 30) -> None:
    """Wheel down the page until `locator` is drawn (MLflow draws charts as they come in view)."""
    page.mouse.move(600, 600)
    for _ in range(tries):
        if locator.count() and locator.first.is_visible():
            return
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(500)
    locator.first.wait_for(timeout=WAIT_MS)


@pytest.mark.slow
def test_a_childs_page_shows_its_x_chart_and_trajectory_png(ui, browser) -> None:
    """From the runs table, as a user goes: unfold the parent, open a child, its metrics, its
    artifacts."""
    url, _ = ui
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.locator("[role=row]", has_text=PARENT_SUFFIX).first.locator("button").first.click(
        timeout=WAIT_MS
    )
    page.get_by_text("amsgrad · online", exact=True).first.click(timeout=WAIT_MS)
    page.get_by_role("tab", name="Model metrics").click(timeout=WAIT_MS)
    page.get_by_text("avg_regret", exact=True).first.wait_for(timeout=WAIT_MS)
    scroll_until_visible(page, page.get_by_text("amsgrad · online (x)", exact=True))
    page.get_by_role("tab", name="Artifacts").click(timeout=WAIT_MS)
    page.get_by_text("trajectory.png", exact=True).first.click(timeout=WAIT_MS)
    page.locator("img[src^='blob:']").first.wait_for(timeout=WAIT_MS)  # the PNG, drawn
    page.close()
