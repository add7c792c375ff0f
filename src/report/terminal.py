"""What the terminal says when a run or a sweep ends, and while a sweep runs.

- `result_table(rows)`: one row per job: name, status, final x, R_T/T, run id;
- `job_done(...)`: a single run's table, or a sweep job's one line, when the job ends (in the
  job's process, so Hydra's `main.log` of the job holds it);
- `SweepSummary`: the Hydra callback (`hydra.callbacks.summary` in conf/config.yaml) that logs
  jobs done / total with an ETA as a sweep's jobs end (in the launching process: each job of the
  basic launcher; a parallel launcher's at the end), then the table of every child run read back
  from the store, the sweep folder, the report command and the URL `make ui` opens. The table is
  also written to `<sweep dir>/results.txt`.

Everything goes through Python logging (logger `src.report.terminal`): Hydra's console handler
shows it, its `main.log` files keep it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from src.report.callback import report_folder
from src.report.outcome import sweep_metrics
from src.tracking import store as tracking
from src.tracking.sweep import JOBS_ENV, parent_run_id
from src.tracking.ui_url import run_url, runs_url

log = logging.getLogger(__name__)
COLUMNS = ("run", "status", "final x", "R_T/T", "run id")
DEFAULT_PORT = 5000


def number(value: float | None, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def result_table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a header, one row per job, columns COLUMNS."""
    table = [COLUMNS, *rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(line.rstrip() for line in lines)


def row(name: str, status: str, finals: Mapping[str, float], run_id: str) -> tuple[str, ...]:
    """A job's row: a synthetic run's final x; a d-dimensional run's distance to the best point
    in hindsight, labelled (‖x − x*‖/diam F: no one coordinate is its x); a task's final test
    accuracy in its place."""
    if "final_x" not in finals and "final_distance" in finals:
        x = f"‖x−x*‖/diam {number(finals['final_distance'])}"
    else:
        x = number(finals.get("final_x", finals.get("final_test_accuracy")))
    return name, status, x, number(finals.get("final_avg_regret")), run_id


def where_to_look(uri: str, experiment: str, view: bool = False) -> str:
    """The URL `make ui` opens (the default store), or the command for another store; `view`:
    with the runs table's columns and latest sweep unfolded (`src.tracking.ui_url`)."""
    try:
        url = runs_url(uri, experiment, "127.0.0.1", DEFAULT_PORT, view=view)
    except Exception:  # noqa: BLE001  (a store that cannot answer: say how to open it)
        url = f"http://127.0.0.1:{DEFAULT_PORT}/"
    shown = tracking.redact(uri)
    if shown.startswith("sqlite:///") and shown.endswith("/mlflow.db"):
        return f"runs: `make ui`, then {url}"
    return f"runs: `mlflow ui --backend-store-uri {shown}`, then {url}"


def job_done(name: str, status: str, finals: Mapping[str, float], run_id: str, *, sweep: bool,
             uri: str, experiment: str) -> None:  # fmt: skip
    """Log the job's result when it ends: its one line in a sweep, else the table and where to
    look."""
    cells = row(name, status, finals, run_id)
    if sweep:
        log.info("job done: %s", " · ".join(c for c in cells if c))
        return
    log.info(
        "result\n%s\n%s\n%s",
        result_table([cells]), where_to_look(uri, experiment), run_link(uri, run_id),
    )  # fmt: skip


def run_link(uri: str, run_id: str) -> str:
    """The run's own page in the UI (its "Model training" view)."""
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = tracking.retry(lambda: client.get_run(run_id)).info.experiment_id
    except Exception:  # noqa: BLE001  (a store that cannot answer: the table has the id)
        return f"run: {run_id}"
    return f"run: {run_url(f'http://127.0.0.1:{DEFAULT_PORT}', experiment, run_id)}"


def child_runs(client: MlflowClient, experiment: str, parent: str) -> list[Any]:
    """The sweep's child runs in job order."""
    query = f"tags.`{tracking.PARENT_TAG}` = '{parent}'"
    runs = tracking.retry(lambda: client.search_runs([experiment], query, max_results=50000))
    return sorted(runs, key=lambda r: (int(r.data.tags.get("job", "0") or 0), r.info.start_time))


def newly_ended(client: MlflowClient, experiment: str, parent: str, seen: set[str]) -> list[Any]:
    """The sweep's child runs that have ended, but those in `seen` (run ids): a progress line
    reads the runs ended since the last, so a sweep of n jobs reads n runs, not n²/2 (the filter
    names the runs seen: MLflow parses 1,000 ids in ~0.1 s)."""
    query = f"tags.`{tracking.PARENT_TAG}` = '{parent}' and attributes.status != 'RUNNING'"
    if seen:
        query += f" and attributes.run_id NOT IN ({', '.join(repr(i) for i in sorted(seen))})"
    return tracking.retry(lambda: client.search_runs([experiment], query, max_results=50000))


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def report_line(sweep_dir: Path, parent: str) -> str:
    """Where the sweep's report is (`src.report.callback` writes it first), and how to redraw it."""
    command = f"python -m src.report --parent {parent}"
    folder = report_folder(sweep_dir)
    if folder.is_dir():
        return f"report: {folder} (again, into reports/: `make figure` or {command})"
    return f"report: `make figure` ({command})"


class SweepSummary(Callback):
    """Progress with an ETA as the sweep's jobs end, the result table at its end, and the sweep's
    summary on its parent run (metrics, `results.txt`).

    Jobs done are counted in the store (the sweep's child runs that have ended), not in this
    object: a parallel launcher (joblib, submitit, Ray) ends each job in a worker holding its own
    pickled copy, which could only count its own jobs. Each copy remembers the ended runs it has
    read (`seen`) and asks the store only for the others (`newly_ended`)."""

    def __init__(self) -> None:
        self.total, self.began = 0, 0.0
        self.seen: set[str] = set()  # the ended child runs read so far (ids)
        self.done = 0  # of them, the sweep's jobs (a search's reference runs left out)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.total = int(os.environ.get(JOBS_ENV, "0") or 0)  # set by the sweep's own callback
        self.began = time.time()  # wall clock: the workers' copies read it too
        self.seen, self.done = set(), 0

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        parent = parent_run_id(config.hydra.sweep.dir if "hydra" in config else None)
        if not self.began or parent is None:
            return
        try:
            client, experiment = tracking.connect(
                str(config.tracking.uri), str(config.tracking.experiment)
            )
            for run in newly_ended(client, experiment, parent, self.seen):
                self.seen.add(run.info.run_id)  # a search trial's reference run is a second
                self.done += run.data.tags.get("search.role") != "reference"  # child of its job
            done = self.done
        except Exception as error:  # noqa: BLE001  (a progress line never fails a job)
            log.warning("sweep: jobs done unknown: %s", tracking.redact(str(error)))
            return
        elapsed = time.time() - self.began
        if self.total and done:
            left = max(self.total - done, 0) * elapsed / done
            log.info(
                "sweep: %d/%d jobs done, %s elapsed, about %s left",
                done, self.total, duration(elapsed), duration(left),
            )  # fmt: skip
        else:
            log.info("sweep: %d jobs done, %s elapsed", done, duration(elapsed))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        parent = parent_run_id(sweep_dir)
        if parent is None:
            return
        uri, name = str(config.tracking.uri), str(config.tracking.experiment)
        try:
            client, experiment = tracking.connect(uri, name)
            runs = child_runs(client, experiment, parent)
        except Exception as error:  # noqa: BLE001  (a summary never fails a sweep)
            log.warning("no result table: %s", tracking.redact(str(error)))
            return
        rows = [
            row(r.info.run_name or "", r.info.status, r.data.metrics, r.info.run_id) for r in runs
        ]
        table = result_table(rows)
        (sweep_dir / "results.txt").write_text(table + "\n")
        try:  # the sweep's result on its own row of MLflow's runs table
            tracking.log_metrics(client, parent, sweep_metrics(runs))
            tracking.log_files(client, parent, [(sweep_dir / "results.txt", None)])
        except Exception as error:  # noqa: BLE001  (a summary never fails a sweep)
            log.warning("no summary on the parent run: %s", tracking.redact(str(error)))
        log.info(
            "sweep results (%d runs, parent %s)\n%s\nsweep folder: %s\n%s\n%s",
            len(runs), parent, table, sweep_dir, report_line(sweep_dir, parent),
            where_to_look(uri, name, view=True),
        )  # fmt: skip
