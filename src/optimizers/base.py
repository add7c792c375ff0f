"""What every family module holds, and the parts they share: the `Variant` a rule builds from an
optimizer's hyper-parameters, the `Registration` that names a class to the registry, the options
that ask for the torch engine, and the adaptive step with its zero-denominator rule.

A family module (`src/optimizers/<family>.py`, one per optimizer family, named after it) holds,
in this order:
- the torch class(es), where torch.optim has none (built on `elementwise.Elementwise`);
- its kernel code(s) `CODES` and the names of its slots: the state per replicate (torch's state
  names), the per-run constants `K_*` and the per-step scalars `P_*`, all in the run's dtype;
- `variant(kw)`: the optimizer's resolved keyword arguments → a `Variant`, or why not;
- `prepare(hyper, schedule, start, n, k, p)`: the constants k and the scalars p[i] of steps
  start..start+n−1, computed in float64 as torch computes them in Python (the rules shared with
  the torch classes come from `scalars`), cast where torch casts them;
- `before_root(code, k, p, state, r, x, g)`: the update up to its square root; returns the
  radicand, or −1 when the step takes no root;
- `after_root(code, k, p, state, r, x, g, root)`: the rest of the update; returns the new x;
- `OPTIMIZERS`: a `Registration` per class it implements (the class, its `variant`, the state
  holding its second moment V̂).

In the two steps `code` is the kernel code being run (a compile-time constant: a branch on it
folds away), k and p are tuples of values (the kernel's copies of the constants and of step t's
scalars), indexed by the `K_*`/`P_*` names as the arrays are, and `r` runs over the replicates
in an inner loop that LLVM vectorises: a branch there must be one it can turn into a select (no
load or store under it), and no constant is read from an array the loop writes.

The three are inlined (numba `inline="always"`) into the kernel's dispatch
(`src.engines.fast.dispatch`), compiled there for one code at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from src.optimizers.numerics import cast

SLOTS = 4  # state scalars per replicate, enough for every variant
CONSTS = 8  # per-run constants in the run's dtype (the kernel reads 8: loop._values)
PER_STEP = 8  # per-step scalars in the run's dtype (the kernel reads 8: loop._row)


@dataclass
class Variant:
    """An optimizer the kernel implements: its code, hyper-parameters and state slots."""

    code: int
    hyper: np.ndarray  # float64
    slots: int
    schedule: int = 0  # a SCHEDULES code
    initial: tuple[float, ...] = ()  # the state's first slots at t = 0 (cast to the dtype); else 0
    wide: bool = False  # the torch class keeps v̂ in float64 too (`adaptive_step`)


@dataclass(frozen=True)
class Registration:
    """A class the fast engine implements (exactly: a subclass may change the update), the builder
    of its `Variant`, and the state key of the diagonal V̂ its step divides by (None: it has none;
    a function of the param group where the options decide)."""

    cls: type
    variant: Callable[[dict], Variant | str]
    second_moment: str | Callable[[dict], str | None] | None = None


def hyper(*values: float) -> np.ndarray:
    """The hyper-parameters as the kernel reads them: float64, in the rule's documented order."""
    return np.array(values, np.float64)


def torch_only(kw: dict) -> str | None:
    """Why options of a torch.optim optimizer ask for the torch engine, or None."""
    if kw.get("maximize") or kw.get("capturable") or kw.get("differentiable"):
        return "maximize/capturable/differentiable are not supported"
    if kw.get("fused"):
        return (
            "fused=true is torch's fused kernel, whose rounding differs; the fast engine "
            "reproduces the default one"
        )
    if kw.get("foreach"):
        return (
            "foreach=true is torch's multi-tensor implementation; the fast engine reproduces "
            "the default for-loop one"
        )
    return None


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def adaptive_step(k, x, m, denom, value, wide):  # noqa: PLR0917
    """param.addcdiv_(m, denom, value) with a zero denom taken as +inf (a zero step), as
    the torch classes do (`elementwise`). `wide`: the optimizer keeps v̂ in float64 too and takes
    the formula's step where v̂ underflowed under m ≠ 0; the kernel's state cannot, so it stops
    there (NaN: the run ends early) and the engine hands the job to the reference engine."""
    if denom == 0:
        if wide and m != 0:
            return cast(k, math.nan)
        denom = cast(k, math.inf)
    return x + value * m / denom
