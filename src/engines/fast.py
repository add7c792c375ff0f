"""The fast engine: the whole time loop in compiled code (numba), over all replicates at once.

It consumes the same coefficient chunks from the same generators as the reference engine
(`runner.run_torch`) and does the same arithmetic as the torch.optim implementation it stands for,
in the run's dtype, operation for operation: a float32 run rounds every intermediate to float32
exactly as torch's CPU kernels do (hyper-parameters cast to float32 where torch casts them, bias
corrections computed in float64 as torch computes them in Python, with the C library's pow() as
Python's ** calls it). Regret sums are float64.

Each supported optimizer is a `Variant`: an integer code dispatched inside the kernel, its
hyper-parameters as a float64 vector, the number of state slots per replicate and their initial
values. Supported (`VARIANTS`): torch.optim's Adam (amsgrad, either weight decay), AdamW, SGD
(momentum, dampening, nesterov), Adagrad, RMSprop (momentum, centered), NAdam and RAdam in their
default for-loop implementation, and every optimizer of `src.optimizers`; maximize, capturable,
differentiable, foreach and fused ask for the torch engine. The compiled kernel is cached on disk
(numba `cache=True`), so only the first run on a machine compiles.
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
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from src.engines import torch_loop, vector_loop
from src.engines.torch_loop import OptimizerFactory, RunSpec
from src.optimizers import paper
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
from src.problems.schedules import SCHEDULES

# Kernel codes, one per update rule (`_prepare`, `_before_root`, `_after_root` dispatch on them).
ADAM, AMSGRAD, SGD, ADAGRAD, RMSPROP, NADAM, RADAM = 0, 1, 2, 3, 4, 5, 6
AMSGRAD_PAPER, ADAMNC, ADAMX, YOGI, ADABOUND, ADOPT = 7, 8, 9, 10, 11, 12
WIDE_MOMENT = (AMSGRAD_PAPER, ADAMNC, ADAMX)  # v̂ also kept in float64 (src.optimizers.paper)
FALLBACK = (
    "the fast engine stopped early on an optimizer that keeps v̂ in float64 too (an underflowed "
    "v̂ under m ≠ 0, or a divergence): the reference engine ran the job"
)


@dataclass
class Variant:
    """An optimizer the kernel implements: its code, hyper-parameters and state slots."""

    code: int
    hyper: np.ndarray  # float64
    slots: int
    schedule: int = 0  # a SCHEDULES code
    initial: tuple[float, ...] = ()  # the state's first slots at t = 0 (cast to the dtype); else 0


def _torch_only(kw: dict) -> str | None:
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


def _hyper(*values: float) -> np.ndarray:
    return np.array(values, np.float64)


def _adam(kw: dict, decoupled: bool = False) -> Variant | str:
    """torch.optim.Adam / AdamW: bias-corrected Adam, with amsgrad and either weight decay."""
    why = _torch_only(kw)
    if why:
        return why
    decoupled = decoupled or bool(kw["decoupled_weight_decay"])
    hyper = _hyper(kw["lr"], *kw["betas"], kw["eps"], kw["weight_decay"], decoupled)
    amsgrad = bool(kw["amsgrad"])
    return Variant(AMSGRAD if amsgrad else ADAM, hyper, 3 if amsgrad else 2)


def _sgd(kw: dict) -> Variant | str:
    """torch.optim.SGD: momentum, dampening, nesterov and weight decay."""
    why = _torch_only(kw)
    return why or Variant(
        SGD,
        _hyper(kw["lr"], kw["momentum"], kw["dampening"], kw["weight_decay"], bool(kw["nesterov"])),
        1,
    )


def _adagrad(kw: dict) -> Variant | str:
    """torch.optim.Adagrad: lr decay, weight decay, initial accumulator."""
    why = _torch_only(kw)
    return why or Variant(
        ADAGRAD,
        _hyper(kw["lr"], kw["lr_decay"], kw["weight_decay"], kw["eps"]),
        1,
        initial=(kw["initial_accumulator_value"],),
    )


def _rmsprop(kw: dict) -> Variant | str:
    """torch.optim.RMSprop: momentum, centered, weight decay."""
    why = _torch_only(kw)
    return why or Variant(
        RMSPROP,
        _hyper(
            kw["lr"],
            kw["alpha"],
            kw["eps"],
            kw["weight_decay"],
            kw["momentum"],
            bool(kw["centered"]),
        ),
        3,
    )


def _nadam(kw: dict) -> Variant | str:
    """torch.optim.NAdam: momentum decay ψ, either weight decay."""
    why = _torch_only(kw)
    return why or Variant(
        NADAM,
        _hyper(
            kw["lr"],
            *kw["betas"],
            kw["eps"],
            kw["weight_decay"],
            kw["momentum_decay"],
            bool(kw["decoupled_weight_decay"]),
        ),
        2,
    )


def _radam(kw: dict) -> Variant | str:
    """torch.optim.RAdam: either weight decay."""
    why = _torch_only(kw)
    return why or Variant(
        RADAM,
        _hyper(
            kw["lr"],
            *kw["betas"],
            kw["eps"],
            kw["weight_decay"],
            bool(kw["decoupled_weight_decay"]),
        ),
        2,
    )


def _amsgrad_paper(kw: dict) -> Variant:
    return Variant(AMSGRAD_PAPER, _hyper(kw["lr"], *kw["betas"], kw["beta1_decay"], kw["eps"]), 3)


def _adamnc(kw: dict) -> Variant:
    return Variant(ADAMNC, _hyper(kw["lr"], kw["beta1"], kw["beta1_decay"], kw["eps"]), 2)


def _adamx(kw: dict) -> Variant:
    return Variant(ADAMX, _hyper(kw["lr"], *kw["betas"], kw["beta1_decay"], kw["eps"]), 3)


def _yogi(kw: dict) -> Variant:
    return Variant(
        YOGI, _hyper(kw["lr"], *kw["betas"], kw["eps"]), 2, initial=(0.0, kw["initial_accumulator"])
    )


def _adabound(kw: dict) -> Variant:
    return Variant(
        ADABOUND, _hyper(kw["lr"], *kw["betas"], kw["final_lr"], kw["gamma"], kw["eps"]), 2
    )


def _adopt(kw: dict) -> Variant:
    clip = kw["clip_exponent"]
    return Variant(
        ADOPT, _hyper(kw["lr"], *kw["betas"], kw["eps"], math.nan if clip is None else clip), 2
    )


# `_target_` -> a builder from the optimizer's keyword arguments (the config's over the class's
# defaults) to a Variant, or why not.
VARIANTS: dict[type, Callable[[dict], Variant | str]] = {
    torch.optim.Adam: _adam,
    torch.optim.AdamW: functools.partial(_adam, decoupled=True),
    torch.optim.SGD: _sgd,
    torch.optim.Adagrad: _adagrad,
    torch.optim.RMSprop: _rmsprop,
    torch.optim.NAdam: _nadam,
    torch.optim.RAdam: _radam,
    paper.AMSGradPaper: _amsgrad_paper,
    paper.AdamNC: _adamnc,
    paper.AdamX: _adamx,
    paper.Yogi: _yogi,
    paper.AdaBound: _adabound,
    paper.ADOPT: _adopt,
}


def variant(optimizer: torch.optim.Optimizer, schedule: str = "constant") -> Variant | str:
    """The fast engine's version of `optimizer` (its class, and its resolved hyper-parameters read
    from its param group, torch's defaults included), or a sentence saying why there is none."""
    kind = type(optimizer)  # exactly: a subclass may change the update
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
) -> RunResult:
    """Run `spec` as `torch_loop.run(spec, make_optimizer, schedule, progress)` would, compiled."""
    found = variant(_probe(spec, make_optimizer), schedule)
    if isinstance(found, str):
        raise ValueError(f"engine=fast: {found}")
    result = run_fast(spec, found, progress)
    if result.status == DIVERGED and found.code in WIDE_MOMENT:  # v̂ underflow, or a divergence
        result = torch_loop.run(spec, make_optimizer, schedule, progress)
        result.info.update(engine="torch", fallback=FALLBACK)
    return result


def run_fast(
    spec: RunSpec, opt: Variant, progress: Callable[[int], None] | None = None
) -> RunResult:
    """Run `spec` with optimizer `opt` in the compiled kernel; same result layout as run_torch."""
    dt = np.float32 if spec.dtype == torch.float32 else np.float64
    R = spec.replicates
    x = np.full(R, spec.x0, dt)
    state = np.zeros((SLOTS, R), dt)
    state[: len(opt.initial)] = np.array(opt.initial, np.float64)[:, None]  # cast as full_like
    consts = np.zeros(CONSTS, dt)
    per_step = np.zeros((CHUNK, PER_STEP), dt)
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
    pos, done, status, reason = 0, 0, FINISHED, ""
    sqrt = torch_sqrt(dt)
    began = time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, CHUNK):
            n = min(CHUNK, spec.steps - start + 1)
            coeffs = spec.fn.coefficients(start, n, streams)
            a = np.ascontiguousarray(coeffs.a.numpy())
            b = _NO_B if coeffs.b is None else np.ascontiguousarray(coeffs.b.numpy())
            _prepare(opt.code, opt.hyper, opt.schedule, start, n, consts, per_step)
            before = (x.copy(), state.copy(), sums.copy(), tail.copy(), pos)
            problem = (a, b, coeffs.b is not None, spec.projection.kind, low, high)
            book = (cmp_low, cmp_high, sums, grid)
            # fmt: off
            ran, pos = _specialized(_run_chunk, opt.code, consts, per_step, state, x, start, n,
                                    *problem, *book, pos, out_x, out_regret, sqrt, *buffers,
                                    tail_from, tail)
            if ran < n:  # replicates ran on past the first non-finite step: redo up to it
                x[:], state[:], sums[:], tail[:], pos = before
                if ran:
                    _, pos = _specialized(_run_chunk, opt.code, consts, per_step, state, x, start,
                                          ran, *problem, *book, pos, out_x, out_regret, sqrt,
                                          *buffers, tail_from, tail)
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
    final_x = x.astype(np.float64)
    if status in (DIVERGED, INTERRUPTED) and done and (keep == 0 or steps[-1] != done):
        steps = np.append(steps, done)
        xs = np.vstack([xs, final_x])
        rs = np.vstack([rs, regret / done])
    return RunResult(
        steps, xs, rs, final_x, regret, done, status, reason, elapsed, tail_x=tail_x,
        best_x=best_fixed_point(sums[1], sums[2], cmp_low, cmp_high),
        scales=(cmp_high - cmp_low, spec.fn.gradient_bound(cmp_low, cmp_high)),
    )  # fmt: skip


_NO_B = np.zeros((1, 1))
_COMPILED: dict[tuple, Callable] = {}


def _specialized(kernel: numba.core.registry.CPUDispatcher, code: int, *args: object) -> tuple:
    """kernel(code, *args) through its version compiled for this literal `code`.

    `numba.literally(code)` compiles one kernel per optimizer with its branches folded away, but
    each plain call would re-run the literal resolution (~30 ms); after the first call the
    compiled version is looked up once per argument types and called directly."""
    key = (kernel, code, *(numba.typeof(arg) for arg in args))
    compiled = _COMPILED.get(key)
    if compiled is None:
        result = kernel(code, *args)
        for signature, overload in kernel.overloads.items():
            if signature == (types.literal(code), *key[2:]):
                _COMPILED[key] = overload.entry_point
        return result
    return compiled(code, *args)


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
PER_STEP = 8  # per-step scalars in the run's dtype


def _cast(like, value):  # value in the dtype of the array `like` (compiled below)
    raise NotImplementedError


@overload(_cast)
def _cast_impl(like, value):
    if like.dtype == types.float32:
        return lambda like, value: np.float32(value)
    return lambda like, value: np.float64(value)


@intrinsic
def _pow(typingctx, base, exponent):
    """base ** exponent for floats exactly as Python computes it: the C library's pow(), called as
    an opaque function. (LLVM would rewrite pow(x, 0.5) as sqrt(x), which is correctly rounded
    where glibc's pow is not: pow(1 − 2⁻⁵³, 0.5) is 1.0, √ gives 1 − 2⁻⁵³.)"""
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType(), ir.DoubleType()])
        function = cgutils.get_or_insert_function(builder.module, fnty, "pow")
        function.attributes.add("nobuiltin")  # no constant folding or rewriting of the call
        return builder.call(function, args)

    return sig, codegen


@numba.njit(cache=True)
def _power(base, t):
    """base**t as Python computes it, or exactly 0 once it is below 1e−18 (then 1 − base**t is
    1.0 in float64 either way): the bias corrections stay bit-exact without a pow per step."""
    if t == 0:
        return 1.0
    if base <= 0.0:
        return 0.0
    # base**t ≤ e^{t(base − 1)} (log x ≤ x − 1): no log per step, and e^−41.5 < 1e−18
    if base < 1.0 and t * (base - 1.0) < -41.5:
        return 0.0
    return _pow_py(base, float(t))


@numba.njit(cache=True)
def _pow_py(base, exponent):
    """Python's base ** exponent (the C library's pow()); pow(1, y) is exactly 1 (C99 F.9.4.4),
    which a vanished bias correction hits every step: no call then."""
    if base == 1.0:
        return 1.0
    return _pow(base, exponent)


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
def _rate(lr, schedule, t):
    """α_t as LambdaLR sets group["lr"] for step t (src.problems.schedules): lr/√t, inv_sqrt."""
    return lr * (1.0 / math.sqrt(t)) if schedule == 1 else lr


DECAY = 7  # per-step slot of Adam, NAdam, RAdam: 1 − lr·weight_decay (decoupled weight decay)


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def _prepare(code, hyper, schedule, start, n, k, p):  # noqa: PLR0917
    """Fill the constants k and per-step scalars p[i] for steps start..start+n−1 in the run's
    dtype, computed in float64 as torch computes them in Python and cast where torch casts them
    (a scalar argument of a tensor op is cast to the tensor's dtype; lerp's 1 − weight is
    computed in the dtype)."""
    lr = hyper[0]
    if code in (ADAM, AMSGRAD, NADAM, RADAM):
        _prepare_adam_like(code, hyper, schedule, start, n, k, p)
    elif code == SGD:
        k[0] = hyper[1]  # momentum
        k[1] = 1.0 - hyper[2]  # add_ alpha: 1 − dampening
        k[2] = hyper[3]  # weight decay
        k[3] = hyper[4]  # nesterov
        k[4] = 1.0 if hyper[1] != 0 else 0.0  # a momentum buffer at all
        for i in range(n):
            t = start + i
            p[i, 0] = -_rate(lr, schedule, t)  # param.add_(grad, alpha=−lr)
            p[i, 1] = 1.0 if t == 1 else 0.0  # the buffer starts as a copy of the gradient
    elif code == ADAGRAD:
        k[0] = hyper[2]  # weight decay
        k[1] = hyper[3]  # eps
        for i in range(n):
            t = start + i
            p[i, 0] = -(_rate(lr, schedule, t) / (1 + (t - 1) * hyper[1]))  # −clr
    elif code == RMSPROP:
        k[0] = hyper[1]  # alpha
        k[1] = 1.0 - hyper[1]  # addcmul value and lerp weight
        k[2] = 1.0 - k[1]  # lerp: opmath(1) − weight, in the dtype
        k[3] = hyper[2]  # eps
        k[4] = hyper[3]  # weight decay
        k[5] = hyper[4]  # momentum
        k[6] = 1.0 if hyper[4] > 0 else 0.0  # a momentum buffer at all
        k[7] = hyper[5]  # centered
        for i in range(n):
            p[i, 0] = -_rate(lr, schedule, start + i)  # −lr
    elif code in (AMSGRAD_PAPER, ADAMX):
        beta1, decay = hyper[1], hyper[3]
        k[0] = hyper[2]  # beta2
        k[1] = 1.0 - hyper[2]
        k[2] = hyper[4]  # eps
        for i in range(n):
            t = start + i
            _weight(p[i], 1.0 - beta1 * _power(decay, t - 1))  # lerp weight 1 − β₁ₜ
            p[i, 2] = 1.0  # AdamX's (1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)²
            if t > 1:
                before = 1.0 - beta1 * _power(decay, t - 2)
                now = 1.0 - beta1 * _power(decay, t - 1)
                p[i, 2] = (now * now) / (before * before)
            p[i, 3] = -_rate(lr, schedule, t)
    elif code == ADAMNC:
        k[0] = hyper[3]  # eps
        for i in range(n):
            t = start + i
            _weight(p[i], 1.0 - hyper[1] * _power(hyper[2], t - 1))  # lerp weight 1 − β₁ₜ
            p[i, 2] = 1.0 - 1.0 / t  # β₂ₜ
            p[i, 3] = 1.0 / t  # 1 − β₂ₜ
            p[i, 4] = -_rate(lr, schedule, t)
    elif code == YOGI:
        _weight(k, 1.0 - hyper[1])
        k[2] = -(1.0 - hyper[2])  # addcmul value
        k[3] = hyper[3]  # eps
        for i in range(n):
            p[i, 0] = -_rate(lr, schedule, start + i)
    elif code == ADABOUND:
        beta1, beta2, final_lr, gamma = hyper[1], hyper[2], hyper[3], hyper[4]
        k[0] = beta1
        k[1] = 1.0 - beta1
        k[2] = beta2
        k[3] = 1.0 - beta2
        k[4] = hyper[5]  # eps
        for i in range(n):
            t = start + i
            rate = _rate(lr, schedule, t)
            p[i, 0] = rate * math.sqrt(1.0 - _power(beta2, t)) / (1.0 - _power(beta1, t))
            bound = final_lr * rate / lr  # final_lr follows the schedule
            p[i, 1] = bound * (1.0 - 1.0 / (gamma * t + 1))  # η_l(t)
            p[i, 2] = bound * (1.0 + 1.0 / (gamma * t))  # η_u(t)
    elif code == ADOPT:
        _weight(k, 1.0 - hyper[1])
        k[2] = hyper[2]  # beta2
        k[3] = 1.0 - hyper[2]
        k[4] = hyper[3]  # eps
        for i in range(n):
            t = start + i
            p[i, 0] = 1.0 if t == 1 else 0.0  # the first gradient only initialises v
            clipped = t > 1 and not math.isnan(hyper[4])
            p[i, 1] = _pow(float(t - 1), hyper[4]) if clipped else math.inf  # clip bound c_t
            p[i, 2] = -_rate(lr, schedule, t)


@numba.njit(cache=True)
def _weight(target, weight):
    """target[0] = the lerp weight, target[1] = 1 − it in the dtype (torch's opmath(1) − w)."""
    target[0] = weight
    target[1] = 1.0 - target[0]


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def _prepare_adam_like(code, hyper, schedule, start, n, k, p):  # noqa: PLR0917
    """Adam, AMSGrad, AdamW, NAdam, RAdam: hyper = lr, β₁, β₂, eps, weight decay, …,
    decoupled (last); k[0..6] shared, the per-step scalars each its own."""
    lr, beta1, beta2, wd = hyper[0], hyper[1], hyper[2], hyper[4]
    decoupled = hyper[hyper.shape[0] - 1] != 0
    _weight(k, 1.0 - beta1)  # exp_avg.lerp_(grad, 1 − beta1)
    k[2] = beta2
    k[3] = 1.0 - beta2
    k[4] = hyper[3]  # eps
    k[5] = 0.0 if decoupled else wd  # grad.add(param, alpha=weight_decay)
    k[6] = 1.0 if decoupled and wd != 0 else 0.0  # param.mul_(1 − lr·weight_decay)
    if code == NADAM and start == 1:
        k[7] = 1.0  # mu_product: a float32 tensor in torch (the default dtype), in any run
    mu_product = np.float32(k[7])
    psi = hyper[5]  # NAdam's momentum_decay
    rho_inf = 2 / (1 - beta2) - 1 if code == RADAM else 0.0
    for i in range(n):
        t = start + i
        rate = _rate(lr, schedule, t)
        p[i, DECAY] = 1.0 - rate * wd
        if code in (ADAM, AMSGRAD):
            p[i, 0] = _pow_py(1.0 - _power(beta2, t), 0.5)  # bias_correction2**0.5
            p[i, 1] = -(rate / (1.0 - _power(beta1, t)))  # addcdiv value: −lr/bias_correction1
        elif code == NADAM:
            mu = beta1 * (1.0 - 0.5 * _pow(0.96, t * psi))
            mu_next = beta1 * (1.0 - 0.5 * _pow(0.96, (t + 1) * psi))
            mu_product = np.float32(mu_product * np.float32(mu))  # mu_product *= mu
            mu_product_next = np.float64(mu_product) * mu_next
            p[i, 0] = 1.0 - _power(beta2, t)  # bias_correction2
            p[i, 1] = -rate * (1.0 - mu) / (1.0 - np.float64(mu_product))
            p[i, 2] = (-rate * mu_next) / (1.0 - mu_product_next)
        else:  # RADAM
            bias_correction2 = 1.0 - _power(beta2, t)
            rho_t = rho_inf - 2 * t * _pow(beta2, float(t)) / bias_correction2
            p[i, 0] = 1.0 - _power(beta1, t)  # bias_correction1
            p[i, 1] = rate
            p[i, 2] = _pow_py(bias_correction2, 0.5)
            p[i, 3] = 1.0
            p[i, 4] = 1.0 if rho_t > 5.0 else 0.0  # rectified: the adaptive step, with a root
            if rho_t > 5.0:
                p[i, 3] = _pow(
                    (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t),
                    0.5,
                )
    if code == NADAM:
        k[7] = mu_product


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def _before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    """The update up to its square root: updates the state, returns the radicand (or −1 if the
    variant takes no root this step)."""
    if code in (ADAM, AMSGRAD, NADAM, RADAM):
        if k[5] != 0:
            g = _fma(k[5], x, g)  # torch: grad.add(param, alpha=weight_decay)
        state[0, r] = _lerp(state[0, r], g, k[0], k[1])  # exp_avg.lerp_(grad, 1 − beta1)
        # exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 − beta2): v·β₂, then fma((1−β₂)·g, g, ·)
        state[1, r] = _fma(k[3] * g, g, state[1, r] * k[2])
        if code == AMSGRAD:
            state[2, r] = max(state[2, r], state[1, r])  # max of the *uncorrected* moment
            return state[2, r]
        if code == NADAM:
            return state[1, r] / p[0]  # exp_avg_sq.div(bias_correction2).sqrt()
        if code == RADAM and p[4] == 0:
            return -1.0  # not rectified yet: no root
        return state[1, r]
    if code == ADAGRAD:
        if k[0] != 0:
            g = _fma(k[0], x, g)
        state[0, r] = _fma(g, g, state[0, r])  # state_sum.addcmul_(grad, grad, value=1)
        return state[0, r]
    if code == RMSPROP:
        if k[4] != 0:
            g = _fma(k[4], x, g)
        state[0, r] = _fma(k[1] * g, g, state[0, r] * k[0])  # mul_(alpha).addcmul_(g, g, 1−α)
        if k[7] != 0:  # centered: √(square_avg − grad_avg²)
            state[1, r] = _lerp(state[1, r], g, k[1], k[2])  # grad_avg.lerp_(grad, 1 − alpha)
            return _fma(-state[1, r], state[1, r], state[0, r])  # addcmul(ga, ga, value=−1)
        return state[0, r]
    if code in (AMSGRAD_PAPER, ADAMX, ADAMNC):
        state[0, r] = _lerp(state[0, r], g, p[0], p[1])  # exp_avg.lerp_(grad, 1 − β₁ₜ)
        if code == ADAMNC:  # exp_avg_sq.mul_(1 − 1/t).addcmul_(grad, grad, value=1/t)
            state[1, r] = _fma(p[3] * g, g, state[1, r] * p[2])
            return state[1, r]
        state[1, r] = _fma(k[1] * g, g, state[1, r] * k[0])
        # AdamX rescales v̂ first (p[2] = 1 for AMSGrad): max_exp_avg_sq.mul_(ratio), then max
        state[2, r] = max(state[2, r] * p[2] if code == ADAMX else state[2, r], state[1, r])
        return state[2, r]
    if code == YOGI:
        state[0, r] = _lerp(state[0, r], g, k[0], k[1])
        g2 = g * g  # v.addcmul_(sign(v − g²), g², value=−(1 − β₂))
        state[1, r] = _fma(k[2] * _cast(k, np.sign(state[1, r] - g2)), g2, state[1, r])
        return state[1, r]
    if code == ADABOUND:
        state[0, r] = _fma(k[1], g, state[0, r] * k[0])  # m.mul_(β₁).add_(g, alpha=1 − β₁)
        state[1, r] = _fma(k[3] * g, g, state[1, r] * k[2])
        return state[1, r]
    if code == ADOPT:
        if p[0] != 0:
            state[1, r] = _fma(g, g, state[1, r])  # t = 1: exp_avg_sq.addcmul_(grad, grad)
            return -1.0
        return state[1, r]  # √v_{t−1}: the root comes before v is updated
    return -1.0


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def _after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    """The rest of the update given root = √(radicand); returns the new (unprojected) x."""
    if code in (ADAM, AMSGRAD):
        if k[6] != 0:
            x = x * p[DECAY]  # param.mul_(1 − lr·weight_decay)
        denom = root / p[0] + k[4]  # (√v / bias_correction2_sqrt).add_(eps)
        return x + p[1] * state[0, r] / denom  # param.addcdiv_(exp_avg, denom, value=−step)
    if code == NADAM:
        if k[5] != 0:
            g = _fma(k[5], x, g)
        if k[6] != 0:
            x = x * p[DECAY]
        denom = root + k[4]
        x = x + p[1] * g / denom  # param.addcdiv_(grad, denom, value=−lr(1−μ)/(1−Πμ))
        return x + p[2] * state[0, r] / denom  # addcdiv_(exp_avg, denom, −lr·μ'/(1−Πμ·μ'))
    if code == RADAM:
        if k[6] != 0:
            x = x * p[DECAY]
        update = state[0, r] / p[0] * p[1]  # exp_avg / bias_correction1 * lr
        if p[4] != 0:  # * (√bias_correction2 / (√v + eps)) * rect; a/tensor is reciprocal()·a
            update = update * (_cast(k, 1.0) / (root + k[4]) * p[2]) * p[3]
        return x - update  # param.add_(update, alpha=−1)
    if code == SGD:
        if k[2] != 0:
            g = _fma(k[2], x, g)
        if k[4] != 0:  # buf = grad.clone() at t = 1, else buf.mul_(μ).add_(grad, alpha=1 − d)
            state[0, r] = g if p[1] != 0 else _fma(k[1], g, state[0, r] * k[0])
            g = _fma(k[0], state[0, r], g) if k[3] != 0 else state[0, r]  # nesterov or buf
        return _fma(p[0], g, x)  # param.add_(grad, alpha=−lr)
    if code == ADAGRAD:
        if k[0] != 0:
            g = _fma(k[0], x, g)
        return x + p[0] * g / (root + k[1])  # addcdiv_(grad, sqrt().add_(eps), value=−clr)
    if code == RMSPROP:
        if k[4] != 0:
            g = _fma(k[4], x, g)
        avg = root + k[3]
        if k[6] != 0:  # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=−lr)
            state[2, r] = state[2, r] * k[5] + g / avg
            return _fma(p[0], state[2, r], x)
        return x + p[0] * g / avg
    if code in (AMSGRAD_PAPER, ADAMX):
        return _adaptive_step(k, x, state[0, r], root + k[2], p[3], True)
    if code == ADAMNC:
        return _adaptive_step(k, x, state[0, r], root + k[0], p[4], True)
    if code == YOGI:
        return _adaptive_step(k, x, state[0, r], root + k[3], p[0], False)
    if code == ADABOUND:  # full_like(denom, step).div_(denom).clamp_(η_l, η_u).mul_(m)
        step = min(max(p[0] / (root + k[4]), p[1]), p[2]) * state[0, r]
        return x - step  # param.sub_(step)
    if code == ADOPT:
        if p[0] != 0:
            return x
        normed = g / max(root, k[4])  # grad.div(clamp(√v, min=eps))
        normed = min(max(normed, -p[1]), p[1])  # clamp_(−c_t, c_t)
        state[0, r] = _lerp(state[0, r], normed, k[0], k[1])
        x = _fma(p[2], state[0, r], x)  # param.add_(exp_avg, alpha=−lr)
        state[1, r] = _fma(k[3] * g, g, state[1, r] * k[2])  # then v: mul_(β₂).addcmul_(…)
        return x
    return x


@numba.njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in torch
def _adaptive_step(k, x, m, denom, value, wide):  # noqa: PLR0917
    """param.addcdiv_(m, denom, value) with a zero denom taken as +inf (a zero step), as
    src.optimizers does. `wide`: the optimizer keeps v̂ in float64 too and takes the formula's
    step where v̂ underflowed under m ≠ 0 (src.optimizers.paper); this kernel's state cannot, so
    it stops there (NaN: the run ends early) and `run` hands the job to the reference engine."""
    if denom == 0:
        if wide and m != 0:
            return _cast(k, math.nan)
        denom = _cast(k, math.inf)
    return x + value * m / denom


@intrinsic
def _call_sqrt(typingctx, function, n, source, target, mode):  # noqa: PLR0917
    """Call the C function at address `function` as f(n, source*, target*, mode), all int64."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        pointer = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i64, pointer, pointer, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(
            fn,
            [
                args[1],
                builder.inttoptr(args[2], pointer),
                builder.inttoptr(args[3], pointer),
                args[4],
            ],
        )
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def _roots(sqrt_fn, n, radicands, roots, radicands_at=0, roots_at=0):
    """roots[:n] = √radicands[:n], with torch's own sqrt kernel when it is known (MKL's).
    `radicands_at`/`roots_at`: the arrays' addresses, if the caller has them (a hot loop)."""
    if sqrt_fn != 0:
        if radicands_at == 0:
            radicands_at, roots_at = radicands.ctypes.data, roots.ctypes.data
        _call_sqrt(sqrt_fn, n, radicands_at, roots_at, VML_MODE)
    else:
        for r in range(n):
            roots[r] = math.sqrt(radicands[r])


@numba.njit(cache=True)
def _same_bits(bits, known_bits, R):
    """Whether bits[:R] == known_bits[:R] and known_bits[R] != 0 (the known values are valid)."""
    differ = known_bits[R] == 0
    for r in range(R):
        differ |= bits[r] != known_bits[r]
    return not differ


# fmt: off
@numba.njit(cache=True)
def _run_chunk(code, k, p, state, x, start, n, a, b, has_b, project, low, high, cmp_low,  # noqa: PLR0917
               cmp_high, sums, grid, pos, out_x, out_regret, sqrt_fn, grads, radicands, roots,
               rooted, rooted_bits, radicand_bits, tail_from, tail):
    # fmt: on
    """Steps start..start+n−1 for every replicate; returns (steps completed, next grid index).

    Compiled once per optimizer code (`literally`), so the variant's branches fold away.
    `roots` holds √`rooted` from the last sqrt call (`rooted_bits`, `radicand_bits`: integer
    views of `rooted` and `radicands`, with rooted_bits[R] = 1 once `roots` is valid): a step
    whose radicands are bit for bit those already rooted reuses the roots without calling the
    sqrt kernel (AMSGrad's max v̂ is unchanged on most steps)."""
    numba.literally(code)
    R = x.shape[0]
    radicands_at, roots_at = radicands.ctypes.data, roots.ctypes.data  # once, not per step
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
            take_root |= radicands[r] >= 0
        if take_root and not _same_bits(radicand_bits, rooted_bits, R):
            _roots(sqrt_fn, R, radicands, roots, radicands_at, roots_at)
            rooted[:R] = radicands
            rooted_bits[R] = 1
        finite = True
        for r in range(R):
            xr = _after_root(code, k, p[i], state, r, x[r], grads[r], roots[r])
            if project == 1:
                xr = min(max(xr, lo), hi)
            x[r] = xr
            finite &= math.isfinite(xr) & math.isfinite(sums[0, r])
        if not finite:
            return i, pos
        if t >= tail_from:  # the last 10%: Σ x in step order (as RegretBook.add_tail), min, max
            for r in range(R):
                xd = np.float64(x[r])
                tail[0, r] += xd
                tail[1, r] = min(tail[1, r], xd)
                tail[2, r] = max(tail[2, r], xd)
        if pos < grid.shape[0] and grid[pos] == t:
            for r in range(R):
                out_x[pos, r] = x[r]
                out_regret[pos, r] = (
                    sums[0, r] - best_fixed_loss(sums[1, r], sums[2, r], cmp_low, cmp_high)
                ) / t
            pos += 1
    return n, pos
