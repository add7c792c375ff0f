"""One job's run in MLflow: its config checked and built (`src.build`), an engine run, the result
logged, the run ended as the job ended (FINISHED, FAILED, KILLED).

The glue between the built job and the store (`src.tracking.store`). Whatever ran, the engine
returns a `src.engines.result.Result` and one flow logs it: histories, final metrics, its arrays,
its figure, the config.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src import provenance
from src.build import (
    SYNTHETIC,
    TASK_KEYS,
    build,
    check,
    engine_for,
    job_kind,
    notes,
    optimizer_name,
)
from src.engines.result import DIVERGED, INTERRUPTED, Result
from src.engines.spec import RunSpec, warm_up
from src.tracking import store as tracking

log = logging.getLogger(__name__)


class JobFailed(RuntimeError):
    """A job's run ended FAILED (e.g. diverged); its run in the store says why."""


HYDRA_KEYS = ("_target_", "_partial_")  # how Hydra builds a node: `<node>.class` says what ran


def run_params(cfg: DictConfig, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """The run's params: the chosen options first (`optim`, `fn`, ...), then the flattened
    resolved config, the store's URI redacted (a synthetic run's null `task` and `data` left out).
    A node's `_target_` is logged as its class's name (`optim.class`: Adam, `fn.class`: Periodic),
    its `_partial_` not at all."""
    tree = {k: v for k, v in _without_hydra(cfg).items() if v is not None or k not in TASK_KEYS}
    flat = tracking.flatten(tree)
    flat.pop("tracking.uri", None)  # where it was logged: the store itself (and a password risk)
    params: dict[str, Any] = dict(choices or {})
    for key, value in flat.items():
        node, _, leaf = key.rpartition(".")
        if leaf == "_target_" and node:
            params[f"{node}.class"] = str(value).rsplit(".", 1)[-1]
        elif leaf not in HYDRA_KEYS:
            params[key] = value
    params["optim.class"] = optimizer_name(cfg)
    return params


def make_progress(
    total: int, minimum: int = 200_000, every_s: float = 10.0, name: str = ""
) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A tqdm bar on an interactive terminal for runs of `minimum` steps or more; elsewhere (a
    log, CI, a sweep's worker) a logged line at most every `every_s` seconds (`LoggedProgress`),
    so a job longer than that says how far it is."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return LoggedProgress(total, every_s, name), lambda: None
    if total < minimum:
        return None, lambda: None
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(total=total, unit="step", unit_scale=True, leave=False)
    return bar.update, bar.close


class LoggedProgress:
    """`progress: adam · online: 45% (135,000/300,000 steps), 41,234 steps/s, about 0:00:04
    left`, logged when `every_s` seconds have passed since the last line (the first: since the
    job began); the engines call it with the steps done since their last call."""

    def __init__(self, total: int, every_s: float, name: str = "") -> None:
        self.total, self.every_s, self.name = total, every_s, name
        self.done = 0
        self.began = self.last = time.monotonic()

    def __call__(self, steps: int) -> None:
        self.done += steps
        now = time.monotonic()
        if now - self.last < self.every_s or not self.done:
            return
        self.last = now
        rate = self.done / max(now - self.began, 1e-9)
        left = max(self.total - self.done, 0) / rate
        log.info(
            "progress: %s%.0f%% (%s/%s steps), %s steps/s, about %s left",
            f"{self.name}: " if self.name else "", 100 * self.done / self.total,
            f"{self.done:,}", f"{self.total:,}", f"{rate:,.0f}", _duration(left),
        )  # fmt: skip


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run_job(
    cfg: DictConfig,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    hydra_dir: Path | None = None,
    choices: dict[str, str] | None = None,
    job_number: int | None = None,
) -> Result:
    """Check, build, track and run one job; raise JobFailed if its run ended FAILED. The job ends
    only its own run: a sweep's parent belongs to `src.tracking.sweep`. `result.info["seconds"]`
    says where the job's time went (check, store, compute, logging, figure: drawn and stored)."""
    clock = Stopwatch()
    check(cfg)  # before the store is touched: an invalid value leaves nothing behind
    if parent_run_id is None:  # a sweep says them once, for all its jobs (src.sweep_checks)
        for line in notes(cfg):
            print(f"warning: {line}", file=sys.stderr)
    kind = job_kind(cfg)
    spec = kind.build(cfg)
    if engine_for(cfg, spec) == "torch":
        warm_up()  # its imports before the run exists, not in its interruptible loop
    clock.lap("check")
    torch.set_num_threads(1)  # the problems are tiny and sequential: threads only add overhead
    client, experiment = tracking.connect(str(cfg.tracking.uri), str(cfg.tracking.experiment))
    choices = choices or {}
    files = provenance.user_files(cfg)  # a user's own classes: logged under source/, hashed
    sources = {path.name: path.read_bytes() for path in files}
    tags = {
        **provenance.git_state(files),
        **provenance.versions(),
        **provenance.source_tags(sources),
        "seed": str(cfg.seed),
        "optimizer": choices.get("optim", optimizer_name(cfg)),  # the option, e.g. amsgrad
        "optimizer.class": optimizer_name(cfg),  # the class that ran, e.g. Adam
        "mlflow.source.name": "src.main",
        "mlflow.user": getpass.getuser(),
        **({"job": str(job_number)} if job_number is not None else {}),
        **({"problem": words} if (words := problem_words(cfg)) else {}),
    }
    name = run_name or default_name(cfg, choices)
    run_id = tracking.start_run(client, experiment, name, tags, parent_run_id)
    try:
        params = run_params(cfg, choices)
        if isinstance(spec, RunSpec):  # what ran: one replicate of a deterministic problem
            params["replicates"] = spec.replicates
        tracking.log_params(client, run_id, params)
        clock.lap("store")
        every = float(cfg.log.get("progress_every_s", 10.0))
        progress, close = make_progress(spec.steps, kind.progress_every, every, name)
        try:
            engine, result = kind.run(cfg, spec, progress)
        finally:
            close()
        clock.lap("compute")
        batch = {"batch": str(result.info["batch"])} if "batch" in result.info else {}
        tracking.set_tags(client, run_id, {"engine": engine, **batch})  # batch: jobs in its pass
        with signals_held() if result.status == INTERRUPTED else contextlib.nullcontext():
            log_outcome(client, run_id, cfg, result, hydra_dir, clock, sources)  # if stopped
    except KeyboardInterrupt:
        with signals_held():
            tracking.end_run(client, run_id, "KILLED")
        raise
    except BaseException as error:
        if "result" in locals():  # computed, not (all) logged: nothing computed is lost
            keep_locally(result, hydra_dir)
        with contextlib.suppress(Exception):  # best effort: the store may be what failed
            tracking.set_tags(
                client,
                run_id,
                {"error": tracking.redact(f"{type(error).__name__}: {error}")[:5000]},
            )
            tracking.end_run(client, run_id, "FAILED")
        raise
    if result.status == INTERRUPTED:
        with signals_held():
            tracking.end_run(client, run_id, "KILLED")
        raise KeyboardInterrupt
    if result.status == DIVERGED:
        failure = {"failure.step": str(result.steps_done + 1), "failure.reason": result.reason}
        tracking.set_tags(client, run_id, failure)
        tracking.end_run(client, run_id, "FAILED")
        raise JobFailed(f"{name}: diverged: {result.reason}")
    tracking.end_run(client, run_id, "FINISHED")
    clock.lap("logging")  # its end
    result.info.update(run_id=run_id, seconds=clock.laps)
    return result


class Stopwatch:
    """Seconds per named stage of a job, for `make bench`'s breakdown."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while an interrupted job logs what it has (a second Ctrl-C, or
    the SIGTERM a parallel sweep forwards to its workers, must not cut that short)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)


ABSENT = object()  # OmegaConf.select's default for a key the config does not have


def default_name(
    cfg: DictConfig, choices: dict[str, str] | None = None, swept: Sequence[str] = ()
) -> str:
    """`amsgrad · online` (the chosen options, else the classes), then the swept values that the
    options do not already say: `adam · online · seed=1`."""
    choices = choices or {}
    groups = job_kind(cfg).groups
    parts = [
        choices.get(group)
        or str(OmegaConf.select(cfg, f"{group}._target_", default=group)).rsplit(".", 1)[-1]
        for group in groups
    ]
    for key in swept:
        if key in groups or key.startswith(("hydra", "tracking.")) or key.endswith("._target_"):
            continue
        if key not in choices and OmegaConf.select(cfg, key, default=ABSENT) is ABSENT:
            continue  # not a key of this job: a search's key of another problem family
        value = choices.get(key, OmegaConf.select(cfg, key))
        value = short_float(value) if isinstance(value, float) else value
        parts.append(f"{key.removeprefix('optim.')}={value}")
    return " · ".join(parts)


def short_float(value: float, digits: int = 4, most: int = 8) -> str:
    """A value in the fewest significant digits (at least `digits`) that give it back exactly, so
    a grid's values stay distinct (β₂ 0.99999 and 0.999999, not both `1`); a value that needs
    more than `most` (a search's sampled C: 554.71234...) is cut to `digits` (554.7)."""
    for n in range(digits, most + 1):
        text = f"{value:.{n}g}"
        if float(text) == value:
            return text
    return f"{value:.{digits}g}"


def problem_words(cfg: DictConfig) -> str:
    """A synthetic job's problem in its own words (`fn.describe()`, tag `problem`, the report's
    titles), '' for a task."""
    if job_kind(cfg) is not SYNTHETIC:
        return ""
    return str(build(cfg.fn).describe())[:4000]


def title(cfg: DictConfig) -> str:
    """The job's figure title: the optimizer and the problem, in words (its option, then its own
    description: `Adam on online: 1010x once every 101 steps, else −10x`)."""
    from src.report.kinds import run_kind  # noqa: PLC0415
    from src.report.labels import optimizer_label  # noqa: PLC0415

    params = {k: str(v) for k, v in run_params(cfg).items()}
    words = problem_words(cfg)
    problem = run_kind(params).describe(params) + (f": {words}" if words else "")
    return f"{optimizer_label(params)} on {problem}"


def log_outcome(
    client: Any,
    run_id: str,
    cfg: DictConfig,
    result: Result,
    hydra_dir: Path | None,
    clock: Stopwatch | None = None,
    sources: dict[str, bytes] | None = None,
) -> None:
    """The run's metric histories, final metrics, and its artifacts in one call: `<artifact>.npz`,
    `config.yaml`, the `.hydra/` copy, `source/<file>` per user source file (`sources`) and
    `<artifact>.png` (when there is anything to draw and `log.figures`). `clock` gets the laps
    `logging` and `figure` (drawn and saved)."""
    clock = clock or Stopwatch()
    tracking.log_result(client, run_id, result)
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            np.savez(folder / f"{result.artifact}.npz", **result.arrays())
            _write_config_files(cfg, folder, hydra_dir)
            for file, data in (sources or {}).items():
                (folder / "source").mkdir(exist_ok=True)
                (folder / "source" / file).write_bytes(data)
            clock.lap("logging")
            try:
                if len(result.log_steps) and cfg.log.figures:  # something to draw, and asked
                    from src.report.figures import result_figure  # noqa: PLC0415  (matplotlib)

                    result_figure(result, title(cfg)).savefig(folder / f"{result.artifact}.png")
                    clock.lap("figure")
            finally:  # a figure that failed leaves the arrays and config logged all the same
                tracking.log_folder(client, run_id, folder)
                clock.lap("logging")
    except OSError as error:  # a file where a folder must be, a full disk: one line
        where = f" {error.filename}" if error.filename else ""
        raise tracking.StoreError(
            f"artifacts: cannot write{where}: {error.strerror or error}"
        ) from error


def keep_locally(result: Result, hydra_dir: Path | None) -> Path | None:
    """`<artifact>.npz` (the result's arrays) in the job's output folder, its path printed on
    stderr: for a run whose logging failed (a server gone, artifacts unwritable)."""
    path = (hydra_dir or Path.cwd()) / f"{result.artifact}.npz"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **result.arrays())
    except OSError as error:
        print(f"could not keep the run's arrays locally at {path}: {error}", file=sys.stderr)
        return None
    print(f"kept the run's arrays locally: {path}", file=sys.stderr)
    return path


def _write_config_files(cfg: DictConfig, folder: Path, hydra_dir: Path | None) -> None:
    """`config.yaml` (the resolved job config) and a copy of Hydra's `.hydra/` in `folder`, URI
    redacted."""
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(_without_hydra(cfg))))
    if hydra_dir is not None and (hydra_dir / ".hydra").is_dir():
        _redacted_copy(hydra_dir / ".hydra", folder / ".hydra")


def _redacted_copy(source: Path, target: Path) -> None:
    """A copy of the folder `source` at `target` with every tracking-URI password replaced by ***
    (Hydra's .hydra/ holds the raw overrides and config, so the URI as typed)."""
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            copy.write_text(tracking.redact(path.read_text()))
        except UnicodeDecodeError:
            copy.write_bytes(path.read_bytes())


def _without_hydra(cfg: DictConfig) -> dict[str, Any]:
    """The resolved job config as a dict: no `hydra` node, the URI redacted, and for a task none
    of the keys it does not read (fn, projection, ...)."""
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tree.pop("hydra", None)
    tree["tracking"]["uri"] = tracking.redact(str(cfg.tracking.uri))
    for key in job_kind(cfg).ignores:
        tree.pop(key, None)
    return tree
