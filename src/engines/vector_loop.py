"""The reference engine for d-dimensional problems (`src.problems.vector`): torch.optim over
one parameter of shape [d] per replicate.

The R replicates are the rows of one storage X [R, d]; replicate r's parameter is the view X[r]
and its gradient the view G[r], so the optimizer sees R parameters of shape [d] (an optimizer
that couples the coordinates of a parameter couples those of one replicate, never replicates),
while the gradient a_t + b_t ⊙ x (or a_t + x Q) and the projection work on all rows at once.
Per step t: the gradient in closed form, `optimizer.step()`, the scheduler if any, then
`projection.vector(X)` (bound once to the optimizer: `ball_weighted` reads its V̂). Regret is
booked chunk by chunk by `src.problems.vector_regret.VectorRegretBook`. `reference.run` hands
d-dimensional specs here; the fast engine declines them.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from src.engines.spec import OptimizerFactory, Progress, RunSpec, warm_up
from src.problems.functions import CHUNK, RandomStreams
from src.problems.projections import Ball, Box, Projection
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED, log_grid
from src.problems.schedules import make_scheduler
from src.problems.vector import VectorFunction
from src.problems.vector_regret import Comparator, VectorRegretBook, VectorRunResult


def is_vector(spec: RunSpec) -> bool:
    """Whether the spec's fn is d-dimensional (runs here, never on the fast engine)."""
    return isinstance(spec.fn, VectorFunction)


def comparator(spec: RunSpec) -> Comparator:
    """F for regret: the projection's ball or box, else (projection=none) the fn's box domain."""
    fn, projection = spec.fn, spec.projection
    if isinstance(projection, Ball):
        return Comparator("ball", radius=projection.radius, hessian=fn.hessian)
    low, high = projection.bounds if isinstance(projection, Box) else fn.domain
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = fn.domain
    return Comparator("box", low=low, high=high, hessian=fn.hessian)


def run(
    spec: RunSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Progress | None = None,
    *,
    chunk: int = CHUNK,
) -> VectorRunResult:
    """Run the d-dimensional `spec`; see the module docstring. x_1 = (x0, …, x0). `chunk`: the
    steps per coefficient chunk, as in `torch_loop.run`."""
    fn: VectorFunction = spec.fn  # type: ignore[assignment]
    X = torch.full((spec.replicates, fn.dim), float(spec.x0), dtype=spec.dtype)
    G = torch.zeros_like(X)
    params = [X[r] for r in range(spec.replicates)]
    for r, p in enumerate(params):
        p.requires_grad_()
        p.grad = G[r]
    optimizer = make_optimizer(params)
    spec.projection.bind(optimizer, params)
    warm_up()
    scheduler = make_scheduler(schedule, optimizer)
    streams = RandomStreams(spec.seed, spec.replicates)
    book = VectorRegretBook(comparator(spec), log_grid(spec.steps, spec.log_points), X)
    hessian = None if fn.hessian is None else torch.from_numpy(fn.hessian).to(spec.dtype)
    status, reason, began = FINISHED, "", time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, chunk):
            n = min(chunk, spec.steps - start + 1)
            coeffs = fn.coefficients(start, n, streams)
            x_after = torch.empty(n, spec.replicates, fn.dim, dtype=spec.dtype)
            a = coeffs.a.to(spec.dtype).expand(n, spec.replicates, fn.dim)
            b = None if coeffs.b is None else coeffs.b.to(spec.dtype).expand_as(a)
            arrays = (a, b, hessian, x_after)
            done = _run_chunk(X, G, optimizer, scheduler, spec.projection, *arrays)
            valid = book.add_chunk(start, coeffs, x_after[:done])
            if progress:
                progress(valid)
            if valid < done:
                status, reason = DIVERGED, f"non-finite x or loss at step {start + valid}"
                break
            if done < n:
                status, reason = INTERRUPTED, f"interrupted after step {start + done - 1}"
                break
    except KeyboardInterrupt:
        status, reason = INTERRUPTED, f"interrupted after step {book.steps_done}"
    return book.result(status, reason, time.perf_counter() - began)


def _run_chunk(
    X: Tensor,
    G: Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: object | None,
    projection: Projection,
    a: Tensor,
    b: Tensor | None,
    hessian: Tensor | None,
    x_after: Tensor,
) -> int:
    """Steps over one chunk; returns how many completed (fewer on Ctrl-C)."""
    i = 0
    step = optimizer.step
    try:
        for i in range(len(a)):
            if hessian is not None:
                torch.addmm(a[i], X, hessian, out=G)  # a_t + x Q (Q symmetric), row by row
            elif b is None:
                G.copy_(a[i])
            else:
                torch.addcmul(a[i], b[i], X, out=G)
            step()
            if scheduler is not None:
                scheduler.step()
            projection.vector(X)
            x_after[i].copy_(X)
        return len(a)
    except KeyboardInterrupt:
        return i
    except RuntimeError as error:
        if "overflow" not in str(error):
            raise
        x_after[i] = float("nan")
        return i + 1


def fast_engine_declines(spec: RunSpec) -> str | None:
    """Why the fast engine cannot run `spec` (one sentence), or None: it runs 1-D problems with
    projections that read nothing of the optimizer."""
    from src.problems.projections import BallWeighted  # noqa: PLC0415

    if is_vector(spec):
        return (
            f"fn {type(spec.fn).__name__} is {spec.fn.dim}-dimensional; the fast engine runs "
            "1-D problems only"
        )
    if isinstance(spec.projection, BallWeighted):
        return "projection=ball_weighted reads the optimizer's state; the fast engine does not"
    return None
