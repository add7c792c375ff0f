"""How the report names what ran: optimizers, problems, models and datasets in words, the swept
dimensions of a sweep, line labels and panel titles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from src.report.runs import ChildRun

FN_NAMES = {"Periodic": "online", "Bernoulli": "stochastic"}  # a run without its `fn` option
MODEL_NAMES = {
    "LogisticRegression": "logistic regression",
    "MLP": "1-hidden-layer network",
    "CifarNet": "CIFARNET",
}
DATA_NAMES = {"Digits": "digits", "MNIST": "MNIST", "CIFAR10": "CIFAR-10"}
# a run's identity dimension -> its config group
SYMBOLS = {"optim.betas.0": "β₁", "optim.betas.1": "β₂", "optim.lr": "lr"}  # axis labels
IDENTITY = {
    "optimizer": "optim",
    "fn": "fn",
    "projection": "projection",
    "task": "task",
    "data": "data",
}
SET_BY = {"fn": ("replicates",)}  # top-level keys a group's option sets (a random fn: R = 10)
SEED = "seed"  # runs that differ only in it are one line (their mean, a band, how many)


def class_name(params: Mapping[str, str], node: str) -> str:
    """The class a node ran (`fn.class`: Periodic); a run logged before issue 28 has the node's
    `_target_` (`fn._target_`: src.problems.functions.Periodic) instead. '' if neither."""
    name = params.get(f"{node}.class") or params.get(f"{node}._target_", "")
    return name.rsplit(".", 1)[-1]


def optimizer_label(params: Mapping[str, str]) -> str:
    """'Adam', 'AMSGrad', or the optimizer's class name with its variant flag."""
    name = class_name(params, "optim") or "?"
    if params.get("optim.amsgrad") == "True":
        return "AMSGrad" if name == "Adam" else f"{name} (AMSGrad)"
    if params.get("optim.nesterov") == "True":
        return f"{name} (Nesterov)"
    return name


def fn_label(params: Mapping[str, str]) -> str:
    """The problem's option ('online', 'stochastic', 'periodic', ...), else its class's name."""
    name = class_name(params, "fn") or "?"
    return params.get("fn") or FN_NAMES.get(name, name)


def projection_label(params: Mapping[str, str]) -> str:
    """The projection's option ('box', 'ball_weighted'), else its class's name."""
    return params.get("projection") or class_name(params, "projection")


def model_label(params: Mapping[str, str]) -> str:
    """'logistic regression', '1-hidden-layer network', 'CIFARNET' or the model's class name."""
    name = class_name(params, "task.model")
    return MODEL_NAMES.get(name, name)


def data_label(params: Mapping[str, str]) -> str:
    """'digits', 'MNIST', 'CIFAR-10' or the data source's class name."""
    name = class_name(params, "data")
    return DATA_NAMES.get(name, name)


def task_label(params: dict[str, str]) -> str:
    """'logistic regression on MNIST'."""
    return f"{model_label(params)} on {data_label(params)}"


def dim_value(run: ChildRun, dim: str) -> str:
    """A run's value along a dimension: an identity label or a param ('' if missing)."""
    if dim == "optimizer":
        return optimizer_label(run.params)
    if dim in IDENTITY:  # fn, task, data: a label if this kind of run has that dimension
        label = run.kind.labels.get(dim)
        return label(run.params) if label else ""
    return run.params.get(dim, "")


def _determined(runs: Sequence[ChildRun], key: str, dim: str) -> bool:
    """Whether param `key` takes one value per value of identity dimension `dim`."""
    seen: dict[str, str | None] = {}
    for run in runs:
        if seen.setdefault(dim_value(run, dim), run.params.get(key)) != run.params.get(key):
            return False
    return True


def _override_order(overrides: str) -> list[str]:
    """The keys of a sweep's overrides, in the order given (`optim=adam,amsgrad lr=…`)."""
    keys = [item.split("=", 1)[0].lstrip("+~") for item in overrides.split() if "=" in item]
    return [{"optim": "optimizer"}.get(k, k) for k in keys]


def sweep_dimensions(runs: Sequence[ChildRun], overrides: str = "") -> list[str]:
    """The dimensions the sweep varies: 'optimizer' and 'fn' (labels, standing for every param of
    their group they determine), then every other varying param, in the sweep's override order."""
    logged = [r for r in runs if r.params]
    keys = sorted({k for r in logged for k in r.params})
    varying = [k for k in keys if len({r.params.get(k) for r in logged}) > 1]
    varying = [k for k in varying if not any(v.startswith(f"{k}.") for v in varying)]  # the items
    dims = []
    for dim, group in IDENTITY.items():
        if len({dim_value(r, dim) for r in logged}) > 1:
            dims.append(dim)
        varying = [
            k
            for k in varying
            if not (
                (k.startswith(f"{group}.") or k in SET_BY.get(group, ()))
                and _determined(logged, k, dim)
            )
        ]
    # a search's settings (`search.reference.*`, ...) differ between a trial and its reference
    # run only as their optimizer does: the optimizer's label says it
    varying = [
        k for k in varying if not (k.startswith("search.") and _determined(logged, k, "optimizer"))
    ]
    order = _override_order(overrides)
    varying.sort(key=lambda k: (order.index(k) if k in order else len(order), k))
    return dims + varying


def sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def short(key: str) -> str:
    """'optim.lr' -> 'lr', 'optim.betas.1' -> 'β₂', 'optim.eps.1' -> 'eps[1]', for labels."""
    if key in SYMBOLS:
        return SYMBOLS[key]
    parts = key.split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return f"{parts[-2]}[{parts[-1]}]"
    return parts[-1]


# ---------------------------------------------------------------------------- Figure 1


def _fn_dims(dims: Sequence[str]) -> list[str]:
    return [d for d in dims if d == "fn" or d.startswith("fn.")]


def line_label(run: ChildRun, dims: Sequence[str]) -> str:
    """The optimizer and every swept value that is not the problem's or the seed's."""
    extra = [
        f"{short(d)}={dim_value(run, d)}"
        for d in dims
        if d not in ("optimizer", SEED, *_fn_dims(dims))
    ]
    label = ", ".join([optimizer_label(run.params), *extra])
    return f"{label} ({run.status})" if run.failed else label


def problem_title(run: ChildRun) -> str:
    """The problem as the run described it (tag `problem`, its fn's `describe()`), after its
    option: 'online: 1010x once every 101 steps, else −10x'; a run logged without it: the
    option alone."""
    words = run.tags.get("problem")
    return f"{fn_label(run.params)}: {words}" if words else fn_label(run.params)
