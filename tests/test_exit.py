"""How a command ends: the interpreter's normal exit, whatever happened to its output.

Real processes. A process ends through `sys.exit` and the interpreter's teardown (no `os._exit`):
what a user's code leaves to the teardown (a file written and never closed) is kept; a closed or
full stdout ends the printing, never the work, and the exit status says how the work went; and a
sweep writes nothing outside its folders and its store (no cache under the user's home).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from src import PROJECT_ROOT
from tests.conftest import seed_store

UNCLOSED = """
import os
_file = open(os.environ["UNCLOSED_FILE"], "w")
_file.write("hello world")  # 11 bytes, buffered: only the teardown flushes them
"""

# A user's Hydra callback that keeps a file it never closes on an object in a reference cycle:
# only a collection of the cycle (after the sweep, or in the teardown) flushes its bytes
KEEPER = """
import os
from hydra.experimental.callback import Callback

class Keeper(Callback):
    def __init__(self):
        self.file = open(os.environ["KEEPER_FILE"], "w")
        self.me = self

    def on_job_end(self, config, job_return, **kwargs):
        self.file.write("job ended\\n")
"""
KEEPER_CONFIG = """# @package _global_
hydra:
  callbacks:
    keeper:
      _target_: keeper.Keeper
"""


def sweep(
    tmp_path: Path, *shell: str, env: dict[str, str] | None = None, new_store: bool = False
) -> tuple:
    """A 2-job sweep into a store in `tmp_path` (made by the sweep itself if `new_store`), run by
    bash with `shell` appended to the command (a redirection); its completed process and runs."""
    path = tmp_path / "mlflow.db"
    uri = f"sqlite:///{path}" if new_store else seed_store(path)
    args = [
        sys.executable, "-m", "src.main", "-m", "optim=adam,amsgrad", "fn=online", "steps=2000",
        "log.points=20", "log.report=false", f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]  # fmt: skip
    command = " ".join(f"'{a}'" for a in args) + " " + " ".join(shell)
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
        timeout=300,
        check=False,
    )
    runs = mlflow.MlflowClient(uri).search_runs(["1"])
    return proc, runs


@pytest.fixture(scope="module")
def closed_stdout(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One sweep run as a user's might be, three ways at once: stdout closed (`>&-`), a file its
    user's code (a `sitecustomize`) opened and never closed, and HOME an empty folder (no
    XDG_CACHE_HOME) with a store the sweep makes itself. (tmp folder, completed process, runs)"""
    tmp_path = tmp_path_factory.mktemp("closed-stdout")
    site, home = tmp_path / "site", tmp_path / "home"
    site.mkdir()
    home.mkdir()
    (site / "sitecustomize.py").write_text(UNCLOSED)
    (site / "keeper.py").write_text(KEEPER)
    (site / "conf" / "experiment").mkdir(parents=True)  # the user's config folder: a callback
    (site / "conf" / "experiment" / "keeper.yaml").write_text(KEEPER_CONFIG)
    env = {
        "PYTHONPATH": str(site),
        "UNCLOSED_FILE": str(tmp_path / "unclosed.txt"),
        "KEEPER_FILE": str(tmp_path / "keeper.txt"),
        "BREAKING_ADAM_USER_DIR": str(site),
        "HOME": str(home),
        "XDG_CACHE_HOME": "",
    }
    proc, runs = sweep(tmp_path, "+experiment=keeper", ">&-", env=env, new_store=True)
    return tmp_path, proc, runs


@pytest.mark.slow
def test_a_sweep_with_stdout_closed_exits_0_with_every_run(closed_stdout: tuple) -> None:
    _, proc, runs = closed_stdout
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3  # the parent and its 2 jobs


@pytest.mark.slow
def test_a_sweep_into_a_full_stdout_exits_0_without_tracebacks(tmp_path: Path) -> None:
    proc, runs = sweep(tmp_path, "> /dev/full")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Logging error" not in proc.stderr
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3


@pytest.mark.slow
def test_what_a_users_code_leaves_to_the_teardown_is_kept(closed_stdout: tuple) -> None:
    """Files opened by the user's own code (a `sitecustomize`, a callback) and never closed:
    their buffered bytes are written when the objects holding them are freed, by the process's
    last collection or the interpreter's teardown, which a normal exit runs."""
    tmp_path, proc, _ = closed_stdout
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "unclosed.txt").read_text() == "hello world"
    assert (tmp_path / "keeper.txt").read_text() == "job ended\n" * 2  # held in a cycle


@pytest.mark.slow
def test_a_sweep_writes_nothing_under_the_users_home(closed_stdout: tuple) -> None:
    tmp_path, proc, runs = closed_stdout
    home = tmp_path / "home"
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3
    assert not (home / ".cache" / "breaking-adam").exists()
    assert [p for p in home.rglob("*") if "breaking-adam" in str(p)] == []
