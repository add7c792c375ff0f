"""The one-line messages every check gives: a key, the value given, what is allowed.

Small generators shared by the checks of each group (`src.config.checks`, `src.config.limits`,
`src.config.task_checks`): each yields at most one line per problem, e.g.
``optim.lr=-0.1: must be a number > 0``; `target_class`, `arguments` and `builds` read a group's
`_target_`, its signature and its constructor's own rejection.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

INT64_MAX = 2**63 - 1

TARGET_NODES = (
    "optim",
    "fn",
    "projection",
    "data",
    "task.model",
    "search.reference",
)  # the only ones instantiated


def nested_targets(node: Any, path: str = "") -> Iterator[str]:
    """Every `_target_` that is not a group's own (TARGET_NODES), at any depth: Hydra would
    instantiate it (import and call anything), so it is refused before anything runs."""
    if isinstance(node, dict):
        for key, value in node.items():
            name = f"{path}.{key}" if path else str(key)
            if key == "_target_" and path not in TARGET_NODES:
                yield (
                    f"{name}={show(value)}: only a group's own _target_ is allowed "
                    f"({', '.join(k + '._target_' for k in TARGET_NODES)}); no config may "
                    "name code to call"
                )
            else:
                yield from nested_targets(value, name)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from nested_targets(value, f"{path}[{i}]")


def target_class(node: Any, group: str, base: type, what: str) -> Iterator[str]:
    """The class `node._target_` names, or None after yielding why it is not usable."""
    if not isinstance(node, dict):
        yield f"{group}={show(node)}: must be a config with a _target_"
        return None
    name = node.get("_target_")
    try:
        target = get_object(str(name))
    except Exception as error:  # noqa: BLE001  (any import failure is one line)
        why = import_failure(str(name), error)
        yield f"{group}._target_={show(name)}: cannot import it ({why}); must name {what}"
        return None
    if not (isinstance(target, type) and issubclass(target, base)):
        yield f"{group}._target_={show(name)}: must name {what}"
        return None
    return target


USER_ENV = "BREAKING_ADAM_USER_DIR"  # a user's own folders (hydra_plugins/breaking_adam_user)


def user_folder_problems() -> Iterator[str]:
    """A folder named by BREAKING_ADAM_USER_DIR that is not there (a typo would otherwise read as
    `Could not find 'optim/signsgd'`)."""
    for given in os.environ.get(USER_ENV, "").split(os.pathsep):
        if given.strip() and not Path(given).expanduser().is_dir():
            yield f"{USER_ENV}={given!r}: no such folder (docs/extending.md)"


def import_failure(name: str, error: BaseException) -> str:
    """Why `name` did not import, in a few words: a module that is nowhere on the path points
    at the user's folder switch."""
    cause = error.__cause__ or error
    if isinstance(cause, ModuleNotFoundError) and cause.name == name.split(".", maxsplit=1)[0]:
        return f"no module named {cause.name!r}; is its folder in {USER_ENV}?"
    return first_line(cause)


def arguments(node: dict, group: str, target: type, skip: tuple[str, ...] = ()) -> Iterator[str]:
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
                f"{group}.{key}={show(value)}: not an argument of {node['_target_']} "
                f"(its arguments: {', '.join(params)})"
            )
        elif is_bool_option(params[key], hints.get(key)) and not (
            isinstance(value, bool) or (value is None and params[key].default is None)
        ):
            yield f"{group}.{key}={show(value)}: must be true or false"
        elif hints.get(key) is int and not is_int(value):
            yield f"{group}.{key}={show(value)}: must be an integer"
        elif hints.get(key) is float and not is_number(value):
            yield f"{group}.{key}={show(value)}: must be a number"
        elif hints.get(key) is float and isinstance(value, float) and not math.isfinite(value):
            yield f"{group}.{key}={show(value)}: must be a finite number"


def is_bool_option(param: inspect.Parameter, hint: Any) -> bool:
    """An argument annotated bool (or bool | None) or whose default is a bool."""
    return (
        hint is bool
        or (
            typing.get_origin(hint) in (typing.Union, types.UnionType)
            and bool in typing.get_args(hint)
        )
        or isinstance(param.default, bool)
    )


def builds(group: str, build: Any) -> Iterator[str]:
    """Construct the group's object; a rejection by its constructor becomes one line."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001  (the constructor's own check, relayed)
        yield f"{group}: rejected by its constructor: {first_line(error)}"
        return None


def unknown_keys(node: dict, schema_class: type, prefix: str) -> Iterator[str]:
    known = [f.name for f in dataclasses.fields(schema_class)]
    for key, value in node.items():
        if key not in known:
            yield f"{prefix}{key}={show(value)}: unknown key (allowed: {', '.join(known)})"


def choice(node: dict, key: str, kind: type[Enum], prefix: str = "") -> Iterator[str]:
    value = node.get(key)
    if value not in {member.value for member in kind}:
        allowed = ", ".join(member.value for member in kind)
        yield f"{prefix}{key}={show(value)}: must be one of {allowed}"


def integer(
    node: dict,
    key: str,
    prefix: str = "",
    minimum: int | None = None,
    maximum: int | None = None,
) -> Iterator[str]:
    value = node.get(key)
    low = is_int(value) and minimum is not None and value < minimum
    high = is_int(value) and maximum is not None and value > maximum
    if high:
        yield f"{prefix}{key}={show(value)}: must be an integer <= {maximum} (int64)"
    elif not is_int(value) or low:
        yield f"{prefix}{key}={show(value)}: must be an integer" + (
            f" >= {minimum}" if minimum is not None else ""
        )


def number(
    node: dict,
    key: str,
    prefix: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Iterator[str]:
    value = node.get(key)
    ok = is_number(value) and math.isfinite(value)
    if positive:
        ok, allowed = ok and value > 0, "a number > 0"
    elif minimum is not None and maximum is not None:
        ok, allowed = ok and minimum <= value <= maximum, f"a number in [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        ok, allowed = ok and value >= minimum, f"a number >= {minimum:g}"
    else:
        allowed = "a finite number"
    if not ok:
        yield f"{prefix}{key}={show(value)}: must be {allowed}"


def init_kwargs(node: dict) -> dict:
    return {k: v for k, v in node.items() if not k.startswith("_")}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
