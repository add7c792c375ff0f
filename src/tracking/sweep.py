"""A sweep's parent run, from start to end: the one owner of its lifecycle.

`SweepRun` is the Hydra callback (`hydra.callbacks.sweep` in conf/config.yaml) of every multirun:

- `on_multirun_start`, in the launching process, before any job: every job's config is checked
  (the function `check`, given the sweep's config; it returns one line per problem) and
  the store is opened; a sweep that cannot run stops here with one line per problem, exit 2 (exit 1
  for a store), and nothing in the store. Runs of the experiment left RUNNING by a process that is
  gone (`kill -9`, a power cut) are marked KILLED. Then the experiment and the parent run exist
  before any worker starts, so workers never race to create them.
- The parent's id reaches each job three ways: the environment (`BREAKING_ADAM_PARENT_RUN_ID`,
  inherited by local workers), a file in the sweep folder (a job on another machine that shares
  it), and this callback object, which every launcher (joblib, submitit, Ray) pickles to its
  workers, where `on_job_start` puts the id in the worker's environment. Each job passes the id
  explicitly as its run's parent.
- `on_job_end` collects the jobs that returned a `JobFailure` (a job that failed for a known
  reason returns one instead of raising, so the other jobs run).
- `on_multirun_end` closes the parent (FINISHED, or FAILED/KILLED as its worst child) and prints
  one line per failed job, exit 1. Hydra skips it when a job raised or the launcher failed: an exit
  handler then closes a parent still RUNNING, so no sweep stays RUNNING.

Hydra turns an exception in a callback into a warning and goes on; every hook here turns it into one
line on stderr and a non-zero exit instead, so a sweep never runs unguarded.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from src.tracking import store
from src.tracking.resume import DONE_ENV, ResumeError, find_sweep, reopen

PARENT_ENV = store.PARENT_ENV  # "BREAKING_ADAM_PARENT_RUN_ID"
PARENT_FILE = "mlflow_parent_run_id"
SWEPT_ENV = "BREAKING_ADAM_SWEPT"
JOBS_ENV = "BREAKING_ADAM_JOBS"  # the jobs the sweep plans (0: unknown), for its progress line
INTERRUPTED_FILE = "interrupted"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"  # jobs in-process
BATCHED_LAUNCHER = "hydra_plugins.breaking_adam_batched.batched_launcher.BatchedLauncher"
CTRL_C_GRACE = 5.0  # s for workers that received Ctrl-C themselves to log and close their runs
STOP_GRACE = 60.0  # s for workers sent SIGTERM to do the same
WORKER_DIED = "its worker process "  # a child KILLED so: src.tracking.worker_death
REPORT_INTERRUPTED = "interrupted while writing the report; make figure redraws it"


@dataclass
class JobFailure:
    """What a multirun job returns instead of raising when its run failed for a known reason."""

    job: int
    name: str
    message: str
    exit_code: int = 1


def swept_keys() -> list[str]:
    """In a job of a sweep: the keys that vary between the sweep's jobs."""
    return [key for key in os.environ.get(SWEPT_ENV, "").split(",") if key]


def sweep_name(swept: list[str], jobs: int, bisected: str | None = None) -> str:
    """`2026-11-28 21:40 · optim × fn · 4 jobs`: when, what it sweeps, how many; a bisection
    (its number of probes unknown in advance): `2026-11-28 21:40 · bisection of fn.C`."""
    when = time.strftime("%Y-%m-%d %H:%M")
    if bisected:
        over = [key for key in swept if key != bisected]
        return f"{when} · bisection of {bisected}" + (f" over {' × '.join(over)}" if over else "")
    what = " × ".join(swept) or "one job each"
    return f"{when} · {what} · " + (f"{jobs} jobs" if jobs else "search")


def parent_run_id(sweep_dir: str | Path | None) -> str | None:
    """The sweep's parent run id, from the environment or the sweep folder."""
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    path = Path(sweep_dir) / PARENT_FILE if sweep_dir else None
    return path.read_text().strip() if path is not None and path.is_file() else None


def interrupted(sweep_dir: str | Path | None) -> bool:
    """Whether the sweep in `sweep_dir` was interrupted (then a job that has not started yet does
    not start)."""
    return bool(sweep_dir) and (Path(sweep_dir) / INTERRUPTED_FILE).exists()


def full_error() -> bool:
    """Whether the user asked for full tracebacks (Hydra's HYDRA_FULL_ERROR=1)."""
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def _stop(code: int, headline: str, lines: list[str] = ()) -> NoReturn:
    print(headline, *(f"  {line}" for line in lines), sep="\n", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(code)


def _fails_hard(hook: Callable) -> Callable:
    """An unexpected error in a hook ends the sweep (one line, exit 1), not Hydra's warning."""

    @functools.wraps(hook)
    def wrapped(self: SweepRun, *args: Any, **kwargs: Any) -> Any:
        try:
            return hook(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt pass)
            if full_error():
                traceback.print_exception(error)
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            _stop(1, store.redact(f"error: sweep: {type(error).__name__}: {first}"[:500]))

    return wrapped


class SweepRun(Callback):
    """The sweep's parent run (see the module docstring). `check` is a function
    `check(sweep_config) -> (number of jobs, one line per problem, the swept keys)`
    (`src.sweep_checks.SweepRun` gives it the project's)."""

    def __init__(
        self, check: Callable[[DictConfig], tuple[int, list[str], list[str]]] | None = None
    ) -> None:
        self.check = check
        self.run_id: str | None = None  # set in the launching process, pickled to the workers
        self.swept: list[str] = []  # the keys that vary between jobs (their runs' names say them)
        self.failures: list[JobFailure] = []
        self.jobs = 0
        self.finished: list[int] = []  # a resumed sweep's jobs that FINISHED before
        self._saved_env: str | None = None
        self._store: tuple[str, str] | None = None

    @_fails_hard
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.failures, self.jobs = [], 0
        if self.check:
            self.jobs, problems, self.swept = self.check(config)
            if problems:
                _stop(
                    2,
                    f"multirun: {len(problems)} of {self.jobs} jobs are invalid; nothing was run",
                    [store.redact(line) for line in problems],
                )
        uri, name = str(config.tracking.uri), str(config.tracking.experiment)
        resume = OmegaConf.select(config, "tracking.resume")
        try:  # before the store is touched: a wrong switch leaves nothing behind
            resumed = resume and find_sweep(uri, name, str(resume), command(config))
        except ResumeError as error:
            _stop(2, f"error: {store.redact(str(error))}; nothing was run")
        try:
            client, experiment = store.connect(uri, name)
        except store.StoreError as error:
            if full_error():
                traceback.print_exception(error)
            _stop(1, f"error: {error}")
        store.reap_stale_runs(client, experiment)
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if resumed:
            self.run_id, self.finished = resumed, reopen(client, experiment, resumed)
            print(
                f"resuming sweep {resumed}: {len(self.finished)} of {self.jobs or '?'} jobs "
                "FINISHED already, the others run",
                file=sys.stderr,
            )
        else:
            self.run_id, self.finished = (
                store.start_run(
                    client,
                    experiment,
                    sweep_name(
                        self.swept, self.jobs, OmegaConf.select(config, "hydra.sweeper.key")
                    ),
                    {"sweep_dir": str(sweep_dir), "role": "sweep"},
                ),
                [],
            )
        self._store = (uri, name)
        atexit.register(self._close_if_unfinished)
        if not resumed:
            store.log_params(client, self.run_id, sweep_params(config))
        (sweep_dir / PARENT_FILE).write_text(self.run_id)
        os.environ[PARENT_ENV] = self.run_id
        os.environ[SWEPT_ENV] = ",".join(self.swept)
        os.environ[JOBS_ENV] = str(self.jobs)
        os.environ[DONE_ENV] = ",".join(map(str, self.finished))
        if str(config.hydra.launcher.get("_target_")) not in (BASIC_LAUNCHER, BATCHED_LAUNCHER):
            self._forward_signals(sweep_dir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """In the job's process (a worker's, under a parallel launcher): the sweep's parent id."""
        if self.run_id:
            self._saved_env = os.environ.get(PARENT_ENV)
            os.environ[PARENT_ENV] = self.run_id
            os.environ[SWEPT_ENV] = ",".join(self.swept)
            os.environ[DONE_ENV] = ",".join(map(str, self.finished))

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        completed = job_return is not None and job_return.status == JobStatus.COMPLETED
        value = job_return.return_value if completed else None
        if isinstance(value, JobFailure):
            self.failures.append(value)
        if not self.run_id:
            return
        if self._saved_env is None:  # leave the worker's environment as it found it
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = self._saved_env

    @_fails_hard
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(PARENT_ENV, None)
        run_id, self.run_id = self.run_id, None
        failures = list(self.failures)
        if run_id is not None and self._store is not None:
            client, experiment = store.connect(*self._store)
            status = sweep_status(client, experiment, run_id)
            if not failures:  # jobs ran in worker processes: their failures are in the store
                failures = failed_children(client, experiment, run_id)
            if failures and status == "FINISHED":  # a job that failed before its run existed
                status = "FAILED"
            store.end_run(client, run_id, status)
        if failures:
            _stop(
                max(f.exit_code for f in failures),
                f"multirun: {len(failures)} of {self.jobs or '?'} jobs failed",
                [store.redact(f.message) for f in failures],
            )

    def _forward_signals(self, sweep_dir: Path) -> None:
        """Under a parallel launcher, Ctrl-C or SIGTERM to this process first lets every running
        job end its run KILLED with its trajectory (the launcher would otherwise kill its workers
        at once, leaving their runs RUNNING with nothing logged), then interrupts the launcher."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def forward(signum: int, frame: Any) -> None:
            for s, handler in previous.items():  # a second signal acts at once, as before
                signal.signal(s, handler)
            with contextlib.suppress(OSError):  # no job starts from now on (`interrupted`)
                (sweep_dir / INTERRUPTED_FILE).touch()
            if signum == signal.SIGINT:  # Ctrl-C reached the workers too: let them finish
                self._wait_for_children(CTRL_C_GRACE)
            if self._wait_for_children(0):
                signal_descendants(signal.SIGTERM)
                self._wait_for_children(STOP_GRACE)
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            raise KeyboardInterrupt

        forward.sweep_forwarder = True  # type: ignore[attr-defined]  (src.cli leaves it in place)
        for s in previous:
            signal.signal(s, forward)

    def _wait_for_children(self, seconds: float) -> bool:
        """Wait up to `seconds` until no child run is computing (`computing_children`); whether
        some still are."""
        if self.run_id is None or self._store is None:
            return False
        client, experiment = store.connect(*self._store)
        deadline = time.monotonic() + seconds
        while True:
            running = computing_children(client, experiment, self.run_id)
            if not running or time.monotonic() >= deadline:
                return bool(running)
            time.sleep(0.2)

    def _close_if_unfinished(self) -> None:
        """At exit of the launching process: a sweep that never reached on_multirun_end ended
        KILLED if a child was killed (Ctrl-C) or every job FINISHED (interrupted while writing the
        report: tag `failure.reason`), else FAILED."""
        run_id, self.run_id = self.run_id, None
        if run_id is None or self._store is None:
            return
        try:
            client, experiment = store.connect(*self._store)
            if store.retry(lambda: client.get_run(run_id)).info.status == "RUNNING":
                # a job whose process was killed under it (submitit's local controller kills its
                # job on Ctrl-C) left its run RUNNING: KILLED, owner gone
                store.reap_stale_runs(client, experiment)
                status = sweep_status(client, experiment, run_id)
                done = len(children(client, experiment, run_id, "FINISHED"))
                if status == "FINISHED" and self.jobs and done >= self.jobs:
                    # every job FINISHED, the sweep stopped in its end (only Ctrl-C or SIGTERM
                    # get past Hydra's end hooks): the report was being written
                    store.set_tags(client, run_id, {"failure.reason": REPORT_INTERRUPTED})
                    status = "KILLED"
                store.end_run(client, run_id, "KILLED" if status == "KILLED" else "FAILED")
        except Exception as error:  # noqa: BLE001  (at exit: report, never raise)
            print(
                f"warning: could not close sweep run {run_id}: {store.redact(str(error))}",
                file=sys.stderr,
            )


def signal_descendants(signum: int) -> list[int]:
    """Send `signum` to the processes descended from this one that have no children of their own
    (Linux /proc): the ones that run jobs (a joblib worker; a submitit job, not the controller
    between it and us, which would kill it before it logs); their pids."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [os.getpid()]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    found = [pid for pid in found if pid not in parents]
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
    return found


def command(config: DictConfig) -> str:
    """The command line's overrides, `tracking.resume` aside: what a resumed sweep must repeat."""
    overrides = [
        o for o in config.hydra.overrides.task if not o.lstrip("+~").startswith("tracking.resume=")
    ]
    return " ".join(overrides) or "(none)"


def sweep_params(config: DictConfig) -> dict[str, Any]:
    """The parent run's params: the command line's overrides and the swept values."""
    params = OmegaConf.to_container(config.hydra.sweeper.get("params") or {}, resolve=True)
    return {
        "overrides": command(config),
        **{f"sweep.{k}": v for k, v in params.items()},
    }


def children(client: Any, experiment: str, run_id: str, status: str | None = None) -> list:
    query = f"tags.`{store.PARENT_TAG}` = '{run_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    return store.retry(lambda: client.search_runs([experiment], query, max_results=50000))


def computing_children(client: Any, experiment: str, run_id: str) -> list:
    """The children RUNNING whose process is not known to be gone: the ones that can still log
    and close their runs (a run whose process was killed under it is left to the reaper)."""
    running = children(client, experiment, run_id, "RUNNING")
    return [run for run in running if not store.owner_gone(run.data.tags)]


def sweep_status(client: Any, experiment: str, run_id: str) -> str:
    """FAILED or KILLED if any child ended so, else FINISHED."""
    statuses = {child.info.status for child in children(client, experiment, run_id)}
    for status in ("FAILED", "KILLED"):
        if status in statuses:
            return status
    return "FINISHED"


def failed_children(client: Any, experiment: str, run_id: str) -> list[JobFailure]:
    """The children that FAILED, and those KILLED because their worker process died."""
    died = [
        run
        for run in children(client, experiment, run_id, "KILLED")
        if run.data.tags.get("failure.reason", "").startswith(WORKER_DIED)
    ]
    return [
        JobFailure(
            -1,
            run.info.run_name,
            f"run {run.info.run_name} ({run.info.run_id}): "
            f"{run.data.tags.get('failure.reason') or run.data.tags.get('error')}",
        )
        for run in children(client, experiment, run_id, "FAILED") + died
    ]
