"""One job: its config checked, its spec built, an engine run, the result logged in MLflow.

The glue between the config (a DictConfig; no Hydra runtime needed), the engines
(`src.engines.torch_loop` and `fast` for an online problem, `training` for a task) and the store
(`src.tracking.store`). Whatever ran, the engine returns a `src.engines.result.Result` and one flow
logs it: histories, final metrics, its arrays, its figure, the config.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from src import PROJECT_ROOT
from src.config.checks import ConfigError, validate
from src.config.jobs import job_configs, sweep_overrides, swept_keys
from src.config.schema import TASK_IGNORES, DType, Engine, Schedule
from src.engines import fast as fast_engine
from src.engines import torch_loop
from src.engines.result import DIVERGED, INTERRUPTED, Result
from src.engines.torch_loop import RunSpec
from src.engines.training import TrainSpec, train
from src.tasks.datasets import DatasetError
from src.tracking import store as tracking

DTYPES = {DType.float32: torch.float32, DType.float64: torch.float64}
TORCH_THREADS = torch.get_num_threads()  # torch's default, before a job sets its own
TASK_KEYS = ("task", "data")  # null unless the job trains a model


class JobFailed(RuntimeError):
    """A job's run ended FAILED (e.g. diverged); its run in the store says why."""


def check(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) if `cfg` cannot run: an invalid value (`config.checks`), or
    engine=fast on a job the fast engine cannot reproduce. Nothing is computed or stored."""
    validate(cfg)
    if cfg.engine != Engine.fast:
        return
    refused = job_kind(cfg).fast_engine_refuses
    if refused:
        raise ConfigError(f"engine=fast: {refused} (use engine=torch or engine=auto)")
    why = "autograd=true asks for the torch engine" if cfg.autograd else None
    why = why or fast_engine.unsupported(
        build_spec(cfg), optimizer_factory(cfg), Schedule(cfg.schedule.name).value
    )
    if why:
        raise ConfigError(f"engine=fast: {why} (use engine=torch or engine=auto)")


def build(node: DictConfig) -> Any:
    """The group's object from its own `_target_` only: nothing below it is instantiated (the
    checks refuse any nested `_target_`; `_recursive_=False` makes sure none is ever called)."""
    return instantiate(node, _recursive_=False)


def build_spec(cfg: DictConfig) -> RunSpec:
    return RunSpec(
        fn=build(cfg.fn),
        projection=build(cfg.projection),
        steps=int(cfg.steps),
        replicates=int(cfg.replicates),
        seed=int(cfg.seed),
        x0=float(cfg.x0),
        dtype=DTYPES[DType(cfg.dtype)],
        log_points=int(cfg.log.points),
    )


def build_task(cfg: DictConfig) -> TrainSpec:
    """The task's training run: its dataset read from the local files, its model as a factory
    `model()` (built inside the seeded loop). An unreadable dataset file is a ConfigError."""
    source = build(cfg.data)
    try:
        data = source.load()
    except (DatasetError, OSError) as error:
        raise ConfigError(f"data: {error}") from error
    options = OmegaConf.to_container(cfg.task.model, resolve=True)
    model = partial(
        get_class(options.pop("_target_")), tuple(source.input_shape), source.classes, **options
    )
    return TrainSpec(
        data=data,
        model=model,
        steps=int(cfg.steps),
        batch_size=int(cfg.task.batch_size),
        seed=int(cfg.seed),
        log_points=int(cfg.log.points),
        dtype=DTYPES[DType(cfg.dtype)],
        eval_batch_size=int(cfg.task.eval_batch_size),
        device=str(cfg.task.device),
    )


def run_training(
    cfg: DictConfig, spec: TrainSpec, progress: Callable[[int], None] | None
) -> Result:
    """The task's minibatch loop over the configured torch.optim optimizer and schedule."""
    torch.set_num_threads(int(cfg.task.threads) or TORCH_THREADS)
    return train(spec, optimizer_factory(cfg), Schedule(cfg.schedule.name).value, progress)


def optimizer_factory(cfg: DictConfig) -> Callable:
    """The configured optimizer as a partial over params: `make([x])` is the torch.optim object.

    torch's default (for-loop) implementation runs unless the config asks for `fused`/`foreach`:
    it is the one the fast engine reproduces bit for bit."""
    return build(cfg.optim)


def optimizer_name(cfg: DictConfig) -> str:
    return str(cfg.optim._target_).rsplit(".", 1)[-1]


def run_task(
    cfg: DictConfig, spec: TrainSpec, progress: Callable[[int], None] | None
) -> tuple[str, Result]:
    """A task always trains on torch (the checks refuse engine=fast for it)."""
    return "torch", run_training(cfg, spec, progress)


def run_engine(
    cfg: DictConfig, spec: RunSpec, progress: Callable[[int], None] | None
) -> tuple[str, Result]:
    """Run a synthetic job on the engine `cfg.engine` asks for; returns (engine that ran,
    result)."""
    schedule = Schedule(cfg.schedule.name).value
    if engine_for(cfg, spec) == "fast":  # it may hand the job to torch (result.info["engine"])
        result = fast_engine.run(spec, optimizer_factory(cfg), schedule, progress)
        return result.info.get("engine", "fast"), result
    result = torch_loop.run(
        spec, optimizer_factory(cfg), schedule, progress, autograd=bool(cfg.autograd)
    )
    return "torch", result


def engine_for(cfg: DictConfig, spec: RunSpec | TrainSpec) -> str:
    """'fast' where the config allows it and the fast engine reproduces the job, else 'torch'."""
    engine = Engine(cfg.engine)
    if not isinstance(spec, RunSpec) or engine == Engine.torch or cfg.autograd:
        return "torch"
    schedule = Schedule(cfg.schedule.name).value
    why_not = fast_engine.unsupported(spec, optimizer_factory(cfg), schedule)
    if why_not is not None and engine == Engine.fast:
        raise ValueError(f"engine=fast: {why_not}")
    return "torch" if why_not else "fast"


@functools.cache  # once per process: a sweep's jobs share the checkout
def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = "true" if git("status", "--porcelain", "--untracked-files=no") else "false"
    return {"mlflow.source.git.commit": commit, "git_dirty": dirty}


def run_params(cfg: DictConfig) -> dict[str, Any]:
    """The flattened resolved config, with the store's URI redacted (a synthetic run's null
    `task` and `data` left out)."""
    tree = {k: v for k, v in _without_hydra(cfg).items() if v is not None or k not in TASK_KEYS}
    flat = tracking.flatten(tree)
    flat.pop("tracking.uri", None)  # where it was logged: the store itself (and a password risk)
    flat["optim.class"] = optimizer_name(cfg)
    return flat


def make_progress(
    total: int, minimum: int = 200_000
) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A tqdm bar on an interactive terminal for runs of `minimum` steps or more; nothing in CI or
    logs."""
    if total < minimum or not sys.stderr.isatty() or os.environ.get("CI"):
        return None, lambda: None
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(total=total, unit="step", unit_scale=True, leave=False)
    return bar.update, bar.close


@dataclass(frozen=True, eq=False)
class JobKind:
    """What differs between a synthetic job (an fn's coefficient stream) and a task job (a model
    trained on a dataset); the rest of the flow — check, store, run, log — is one."""

    build: Callable[[DictConfig], Any]  # the engine's spec: a RunSpec or a TrainSpec
    run: Callable[..., tuple[str, Result]]  # (cfg, spec, progress) -> (engine that ran, result)
    groups: tuple[str, ...]  # the config groups whose options name the run
    progress_every: int  # steps between progress updates
    ignores: tuple[str, ...] = ()  # config keys the job does not read
    fast_engine_refuses: str = ""  # why engine=fast cannot run it ('' if it may)


SYNTHETIC = JobKind(build_spec, run_engine, ("optim", "fn"), 200_000)
TASK = JobKind(
    build_task,
    run_task,
    ("optim", "task", "data"),
    1_000,
    ignores=TASK_IGNORES,
    fast_engine_refuses=(
        "a task trains a model through torch.optim; the fast engine runs only the synthetic fn "
        "problems"
    ),
)


def job_kind(cfg: DictConfig) -> JobKind:
    """TASK when the job trains a model (`task=...`), else SYNTHETIC."""
    return TASK if cfg.get("task") is not None else SYNTHETIC


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
    kind = job_kind(cfg)
    spec = kind.build(cfg)
    if engine_for(cfg, spec) == "torch":
        torch_loop.warm_up()  # its imports before the run exists, not in its interruptible loop
    clock.lap("check")
    torch.set_num_threads(1)  # the problems are tiny and sequential: threads only add overhead
    client, experiment = tracking.connect(str(cfg.tracking.uri), str(cfg.tracking.experiment))
    choices = choices or {}
    tags = {
        **git_state(),
        "torch_version": torch.__version__,
        "seed": str(cfg.seed),
        "optimizer": choices.get("optim", optimizer_name(cfg)),  # the option, e.g. amsgrad
        "optimizer.class": optimizer_name(cfg),  # the class that ran, e.g. Adam
        "mlflow.source.name": "src.main",
        "mlflow.user": getpass.getuser(),
        **({"job": str(job_number)} if job_number is not None else {}),
    }
    name = run_name or default_name(cfg, choices)
    run_id = tracking.start_run(client, experiment, name, tags, parent_run_id)
    try:
        tracking.log_params(client, run_id, {**run_params(cfg), **choices})
        clock.lap("store")
        progress, close = make_progress(spec.steps, kind.progress_every)
        try:
            engine, result = kind.run(cfg, spec, progress)
        finally:
            close()
        clock.lap("compute")
        tracking.set_tags(client, run_id, {"engine": engine})
        with signals_held() if result.status == INTERRUPTED else contextlib.nullcontext():
            log_outcome(client, run_id, cfg, result, hydra_dir, clock)  # what it has, if stopped
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
        if key in groups or key.startswith(("hydra", "tracking.")):
            continue
        if key not in choices and OmegaConf.select(cfg, key, default=ABSENT) is ABSENT:
            continue  # not a key of this job: a search's key of another problem family
        value = choices.get(key, OmegaConf.select(cfg, key))
        value = f"{value:.4g}" if isinstance(value, float) else value  # a searched C: 554.7
        parts.append(f"{key.removeprefix('optim.')}={value}")
    return " · ".join(parts)


def title(cfg: DictConfig) -> str:
    """The job's figure title: the optimizer and the problem, in words."""
    from src.report.sweep import optimizer_label, run_kind  # noqa: PLC0415

    params = {k: str(v) for k, v in run_params(cfg).items()}
    return f"{optimizer_label(params)} on {run_kind(params).describe(params)}"


def log_outcome(
    client: Any,
    run_id: str,
    cfg: DictConfig,
    result: Result,
    hydra_dir: Path | None,
    clock: Stopwatch | None = None,
) -> None:
    """The run's metric histories, final metrics, and its artifacts in one call: `<artifact>.npz`,
    `config.yaml`, the `.hydra/` copy and `<artifact>.png` (when there is anything to draw and
    `log.figures`). `clock` gets the laps `logging` and `figure` (drawn and saved)."""
    clock = clock or Stopwatch()
    steps, histories = result.log_steps.tolist(), result.histories()
    for names, first in chart_histories(result):
        logged = {k: np.asarray(histories[k]).tolist()[first:] for k in names}
        tracking.log_histories(client, run_id, steps[first:], logged)
    tracking.log_metrics(client, run_id, result.finals(), step=result.steps_done)
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            np.savez(folder / f"{result.artifact}.npz", **result.arrays())
            _write_config_files(cfg, folder, hydra_dir)
            clock.lap("logging")
            try:
                if len(result.log_steps) and cfg.log.figures:  # something to draw, and asked
                    result.figure(title(cfg)).savefig(folder / f"{result.artifact}.png")
                    clock.lap("figure")
            finally:  # a figure that failed leaves the arrays and config logged all the same
                tracking.log_folder(client, run_id, folder)
                clock.lap("logging")
    except OSError as error:  # a file where a folder must be, a full disk: one line
        where = f" {error.filename}" if error.filename else ""
        raise tracking.StoreError(
            f"artifacts: cannot write{where}: {error.strerror or error}"
        ) from error


def chart_histories(result: Result) -> list[tuple[list[str], int]]:
    """Which histories MLflow gets from which logged point: R_t/t (`avg_regret`) from the second
    one when the first is t = 1 and more follow, every other history from the first.

    R_1/1 = f_1(x_1) − min_F f_1 is the first loss's whole range (1010 on Figure 1's online
    problem) while R_t/t later is below 1: MLflow's default chart, linear from its largest value,
    would show a flat line. The run's `trajectory.npz` keeps every point."""
    names = list(result.histories())
    skip = "avg_regret" in names and len(result.log_steps) > 2 and result.log_steps[0] == 1
    rest = [k for k in names if not (skip and k == "avg_regret")]
    return [(rest, 0), *([(["avg_regret"], 1)] if skip else [])]


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


def check_sweep(config: DictConfig) -> tuple[int, list[str], list[str]]:
    """Every job of a multirun checked before any runs: (number of jobs, one line per invalid
    job, the swept keys). Task jobs that differ only in keys a task ignores (a swept fn) would
    repeat each other: each repeat is invalid. (`src.tracking.sweep.SweepRun` calls it by name,
    before the parent run exists.) An unusable sweep folder (`hydra.sweep.dir`) ends the process
    here: one line, exit 2."""
    check_sweep_dir(config)
    jobs, problems, seen = 0, [], {}
    for label, composed in job_configs(config):
        jobs += 1
        try:
            if isinstance(composed, Exception):
                raise composed
            check(composed)
        except Exception as error:  # noqa: BLE001  (each problem is one line)
            text = str(error).strip()
            problems.append(f"{label}: {text.splitlines()[0] if text else type(error).__name__}")
            continue
        ignored = job_kind(composed).ignores
        if ignored:
            tree = OmegaConf.to_container(composed, resolve=True, enum_to_str=True)
            for key in ignored:
                tree.pop(key, None)
            same = seen.setdefault(repr(sorted(tracking.flatten(tree).items())), label)
            if same != label:
                problems.append(
                    f"{label}: repeats {same}: a task ignores {', '.join(ignored)}; "
                    "sweep none of them (e.g. pin fn=online)"
                )
    if sweep_overrides(config) is None:  # a search: the trials it plans (0: unknown, a bisection)
        jobs = 0 if problems else int(OmegaConf.select(config, "hydra.sweeper.n_trials") or 0)
    return jobs, problems, swept_keys(config)


def check_sweep_dir(config: DictConfig) -> None:
    """Exit 2 with one line if the sweep's folder cannot be created or written."""
    if "hydra" not in config:
        return
    folder = Path(str(config.hydra.sweep.dir))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        why = error.strerror or type(error).__name__
        print(
            f"error: hydra.sweep.dir={str(folder)!r}: cannot create or write it ({why}); "
            "nothing was run",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


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
