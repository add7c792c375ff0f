"""The fast engine: the whole time loop in compiled code (numba), over all replicates at once.

It consumes the same coefficient chunks from the same generators as the reference engine
(`runner.run_torch`) and does the same arithmetic as the torch.optim implementation it stands for,
in the run's dtype, operation for operation: a float32 run rounds every intermediate to float32
exactly as torch's CPU kernels do (hyper-parameters cast to float32 where torch casts them, bias
corrections computed in float64 as torch computes them in Python). Regret sums are float64.

Each supported optimizer is a `Variant`: an integer code dispatched inside the kernel, its
hyper-parameters as a float64 vector, and the number of state slots per replicate. The compiled
kernel is cached on disk (numba `cache=True`), so only the first run on a machine compiles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import torch
from omegaconf import DictConfig

from src.functions import CHUNK, RandomStreams
from src.regret import DIVERGED, FINISHED, INTERRUPTED, RunResult, log_grid
from src.runner import RunSpec
from src.schedules import SCHEDULES

ADAM, AMSGRAD = 0, 1


@dataclass
class Variant:
    """An optimizer the kernel implements: its code, hyper-parameters and state slots."""

    code: int
    hyper: np.ndarray  # float64
    slots: int
    schedule: int = 0  # a SCHEDULES code


def _adam(kw: dict) -> Variant | str:
    if kw.get("maximize") or kw.get("capturable") or kw.get("differentiable"):
        return "maximize/capturable/differentiable are not supported"
    if kw.get("decoupled_weight_decay"):
        return "decoupled_weight_decay is not supported"
    beta1, beta2 = kw.get("betas", (0.9, 0.999))
    hyper = np.array([kw.get("lr", 1e-3), beta1, beta2, kw.get("eps", 1e-8),
                      kw.get("weight_decay", 0.0)], np.float64)
    amsgrad = bool(kw.get("amsgrad", False))
    return Variant(AMSGRAD if amsgrad else ADAM, hyper, 3 if amsgrad else 2)


# `_target_` -> a builder from the optimizer's keyword arguments to a Variant, or why not.
VARIANTS: dict[str, Callable[[dict], Variant | str]] = {
    "torch.optim.Adam": _adam,
}


def variant(cfg: DictConfig) -> Variant | str:
    """The fast engine's version of `cfg.optim`, or a sentence saying why there is none."""
    target = str(cfg.optim._target_)
    if target not in VARIANTS:
        return f"optimizer {target} is not implemented (supported: {', '.join(sorted(VARIANTS))})"
    kw = {k: v for k, v in cfg.optim.items() if not str(k).startswith("_")}
    kw = {k: (tuple(v) if not isinstance(v, (int, float, str, bool, type(None))) else v)
          for k, v in kw.items()}
    found = VARIANTS[target](kw)
    if isinstance(found, Variant):
        found.schedule = SCHEDULES[cfg.get("schedule", {}).get("name", "constant")]
    return found


def unsupported(cfg: DictConfig, spec: RunSpec) -> str | None:
    """None if the fast engine can run this job, else why not (one sentence)."""
    found = variant(cfg)
    if isinstance(found, str):
        return found
    if spec.projection.kind not in (0, 1):
        return f"projection {type(spec.projection).__name__} is not implemented"
    if cfg.get("autograd", False):
        return "autograd=true asks for the torch engine"
    return None


def settings(cfg: DictConfig) -> Variant:
    found = variant(cfg)
    assert isinstance(found, Variant), found
    return found


def run_fast(spec: RunSpec, opt: Variant, progress: Callable[[int], None] | None = None
             ) -> RunResult:
    """Run `spec` with optimizer `opt` in the compiled kernel; same result layout as run_torch."""
    dt = np.float32 if spec.dtype == torch.float32 else np.float64
    R = spec.replicates
    x = np.full(R, spec.x0, dt)
    state = np.zeros((max(opt.slots, 1), R), dt)
    scratch = np.zeros(16, dt)
    sums = np.zeros((3, R), np.float64)  # Σ f_t(x_t), Σ a_t, Σ b_t
    grid = log_grid(spec.steps, spec.log_points)
    out_x = np.zeros((len(grid) + 1, R), np.float64)
    out_regret = np.zeros((len(grid) + 1, R), np.float64)
    low, high = spec.projection.bounds
    cmp_low, cmp_high = spec.comparator_bounds()
    streams = RandomStreams(spec.seed, R)
    pos, done, status, reason = 0, 0, FINISHED, ""
    began = time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, CHUNK):
            n = min(CHUNK, spec.steps - start + 1)
            coeffs = spec.fn.coefficients(start, n, streams)
            a = coeffs.a.numpy()
            b = np.zeros((1, 1)) if coeffs.b is None else coeffs.b.numpy()
            ran, pos = _run_chunk(opt.code, opt.hyper, opt.schedule, state, x, scratch, start, n,
                                  a, b, coeffs.b is not None, spec.projection.kind, low, high,
                                  cmp_low, cmp_high, sums, grid, pos, out_x, out_regret)
            done = start + ran - 1
            if progress:
                progress(ran)
            if ran < n:
                status, reason = DIVERGED, f"non-finite x or loss at step {done + 1}"
                break
    except KeyboardInterrupt:
        status, reason = INTERRUPTED, f"interrupted after step {done}"
    elapsed = time.perf_counter() - began
    regret = sums[0] - _best(sums[1], sums[2], cmp_low, cmp_high)
    steps = grid[:pos]
    xs, rs = out_x[:pos], out_regret[:pos]
    if status != FINISHED and done and (pos == 0 or grid[pos - 1] != done):
        steps = np.append(steps, done)
        xs = np.vstack([xs, x.astype(np.float64)])
        rs = np.vstack([rs, regret / done])
    if status == DIVERGED:  # the last good iterate is unknown after a non-finite step
        xs, rs = xs[: len(steps)], rs[: len(steps)]
    return RunResult(steps, xs, rs, x.astype(np.float64), regret, done, status, reason, elapsed)


def _best(A: np.ndarray, B: np.ndarray, low: float, high: float) -> np.ndarray:
    linear = np.where(A > 0, A * low, A * high)
    xq = np.clip(-A / np.where(B > 0, B, 1.0), low, high)
    return np.where(B > 0, A * xq + 0.5 * B * xq * xq, linear)


@numba.njit(cache=True)
def _best_scalar(A: float, B: float, low: float, high: float) -> float:
    if B > 0.0:
        xq = min(max(-A / B, low), high)
        return A * xq + 0.5 * B * xq * xq
    return A * low if A > 0.0 else A * high


@numba.njit(cache=True)
def _lerp(start, end, weight, one_minus_weight):  # torch's CPU lerp, in the operands' dtype
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


@numba.njit(cache=True)
def _prepare(code, hyper, schedule, t, c):
    """Per-step scalars in the run's dtype (c is a scratch array of that dtype), as torch casts."""
    lr = hyper[0] * (1.0 / math.sqrt(t) if schedule == 1 else 1.0)
    if code == ADAM or code == AMSGRAD:
        beta1, beta2 = hyper[1], hyper[2]
        bias1 = 1.0 - beta1**t
        bias2 = 1.0 - beta2**t
        c[0] = 1.0 - beta1  # lerp weight
        c[7] = 1.0 - c[0]  # torch: opmath(1) − weight, in the dtype
        c[1] = beta2
        c[2] = 1.0 - beta2
        c[3] = bias2**0.5
        c[4] = hyper[3]  # eps
        c[5] = -(lr / bias1)  # addcdiv value
        c[6] = hyper[4]  # weight decay


@numba.njit(cache=True)
def _step(code, c, state, r, x, g):
    """One update of replicate r from gradient g; returns the new (unprojected) x."""
    if code == ADAM or code == AMSGRAD:
        if c[6] != 0:
            g = g + c[6] * x  # torch: grad.add(param, alpha=weight_decay)
        m = _lerp(state[0, r], g, c[0], c[7])
        v = state[1, r] * c[1] + c[2] * g * g  # mul_(beta2).addcmul_(g, g, value=1-beta2)
        state[0, r] = m
        state[1, r] = v
        if code == AMSGRAD:
            v = max(state[2, r], v)
            state[2, r] = v
        denom = math.sqrt(v) / c[3] + c[4]
        return x + c[5] * m / denom
    return x


@numba.njit(cache=True)
def _run_chunk(code, hyper, schedule, state, x, c, start, n, a, b, has_b, project, low, high,
               cmp_low, cmp_high, sums, grid, pos, out_x, out_regret):
    """Steps start..start+n−1 for every replicate; returns (steps completed, next grid index)."""
    R = x.shape[0]
    shared_a = a.shape[1] == 1
    shared_b = b.shape[1] == 1
    for i in range(n):
        t = start + i
        _prepare(code, hyper, schedule, t, c)
        finite = True
        for r in range(R):
            ai = a[i, 0] if shared_a else a[i, r]
            bi = 0.0
            if has_b:
                bi = b[i, 0] if shared_b else b[i, r]
            xr = x[r]
            xd = np.float64(xr)
            sums[0, r] += ai * xd + 0.5 * bi * xd * xd
            sums[1, r] += ai
            sums[2, r] += bi
            c[8] = ai  # cast the coefficients to the run's dtype, as the torch engine does
            c[9] = bi
            g = c[8] + c[9] * xr if has_b else c[8]
            xr = _step(code, c, state, r, xr, g)
            if project == 1:
                xr = min(max(xr, low), high)
            x[r] = xr
            if not (math.isfinite(xr) and math.isfinite(sums[0, r])):
                finite = False
        if not finite:
            return i, pos
        if pos < grid.shape[0] and grid[pos] == t:
            for r in range(R):
                out_x[pos, r] = x[r]
                out_regret[pos, r] = (sums[0, r] - _best_scalar(sums[1, r], sums[2, r],
                                                                cmp_low, cmp_high)) / t
            pos += 1
    return n, pos
