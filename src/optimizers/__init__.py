"""The optimizers, one module per family, and the registry: the one list of families that every
table of optimizers is derived from.

A family module (`adam.py` for torch's Adam and AdamW, `yogi.py` for Yogi, …; `base` says what
each holds) has the torch class where torch.optim lacks one, the fast engine's rule for it (its
formula, slots `K_*`/`P_*`, its step in two halves around the square root), the name of the state
holding its second moment, and its registration. `FAMILIES` below lists them; from it come
`RULES` (a kernel code → its family, the fast engine's dispatch), `OPTIMIZERS` (a class → its
registration: the fast engine's variants) and `SECOND_MOMENTS` (the weighted projection).
Adding an optimizer: its module here, one line in `FAMILIES`, its YAML in `conf/optim/`, its test.

Shared parts: `base.py` (the `Variant`, the `Registration`, the kernel's slot counts, the zero-
denominator step), `numerics.py` (torch's scalar arithmetic: casts, fma, lerp, α_t),
`scalars.py` (the float64 per-step rules both a torch class and its rule call), `elementwise.py`
(the base of the torch classes written here).

Owns: every optimizer's update, as a torch class and as a compiled rule. Imports: torch, numba,
numpy, llvmlite; never hydra, omegaconf, mlflow, nor the engines or problems that use it.
"""

from __future__ import annotations

from types import ModuleType

from src.optimizers import (
    adabound,
    adagrad,
    adam,
    adamnc,
    adopt,
    amsgrad_paper,
    nadam,
    radam,
    rmsprop,
    sgd,
    yogi,
)
from src.optimizers.adabound import AdaBound
from src.optimizers.adamnc import AdamNC
from src.optimizers.adopt import ADOPT
from src.optimizers.amsgrad_paper import AdamX, AMSGradPaper
from src.optimizers.base import Registration
from src.optimizers.yogi import Yogi

__all__ = [
    "ADOPT",
    "FAMILIES",
    "OPTIMIZERS",
    "RULES",
    "SECOND_MOMENTS",
    "AMSGradPaper",
    "AdaBound",
    "AdamNC",
    "AdamX",
    "Yogi",
    "second_moment_name",
]

FAMILIES: tuple[ModuleType, ...] = (
    adam,
    sgd,
    adagrad,
    rmsprop,
    nadam,
    radam,
    amsgrad_paper,
    adamnc,
    yogi,
    adabound,
    adopt,
)

RULES: dict[int, ModuleType] = {code: family for family in FAMILIES for code in family.CODES}
OPTIMIZERS: dict[type, Registration] = {
    entry.cls: entry for family in FAMILIES for entry in family.OPTIMIZERS
}
# "module.Class" -> the state holding the diagonal V̂ its step divides by (or the function of its
# param group that names it)
SECOND_MOMENTS = {
    f"{cls.__module__}.{cls.__name__}": entry.second_moment
    for cls, entry in OPTIMIZERS.items()
    if entry.second_moment is not None
}


def second_moment_name(optimizer: object) -> str | None:
    """The state key of the diagonal V̂ whose root the optimizer's step divides by, or None if
    it has none (SGD) or its step does not divide by exactly that (RAdam before rectification,
    centered RMSprop, AdaBound's clipped step, ADOPT's previous v, Adamax's ∞-norm). The class
    must be registered exactly (a subclass may change the step)."""
    entry = OPTIMIZERS.get(type(optimizer))
    found = entry.second_moment if entry else None
    if callable(found):
        return found(optimizer.param_groups[0])  # type: ignore[attr-defined]
    return found
