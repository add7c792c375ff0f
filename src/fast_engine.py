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

import ctypes
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
from numba import types
from llvmlite import ir
from numba.extending import intrinsic, overload
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
    if kw.get("fused"):
        return "fused=true is torch's fused kernel, whose rounding differs; the fast engine " \
            "reproduces the default one"
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
    state = np.zeros((SLOTS, R), dt)
    consts = np.zeros(CONSTS, dt)
    per_step = np.zeros((CHUNK, PER_STEP), dt)
    sums = np.zeros((3, R), np.float64)  # Σ f_t(x_t), Σ a_t, Σ b_t per replicate
    grid = log_grid(spec.steps, spec.log_points)
    out_x = np.zeros((len(grid), R), np.float64)
    out_regret = np.zeros((len(grid), R), np.float64)
    low, high = spec.projection.bounds
    cmp_low, cmp_high = spec.comparator_bounds()
    streams = RandomStreams(spec.seed, R)
    buffers = (np.zeros(R, dt), np.zeros(R, dt), np.zeros(R, dt))  # gradients, radicands, roots
    pos, done, status, reason = 0, 0, FINISHED, ""
    began = time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, CHUNK):
            n = min(CHUNK, spec.steps - start + 1)
            coeffs = spec.fn.coefficients(start, n, streams)
            a = np.ascontiguousarray(coeffs.a.numpy())
            b = _NO_B if coeffs.b is None else np.ascontiguousarray(coeffs.b.numpy())
            _prepare(opt.code, opt.hyper, opt.schedule, start, n, consts, per_step)
            ran, pos = _run_chunk(opt.code, consts, per_step, state, x, start, n, a, b,
                                  coeffs.b is not None, spec.projection.kind, low, high,
                                  cmp_low, cmp_high, sums, grid, pos, out_x, out_regret,
                                  torch_sqrt(dt), *buffers)
            done = start + ran - 1
            if progress:
                progress(ran)
            if ran < n:
                status, reason = DIVERGED, f"non-finite x or loss at step {done + 1}"
                break
    except KeyboardInterrupt:  # arrives between chunks: the state is that of step `done`
        status, reason = INTERRUPTED, f"interrupted after step {done}"
    elapsed = time.perf_counter() - began
    regret = sums[0] - _best(sums[1], sums[2], cmp_low, cmp_high)
    keep = int(np.searchsorted(grid, done, side="right"))
    steps, xs, rs = grid[:keep], out_x[:keep], out_regret[:keep]
    final_x = x.astype(np.float64)
    if status == DIVERGED:  # replicates ran on past the first non-finite step: report up to it
        final_x = xs[-1] if keep else np.full(R, np.nan)
        regret = rs[-1] * steps[-1] if keep else np.full(R, np.nan)
        done = int(steps[-1]) if keep else 0
    elif status == INTERRUPTED and done and (keep == 0 or steps[-1] != done):
        steps = np.append(steps, done)
        xs = np.vstack([xs, final_x])
        rs = np.vstack([rs, regret / done])
    return RunResult(steps, xs, rs, final_x, regret, done, status, reason, elapsed)


_NO_B = np.zeros((1, 1))
VML_MODE = 0x2 | 0x100  # VML_HA | VML_ERRMODE_IGNORE, as ATen calls it


@functools.cache
def torch_sqrt(dtype: type) -> int:
    """The address of the sqrt kernel torch's CPU build uses for `dtype` (MKL's vm?Sqrt), if this
    build has it and it agrees with torch.sqrt on a probe; else 0 (then √ is correctly rounded)."""
    name = "vmsSqrt_64" if dtype == np.float32 else "vmdSqrt_64"
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        function = getattr(library, name)
    except (OSError, AttributeError):
        return 0
    address = ctypes.cast(function, ctypes.c_void_p).value or 0
    probe = np.random.default_rng(0).uniform(0, 1e5, 4096).astype(dtype)
    roots = np.zeros_like(probe)
    _roots(address, len(probe), probe, roots)
    return address if np.array_equal(roots, torch.from_numpy(probe).sqrt().numpy()) else 0
SLOTS = 4  # state scalars per replicate, enough for every variant
CONSTS = 8  # per-run constants in the run's dtype
PER_STEP = 4  # per-step scalars in the run's dtype


def _best(A: np.ndarray, B: np.ndarray, low: float, high: float) -> np.ndarray:
    linear = np.where(A > 0, A * low, A * high)
    xq = np.clip(-A / np.where(B > 0, B, 1.0), low, high)
    return np.where(B > 0, A * xq + 0.5 * B * xq * xq, linear)


def _cast(like, value):  # value in the dtype of the array `like` (compiled below)
    raise NotImplementedError


@overload(_cast)
def _cast_impl(like, value):
    if like.dtype == types.float32:
        return lambda like, value: np.float32(value)
    return lambda like, value: np.float64(value)


@numba.njit(cache=True)
def _best_scalar(A, B, low, high):
    if B > 0.0:
        xq = min(max(-A / B, low), high)
        return A * xq + 0.5 * B * xq * xq
    return A * low if A > 0.0 else A * high


@numba.njit(cache=True)
def _power(base, t):
    """base**t as Python computes it, or exactly 0 once it is below 1e−18 (then 1 − base**t is
    1.0 in float64 either way): the bias corrections stay bit-exact without a pow per step."""
    if base <= 0.0:
        return 0.0
    if base < 1.0 and t * math.log(base) < -41.5:  # e^−41.5 < 1e−18
        return 0.0
    return base**t


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once, in the operands' dtype (torch's CPU kernels are built with FMA)."""
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@numba.njit(cache=True)
def _lerp(start, end, weight, one_minus_weight):
    """torch's CPU lerp: start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w),
    each as one fused multiply-add, in the operands' dtype."""
    if abs(weight) < 0.5:
        return _fma(weight, end - start, start)
    return _fma(-(end - start), one_minus_weight, end)


@numba.njit(cache=True)
def _prepare(code, hyper, schedule, start, n, k, p):
    """Fill the constants k and per-step scalars p[i] for steps start..start+n−1 in the run's
    dtype, computed in float64 and cast where torch casts them."""
    lr = hyper[0]
    if code == ADAM or code == AMSGRAD:
        beta1, beta2 = hyper[1], hyper[2]
        k[0] = 1.0 - beta1  # lerp weight
        k[1] = 1.0 - k[0]  # torch: opmath(1) − weight, in the dtype
        k[2] = beta2
        k[3] = 1.0 - beta2
        k[4] = hyper[3]  # eps
        k[5] = hyper[4]  # weight decay
        for i in range(n):
            t = start + i
            rate = lr / math.sqrt(t) if schedule == 1 else lr
            p[i, 0] = (1.0 - _power(beta2, t)) ** 0.5  # bias_correction2_sqrt
            p[i, 1] = -(rate / (1.0 - _power(beta1, t)))  # addcdiv value: −lr/bias_correction1


@numba.njit(cache=True)
def _before_root(code, k, p, state, r, x, g):
    """The update up to its square root: updates the state, returns the radicand (or −1 if the
    variant takes no root this step)."""
    if code == ADAM or code == AMSGRAD:
        if k[5] != 0:
            g = g + k[5] * x  # torch: grad.add(param, alpha=weight_decay)
        state[0, r] = _lerp(state[0, r], g, k[0], k[1])  # exp_avg.lerp_(grad, 1 − beta1)
        # exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 − beta2): v·β₂, then fma((1−β₂)·g, g, ·)
        state[1, r] = _fma(k[3] * g, g, state[1, r] * k[2])
        if code == AMSGRAD:
            state[2, r] = max(state[2, r], state[1, r])  # max of the *uncorrected* moment
            return state[2, r]
        return state[1, r]
    return -1.0


@numba.njit(cache=True)
def _after_root(code, k, p, state, r, x, g, root):
    """The rest of the update given root = √(radicand); returns the new (unprojected) x."""
    if code == ADAM or code == AMSGRAD:
        denom = root / p[0] + k[4]  # (√v / bias_correction2_sqrt).add_(eps)
        return x + p[1] * state[0, r] / denom  # param.addcdiv_(exp_avg, denom, value=−step)
    return x


@intrinsic
def _call_sqrt(typingctx, function, n, source, target, mode):
    """Call the C function at address `function` as f(n, source*, target*, mode), all int64."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        pointer = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i64, pointer, pointer, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fn, [args[1], builder.inttoptr(args[2], pointer),
                          builder.inttoptr(args[3], pointer), args[4]])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def _roots(sqrt_fn, n, radicands, roots):
    """roots[:n] = √radicands[:n], with torch's own sqrt kernel when it is known (MKL's)."""
    if sqrt_fn != 0:
        _call_sqrt(sqrt_fn, n, radicands.ctypes.data, roots.ctypes.data, VML_MODE)
    else:
        for r in range(n):
            roots[r] = math.sqrt(radicands[r])


@numba.njit(cache=True)
def _run_chunk(code, k, p, state, x, start, n, a, b, has_b, project, low, high, cmp_low,
               cmp_high, sums, grid, pos, out_x, out_regret, sqrt_fn, grads, radicands, roots):
    """Steps start..start+n−1 for every replicate; returns (steps completed, next grid index)."""
    R = x.shape[0]
    shared_a = a.shape[1] == 1
    shared_b = b.shape[1] == 1
    lo, hi = _cast(x, low), _cast(x, high)  # torch casts clamp's bounds to the dtype
    for i in range(n):
        t = start + i
        take_root = False
        for r in range(R):
            ai = a[i, 0] if shared_a else a[i, r]
            xd = np.float64(x[r])
            if has_b:
                bi = b[i, 0] if shared_b else b[i, r]
                sums[0, r] += ai * xd + 0.5 * bi * xd * xd
                sums[2, r] += bi
                g = _cast(x, ai) + _cast(x, bi) * x[r]  # torch.addcmul(a, b, x)
            else:
                sums[0, r] += ai * xd
                g = _cast(x, ai)
            sums[1, r] += ai
            grads[r] = g
            radicands[r] = _before_root(code, k, p[i], state, r, x[r], g)
            take_root = take_root or radicands[r] >= 0
        if take_root:
            _roots(sqrt_fn, R, radicands, roots)
        finite = True
        for r in range(R):
            xr = _after_root(code, k, p[i], state, r, x[r], grads[r], roots[r])
            if project == 1:
                xr = min(max(xr, lo), hi)
            x[r] = xr
            finite = finite and math.isfinite(xr) and math.isfinite(sums[0, r])
        if not finite:
            return i, pos
        if pos < grid.shape[0] and grid[pos] == t:
            for r in range(R):
                out_x[pos, r] = x[r]
                out_regret[pos, r] = (sums[0, r] - _best_scalar(sums[1, r], sums[2, r],
                                                                cmp_low, cmp_high)) / t
            pos += 1
    return n, pos
