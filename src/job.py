"""One job: build the run from its config, track it in MLflow, run an engine, log the outcome.

The glue between the config (a DictConfig, no Hydra runtime needed), the engines (`runner`,
`fast_engine`; `training` when the config names a task) and the store (`tracking`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from src import PROJECT_ROOT
from src.config.checks import ConfigError, validate
from src.config.schema import TASK_IGNORES
from src.engines import fast as fast_engine
from src.engines import torch_loop
from src.engines.torch_loop import RunSpec
from src.engines.training import TrainResult, TrainSpec, train
from src.problems.regret import DIVERGED, INTERRUPTED, RunResult
from src.tasks.datasets import DatasetError
from src.tracking import store as tracking

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TORCH_THREADS = torch.get_num_threads()  # torch's default, before a job sets its own
TASK_KEYS = ("task", "data")  # null unless the job trains a model


class JobFailed(RuntimeError):
    """A job's run ended FAILED (e.g. diverged); its run in the store says why."""


def check(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) if `cfg` cannot run: an invalid value (`config.checks`), or
    engine=fast on a job the fast engine cannot reproduce. Nothing is computed or stored."""
    validate(cfg)
    if cfg.engine != "fast":
        return
    if is_task(cfg):
        raise ConfigError(
            "engine=fast: a task trains a model through torch.optim; the fast engine runs only "
            "the synthetic fn problems (use engine=torch or engine=auto)"
        )
    why = "autograd=true asks for the torch engine" if cfg.autograd else None
    why = why or fast_engine.unsupported(build_spec(cfg), optimizer_factory(cfg), cfg.schedule.name)
    if why:
        raise ConfigError(f"engine=fast: {why} (use engine=torch or engine=auto)")


def build_spec(cfg: DictConfig) -> RunSpec:
    return RunSpec(
        fn=instantiate(cfg.fn),
        projection=instantiate(cfg.projection),
        steps=int(cfg.steps),
        replicates=int(cfg.replicates),
        seed=int(cfg.seed),
        x0=float(cfg.x0),
        dtype=DTYPES[cfg.dtype],
        log_points=int(cfg.log.points),
    )


def is_task(cfg: DictConfig) -> bool:
    """Whether the job trains a model on a dataset (`task=...`) instead of the synthetic fn."""
    return cfg.get("task") is not None


def build_task(cfg: DictConfig) -> TrainSpec:
    """The task's training run: its dataset read from the local files, its model as a factory
    `model()` (built inside the seeded loop). An unreadable dataset file is a ConfigError."""
    source = instantiate(cfg.data)
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
        dtype=DTYPES[cfg.dtype],
        eval_batch_size=int(cfg.task.eval_batch_size),
        device=str(cfg.task.device),
    )


def run_training(
    cfg: DictConfig, spec: TrainSpec, progress: Callable[[int], None] | None
) -> TrainResult:
    """The task's minibatch loop over the configured torch.optim optimizer and schedule."""
    torch.set_num_threads(int(cfg.task.threads) or TORCH_THREADS)
    return train(spec, optimizer_factory(cfg), str(cfg.schedule.name), progress)


def optimizer_factory(cfg: DictConfig) -> Callable:
    """The configured optimizer as a partial over params: `make([x])` is the torch.optim object.

    torch's default (for-loop) implementation runs unless the config asks for `fused`/`foreach`:
    it is the one the fast engine reproduces bit for bit."""
    return instantiate(cfg.optim)


def optimizer_name(cfg: DictConfig) -> str:
    return str(cfg.optim._target_).rsplit(".", 1)[-1]


def run_engine(
    cfg: DictConfig, spec: RunSpec | TrainSpec, progress: Callable[[int], None] | None
) -> tuple[str, RunResult | TrainResult]:
    """Run on the engine `cfg.engine` asks for; returns (engine that ran, result). A task always
    runs on torch (validation refuses engine=fast for it)."""
    if isinstance(spec, TrainSpec):
        return "torch", run_training(cfg, spec, progress)
    engine, schedule = str(cfg.engine), str(cfg.schedule.name)
    make_optimizer = optimizer_factory(cfg)
    if engine == "fast" or (engine == "auto" and not cfg.autograd):
        why_not = fast_engine.unsupported(spec, make_optimizer, schedule)
        if why_not is None:
            return "fast", fast_engine.run(spec, make_optimizer, schedule, progress)
        if engine == "fast":
            raise ValueError(f"engine=fast: {why_not}")
    result = torch_loop.run(spec, make_optimizer, schedule, progress, autograd=bool(cfg.autograd))
    return "torch", result


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
    flat["tracking.uri"] = tracking.redact(str(cfg.tracking.uri))
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


def run_job(
    cfg: DictConfig,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    hydra_dir: Path | None = None,
) -> RunResult | TrainResult:
    """Build, track and run one job; raise JobFailed if its run ended FAILED."""
    spec = build_task(cfg) if is_task(cfg) else build_spec(cfg)
    torch.set_num_threads(1)  # the problems are tiny and sequential: threads only add overhead
    client, experiment = tracking.connect(str(cfg.tracking.uri), str(cfg.tracking.experiment))
    tags = {
        **git_state(),
        "torch_version": torch.__version__,
        "seed": str(cfg.seed),
        "optimizer": optimizer_name(cfg),
    }
    run_id = tracking.start_run(
        client, experiment, run_name or _default_name(cfg), tags, parent_run_id
    )
    try:
        tracking.log_params(client, run_id, run_params(cfg))
        progress, close = make_progress(spec.steps, 1_000 if is_task(cfg) else 200_000)
        try:
            engine, result = run_engine(cfg, spec, progress)
        finally:
            close()
        tracking.set_tags(client, run_id, {"engine": engine})
        log_result(client, run_id, cfg, result, hydra_dir)
    except KeyboardInterrupt:
        _end(client, run_id, parent_run_id, "KILLED")
        raise
    except BaseException as error:
        tracking.set_tags(
            client, run_id, {"error": tracking.redact(f"{type(error).__name__}: {error}")[:5000]}
        )
        _end(client, run_id, parent_run_id, "FAILED")
        raise
    if result.status == INTERRUPTED:
        _end(client, run_id, parent_run_id, "KILLED")
        raise KeyboardInterrupt
    if result.status == DIVERGED:
        tracking.set_tags(
            client,
            run_id,
            {"failure.step": str(result.steps_done + 1), "failure.reason": result.reason},
        )
        _end(client, run_id, parent_run_id, "FAILED")
        raise JobFailed(f"{run_name or _default_name(cfg)}: diverged: {result.reason}")
    tracking.end_run(client, run_id, "FINISHED")
    result.info["run_id"] = run_id
    return result


def _default_name(cfg: DictConfig) -> str:
    problem = [cfg.task.model, cfg.data] if is_task(cfg) else [cfg.fn]
    return "-".join(str(node._target_).rsplit(".", 1)[-1] for node in [cfg.optim, *problem])


def _end(client: Any, run_id: str, parent_run_id: str | None, status: str) -> None:
    tracking.end_run(client, run_id, status)
    if parent_run_id:
        tracking.end_run(client, parent_run_id, status)


def log_result(
    client: Any,
    run_id: str,
    cfg: DictConfig,
    result: RunResult | TrainResult,
    hydra_dir: Path | None,
) -> None:
    """Metric histories (replicate means), final metrics, and the artifacts of a run."""
    if isinstance(result, TrainResult):
        log_training(client, run_id, cfg, result, hydra_dir)
        return
    steps = result.log_steps.tolist()
    tracking.log_histories(
        client,
        run_id,
        steps,
        {"x": result.x.mean(1).tolist(), "avg_regret": result.avg_regret.mean(1).tolist()},
    )
    finals = {
        "final_x": float(result.final_x.mean()),
        "final_regret": float(result.final_regret.mean()),
        "final_avg_regret": float(result.final_avg_regret.mean()),
        "steps_per_second": result.steps_done / max(result.elapsed, 1e-9),
        "steps_done": float(result.steps_done),
    }
    tracking.log_metrics(client, run_id, finals, step=result.steps_done)
    with tempfile.TemporaryDirectory() as folder:
        npz = Path(folder) / "trajectory.npz"
        np.savez(
            npz,
            log_steps=result.log_steps,
            x=result.x,
            avg_regret=result.avg_regret,
            final_x=result.final_x,
            final_regret=result.final_regret,
        )
        files = [(npz, None), *_config_files(cfg, Path(folder), hydra_dir)]
        tracking.log_files(client, run_id, files)
    from src.report.figures import trajectory_figure  # matplotlib only once a job has a result
    from src.report.sweep import fn_label, optimizer_label

    if len(result.log_steps) == 0:  # diverged or interrupted at step 1: nothing to draw
        return
    params = {k: str(v) for k, v in run_params(cfg).items()}
    fig = trajectory_figure(result, f"{optimizer_label(params)} on {fn_label(params)}")
    tracking.retry(lambda: client.log_figure(run_id, fig, "trajectory.png"))


def log_training(
    client: Any, run_id: str, cfg: DictConfig, result: TrainResult, hydra_dir: Path | None
) -> None:
    """A task's histories (train_loss, test_loss, test_accuracy on the evaluation grid), final
    metrics, and artifacts: `history.npz`, `history.png`, `config.yaml`, `.hydra/`."""
    tracking.log_histories(
        client,
        run_id,
        result.log_steps.tolist(),
        {
            "train_loss": result.train_loss.tolist(),
            "test_loss": result.test_loss.tolist(),
            "test_accuracy": result.test_accuracy.tolist(),
        },
    )
    finals = {
        f"final_{key}": result.final(key) for key in ("train_loss", "test_loss", "test_accuracy")
    }
    finals = {k: v for k, v in finals.items() if np.isfinite(v)}  # none before the first point
    finals["steps_per_second"] = result.steps_done / max(result.elapsed, 1e-9)
    finals["steps_done"] = float(result.steps_done)
    tracking.log_metrics(client, run_id, finals, step=result.steps_done)
    with tempfile.TemporaryDirectory() as folder:
        npz = Path(folder) / "history.npz"
        np.savez(
            npz,
            log_steps=result.log_steps,
            train_loss=result.train_loss,
            test_loss=result.test_loss,
            test_accuracy=result.test_accuracy,
        )
        tracking.log_files(
            client, run_id, [(npz, None), *_config_files(cfg, Path(folder), hydra_dir)]
        )
    if len(result.log_steps) == 0:  # stopped before the first evaluation: nothing to draw
        return
    from src.report.figures import training_figure  # matplotlib only once a job has a result
    from src.report.sweep import optimizer_label, task_label

    params = {k: str(v) for k, v in run_params(cfg).items()}
    fig = training_figure(result, f"{optimizer_label(params)}, {task_label(params)}")
    tracking.retry(lambda: client.log_figure(run_id, fig, "history.png"))


def _config_files(
    cfg: DictConfig, folder: Path, hydra_dir: Path | None
) -> list[tuple[Path, str | None]]:
    """`config.yaml` (the resolved job config) and a copy of Hydra's `.hydra/`, URI redacted."""
    config = folder / "config.yaml"
    config.write_text(OmegaConf.to_yaml(OmegaConf.create(_without_hydra(cfg))))
    files: list[tuple[Path, str | None]] = [(config, None)]
    if hydra_dir is not None and (hydra_dir / ".hydra").is_dir():
        files.append((_redacted_copy(hydra_dir / ".hydra", folder / ".hydra"), ".hydra"))
    return files


def _redacted_copy(source: Path, target: Path) -> Path:
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
    return target


def _without_hydra(cfg: DictConfig) -> dict[str, Any]:
    """The resolved job config as a dict: no `hydra` node, the URI redacted, and for a task none
    of the keys it does not read (fn, projection, ...)."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    tree.pop("hydra", None)
    tree["tracking"]["uri"] = tracking.redact(str(cfg.tracking.uri))
    if tree.get("task") is not None:
        for key in TASK_IGNORES:
            tree.pop(key, None)
    return tree
