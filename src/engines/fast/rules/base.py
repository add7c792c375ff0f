"""What every rule module shares: the `Variant` it builds from an optimizer's hyper-parameters,
the options that ask for the torch engine, and the adaptive step with its zero-denominator rule.

A rule module (one per optimizer family, named after it) holds, in this order:
- its kernel code(s) and the names of its slots: the state per replicate (torch's state names),
  the per-run constants `K_*` and the per-step scalars `P_*`, all in the run's dtype;
- `variant(kw)`: the optimizer's resolved keyword arguments → a `Variant`, or why not;
- `prepare(hyper, schedule, start, n, k, p)`: the constants k and the scalars p[i] of steps
  start..start+n−1, computed in float64 as torch computes them in Python (the rules shared with
  the torch classes come from `src.optimizers.scalars`), cast where torch casts them;
- `before_root(k, p, state, r, x, g)`: the update up to its square root; returns the radicand,
  or −1 when the step takes no root;
- `after_root(k, p, state, r, x, g, root)`: the rest of the update; returns the new x.

In the two steps, k and p are tuples of values (the kernel's copies of the constants and of
step t's scalars), indexed by the `K_*`/`P_*` names as the arrays are, and `r` runs over the
replicates in an inner loop that LLVM vectorises: a branch there must be one it can turn into a
select (no load or store under it), and no constant is read from an array the loop writes.

The three are inlined (numba `inline="always"`) into the dispatch of `rules/__init__.py`, which
is compiled and cached as one function per dtype, as a single file of rules would be: separate
compilation of each rule's functions doubled the first compile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from src.engines.fast.numerics import cast

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
    src.optimizers does. `wide`: the optimizer keeps v̂ in float64 too and takes the formula's
    step where v̂ underflowed under m ≠ 0 (src.optimizers.paper); this kernel's state cannot, so
    it stops there (NaN: the run ends early) and `run` hands the job to the reference engine."""
    if denom == 0:
        if wide and m != 0:
            return cast(k, math.nan)
        denom = cast(k, math.inf)
    return x + value * m / denom
