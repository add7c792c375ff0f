"""Checks of a task run (`task=logreg data=digits`): the task's keys, its device, the dataset's
files (a missing one is one line saying which files to put where), and a model that builds for the
dataset's inputs and gives one logit per class."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from src.config import schema
from src.config.values import (
    arguments,
    builds,
    first_line,
    init_kwargs,
    integer,
    number,
    show,
    target_class,
    unknown_keys,
)


def task_problems(tree: dict) -> Iterator[str]:
    """A task (model + dataset) or none; with a task, its dataset's files must be in place."""
    task, data = tree.get("task"), tree.get("data")
    if task is None:
        if data is not None:
            shown = data.get("_target_") if isinstance(data, dict) else data
            yield (
                f"data={show(shown)}: a dataset is only read by a task "
                "(set task=logreg, mlp or cifarnet, or drop data)"
            )
        return
    if not isinstance(task, dict):
        yield f"task={show(task)}: must be a task config (task=logreg, mlp or cifarnet)"
        return
    yield from unknown_keys(task, schema.TaskSchema, "task.")
    for key, minimum in (("batch_size", 1), ("eval_batch_size", 1), ("threads", 0)):
        yield from integer(task, key, "task.", minimum=minimum)
    yield from _device(task.get("device"))
    if tree.get("replicates") != 1:
        yield (
            f"replicates={show(tree.get('replicates'))}: a task trains one model per job "
            "(sweep seed=0,1,2 for repeats; a random fn sets replicates=10: pin fn=online)"
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
        yield f"task.device={show(device)}: must be a torch device: cpu, cuda, cuda:N or mps"
    elif not available[kind]:
        yield f"task.device={show(device)}: torch {torch.__version__} sees no {kind} device here"


def _data(node: Any) -> Iterator[str]:
    """The task's `src.tasks.datasets.DataSource`, or None after yielding why it is not usable (a
    missing file is one line saying which files to put where)."""
    from src.tasks.datasets import DataSource  # noqa: PLC0415

    if node is None:
        yield "data: a task needs a dataset (set data=digits, mnist or cifar10)"
        return None
    target = yield from target_class(node, "data", DataSource, "an src.tasks.datasets.DataSource")
    if target is None:
        return None
    bad = list(arguments(node, "data", target))
    yield from bad
    if bad:
        return None
    source = yield from builds("data", lambda: target(**init_kwargs(node)))
    why = source.missing() if source is not None else None
    if why:
        yield why
    return None if why else source


def _model(node: Any, source: Any) -> Iterator[str]:
    """task.model must build for the dataset's input shape and give one logit per class."""
    import torch  # noqa: PLC0415

    target = yield from target_class(
        node, "task.model", torch.nn.Module, "a model of src.tasks.models"
    )
    if target is None:
        return
    bad = list(arguments(node, "task.model", target, skip=("input_shape", "classes")))
    yield from bad
    if bad:
        return
    for key in ("hidden", "channels", "kernel", "fc1", "fc2"):
        if key in node:
            yield from integer(node, key, "task.model.", minimum=1)
    if "dropout" in node:
        yield from number(node, "dropout", "task.model.", minimum=0.0, maximum=1.0)
    shape, classes = tuple(source.input_shape), source.classes
    model = yield from builds(
        "task.model", lambda: target(shape, classes, **init_kwargs(node)).eval()
    )
    if model is None:
        return
    try:
        with torch.no_grad():
            out_shape = tuple(model(torch.zeros(2, *shape)).shape)
    except Exception as error:  # noqa: BLE001  (any failure of the forward pass reads the same)
        name = type(source).__name__
        yield f"task.model: cannot take {name}'s inputs {shape}: {first_line(error)}"
        return
    if out_shape != (2, classes):
        yield f"task.model: gives outputs of shape {out_shape[1:]} per example, not {classes}"
