"""Shared fixtures: composed configs and a temporary real SQLite MLflow store."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from hydra import compose, initialize_config_dir
from hydra.core.plugins import Plugins
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from src import PROJECT_ROOT
from src.config.registration import register

CONF = str(PROJECT_ROOT / "conf")
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    # The suite started in the background by a non-interactive shell ignores SIGINT, and so would
    # every process it starts (an ignored signal stays ignored across exec; a handled one is reset
    # to its default): the Ctrl-C tests would see their Ctrl-C ignored. Handled here, it reaches
    # the processes under test as a terminal's Ctrl-C does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
register()  # the resolvers and schema every composition needs (as src.main does)
# Hydra 1.3's plugin scanner executes every hydra_plugins module again, even one already imported
# (`spec.loader.exec_module` on the module in sys.modules): a class a test module imported before
# the first scan (SearchSpaceError) is then not the class the module's code raises. Scanned here,
# before any test module is collected (it was by the first composition until collection stopped
# composing: tests/engines/test_fast.py's supported_optims).
Plugins.instance()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (PROJECT_ROOT / "conf" / group).glob("*.yaml"))


def coefficient_sequence(fn_name: str, steps: int, seed: int = 0) -> list[float]:
    """f_t's slope a_t for t = 1..steps, from the definitions (not src.problems.functions)."""
    if fn_name == "online":
        return [1010.0 if t % 101 == 1 else -10.0 for t in range(1, steps + 1)]
    rare = set(bernoulli_rare_steps(seed, 0.01, steps))
    return [1010.0 if t in rare else -10.0 for t in range(1, steps + 1)]


def splitmix64(key: int, counter: int) -> float:
    """The counter-th uniform of the SplitMix64 stream `key`, in Python integers (53 bits)."""
    mask = (1 << 64) - 1
    z = (key + (counter + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return ((z ^ (z >> 31)) >> 11) / 2.0**53


def bernoulli_rare_steps(
    seed: int, p: float, steps: int, replicate: int = 0, coordinate: int = 0
) -> list[int]:
    """The rare steps t ≤ steps of a Bernoulli(p) stream, from the definition (not
    src.problems.rare_steps), for 0 < p < 1: level L = j, …, 40 (r_L = 2^−L, r_{j+1} < p ≤ r_j)
    reads its k-th pair (U, V) at counters 2k, 2k + 1 of the SplitMix64 stream whose key is the
    L-th of SeedSequence([seed, replicate, coordinate]).generate_state(41, uint64): its next step
    a gap 1 + ⌊log(1 − U)/log(1 − q_L)⌋ later, q_L = r_{L+1}/(1 − r_{L+1}) (q_40 = 2^−40), its
    mark r_{L+1}·(1 + V) (2^−40·V on level 40). A step is rare when a mark is below p."""
    keys = np.random.SeedSequence([seed, replicate, coordinate]).generate_state(41, np.uint64)
    j = next(L for L in range(41) if 2.0 ** -(L + 1) < p or L == 40)
    rare: set[int] = set()
    for level in range(j, 41):
        deeper = 0.0 if level == 40 else 2.0 ** -(level + 1)
        q = 2.0**-40 if level == 40 else deeper / (1.0 - deeper)
        t, k = 0, 0
        while True:
            u, v = splitmix64(int(keys[level]), 2 * k), splitmix64(int(keys[level]), 2 * k + 1)
            k += 1
            t += 1 + math.floor(math.log1p(-u) / math.log1p(-q)) if q < 1 else 1
            if t > steps:
                break
            if deeper + (2.0**-level - deeper) * v < p:
                rare.add(t)
    return sorted(rare)


def make_cfg(*overrides: str) -> DictConfig:
    """The project's config composed with `overrides`, as Hydra would for a job."""
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose("config", overrides=list(overrides))


_EMPTY_STORE: list[Path] = []  # this test process's migrated empty store, made once


def seed_store(database: Path) -> str:
    """Make `database` an empty MLflow SQLite store (a copy of one migrated once per test process:
    MLflow migrates a new file through every schema revision, ~2.5 s); its tracking URI. The
    product keeps no such template: a user's new store is migrated by MLflow, once."""
    if not _EMPTY_STORE:
        folder = Path(tempfile.mkdtemp(prefix="breaking-adam-empty-store-"))
        atexit.register(shutil.rmtree, folder, True)
        empty = folder / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{empty}").search_experiments()  # migrates
        with contextlib.closing(sqlite3.connect(empty)) as db:
            db.execute("delete from experiments")  # MLflow adds Default, located where it opens
            db.commit()
        _EMPTY_STORE.append(empty)
    database.parent.mkdir(parents=True, exist_ok=True)
    if not database.exists():
        shutil.copyfile(_EMPTY_STORE[0], database)
    return f"sqlite:///{database}"


def _seed_stores(args: tuple[str, ...]) -> None:
    """A test's `tracking.uri=sqlite:///…` to a file that does not exist yet starts as an empty
    store (`seed_store`), as it would after a user's first sweep."""
    for arg in args:
        key, _, uri = arg.partition("=")
        if key.lstrip("+") == "tracking.uri" and uri.startswith("sqlite:///"):
            database = Path(uri.removeprefix("sqlite:///"))
            if database.name != ":memory:" and database.parent.is_dir():
                seed_store(database)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh (empty) SQLite tracking URI in the test's temp folder."""
    return seed_store(tmp_path / "mlflow.db")


def start_main(
    *args: str, env: dict | None = None, group: bool = False, seeded_store: bool = True
) -> subprocess.Popen:
    """`python -m src.main ARGS` in the background, its output in pipes (in a process group of
    its own if `group`, as a terminal's Ctrl-C would reach it). A new SQLite store in ARGS starts
    empty (`seed_store`) unless `seeded_store` is false (a test that the command stores nothing).
    Its SIGINT has the default action, as a command typed in a terminal has (see below)."""
    if seeded_store:
        _seed_stores(args)
    return subprocess.Popen(
        [sys.executable, "-m", "src.main", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
        start_new_session=group,
    )


def run_main(
    *args: str,
    timeout: float = 600,
    env: dict | None = None,
    check: bool = True,
    seeded_store: bool = True,
) -> subprocess.CompletedProcess:
    """`python -m src.main ARGS` in a subprocess from the project root (a new SQLite store in ARGS
    starts empty, `seed_store`, unless `seeded_store` is false: a test that the command stores
    nothing)."""
    if seeded_store:
        _seed_stores(args)
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "src.main", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def chart_points(name: str, points: int) -> int:
    """Points of a metric history in MLflow for a run logged on `points` grid points: R_t/t
    (`avg_regret`) leaves out t = 1, which would flatten MLflow's chart
    (src.tracking.store.chart_histories)."""
    return points - 1 if name == "avg_regret" else points


def shared_sweep(tmp_path_factory: pytest.TempPathFactory, name: str, *overrides: str) -> Path:
    """`python -m src.main -m OVERRIDES` run once per test session into the folder `name`
    (`mlflow.db`, `multirun/`, and `stdout.txt`: what it printed): the pytest-xdist workers share
    it (the first to ask runs it under a lock file, the other waits, then reads it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's base folder, above each worker's own
    folder = root / name
    with FileLock(f"{folder}.lock"):
        if not (folder / "done").is_file():
            folder.mkdir(exist_ok=True)
            proc = run_main(
                "-m", *overrides,
                f"hydra.sweep.dir={folder}/multirun", f"tracking.uri=sqlite:///{folder}/mlflow.db",
            )  # fmt: skip
            (folder / "stdout.txt").write_text(proc.stdout)
            (folder / "done").touch()
    return folder


@pytest.fixture(scope="session")
def beta_grid_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The beta_grid preset's sweep (5 β₁ × 6 β₂ × 2 problems = 60 jobs) at 2,000 steps, 50
    points, without report or run figures: its folder (`shared_sweep`)."""
    return shared_sweep(
        tmp_path_factory, "beta_grid", "+experiment=beta_grid", "steps=2000", "log.points=50",
        "log.report=false", "log.figures=false",
    )  # fmt: skip


@pytest.fixture(scope="session")
def bisect_c_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bisect_c preset's search as shipped (fn.C over [600, 10000], T = 10⁶: a dozen probes,
    each its own problem): its folder (`shared_sweep`), read by tests/search/test_bisection and
    tests/report/test_figures_bounded."""
    return shared_sweep(tmp_path_factory, "bisect_c", "+search=bisect_c")
