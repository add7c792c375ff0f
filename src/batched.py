"""A sweep's jobs run as few computations (the batched launcher, `hydra/launcher=batched`).

Jobs that would run on the reference (torch) engine and differ only in values an elementwise
update carries per element — the optimizer's numeric hyper-parameters, the problem's parameters,
the seed — are grouped; each group of two or more runs as one pass of the loop over one batched
parameter (`src.engines.batched_loop`), once a probe has shown the optimizer elementwise. Each
result waits for its job (`src.precomputed`), whose run then logs it as if it had run alone.
Jobs on the fast engine, d-dimensional problems, tasks and singletons run job by job, as ever.

Knows the config and the engines; nothing of Hydra's runtime or MLflow.
"""

from __future__ import annotations

import json
import time
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from src import precomputed
from src.build import SYNTHETIC, build_spec, engine_for, optimizer_factory, optimizer_name
from src.config.schema import Schedule
from src.engines import batched_loop, vector_loop
from src.job import make_progress
from src.problems.functions import RandomStreams

NOT_COMPUTE = ("figures", "report", "progress_every_s")  # log keys that change no number
MAX_ELEMENTS = 256  # jobs × replicates in one pass: a chunk of coefficients is ≈ 130 MB (float64)


def signature(cfg: DictConfig) -> str | None:
    """What jobs of one batch share (their config without the seed, the fn but whether its loss is
    quadratic, and the optimizer's numbers), or None for a job that runs alone (a task,
    autograd, the fast engine, d dims)."""
    if cfg.get("task") is not None or cfg.autograd:
        return None
    spec = build_spec(cfg)
    if vector_loop.is_vector(spec) or engine_for(cfg, spec) != "torch":
        return None
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tree.pop("hydra", None)
    for key in ("seed", "tracking"):
        tree.pop(key, None)
    tree["fn"] = {"quadratic": spec.fn.coefficients(1, 1, RandomStreams(0, 1)).b is not None}
    tree["optim"] = {k: v for k, v in tree["optim"].items() if not _numeric(v)}
    tree["log"] = {k: v for k, v in tree["log"].items() if k not in NOT_COMPUTE}
    return json.dumps(tree, sort_keys=True, default=str)


def _numeric(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def precompute(configs: list[DictConfig]) -> list[str]:
    """Compute every batchable group of `configs` (the jobs' own configs) in one pass each and
    keep the results for their jobs; one line per group: what ran together, or why not."""
    groups: dict[str, list[DictConfig]] = {}
    for cfg in configs:
        sig = signature(cfg)
        if sig is not None:
            groups.setdefault(sig, []).append(cfg)
    lines = []
    torch.set_num_threads(1)  # as each job runs alone (src.job.run_job)
    for group in groups.values():
        width = max(1, MAX_ELEMENTS // int(group[0].replicates))  # jobs a pass holds
        for first in range(0, len(group), width):
            if len(group[first : first + width]) > 1:
                lines.append(_one_pass(group[first : first + width]))
    return lines


def _one_pass(group: list[DictConfig]) -> str:
    """Run `group` as one pass (its results kept for its jobs) once the probe passes; the line
    that says what happened. An error here leaves the jobs to run one by one, as ever."""
    target = str(group[0].optim._target_)
    try:
        factories = [optimizer_factory(cfg) for cfg in group]
        schedule = Schedule(group[0].schedule.name).value
        why = batched_loop.probe(factories, build_spec(group[0]).dtype, schedule)
        if why:
            return (f"batched: {len(group)} jobs of {target} run job by job: not elementwise "
                    f"with per-element hyper-parameters ({why})")  # fmt: skip
        began = time.perf_counter()
        specs = [build_spec(cfg) for cfg in group]
        every = float(group[0].log.get("progress_every_s", 10.0))
        name = f"{len(group)} jobs of {optimizer_name(group[0])} in one pass"
        progress, close = make_progress(specs[0].steps, SYNTHETIC.progress_every, every, name)
        try:
            results = batched_loop.run(specs, factories, schedule, progress)
        finally:
            close()
    except Exception as error:  # noqa: BLE001  (the jobs then run alone and report it themselves)
        text = str(error).strip()
        why = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:200]
        return f"batched: {len(group)} jobs of {target} run job by job: {why}"
    for cfg, result in zip(group, results, strict=True):
        precomputed.keep(cfg, result)
    return (
        f"batched: {len(group)} jobs of {optimizer_name(group[0])} in one pass "
        f"({time.perf_counter() - began:.1f} s); each logged as its own run"
    )
