"""Optimizers of the paper and its follow-ups that torch.optim lacks, as torch.optim classes.

Each is elementwise (any parameter shape; here a 1-D parameter of shape [R], R replicates), keeps
its state per parameter, counts t from 1, and reads `lr` from its param group at every step, so a
`torch.optim.lr_scheduler` (the `schedule` group) applies to it as to any torch optimizer. The torch
ops and their order are chosen so the fast engine (`src.engines.fast`) can reproduce them bit for
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
from collections.abc import Callable, Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

from src.optimizers.scalars import (
    adabound_bounds,
    adabound_step_size,
    adamx_ratio,
    adopt_clip,
    beta1_t,
)


class _Elementwise(Optimizer):
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


def _zeros(p: Tensor, *names: str) -> dict[str, Tensor]:
    return {name: torch.zeros_like(p, memory_format=torch.preserve_format) for name in names}


def _safe(denom: Tensor) -> Tensor:
    """denom with its zeros replaced by +inf: a 0/0 step becomes a zero step (module docstring)."""
    return denom.masked_fill_(denom == 0, math.inf)


WIDE = "exp_avg_sq_wide", "max_exp_avg_sq_wide"  # float64 copies of v and v̂ (module docstring)


def _wide_state(p: Tensor, names: tuple[str, ...] = WIDE) -> dict[str, Tensor]:
    """float64 copies of v (and v̂) for a parameter narrower than float64 (none for float64)."""
    if p.dtype == torch.float64:
        return {}
    return {name: torch.zeros_like(p, dtype=torch.float64) for name in names}


def _adaptive_step(p: Tensor, m: Tensor, denom: Tensor, lr: float, wide: Tensor | None) -> None:
    """x ← x − lr·m/denom, denom = √v̂ + eps; a zero denom is a zero step, unless v̂ underflowed
    under m ≠ 0 and `wide` (√v̂ + eps in float64) holds it: then the formula's step in float64."""
    lost = (denom == 0) & (m != 0) if wide is not None else None
    p.addcdiv_(m, _safe(denom), value=-lr)
    if lost is not None and bool(lost.any()):
        exact = p.double() - lr * m.double() / wide
        p.copy_(torch.where(lost, exact.to(p.dtype), p))


class AMSGradPaper(_Elementwise):
    r"""AMSGrad exactly as Algorithm 2 of Reddi, Kale & Kumar, "On the Convergence of Adam and
    Beyond" (ICLR 2018): no bias correction, eps 0 by default, the max on the raw v_t.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay; 1: β₁ₜ = β₁)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        v̂_t = max(v̂_{t−1}, v_t)
        x_{t+1} = x_t − α_t m_t / (√v̂_t + ε)            (√v̂_t + ε = 0: no step)

    α_t is the group's lr (α/√t with schedule=inv_sqrt, the paper's Theorem 4). With g_1 ≠ 0,
    v̂_t > 0 for every t, so eps = 0 is safe; PyTorch's `Adam(amsgrad=True)` differs by its bias
    corrections and eps.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.99),
        beta1_decay: float = 1.0,
        eps: float = 0.0,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "betas": tuple(betas), "beta1_decay": beta1_decay, "eps": eps}
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {**_zeros(p, "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), **_wide_state(p)}

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta2 = group["betas"][1]
        m, v, v_hat = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
        m.lerp_(g, 1 - beta1_t(group["betas"][0], group["beta1_decay"], t))
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        self._rescale_max(v_hat, group, t)
        torch.maximum(v_hat, v, out=v_hat)
        wide = None
        if WIDE[0] in state:  # the same recurrence in float64 (module docstring: underflow)
            v_wide, v_hat_wide, g_wide = state[WIDE[0]], state[WIDE[1]], g.double()
            v_wide.mul_(beta2).addcmul_(g_wide, g_wide, value=1 - beta2)
            self._rescale_max(v_hat_wide, group, t)
            torch.maximum(v_hat_wide, v_wide, out=v_hat_wide)
            wide = v_hat_wide.sqrt().add_(group["eps"])
        _adaptive_step(p, m, v_hat.sqrt().add_(group["eps"]), group["lr"], wide)

    def _rescale_max(self, v_hat: Tensor, group: dict, t: int) -> None:
        """What happens to v̂_{t−1} before the max: nothing here (AdamX rescales it)."""


class AdamNC(_Elementwise):
    r"""AdamNC, Algorithm 3 of Reddi, Kale & Kumar (ICLR 2018) with Corollary 2's schedule
    β₂ₜ = 1 − 1/t, so v_t is the plain mean of g_1², …, g_t²; no bias correction, no max.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = (1 − 1/t) v_{t−1} + (1/t) g_t²            v.mul_(1 − 1/t).addcmul_(g, g, 1/t)
        x_{t+1} = x_t − α_t m_t / (√v_t + ε)            (√v_t + ε = 0: no step)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        beta1: float = 0.9,
        beta1_decay: float = 1.0,
        eps: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "beta1": beta1, "beta1_decay": beta1_decay, "eps": eps})

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {**_zeros(p, "exp_avg", "exp_avg_sq"), **_wide_state(p, WIDE[:1])}  # v: no max

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - beta1_t(group["beta1"], group["beta1_decay"], t))
        v.mul_(1 - 1 / t).addcmul_(g, g, value=1 / t)
        wide = None
        if WIDE[0] in state:  # the same recurrence in float64 (module docstring: underflow)
            v_wide, g_wide = state[WIDE[0]], g.double()
            v_wide.mul_(1 - 1 / t).addcmul_(g_wide, g_wide, value=1 / t)
            wide = v_wide.sqrt().add_(group["eps"])
        _adaptive_step(p, m, v.sqrt().add_(group["eps"]), group["lr"], wide)


class AdamX(AMSGradPaper):
    r"""AdamX of Phuong & Phong, "On the Convergence Proof of AMSGrad and a New Version" (IEEE
    Access 2019): AMSGrad whose running max is rescaled when β₁ₜ decays; no bias correction.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        v̂_t = max((1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)² · v̂_{t−1}, v_t)   (v̂_0 = 0; the ratio is 1 at t = 1)
        x_{t+1} = x_t − α_t m_t / (√v̂_t + ε)           (√v̂_t + ε = 0: no step)

    With λ = 1 the ratio is exactly 1 and AdamX is `AMSGradPaper`.
    """

    def _rescale_max(self, v_hat: Tensor, group: dict, t: int) -> None:
        v_hat.mul_(adamx_ratio(group["betas"][0], group["beta1_decay"], t))


class Yogi(_Elementwise):
    r"""Yogi, Algorithm 2 of Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for
    Nonconvex Optimization" (NeurIPS 2018): Adam whose v moves additively, by (1−β₂)g_t² towards
    g_t², so after large gradients v shrinks slowly and the effective step α/√v grows slowly
    (Adam's v decays geometrically, and its step can jump).

    .. code-block:: text

        m_t = β₁ m_{t−1} + (1 − β₁) g_t                 m.lerp_(g, 1 − β₁)
        v_t = v_{t−1} − (1 − β₂) sign(v_{t−1} − g_t²) g_t²
                                     v.addcmul_(sign(v − g·g), g·g, value=−(1 − β₂))
        x_{t+1} = x_t − α_t m_t / (√v_t + ε)            (√v_t + ε = 0: no step)

    The paper's algorithm: no bias correction (the TensorFlow implementations add Adam's),
    m_0 = 0. ε = 1e-3 as in the paper's experiments; v_0 = initial_accumulator = 1e-6, the
    TensorFlow (Addons / Federated) default, so v_t > 0 from the start.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        initial_accumulator: float = 1e-6,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "initial_accumulator": initial_accumulator,
            },
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {
            "exp_avg": torch.zeros_like(p),
            "exp_avg_sq": torch.full_like(p, group["initial_accumulator"]),
        }

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)
        g2 = g * g
        v.addcmul_(torch.sign(v - g2), g2, value=-(1 - beta2))
        p.addcdiv_(m, _safe(v.sqrt().add_(group["eps"])), value=-group["lr"])


class AdaBound(_Elementwise):
    r"""AdaBound of Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of
    Learning Rate" (ICLR 2019), as in the authors' code (github.com/Luolc/AdaBound): Adam's
    bias-corrected step size, clipped per coordinate into [η_l(t), η_u(t)] → final_lr.

    .. code-block:: text

        m_t = β₁ m_{t−1} + (1 − β₁) g_t                 m.mul_(β₁).add_(g, alpha=1 − β₁)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        η   = α_t √(1 − β₂ᵗ) / (1 − β₁ᵗ)                (Python float)
        α*  = final_lr · α_t / α                        (final_lr follows the lr schedule)
        η_l(t) = α* (1 − 1/(γt + 1)),  η_u(t) = α* (1 + 1/(γt))
        x_{t+1} = x_t − clip(η / (√v_t + ε), η_l(t), η_u(t)) · m_t

    The paper's Algorithm 2 has no bias correction, uses η_t/√t and writes γ as 1 − β₂; the code
    (this class) has bias correction and a separate γ (default 1e-3 = 1 − 0.999). With
    schedule=inv_sqrt, α_t = α/√t scales both the step and the bounds: the paper's η̂_t/√t.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(
            params,
            {"lr": lr, "betas": tuple(betas), "final_lr": final_lr, "gamma": gamma, "eps": eps},
        )
        for group in self.param_groups:
            group.setdefault("base_lr", group["lr"])  # α, before any schedule changes lr

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return _zeros(p, "exp_avg", "exp_avg_sq")

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = v.sqrt().add_(group["eps"])
        step_size = adabound_step_size(group["lr"], beta1, beta2, t)
        lower, upper = adabound_bounds(
            group["final_lr"], group["lr"], group["base_lr"], group["gamma"], t
        )
        step = torch.full_like(denom, step_size).div_(denom).clamp_(lower, upper).mul_(m)
        p.sub_(step)


class ADOPT(_Elementwise):
    r"""ADOPT of Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any β₂ with the
    Optimal Rate" (NeurIPS 2024), as in the authors' code (github.com/iShohei220/adopt, with the
    clipping added there in Nov. 2024): g_t is normalised by the *previous* v before it enters m.

    .. code-block:: text

        t = 1:  v_1 = g_1²; x unchanged                 (the paper's v_0 = g_0²)
        t ≥ 2:  n_t = clip(g_t / max(√v_{t−1}, ε), c_t)      c_t = (t − 1)^clip_exponent
                m_t = β₁ m_{t−1} + (1 − β₁) n_t          m.lerp_(n, 1 − β₁)
                x_{t+1} = x_t − α_t m_t                  x.add_(m, alpha=−α_t)
                v_t = β₂ v_{t−1} + (1 − β₂) g_t²         v.mul_(β₂).addcmul_(g, g, 1 − β₂)

    clip(·, c) clamps to [−c, c]; the code's default clip_lambda is step**0.25 with its `step`
    = t − 1, the number of earlier gradients. clip_exponent = None is the unclipped original.
    No weight decay (the code's `weight_decay`, `decouple` are not implemented).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.9999),
        eps: float = 1e-6,
        clip_exponent: float | None = 0.25,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "betas": tuple(betas), "eps": eps, "clip_exponent": clip_exponent}
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return _zeros(p, "exp_avg", "exp_avg_sq")

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if t == 1:
            v.addcmul_(g, g)
            return
        normed = g.div(torch.clamp(v.sqrt(), min=group["eps"]))
        if group["clip_exponent"] is not None:
            clip = adopt_clip(group["clip_exponent"], t)
            normed.clamp_(-clip, clip)
        m.lerp_(normed, 1 - beta1)
        p.add_(m, alpha=-group["lr"])
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
