"""The MLflow UI in a real browser: a fresh Figure 1 sweep (`+experiment=figure1`, 4 short jobs)
in a temp SQLite store, `mlflow ui` on 127.0.0.1 on a free port, Debian's headless Chromium driven
by Playwright (from the dev extra, no browser download; `.ci/run` installs chromium). The URL that
`make ui` prints (`src.tracking.ui_url`) opens on the runs table with the sweep's four children
and their `final_avg_regret` on the first screen; the experiment's plain runs page has one parent
named `<date time> · optim × fn · 4 jobs` whose children are named as the jobs; a child's own
page opens in "Model training" and shows its `x` chart and its `trajectory.png`."""

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
from src.tracking.ui_url import run_url
from tests.conftest import run_main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
CHILDREN = ["adam · online", "adam · stochastic", "amsgrad · online", "amsgrad · stochastic"]
PARENT_SUFFIX = " · optim × fn · 4 jobs"
WAIT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}

pytestmark = [
    pytest.mark.slow,  # a sweep, an MLflow server and a browser: about a minute
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
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MlflowClient, int]]:
    """A Figure 1 sweep in a fresh SQLite store and `mlflow ui` serving it: (the URL `make ui`
    prints, a client on the store, the port)."""
    tmp = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{tmp}/mlflow.db"
    run_main(
        "-m",
        "+experiment=figure1",
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
        yield url, MlflowClient(uri), port
    finally:
        server.terminate()
        server.wait(timeout=30)


def figure1_children(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("figure1").experiment_id
    return client.search_runs([experiment], "tags.job != ''")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless; each `browser.new_page()` is a fresh context (no state kept
    between tests, such as which parent rows are unfolded). Playwright is imported here, not
    when the suite is collected (~0.4 s of every collection)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_make_ui_url_shows_the_sweeps_children_and_their_final_avg_regret(ui, browser) -> None:
    """The first screen, no click: the latest sweep's four jobs by name, each with its
    `final_avg_regret` as the store holds it, in the "Model training" runs table."""
    url, client, _ = ui
    assert "viewStateShareKey=" in url
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    for name in CHILDREN:
        page.get_by_text(name, exact=True).first.wait_for(timeout=WAIT_MS)
    body = page.inner_text("body")
    assert "Run Name" in body and "final_avg_regret" in body  # the runs table, its key column
    assert "Token usage" not in body
    for child in figure1_children(client):
        assert repr(child.data.metrics["final_avg_regret"]) in body, child.info.run_name
    page.close()


def test_the_runs_page_has_one_parent_with_its_named_children(ui, browser) -> None:
    """The experiment's own runs page (the shared view left): the sweep is one parent row whose
    `+` unfolds its jobs."""
    url, _, _ = ui
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url.split("&viewStateShareKey=")[0])
    page.get_by_text(PARENT_SUFFIX).first.wait_for(timeout=WAIT_MS)
    rows = page.locator("[role=row]", has_text=PARENT_SUFFIX)
    assert rows.count() == 1  # one parent; its children are folded under it
    rows.first.locator("button").first.click()  # unfold the children
    for name in CHILDREN:
        page.get_by_text(name, exact=True).first.wait_for(timeout=WAIT_MS)
    page.close()


def test_a_runs_own_link_opens_in_model_training(ui, browser) -> None:
    """A run's own URL (`src.tracking.ui_url.run_url`) in a fresh browser: the "Model training"
    sidebar (Runs, Models), not the GenAI one (Judges, Evaluation runs)."""
    _, client, port = ui
    child = figure1_children(client)[0]
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(run_url(f"http://127.0.0.1:{port}", child.info.experiment_id, child.info.run_id))
    page.get_by_role("tab", name="Model metrics").wait_for(timeout=WAIT_MS)
    page.get_by_text(child.info.run_name, exact=True).first.wait_for(timeout=WAIT_MS)
    body = page.inner_text("body")
    assert "Judges" not in body and "Evaluation runs" not in body
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


def test_a_childs_page_shows_its_x_chart_and_trajectory_png(ui, browser) -> None:
    """From the runs table `make ui` opens, as a user goes: open a child, its metrics, its
    artifacts."""
    url, _, _ = ui
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.get_by_text("amsgrad · online", exact=True).first.click(timeout=WAIT_MS)
    page.get_by_role("tab", name="Model metrics").click(timeout=WAIT_MS)
    page.get_by_text("avg_regret", exact=True).first.wait_for(timeout=WAIT_MS)
    scroll_until_visible(page, page.get_by_text("amsgrad · online (x)", exact=True))
    page.get_by_role("tab", name="Artifacts").click(timeout=WAIT_MS)
    page.get_by_text("trajectory.png", exact=True).first.click(timeout=WAIT_MS)
    page.locator("img[src^='blob:']").first.wait_for(timeout=WAIT_MS)  # the PNG, drawn
    page.close()
