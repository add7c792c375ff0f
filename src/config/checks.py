"""Value checks on a composed config, before any compute and before anything reaches the store.

`validate(cfg)` raises `ConfigError` with ONE line naming the key, the value given and what is
allowed, e.g. ``optim.lr=-0.1: must be a number > 0``. It works on any DictConfig (the CLI's job
config, or one from the compose API). The schema (`src.config.schema`) has already rejected wrong
types and unknown keys in YAML files at compose time; this module checks ranges, cross-key
constraints, the keys added with `+key=value` (which Hydra force-adds past a schema), and each
group's keys against the signature of its `_target_`. With a task (`task=logreg data=mnist`) the
model must build for the dataset and the dataset's files must be in place (if not, one line says
which files to put where); fn and projection are then not read, so not checked.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.config import schema, vector_checks
from src.config.jobs import job_config
from src.config.limits import engine_limits
from src.config.task_checks import task_problems
from src.config.tracking_checks import environment_reads, tracking_problems
from src.config.values import (
    INT64_MAX,
    arguments,
    builds,
    choice,
    first_line,
    init_kwargs,
    integer,
    is_int,
    is_number,
    nested_targets,
    number,
    show,
    target_class,
    unknown_keys,
    user_folder_problems,
)

PROBLEM_PROTOCOL = ("coefficients", "expected_optimum")  # what every fn must define itself


class ConfigError(CompactHydraException, ValueError):
    """An invalid config value. The message is one line: key, value given, what is allowed."""


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) at the first invalid value of `cfg`; return None if valid."""
    for problem in problems(cfg):
        raise ConfigError(problem)


def problems(cfg: DictConfig) -> Iterator[str]:
    """One line per problem, in the order a reader meets the keys; stops early where later checks
    would only repeat an earlier failure."""
    if "hydra" in cfg:  # a config composed with return_hydra_config: check the job's part
        cfg = job_config(cfg)
    reads = list(environment_reads(OmegaConf.to_container(cfg, resolve=False)))
    if reads:  # before anything resolves them
        yield reads[0]
        return
    missing = [k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra.")]
    if missing:
        yield f"{missing[0]}: no value given (set it with {missing[0]}=...)"
        return
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except OmegaConfBaseException as error:
        yield (
            f"{getattr(error, 'full_key', None) or 'config'}: cannot resolve: {first_line(error)}"
        )
        return
    tree.pop("hydra", None)
    unknown = list(unknown_keys(tree, schema.Config, ""))
    if isinstance(tree.get("log"), dict):
        unknown += unknown_keys(tree["log"], schema.LogSchema, "log.")
    if unknown:
        yield from unknown
        return
    nested = list(nested_targets(tree))
    if nested:
        yield from nested
        return
    try:  # the types of the schema, for any DictConfig (a composed one already has them)
        OmegaConf.merge(OmegaConf.structured(schema.Config), cfg)
    except OmegaConfBaseException as error:
        yield f"{getattr(error, 'full_key', None) or 'config'}: {first_line(error)}"
        return
    yield from user_folder_problems()
    yield from _top_level(tree)
    yield from _optim(tree)
    if tree.get("task") is None:  # a task trains a model: fn and projection are not read
        bad = [*_fn(tree), *_projection(tree)]
        if not bad and not list(_optim(tree)):  # d dims, ball_weighted: src.config.vector_checks
            bad = list(vector_checks.problems(tree))
        yield from bad
        if not bad:
            yield from engine_limits(tree)
    yield from task_problems(tree)
    yield from _search(tree)
    yield from tracking_problems(tree)


# ------------------------------------------------------------------------------------ top level


def _top_level(tree: dict) -> Iterator[str]:
    yield from choice(tree, "dtype", schema.DType)
    yield from choice(tree, "engine", schema.Engine)
    node = tree.get("schedule")
    yield from choice(node if isinstance(node, dict) else {}, "name", schema.Schedule, "schedule.")
    yield from integer(tree, "steps", minimum=1, maximum=INT64_MAX)
    yield from integer(tree, "replicates", minimum=1)
    yield from integer(tree, "seed", minimum=0)
    yield from number(tree, "x0")
    yield from number(tree["log"], "progress_every_s", "log.", minimum=0)
    points, steps = tree["log"].get("points"), tree.get("steps")
    if not is_int(points) or points < 2:
        yield f"log.points={show(points)}: must be an integer >= 2"
    elif is_int(steps) and points > steps:
        yield f"log.points={points}: must be <= steps={steps} (there are only {steps} steps)"


# ------------------------------------------------------------------------------------ groups


def _optim(tree: dict) -> Iterator[str]:
    import torch  # noqa: PLC0415

    node = tree.get("optim")
    target = yield from target_class(
        node, "optim", torch.optim.Optimizer, "a torch.optim optimizer"
    )
    if target is None:
        return
    closure = inspect.signature(target.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        yield (
            f"optim._target_={show(node['_target_'])}: needs a closure that re-evaluates the "
            "loss at each step; the engines give one gradient a step (use a first-order optimizer)"
        )
        return
    if issubclass(target, torch.optim.SparseAdam):
        yield (
            f"optim._target_={show(node['_target_'])}: needs sparse gradients; the engines give "
            "dense ones (use torch.optim.Adam)"
        )
        return
    if node.get("_partial_") is not True:
        yield (
            f"optim._partial_={show(node.get('_partial_'))}: must be true (the optimizer "
            "is built over the run's parameter)"
        )
    yield from arguments(node, "optim", target, skip=("params",))
    if "lr" in node:
        yield from number(node, "lr", "optim.", positive=True)
    if "betas" in node:
        betas = node["betas"]
        if not isinstance(betas, (list, tuple)) or not betas:
            yield f"optim.betas={show(betas)}: must be a list of numbers in [0, 1)"
        for i, beta in enumerate(betas if isinstance(betas, (list, tuple)) else []):
            if not is_number(beta) or not 0 <= beta < 1:
                yield (
                    f"optim.betas[{i}]={show(beta)}: must be a number in [0, 1) "
                    f"(optim.betas={show(betas)})"
                )
    for key in ("eps", "weight_decay", "momentum", "dampening"):
        if key in node:
            yield from number(node, key, "optim.", minimum=0.0)
    yield from builds("optim", lambda: _build_optimizer(node, target))


def _build_optimizer(node: dict, target: type) -> None:
    import torch  # noqa: PLC0415

    kwargs = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in node.items()
        if not k.startswith("_")
    }
    target([torch.zeros(1, requires_grad=True)], **kwargs)


def _fn(tree: dict) -> Iterator[str]:
    from src.problems.functions import OnlineFunction  # noqa: PLC0415

    node = tree.get("fn")
    what = "an src.problems.functions.OnlineFunction"
    target = yield from target_class(node, "fn", OnlineFunction, what)
    if target is None:
        return
    lacks = [m for m in PROBLEM_PROTOCOL if getattr(target, m) is getattr(OnlineFunction, m)]
    if lacks:
        yield (
            f"fn._target_={show(node['_target_'])}: lacks {', '.join(lacks)} of the problem "
            "protocol (docs/extending.md)"
        )
        return
    bad = list(arguments(node, "fn", target))
    yield from bad
    if bad:
        return
    if "p" in node and not isinstance(node["p"], list):  # a list: per coordinate (its class)
        yield from number(node, "p", "fn.", minimum=0.0, maximum=1.0)
    if "period" in node and not isinstance(node["period"], list):
        yield from integer(node, "period", "fn.", minimum=1, maximum=INT64_MAX)
    for key in ("curvature", "noise"):  # b_t = curvature >= 0 keeps f_t convex; noise is a scale
        if key in node:
            yield from number(node, key, "fn.", minimum=0.0)
    built = yield from builds("fn", lambda: target(**init_kwargs(node)))
    p = getattr(built, "p", None)
    if p is not None and "p" not in node and not 0 <= p <= 1:
        given = ", ".join(f"fn.{k}={show(v)}" for k, v in init_kwargs(node).items())
        yield f"fn: {given} give the probability p={p:g}, which must be in [0, 1]"


def _projection(tree: dict) -> Iterator[str]:
    from src.problems.projections import Projection  # noqa: PLC0415

    node = tree.get("projection")
    what = "an src.problems.projections.Projection"
    target = yield from target_class(node, "projection", Projection, what)
    if target is None:
        return
    bad = list(arguments(node, "projection", target))
    yield from bad
    if bad:
        return
    if "radius" in node:
        yield from number(node, "radius", "projection.", positive=True)
    if "low" in node and "high" in node:
        low, high = node["low"], node["high"]
        if not (is_number(low) and is_number(high) and low < high):
            yield (
                f"projection.low={show(low)}, projection.high={show(high)}: "
                "need numbers with low < high"
            )
    yield from builds("projection", lambda: target(**init_kwargs(node)))


def _search(tree: dict) -> Iterator[str]:
    """A search trial's objective, and its reference optimizer checked as `optim` is."""
    node = tree.get("search")
    if node is None:
        return
    if tree.get("task") is not None:
        yield "search: a search runs the synthetic fn problems, not a task (drop task)"
    yield from choice(node, "objective", schema.Objective, "search.")
    if node.get("reference") is not None:
        for line in _optim({**tree, "optim": node["reference"]}):
            yield f"search.reference{line.removeprefix('optim')}" if line[:5] == "optim" else line
