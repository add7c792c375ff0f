"""A job's config turned into what runs: its checks, its spec (a `RunSpec` for an online problem,
a `TrainSpec` for a task), its optimizer factory, and the engine that runs it.

Knows the config (a DictConfig; no Hydra runtime needed) and the engines; nothing of MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from src import precomputed
from src.config.checks import ConfigError, validate
from src.config.schema import TASK_IGNORES, DType, Engine, Schedule
from src.engines import fast as fast_engine
from src.engines import reference
from src.engines.result import Result
from src.engines.spec import RunSpec
from src.engines.training import TrainSpec, train
from src.tasks.datasets import DatasetError

DTYPES = {DType.float32: torch.float32, DType.float64: torch.float64}
TORCH_THREADS = torch.get_num_threads()  # torch's default, before a job sets its own
TASK_KEYS = ("task", "data")  # null unless the job trains a model


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
    """The online run: a deterministic problem runs one replicate whatever `replicates` asks
    (its copies would be identical: `notes` says so)."""
    fn = build(cfg.fn)
    return RunSpec(
        fn=fn,
        projection=build(cfg.projection),
        steps=int(cfg.steps),
        replicates=int(cfg.replicates) if getattr(fn, "random", False) else 1,
        seed=int(cfg.seed),
        x0=float(cfg.x0),
        dtype=DTYPES[DType(cfg.dtype)],
        log_points=int(cfg.log.points),
    )


def notes(cfg: DictConfig) -> list[str]:
    """What a valid job runs otherwise than it asks, one line each (printed as warnings):
    replicates of a deterministic problem run once."""
    if cfg.get("task") is not None or int(cfg.replicates) == 1:
        return []
    if getattr(build(cfg.fn), "random", False):
        return []
    return [
        f"replicates={cfg.replicates}: fn {class_name(cfg.fn)} is deterministic, its "
        "replicates would be identical copies: one replicate runs"
    ]


def class_name(node: DictConfig) -> str:
    """A group node's class name, from its `_target_`."""
    return str(node.get("_target_", "?")).rsplit(".", 1)[-1]


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
    result). A job computed ahead in a batch (`src.batched`) takes its result instead."""
    ready = precomputed.take(cfg)
    if ready is not None:
        return "torch", ready
    schedule = Schedule(cfg.schedule.name).value
    if engine_for(cfg, spec) == "fast":  # it may hand the job to torch (result.info["engine"])
        result = fast_engine.run(spec, optimizer_factory(cfg), schedule, progress)
        return result.info.get("engine", "fast"), result
    result = reference.run(
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
