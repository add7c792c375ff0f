"""The base of the torch classes written here (the paper's optimizers and its follow-ups that
torch.optim lacks, each in its family module), and the tensor helpers they share.

Each is elementwise (any parameter shape; here a 1-D parameter of shape [R], R replicates), keeps
its state per parameter, counts t from 1, and reads `lr` from its param group at every step, so a
`torch.optim.lr_scheduler` (the `schedule` group) applies to it as to any torch optimizer. The torch
ops and their order are chosen so the family's rule (the fast engine's) can reproduce them bit for
bit; each docstring's pseudo-code gives the formula and, beside it, the torch op computing it.
The float64 scalar rules (β₁ₜ, AdamX's ratio, AdaBound's step size and bounds, ADOPT's clip) are
`src.optimizers.scalars`, compiled code the fast engine calls too.

A zero denominator (v̂ = 0, e.g. eps = 0 while every gradient so far was 0) gives a zero step:
the denominator is taken as +inf, so x is unchanged, instead of the 0/0 = NaN of the formula.

Underflow (AMSGradPaper, AdamX, AdamNC, whose eps is 0): in float32 a gradient below ~1e-19 has a
g² that rounds to 0 (g = 1e-30: g² = 1e-60), so v̂ = 0 although m ≠ 0, and the zero-denominator
rule would take a zero step where the formula's is α·m/√v̂ ≈ α·sign(g). For a parameter narrower
than float64 these optimizers also keep v (and v̂) in float64 (`exp_avg_sq_wide`,
`max_exp_avg_sq_wide`; g² ≥ 1e-308 there), and where the float32 denominator is 0 under m ≠ 0
the step is the formula's, computed in float64 and rounded once. Everywhere else the float32
arithmetic is untouched (bit for bit what it was). A float64 parameter has no wider state: there a
g below ~1e-154 still underflows, and takes a zero step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer


class Elementwise(Optimizer):
    """Base class: lazy per-parameter state, step counter t from 1, `_update` once per step."""

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        raise NotImplementedError

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state.update(self._init_state(p, group), step=0)
                state["step"] += 1
                self._update(p, p.grad, state, group, state["step"])
        return loss


def zeros(p: Tensor, *names: str) -> dict[str, Tensor]:
    """The named state tensors, zeros like p."""
    return {name: torch.zeros_like(p, memory_format=torch.preserve_format) for name in names}


def safe(denom: Tensor) -> Tensor:
    """denom with its zeros replaced by +inf: a 0/0 step becomes a zero step (module docstring)."""
    return denom.masked_fill_(denom == 0, math.inf)


WIDE = "exp_avg_sq_wide", "max_exp_avg_sq_wide"  # float64 copies of v and v̂ (module docstring)


def wide_state(p: Tensor, names: tuple[str, ...] = WIDE) -> dict[str, Tensor]:
    """float64 copies of v (and v̂) for a parameter narrower than float64 (none for float64)."""
    if p.dtype == torch.float64:
        return {}
    return {name: torch.zeros_like(p, dtype=torch.float64) for name in names}


def adaptive_update(p: Tensor, m: Tensor, denom: Tensor, lr: float, wide: Tensor | None) -> None:
    """x ← x − lr·m/denom, denom = √v̂ + eps; a zero denom is a zero step, unless v̂ underflowed
    under m ≠ 0 and `wide` (√v̂ + eps in float64) holds it: then the formula's step in float64."""
    lost = (denom == 0) & (m != 0) if wide is not None else None
    p.addcdiv_(m, safe(denom), value=-lr)
    if lost is not None and bool(lost.any()):
        exact = p.double() - lr * m.double() / wide
        p.copy_(torch.where(lost, exact.to(p.dtype), p))
