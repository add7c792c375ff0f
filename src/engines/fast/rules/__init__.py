"""The update rules the fast engine implements, one module per optimizer family (`base` says what
each holds), and the kernel's dispatch on a rule's code: `prepare`, `before_root`, `after_root`
call that rule's functions (compiled once per code, the other branches folded away).

Owns: the arithmetic of each optimizer's step. Imports: numba, numpy, torch (the optimizer
classes it recognises), `src.optimizers`; never hydra, omegaconf or mlflow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import torch

from src.engines.fast.rules import (
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
from src.engines.fast.rules.base import CONSTS, PER_STEP, SLOTS, Variant
from src.optimizers import paper
from src.problems.schedules import SCHEDULES

__all__ = ["CONSTS", "PER_STEP", "SLOTS", "VARIANTS", "WIDE_MOMENT", "Variant", "variant"]

# the optimizer's class (exactly: a subclass may change the update) -> its rule's builder, from
# the optimizer's keyword arguments to a Variant, or why not
VARIANTS: dict[type, Callable[[dict], Variant | str]] = {
    torch.optim.Adam: adam.variant,
    torch.optim.AdamW: functools.partial(adam.variant, decoupled=True),
    torch.optim.SGD: sgd.variant,
    torch.optim.Adagrad: adagrad.variant,
    torch.optim.RMSprop: rmsprop.variant,
    torch.optim.NAdam: nadam.variant,
    torch.optim.RAdam: radam.variant,
    paper.AMSGradPaper: amsgrad_paper.variant,
    paper.AdamX: functools.partial(amsgrad_paper.variant, code=amsgrad_paper.ADAMX),
    paper.AdamNC: adamnc.variant,
    paper.Yogi: yogi.variant,
    paper.AdaBound: adabound.variant,
    paper.ADOPT: adopt.variant,
}
# rules whose torch class keeps v̂ in float64 too (src.optimizers.paper): a float32 run the kernel
# cannot finish goes to the reference engine
WIDE_MOMENT = (amsgrad_paper.AMSGRAD_PAPER, amsgrad_paper.ADAMX, adamnc.ADAMNC)


def variant(optimizer: torch.optim.Optimizer, schedule: str = "constant") -> Variant | str:
    """The fast engine's version of `optimizer` (its class, and its resolved hyper-parameters read
    from its param group, torch's defaults included), or a sentence saying why there is none."""
    kind = type(optimizer)
    if kind not in VARIANTS:
        names = ", ".join(sorted(cls.__name__ for cls in VARIANTS))
        name = f"{kind.__module__}.{kind.__name__}"
        return f"optimizer {name} is not implemented (supported: {names})"
    if len(optimizer.param_groups) != 1:
        return "only one parameter group is implemented"
    kw = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in optimizer.param_groups[0].items()
        if k != "params"
    }
    found = VARIANTS[kind](kw)
    if isinstance(found, Variant):
        found.schedule = SCHEDULES[schedule]
    return found


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def prepare(code, hyper, schedule, start, n, k, p):  # noqa: PLR0917
    """The rule's constants k and per-step scalars p[i] for steps start..start+n−1."""
    if code in (adam.ADAM, adam.AMSGRAD):
        adam.prepare(hyper, schedule, start, n, k, p)
    elif code == nadam.NADAM:
        nadam.prepare(hyper, schedule, start, n, k, p)
    elif code == radam.RADAM:
        radam.prepare(hyper, schedule, start, n, k, p)
    elif code == sgd.SGD:
        sgd.prepare(hyper, schedule, start, n, k, p)
    elif code == adagrad.ADAGRAD:
        adagrad.prepare(hyper, schedule, start, n, k, p)
    elif code == rmsprop.RMSPROP:
        rmsprop.prepare(hyper, schedule, start, n, k, p)
    elif code in (amsgrad_paper.AMSGRAD_PAPER, amsgrad_paper.ADAMX):
        amsgrad_paper.prepare(hyper, schedule, start, n, k, p)
    elif code == adamnc.ADAMNC:
        adamnc.prepare(hyper, schedule, start, n, k, p)
    elif code == yogi.YOGI:
        yogi.prepare(hyper, schedule, start, n, k, p)
    elif code == adabound.ADABOUND:
        adabound.prepare(hyper, schedule, start, n, k, p)
    elif code == adopt.ADOPT:
        adopt.prepare(hyper, schedule, start, n, k, p)


@numba.njit(cache=True, error_model="numpy")
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917, PLR0911
    """The update up to its square root: the radicand, or −1 if the step takes no root."""
    if code in (adam.ADAM, adam.AMSGRAD):
        return adam.before_root(code, k, p, state, r, x, g)
    if code == nadam.NADAM:
        return nadam.before_root(k, p, state, r, x, g)
    if code == radam.RADAM:
        return radam.before_root(k, p, state, r, x, g)
    if code == sgd.SGD:
        return sgd.before_root(k, p, state, r, x, g)
    if code == adagrad.ADAGRAD:
        return adagrad.before_root(k, p, state, r, x, g)
    if code == rmsprop.RMSPROP:
        return rmsprop.before_root(k, p, state, r, x, g)
    if code in (amsgrad_paper.AMSGRAD_PAPER, amsgrad_paper.ADAMX):
        return amsgrad_paper.before_root(code, k, p, state, r, x, g)
    if code == adamnc.ADAMNC:
        return adamnc.before_root(k, p, state, r, x, g)
    if code == yogi.YOGI:
        return yogi.before_root(k, p, state, r, x, g)
    if code == adabound.ADABOUND:
        return adabound.before_root(k, p, state, r, x, g)
    if code == adopt.ADOPT:
        return adopt.before_root(k, p, state, r, x, g)
    return -1.0


@numba.njit(cache=True, error_model="numpy")
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917, PLR0911
    """The rest of the update given root = √(radicand); the new (unprojected) x."""
    if code in (adam.ADAM, adam.AMSGRAD):
        return adam.after_root(k, p, state, r, x, g, root)
    if code == nadam.NADAM:
        return nadam.after_root(k, p, state, r, x, g, root)
    if code == radam.RADAM:
        return radam.after_root(k, p, state, r, x, g, root)
    if code == sgd.SGD:
        return sgd.after_root(k, p, state, r, x, g, root)
    if code == adagrad.ADAGRAD:
        return adagrad.after_root(k, p, state, r, x, g, root)
    if code == rmsprop.RMSPROP:
        return rmsprop.after_root(k, p, state, r, x, g, root)
    if code in (amsgrad_paper.AMSGRAD_PAPER, amsgrad_paper.ADAMX):
        return amsgrad_paper.after_root(k, p, state, r, x, g, root)
    if code == adamnc.ADAMNC:
        return adamnc.after_root(k, p, state, r, x, g, root)
    if code == yogi.YOGI:
        return yogi.after_root(k, p, state, r, x, g, root)
    if code == adabound.ADABOUND:
        return adabound.after_root(k, p, state, r, x, g, root)
    if code == adopt.ADOPT:
        return adopt.after_root(k, p, state, r, x, g, root)
    return x
