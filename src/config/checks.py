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

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.config import schema, vector_checks
from src.config.jobs import job_config


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
    missing = [k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra.")]
    if missing:
        yield f"{missing[0]}: no value given (set it with {missing[0]}=...)"
        return
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except OmegaConfBaseException as error:
        yield (
            f"{getattr(error, 'full_key', None) or 'config'}: cannot resolve: {_first_line(error)}"
        )
        return
    tree.pop("hydra", None)
    unknown = list(_unknown(tree, schema.Config, ""))
    if isinstance(tree.get("log"), dict):
        unknown += _unknown(tree["log"], schema.LogSchema, "log.")
    if unknown:
        yield from unknown
        return
    nested = list(_nested_targets(tree))
    if nested:
        yield from nested
        return
    try:  # the types of the schema, for any DictConfig (a composed one already has them)
        OmegaConf.merge(OmegaConf.structured(schema.Config), cfg)
    except OmegaConfBaseException as error:
        yield f"{getattr(error, 'full_key', None) or 'config'}: {_first_line(error)}"
        return
    yield from _top_level(tree)
    yield from _optim(tree)
    if tree.get("task") is None:  # a task trains a model: fn and projection are not read
        bad = [*_fn(tree), *_projection(tree)]
        if not bad and not list(_optim(tree)):  # d dims, ball_weighted: src.config.vector_checks
            bad = list(vector_checks.problems(tree))
        yield from bad
        if not bad:
            yield from _engine_limits(tree)
    yield from _task(tree)
    yield from _tracking(tree)


# ------------------------------------------------------------------------------------ top level


def _top_level(tree: dict) -> Iterator[str]:
    yield from _choice(tree, "dtype", schema.DType)
    yield from _choice(tree, "engine", schema.Engine)
    node = tree.get("schedule")
    yield from _choice(node if isinstance(node, dict) else {}, "name", schema.Schedule, "schedule.")
    yield from _integer(tree, "steps", minimum=1, maximum=INT64_MAX)
    yield from _integer(tree, "replicates", minimum=1)
    yield from _integer(tree, "seed", minimum=0)
    yield from _number(tree, "x0")
    points, steps = tree["log"].get("points"), tree.get("steps")
    if not _is_int(points) or points < 2:
        yield f"log.points={_show(points)}: must be an integer >= 2"
    elif _is_int(steps) and points > steps:
        yield f"log.points={points}: must be <= steps={steps} (there are only {steps} steps)"


INT64_MAX = 2**63 - 1
GENERATOR_BYTES = 8 << 10  # a replicate's torch.Generator (mt19937 state) and its Python object


def _engine_limits(tree: dict) -> Iterator[str]:
    """What the engines need of valid values: x0 in F, every gradient finite in the run's dtype,
    every replicate's buffers in the machine's available memory."""
    import torch  # noqa: PLC0415

    fn = get_object(tree["fn"]["_target_"])(**_kwargs(tree["fn"]))
    projection = get_object(tree["projection"]["_target_"])(**_kwargs(tree["projection"]))
    low, high = projection.bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = fn.domain  # as RunSpec.comparator_bounds
    x0 = tree.get("x0")
    if _is_number(x0) and not low <= x0 <= high:
        yield (
            f"x0={_show(x0)}: must be in F = [{low:g}, {high:g}] (the projection's set; with "
            "projection=none, the fn's domain)"
        )
    dtype = torch.float32 if tree.get("dtype") == "float32" else torch.float64
    largest = torch.finfo(dtype).max
    bound = fn.gradient_bound(low, high)
    if bound is not None and not bound < largest:
        yield (
            f"fn: its gradient reaches {bound:.3g}, beyond the largest {tree.get('dtype')} "
            f"({largest:.3g}) (lower fn's values, or dtype=float64)"
        )
    elif bound is not None and _is_int(tree.get("steps")) and not bound * tree["steps"] < 1e307:
        yield (
            f"fn: its gradient {bound:.3g} summed over steps={tree['steps']} overflows the "
            "float64 regret (lower fn's values or steps)"
        )
    yield from _memory(tree, dtype.itemsize)


def replicate_bytes(itemsize: int, log_points: int) -> int:
    """Bytes a replicate takes in the engines: per CHUNK steps its float64 coefficients a and b,
    its uniform or normal draws and their stacked copy, its iterates and their cast in the run's
    dtype; its logged x and regret (float64, twice: the engine's and the result's);
    its generator."""
    from src.problems.functions import CHUNK  # noqa: PLC0415

    return CHUNK * (4 * 8 + 2 * itemsize) + log_points * 4 * 8 + GENERATOR_BYTES


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _memory(tree: dict, itemsize: int) -> Iterator[str]:
    replicates, points = tree.get("replicates"), tree["log"].get("points")
    available = available_memory()
    if not (_is_int(replicates) and _is_int(points)) or available is None:
        return
    each = replicate_bytes(itemsize, points)
    if replicates * each > available:
        yield (
            f"replicates={replicates}: needs about {replicates * each / 2**30:.1f} GiB "
            f"({each / 2**20:.1f} MiB a replicate), more than the {available / 2**30:.1f} GiB "
            f"this machine has available; at most {available // each} here"
        )


def _tracking(tree: dict) -> Iterator[str]:
    tracking = tree.get("tracking")
    if not isinstance(tracking, dict):
        yield f"tracking={_show(tracking)}: must be a mapping with keys uri, experiment"
        return
    from src.tracking.store import redact  # noqa: PLC0415

    for key in ("uri", "experiment"):
        value = tracking.get(key)
        if not isinstance(value, str) or not value.strip():
            shown = redact(value) if isinstance(value, str) else _show(value)
            yield f"tracking.{key}={shown!r}: must be a non-empty string"
    why = uri_password_error(tracking.get("uri"))
    if why:
        yield why


def uri_password_error(uri: Any) -> str | None:
    """One line if `uri` carries a password (it would land in Hydra's files, logs and the store),
    saying how to pass it instead; None otherwise."""
    from src.tracking.store import carries_password, redact  # noqa: PLC0415

    if not isinstance(uri, str) or not carries_password(uri):
        return None
    return (
        f"tracking.uri={redact(uri)!r}: carries a password; pass it through the environment "
        "instead: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an MLflow server, "
        "PGPASSWORD or ~/.pgpass for PostgreSQL (MySQL: an option file)"
    )


# ------------------------------------------------------------------------------------ groups

TARGET_NODES = ("optim", "fn", "projection", "data", "task.model")  # the only ones instantiated


def _nested_targets(node: Any, path: str = "") -> Iterator[str]:
    """Every `_target_` that is not a group's own (TARGET_NODES), at any depth: Hydra would
    instantiate it (import and call anything), so it is refused before anything runs."""
    if isinstance(node, dict):
        for key, value in node.items():
            name = f"{path}.{key}" if path else str(key)
            if key == "_target_" and path not in TARGET_NODES:
                yield (
                    f"{name}={_show(value)}: only a group's own _target_ is allowed "
                    f"({', '.join(k + '._target_' for k in TARGET_NODES)}); no config may "
                    "name code to call"
                )
            else:
                yield from _nested_targets(value, name)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nested_targets(value, f"{path}[{i}]")


def _optim(tree: dict) -> Iterator[str]:
    import torch  # noqa: PLC0415

    node = tree.get("optim")
    target = yield from _target(node, "optim", torch.optim.Optimizer, "a torch.optim optimizer")
    if target is None:
        return
    closure = inspect.signature(target.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        yield (
            f"optim._target_={_show(node['_target_'])}: needs a closure that re-evaluates the "
            "loss at each step; the engines give one gradient a step (use a first-order optimizer)"
        )
        return
    if issubclass(target, torch.optim.SparseAdam):
        yield (
            f"optim._target_={_show(node['_target_'])}: needs sparse gradients; the engines give "
            "dense ones (use torch.optim.Adam)"
        )
        return
    if node.get("_partial_") is not True:
        yield (
            f"optim._partial_={_show(node.get('_partial_'))}: must be true (the optimizer "
            "is built over the run's parameter)"
        )
    yield from _arguments(node, "optim", target, skip=("params",))
    if "lr" in node:
        yield from _number(node, "lr", "optim.", positive=True)
    if "betas" in node:
        betas = node["betas"]
        if not isinstance(betas, (list, tuple)) or not betas:
            yield f"optim.betas={_show(betas)}: must be a list of numbers in [0, 1)"
        for i, beta in enumerate(betas if isinstance(betas, (list, tuple)) else []):
            if not _is_number(beta) or not 0 <= beta < 1:
                yield (
                    f"optim.betas[{i}]={_show(beta)}: must be a number in [0, 1) "
                    f"(optim.betas={_show(betas)})"
                )
    for key in ("eps", "weight_decay", "momentum", "dampening"):
        if key in node:
            yield from _number(node, key, "optim.", minimum=0.0)
    yield from _builds("optim", lambda: _build_optimizer(node, target))


def _build_optimizer(node: dict, target: type) -> None:
    import torch  # noqa: PLC0415

    import src.optimizers  # noqa: F401, PLC0415  (building it then skips torch._dynamo's import)

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
    target = yield from _target(node, "fn", OnlineFunction, what)
    if target is None:
        return
    bad = list(_arguments(node, "fn", target))
    yield from bad
    if bad:
        return
    if "p" in node and not isinstance(node["p"], list):  # a list: per coordinate (its class)
        yield from _number(node, "p", "fn.", minimum=0.0, maximum=1.0)
    if "period" in node and not isinstance(node["period"], list):
        yield from _integer(node, "period", "fn.", minimum=1, maximum=INT64_MAX)
    for key in ("curvature", "noise"):  # b_t = curvature >= 0 keeps f_t convex; noise is a scale
        if key in node:
            yield from _number(node, key, "fn.", minimum=0.0)
    built = yield from _builds("fn", lambda: target(**_kwargs(node)))
    p = getattr(built, "p", None)
    if p is not None and "p" not in node and not 0 <= p <= 1:
        given = ", ".join(f"fn.{k}={_show(v)}" for k, v in _kwargs(node).items())
        yield f"fn: {given} give the probability p={p:g}, which must be in [0, 1]"


def _projection(tree: dict) -> Iterator[str]:
    from src.problems.projections import Projection  # noqa: PLC0415

    node = tree.get("projection")
    what = "an src.problems.projections.Projection"
    target = yield from _target(node, "projection", Projection, what)
    if target is None:
        return
    bad = list(_arguments(node, "projection", target))
    yield from bad
    if bad:
        return
    if "radius" in node:
        yield from _number(node, "radius", "projection.", positive=True)
    if "low" in node and "high" in node:
        low, high = node["low"], node["high"]
        if not (_is_number(low) and _is_number(high) and low < high):
            yield (
                f"projection.low={_show(low)}, projection.high={_show(high)}: "
                "need numbers with low < high"
            )
    yield from _builds("projection", lambda: target(**_kwargs(node)))


def _task(tree: dict) -> Iterator[str]:
    """A task (model + dataset) or none; with a task, its dataset's files must be in place."""
    task, data = tree.get("task"), tree.get("data")
    if task is None:
        if data is not None:
            shown = data.get("_target_") if isinstance(data, dict) else data
            yield (
                f"data={_show(shown)}: a dataset is only read by a task "
                "(set task=logreg, mlp or cifarnet, or drop data)"
            )
        return
    if not isinstance(task, dict):
        yield f"task={_show(task)}: must be a task config (task=logreg, mlp or cifarnet)"
        return
    yield from _unknown(task, schema.TaskSchema, "task.")
    for key, minimum in (("batch_size", 1), ("eval_batch_size", 1), ("threads", 0)):
        yield from _integer(task, key, "task.", minimum=minimum)
    yield from _device(task.get("device"))
    if tree.get("replicates") != 1:
        yield (
            f"replicates={_show(tree.get('replicates'))}: a task trains one model per job "
            "(sweep seed=0,1,2 for repeats)"
        )
    source = yield from _data(data)
    if source is not None:
        yield from _model(task.get("model"), source)


def _device(device: Any) -> Iterator[str]:
    import torch  # noqa: PLC0415

    try:
        kind = torch.device(device).type if isinstance(device, str) else None
    except RuntimeError:
        kind = None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if kind not in available:
        yield f"task.device={_show(device)}: must be a torch device: cpu, cuda, cuda:N or mps"
    elif not available[kind]:
        yield f"task.device={_show(device)}: torch {torch.__version__} sees no {kind} device here"


def _data(node: Any) -> Iterator[str]:
    """The task's `src.tasks.datasets.DataSource`, or None after yielding why it is not usable (a
    missing file is one line saying which files to put where)."""
    from src.tasks.datasets import DataSource  # noqa: PLC0415

    if node is None:
        yield "data: a task needs a dataset (set data=digits, mnist or cifar10)"
        return None
    target = yield from _target(node, "data", DataSource, "an src.tasks.datasets.DataSource")
    if target is None:
        return None
    bad = list(_arguments(node, "data", target))
    yield from bad
    if bad:
        return None
    source = yield from _builds("data", lambda: target(**_kwargs(node)))
    why = source.missing() if source is not None else None
    if why:
        yield why
    return None if why else source


def _model(node: Any, source: Any) -> Iterator[str]:
    """task.model must build for the dataset's input shape and give one logit per class."""
    import torch  # noqa: PLC0415

    target = yield from _target(node, "task.model", torch.nn.Module, "a model of src.tasks.models")
    if target is None:
        return
    bad = list(_arguments(node, "task.model", target, skip=("input_shape", "classes")))
    yield from bad
    if bad:
        return
    for key in ("hidden", "channels", "kernel", "fc1", "fc2"):
        if key in node:
            yield from _integer(node, key, "task.model.", minimum=1)
    if "dropout" in node:
        yield from _number(node, "dropout", "task.model.", minimum=0.0, maximum=1.0)
    shape, classes = tuple(source.input_shape), source.classes
    model = yield from _builds("task.model", lambda: target(shape, classes, **_kwargs(node)).eval())
    if model is None:
        return
    try:
        with torch.no_grad():
            out_shape = tuple(model(torch.zeros(2, *shape)).shape)
    except Exception as error:  # noqa: BLE001  (any failure of the forward pass reads the same)
        name = type(source).__name__
        yield f"task.model: cannot take {name}'s inputs {shape}: {_first_line(error)}"
        return
    if out_shape != (2, classes):
        yield f"task.model: gives outputs of shape {out_shape[1:]} per example, not {classes}"


# ------------------------------------------------------------------------------------ helpers


def _target(node: Any, group: str, base: type, what: str) -> Iterator[str]:
    """The class `node._target_` names, or None after yielding why it is not usable."""
    if not isinstance(node, dict):
        yield f"{group}={_show(node)}: must be a config with a _target_"
        return None
    name = node.get("_target_")
    try:
        target = get_object(str(name))
    except Exception:  # noqa: BLE001  (any import failure reads the same to the user)
        yield f"{group}._target_={_show(name)}: cannot import it; must name {what}"
        return None
    if not (isinstance(target, type) and issubclass(target, base)):
        yield f"{group}._target_={_show(name)}: must name {what}"
        return None
    return target


def _arguments(node: dict, group: str, target: type, skip: tuple[str, ...] = ()) -> Iterator[str]:
    """Every key of `node` must be an argument of `target`, of the annotated type."""
    signature = inspect.signature(target.__init__)
    params = {k: p for k, p in signature.parameters.items() if k != "self" and k not in skip}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    try:
        hints = typing.get_type_hints(target.__init__)
    except Exception:  # noqa: BLE001  (unresolvable annotations: check names only)
        hints = {}
    for key, value in node.items():
        if key.startswith("_"):
            continue
        if key not in params:
            yield (
                f"{group}.{key}={_show(value)}: not an argument of {node['_target_']} "
                f"(its arguments: {', '.join(params)})"
            )
        elif _is_bool_option(params[key], hints.get(key)) and not (
            isinstance(value, bool) or (value is None and params[key].default is None)
        ):
            yield f"{group}.{key}={_show(value)}: must be true or false"
        elif hints.get(key) is int and not _is_int(value):
            yield f"{group}.{key}={_show(value)}: must be an integer"
        elif hints.get(key) is float and not _is_number(value):
            yield f"{group}.{key}={_show(value)}: must be a number"
        elif hints.get(key) is float and isinstance(value, float) and not math.isfinite(value):
            yield f"{group}.{key}={_show(value)}: must be a finite number"


def _is_bool_option(param: inspect.Parameter, hint: Any) -> bool:
    """An argument annotated bool (or bool | None) or whose default is a bool."""
    return (
        hint is bool
        or (
            typing.get_origin(hint) in (typing.Union, types.UnionType)
            and bool in typing.get_args(hint)
        )
        or isinstance(param.default, bool)
    )


def _builds(group: str, build: Any) -> Iterator[str]:
    """Construct the group's object; a rejection by its constructor becomes one line."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001  (the constructor's own check, relayed)
        yield f"{group}: rejected by its constructor: {_first_line(error)}"
        return None


def _unknown(node: dict, schema_class: type, prefix: str) -> Iterator[str]:
    known = [f.name for f in dataclasses.fields(schema_class)]
    for key, value in node.items():
        if key not in known:
            yield f"{prefix}{key}={_show(value)}: unknown key (allowed: {', '.join(known)})"


def _choice(node: dict, key: str, kind: type[Enum], prefix: str = "") -> Iterator[str]:
    value = node.get(key)
    if value not in {member.value for member in kind}:
        allowed = ", ".join(member.value for member in kind)
        yield f"{prefix}{key}={_show(value)}: must be one of {allowed}"


def _integer(
    node: dict,
    key: str,
    prefix: str = "",
    minimum: int | None = None,
    maximum: int | None = None,
) -> Iterator[str]:
    value = node.get(key)
    low = _is_int(value) and minimum is not None and value < minimum
    high = _is_int(value) and maximum is not None and value > maximum
    if high:
        yield f"{prefix}{key}={_show(value)}: must be an integer <= {maximum} (int64)"
    elif not _is_int(value) or low:
        yield f"{prefix}{key}={_show(value)}: must be an integer" + (
            f" >= {minimum}" if minimum is not None else ""
        )


def _number(
    node: dict,
    key: str,
    prefix: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Iterator[str]:
    value = node.get(key)
    ok = _is_number(value) and math.isfinite(value)
    if positive:
        ok, allowed = ok and value > 0, "a number > 0"
    elif minimum is not None and maximum is not None:
        ok, allowed = ok and minimum <= value <= maximum, f"a number in [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        ok, allowed = ok and value >= minimum, f"a number >= {minimum:g}"
    else:
        allowed = "a finite number"
    if not ok:
        yield f"{prefix}{key}={_show(value)}: must be {allowed}"


def _kwargs(node: dict) -> dict:
    return {k: v for k, v in node.items() if not k.startswith("_")}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
