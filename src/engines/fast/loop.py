"""The fast engine's time loop: chunks of coefficients in, the compiled step loop over every
replicate (`_run_chunk`), the result out with the reference engine's layout.

It consumes the same coefficient chunks from the same generators as the reference engine
(`src.engines.torch_loop`) and does the same arithmetic as the torch.optim implementation it
stands for (its rule in `src.optimizers`, called through `dispatch`), in the run's dtype; regret
sums are float64.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numba
import numpy as np
import torch
from numba import types

from src.engines import reference, vector_loop
from src.engines.fast import dispatch
from src.engines.fast.dispatch import variant
from src.engines.fast.roots import same_bits, sqrt_all, torch_sqrt
from src.engines.spec import OptimizerFactory, RunSpec
from src.optimizers.base import CONSTS, PER_STEP, SLOTS, Variant
from src.optimizers.numerics import cast
from src.problems.functions import CHUNK, RandomStreams
from src.problems.regret import (
    DIVERGED,
    FINISHED,
    INTERRUPTED,
    RunResult,
    best_fixed_loss,
    best_fixed_point,
    log_grid,
    tail_start,
    tail_stats,
)

FALLBACK = (
    "the fast engine stopped where v̂ underflowed under m ≠ 0, on an optimizer that keeps v̂ in "
    "float64 too: the reference engine ran the job"
)
UNDERFLOW = "v_hat_underflow"  # result.info: the step where a zero v̂ met m ≠ 0 (a NaN step)


def _probe(spec: RunSpec, make_optimizer: OptimizerFactory) -> torch.optim.Optimizer:
    """The optimizer the run would build, over a stand-in parameter of the run's shape and dtype."""
    return make_optimizer([torch.zeros(spec.replicates, dtype=spec.dtype, requires_grad=True)])


def unsupported(
    spec: RunSpec, make_optimizer: OptimizerFactory, schedule: str = "constant"
) -> str | None:
    """None if the fast engine can run this job, else why not (one sentence)."""
    declined = vector_loop.fast_engine_declines(spec)  # d dims, ball_weighted: torch only
    if declined:
        return declined
    found = variant(_probe(spec, make_optimizer), schedule)
    if isinstance(found, str):
        return found
    if spec.projection.kind not in (0, 1):
        return f"projection {type(spec.projection).__name__} is not implemented"
    return None


def run(
    spec: RunSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Callable[[int], None] | None = None,
    *,
    chunk: int = CHUNK,
) -> RunResult:
    """Run `spec` as `reference.run(spec, make_optimizer, schedule, progress, chunk=chunk)`
    would, compiled (`chunk`: the steps per coefficient chunk, as in `torch_loop.run`)."""
    found = variant(_probe(spec, make_optimizer), schedule)
    if isinstance(found, str):
        raise ValueError(f"engine=fast: {found}")
    result = run_fast(spec, found, progress, chunk=chunk)
    if UNDERFLOW in result.info and found.wide:  # not a true divergence
        result = reference.run(spec, make_optimizer, schedule, progress, chunk=chunk)
        result.info.update(engine="torch", fallback=FALLBACK)
    return result


def run_fast(
    spec: RunSpec,
    opt: Variant,
    progress: Callable[[int], None] | None = None,
    *,
    chunk: int = CHUNK,
) -> RunResult:
    """Run `spec` with optimizer `opt` in the compiled kernel; same result layout as the
    reference engine's, chunk by chunk as it (`chunk` steps of coefficients at a time)."""
    dt = np.float32 if spec.dtype == torch.float32 else np.float64
    R = spec.replicates
    x = np.full(R, spec.x0, dt)
    state = np.zeros((SLOTS, R), dt)
    state[: len(opt.initial)] = np.array(opt.initial, np.float64)[:, None]  # cast as full_like
    consts = np.zeros(CONSTS, dt)
    per_step = np.zeros((chunk, PER_STEP), dt)
    sums = np.zeros((3, R), np.float64)  # Σ f_t(x_t), Σ a_t, Σ b_t per replicate
    grid = log_grid(spec.steps, spec.log_points)
    out_x = np.zeros((len(grid), R), np.float64)
    out_regret = np.zeros((len(grid), R), np.float64)
    low, high = spec.projection.bounds
    cmp_low, cmp_high = spec.comparator_bounds()
    streams = RandomStreams(spec.seed, R)
    bits = np.int32 if dt == np.float32 else np.int64
    rooted = np.zeros(R + 1, dt)  # the radicands of the last sqrt call, then a validity flag
    radicands = np.zeros(R, dt)
    # gradients, radicands, roots, and the radicands already rooted (see _run_chunk)
    buffers = (np.zeros(R, dt), radicands, np.zeros(R, dt), rooted)
    buffers += (rooted.view(bits), radicands.view(bits))
    tail_from = tail_start(spec.steps)
    tail = np.array([[0.0], [np.inf], [-np.inf]]).repeat(R, 1)  # Σ x, min x, max x over the tail
    window = np.array([[np.inf], [-np.inf]]).repeat(R, 1)  # min x, max x since the last logged
    out_min, out_max = np.zeros((len(grid), R)), np.zeros((len(grid), R))  # windows (Windows)
    pos, done, status, reason, underflow = 0, 0, FINISHED, "", False
    sqrt = torch_sqrt(dt)
    began = time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, chunk):
            n = min(chunk, spec.steps - start + 1)
            coeffs = spec.fn.coefficients(start, n, streams)
            a = np.ascontiguousarray(coeffs.a.numpy())
            b = _NO_B if coeffs.b is None else np.ascontiguousarray(coeffs.b.numpy())
            _specialized(
                dispatch.prepare, opt.code, opt.hyper, opt.schedule, start, n, consts, per_step
            )
            before = (x.copy(), state.copy(), sums.copy(), tail.copy(), window.copy(), pos)
            problem = (a, b, coeffs.b is not None, spec.projection.kind, low, high)
            book = (cmp_low, cmp_high, sums, grid)
            envelope = (window, out_min, out_max)
            # fmt: off
            ran, pos = _specialized(_run_chunk, opt.code, consts, per_step, state, x, start, n,
                                    *problem, *book, pos, out_x, out_regret, sqrt, *buffers,
                                    tail_from, tail, *envelope)
            if ran < n:  # replicates ran on past the first non-finite step: redo up to it
                # a NaN x over a zero radicand: the underflow of `adaptive_step` (in
                # src.optimizers.base), not a divergence (the buffers still hold the failed step)
                underflow = bool(np.any(~np.isfinite(x) & (radicands == 0)))
                x[:], state[:], sums[:], tail[:], window[:], pos = before
                if ran:
                    _, pos = _specialized(_run_chunk, opt.code, consts, per_step, state, x, start,
                                          ran, *problem, *book, pos, out_x, out_regret, sqrt,
                                          *buffers, tail_from, tail, *envelope)
            # fmt: on
            done = start + ran - 1
            if progress:
                progress(ran)
            if ran < n:
                status, reason = DIVERGED, f"non-finite x or loss at step {done + 1}"
                break
    except KeyboardInterrupt:  # arrives between chunks: the state is that of step `done`
        status, reason = INTERRUPTED, f"interrupted after step {done}"
    elapsed = time.perf_counter() - began
    tail_x = tail_stats(*tail, max(0, done - tail_from + 1))
    regret = sums[0] - best_fixed_loss(sums[1], sums[2], cmp_low, cmp_high)
    keep = int(np.searchsorted(grid, done, side="right"))
    steps, xs, rs = grid[:keep], out_x[:keep], out_regret[:keep]
    lows, highs = out_min[:keep], out_max[:keep]
    final_x = x.astype(np.float64)
    if status in (DIVERGED, INTERRUPTED) and done and (keep == 0 or steps[-1] != done):
        steps = np.append(steps, done)
        xs = np.vstack([xs, final_x])
        rs = np.vstack([rs, regret / done])
        lows, highs = np.vstack([lows, window[0]]), np.vstack([highs, window[1]])
    result = RunResult(
        steps, xs, rs, final_x, regret, done, status, reason, elapsed, tail_x=tail_x,
        best_x=best_fixed_point(sums[1], sums[2], cmp_low, cmp_high),
        scales=(cmp_high - cmp_low, spec.fn.gradient_bound(cmp_low, cmp_high)),
        x_min=lows, x_max=highs,
    )  # fmt: skip
    if underflow:
        result.info[UNDERFLOW] = done + 1
    return result


_NO_B = np.zeros((1, 1))
_COMPILED: dict[tuple, Callable] = {}


def _specialized(kernel: numba.core.registry.CPUDispatcher, code: int, *args: object) -> tuple:
    """kernel(code, *args) through its version compiled for this literal `code`.

    `numba.literally(code)` folds one kernel's branches away per optimizer. A plain call would
    first type the kernel for any integer code, stop at `literally` and retry with the literal:
    ~0.25 s of numba's compiler a kernel, even when the cache holds it. Asked for the literal
    signature at once (the dispatcher's `compile`), the cache answers; the compiled version is
    then called directly, once looked up per argument types."""
    key = (kernel, code, *(numba.typeof(arg) for arg in args))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = kernel.compile((types.literal(code), *key[2:]))
    return compiled(code, *args)


# fmt: off
@numba.njit(cache=True)
def _run_chunk(code, k, p, state, x, start, n, a, b, has_b, project, low, high, cmp_low,  # noqa: PLR0917
               cmp_high, sums, grid, pos, out_x, out_regret, sqrt_fn, grads, radicands, roots,
               rooted, rooted_bits, radicand_bits, tail_from, tail, window, out_min, out_max):
    # fmt: on
    """Steps start..start+n−1 for every replicate; returns (steps completed, next grid index).

    Compiled once per optimizer code (`literally`), so the variant's branches fold away.
    `roots` holds √`rooted` from the last sqrt call (`rooted_bits`, `radicand_bits`: integer
    views of `rooted` and `radicands`, with rooted_bits[R] = 1 once `roots` is valid): a step
    whose radicands are bit for bit those already rooted reuses the roots without calling the
    sqrt kernel (AMSGrad's max v̂ is unchanged on most steps)."""
    numba.literally(code)
    R = x.shape[0]
    w_low, w_high = window[0], window[1]  # views, made once per chunk
    radicands_at, roots_at = radicands.ctypes.data, roots.ctypes.data  # once, not per step
    shared_a = a.shape[1] == 1
    shared_b = b.shape[1] == 1
    lo, hi = cast(x, low), cast(x, high)  # torch casts clamp's bounds to the dtype
    kk = _values(k)  # the constants, and each step's scalars (pp), as values the stores
    # below cannot change, so they stay in registers and the replicate loops vectorise
    for i in range(n):
        t = start + i
        pp = _row(p, i)
        # the gradients a + b·x (torch.addcmul(a, b, x)) and the regret sums Σf_t(x_t), Σa_t,
        # Σb_t, then the rule's radicands: loops over r free of branches on the case, so that
        # LLVM vectorises them (a linear loss, shared or per replicate; a quadratic one keeps
        # its choice per element). They are written out here: a helper taking the arrays
        # would add an atomic reference count per array and step, as a view p[i] would.
        if has_b:
            for r in range(R):
                ai = a[i, 0] if shared_a else a[i, r]
                bi = b[i, 0] if shared_b else b[i, r]
                xd = np.float64(x[r])
                sums[0, r] += ai * xd + 0.5 * bi * xd * xd
                sums[1, r] += ai
                sums[2, r] += bi
                grads[r] = cast(x, ai) + cast(x, bi) * x[r]
        elif shared_a:
            ai = a[i, 0]
            g = cast(x, ai)
            for r in range(R):
                sums[0, r] += ai * np.float64(x[r])
                sums[1, r] += ai
                grads[r] = g
        else:
            for r in range(R):
                ai = a[i, r]
                sums[0, r] += ai * np.float64(x[r])
                sums[1, r] += ai
                grads[r] = cast(x, ai)
        for r in range(R):
            radicands[r] = dispatch.before_root(code, kk, pp, state, r, x[r], grads[r])
        taken = False
        for r in range(R):
            if radicands[r] >= 0:
                taken = True
                break
        if taken and not same_bits(radicand_bits, rooted_bits, R):
            sqrt_all(sqrt_fn, R, radicands, roots, radicands_at, roots_at)
            rooted[:R] = radicands
            rooted_bits[R] = 1
        # the rest of the step, and whether every x and Σf_t(x_t) is finite (an integer
        # reduction, which vectorises)
        bad = 0
        if project == 1:
            for r in range(R):
                xr = dispatch.after_root(code, kk, pp, state, r, x[r], grads[r], roots[r])
                xr = min(max(xr, lo), hi)
                x[r] = xr
                bad |= np.int32(not math.isfinite(xr)) | np.int32(not math.isfinite(sums[0, r]))
        else:
            for r in range(R):
                xr = dispatch.after_root(code, kk, pp, state, r, x[r], grads[r], roots[r])
                x[r] = xr
                bad |= np.int32(not math.isfinite(xr)) | np.int32(not math.isfinite(sums[0, r]))
        if bad:
            return i, pos
        for r in range(R):  # the logging window's envelope (regret.Windows)
            xd = np.float64(x[r])
            w_low[r] = min(w_low[r], xd)
            w_high[r] = max(w_high[r], xd)
        if t >= tail_from:  # the last 10%: Σ x in step order (as regret.Tail.add), min, max
            for r in range(R):
                xd = np.float64(x[r])
                tail[0, r] += xd
                tail[1, r] = min(tail[1, r], xd)
                tail[2, r] = max(tail[2, r], xd)
        if pos < grid.shape[0] and grid[pos] == t:
            for r in range(R):
                out_min[pos, r], out_max[pos, r] = w_low[r], w_high[r]
                w_low[r], w_high[r] = np.inf, -np.inf
                out_x[pos, r] = x[r]
                out_regret[pos, r] = (
                    sums[0, r] - best_fixed_loss(sums[1, r], sums[2, r], cmp_low, cmp_high)
                ) / t
            pos += 1
    return n, pos


@numba.njit(inline="always")
def _values(k):
    """k[0..7] (the CONSTS constants) as a tuple."""
    return (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7])


@numba.njit(inline="always")
def _row(p, i):
    """p[i, 0..7] (step i's PER_STEP scalars) as a tuple; p[i] would be a view, with an atomic
    reference count each step."""
    return (p[i, 0], p[i, 1], p[i, 2], p[i, 3], p[i, 4], p[i, 5], p[i, 6], p[i, 7])
