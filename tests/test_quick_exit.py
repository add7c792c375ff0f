"""`src.quick_exit`: a command ends without the interpreter's teardown (about a second of freeing
torch, MLflow and numba) yet as `sys.exit` would: the `atexit` work done, every line out, the same
status, and a live non-daemon thread waited for. Real processes; `sitecustomize` plants the probes
(a finalizer that runs only in the teardown, an `atexit` function) in the process under test."""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow

from src import PROJECT_ROOT

PROBES = """
import atexit, os
from pathlib import Path
_out = Path(os.environ["PROBE_DIR"])

class _TeardownProbe:
    def __del__(self):
        (_out / "teardown").write_text("ran")

_probe = _TeardownProbe()  # a module global: freed only by the interpreter's teardown
atexit.register(lambda: (_out / "atexit").write_text("ran"))
"""


def probed(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python processes load the probes, reporting into tmp_path/probe."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PROBES)
    (tmp_path / "probe").mkdir()
    return {"PYTHONPATH": str(site), "PROBE_DIR": str(tmp_path / "probe")}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **env},
        timeout=300,
        check=False,
    )


def test_a_job_ends_without_the_teardown_after_its_atexit_work(tmp_path: Path) -> None:
    env = probed(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run(
        ["-m", "src.main", "steps=2000", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/out"],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    probes = tmp_path / "probe"
    assert (probes / "atexit").exists()  # the closing work registered with atexit ran
    assert not (probes / "teardown").exists()  # the interpreter's teardown did not
    (run_,) = mlflow.MlflowClient(uri).search_runs(["1"])
    assert run_.info.status == "FINISHED"
    assert run_.info.run_id in proc.stdout + proc.stderr  # its last lines reached the pipe


def test_a_refused_config_keeps_its_status_and_its_line(tmp_path: Path) -> None:
    env = probed(tmp_path)
    proc = run(["-m", "src.main", "optim.lr=-1", f"hydra.run.dir={tmp_path}/out"], env)
    assert proc.returncode == 2
    assert "optim.lr" in proc.stderr
    assert not (tmp_path / "probe" / "teardown").exists()


SCRIPT = """
import sys, threading, time
from pathlib import Path
from src.quick_exit import run_then_exit

def main():
    how = sys.argv[1]
    print("out", flush=False)
    print("err", file=sys.stderr, flush=False)
    if how == "thread":  # a non-daemon thread: the exit waits for it, as sys.exit does
        out = Path(sys.argv[2])
        threading.Thread(target=lambda: (time.sleep(0.5), out.write_text("done"))).start()
    if how == "code":
        sys.exit(3)
    if how == "text":
        sys.exit("stopped: a reason")
    if how == "interrupted":  # as src.cli ends on SIGTERM
        sys.exit(143)

run_then_exit(main)
"""


def test_exit_statuses_and_buffered_lines_are_those_of_sys_exit(tmp_path: Path) -> None:
    env = probed(tmp_path)
    for how, status in (("return", 0), ("code", 3), ("text", 1)):
        proc = run(["-c", textwrap.dedent(SCRIPT), how], env)
        assert proc.returncode == status, how
        assert proc.stdout == "out\n"
        assert proc.stderr.startswith("err\n")
        assert ("stopped: a reason" in proc.stderr) == (how == "text")
        assert not (tmp_path / "probe" / "teardown").exists()


def test_a_live_thread_is_waited_for(tmp_path: Path) -> None:
    env = probed(tmp_path)
    done = tmp_path / "thread_done"
    proc = run(["-c", textwrap.dedent(SCRIPT), "thread", str(done)], env)
    assert proc.returncode == 0
    assert done.read_text() == "done"  # the normal exit joined the thread
    assert (tmp_path / "probe" / "teardown").exists()  # the normal exit: with its teardown


def test_a_profiled_job_still_writes_its_profile(tmp_path: Path) -> None:
    """`python -m cProfile -o p.out -m src.main ...` (the way to time a job) writes p.out after
    the program returns: a profiled process takes the normal exit."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "p.out"
    args = ["steps=1000", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/out"]
    proc = run(["-m", "cProfile", "-o", str(out), "-m", "src.main", *args], {})
    assert proc.returncode == 0, proc.stderr
    assert pstats.Stats(str(out)).total_calls > 0


def test_an_interrupted_process_takes_the_normal_exit(tmp_path: Path) -> None:
    """128 + signal: a parallel launcher's shutdown hooks (run by the normal exit before atexit)
    let its workers end their runs with their trajectories."""
    env = probed(tmp_path)
    proc = run(["-c", textwrap.dedent(SCRIPT), "interrupted"], env)
    assert proc.returncode == 143
    assert proc.stdout == "out\n"
    assert (tmp_path / "probe" / "teardown").exists()
    assert (tmp_path / "probe" / "atexit").exists()
