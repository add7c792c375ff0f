"""The reference engine for 1-D problems: a plain PyTorch loop over the real torch.optim optimizer.

Per step t: the gradient of f_t at x_t (through autograd, or in closed form from the coefficient
stream: the same number, without the autograd graph), `optimizer.step()`, the learning-rate
scheduler if any, then the projection. Replicates are one parameter of shape [R]; every optimizer
here is elementwise, so that is exactly R independent runs. Coefficients are drawn a chunk at a time
and the loop never reads a tensor value on the host; finiteness is checked once per chunk.

Knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from src.engines.spec import OptimizerFactory, Progress, RunSpec, warm_up
from src.problems.functions import CHUNK, RandomStreams
from src.problems.projections import Projection
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED, RegretBook, RunResult, log_grid
from src.problems.schedules import make_scheduler


def run(
    spec: RunSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Progress | None = None,
    *,
    autograd: bool = False,
    chunk: int = CHUNK,
) -> RunResult:
    """Run `spec` with the optimizer built by `make_optimizer([x])` and the step-size `schedule`
    (a name of `src.problems.schedules.SCHEDULES`); see the module docstring. `chunk`: the steps
    per coefficient chunk (the tests shorten it to cross chunk boundaries in a few steps)."""
    x = torch.full((spec.replicates,), float(spec.x0), dtype=spec.dtype, requires_grad=True)
    x.grad = torch.zeros_like(x)
    optimizer = make_optimizer([x])
    warm_up()
    scheduler = make_scheduler(schedule, optimizer)
    streams = RandomStreams(spec.seed, spec.replicates)
    bounds = spec.comparator_bounds()
    grid = log_grid(spec.steps, spec.log_points)
    book = RegretBook(spec.replicates, bounds, grid, x, spec.fn.gradient_bound(*bounds))
    status, reason, began = FINISHED, "", time.perf_counter()
    try:
        for start in range(1, spec.steps + 1, chunk):
            n = min(chunk, spec.steps - start + 1)
            coeffs = spec.fn.coefficients(start, n, streams)
            x_after = torch.empty(n, spec.replicates, dtype=spec.dtype)
            done = _run_chunk(
                x,
                optimizer,
                scheduler,
                spec.projection,
                coeffs.a.to(spec.dtype),
                None if coeffs.b is None else coeffs.b.to(spec.dtype),
                x_after,
                autograd,
            )
            valid = book.add_chunk(start, coeffs, x_after[:done])
            if progress:
                progress(valid)
            if valid < done:
                status = DIVERGED
                reason = f"non-finite x or loss at step {start + valid}"
                break
            if done < n:
                status, reason = INTERRUPTED, f"interrupted after step {start + done - 1}"
                break
    except KeyboardInterrupt:  # between chunks (drawing or booking coefficients): stop there
        status, reason = INTERRUPTED, f"interrupted after step {book.steps_done}"
    return book.result(status, reason, time.perf_counter() - began)


def _run_chunk(
    x: Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: object | None,
    projection: Projection,
    a: Tensor,
    b: Tensor | None,
    x_after: Tensor,
    autograd: bool,
) -> int:
    """Steps over one chunk of coefficients; returns how many completed (fewer on Ctrl-C; a step
    whose update torch cannot represent in the dtype counts, with x = NaN: it diverged there)."""
    i = 0
    step = optimizer.step
    value = x.detach()  # the same storage, outside autograd: in-place ops need no no_grad()
    rows_a, rows_out = a.expand(len(a), len(x)).unbind(0), x_after.unbind(0)  # views, made once
    try:
        for i in range(len(a)):
            if autograd:
                _autograd_gradient(x, a[i], None if b is None else b[i])
            elif b is None:
                x.grad.copy_(rows_a[i])
            else:
                torch.addcmul(rows_a[i], b[i], value, out=x.grad)
            step()
            if scheduler is not None:
                scheduler.step()
            projection(value)
            rows_out[i].copy_(value)
        return len(a)
    except KeyboardInterrupt:
        return i
    except RuntimeError as error:  # torch refuses a scalar the dtype cannot hold (lr/bias ≫ max)
        if "overflow" not in str(error):
            raise
        x_after[i] = float("nan")  # step i's update is not representable: the run diverged there
        return i + 1


def _autograd_gradient(x: Tensor, a: Tensor, b: Tensor | None) -> None:
    """x.grad ← ∇ Σ_r f_t(x_r), through autograd."""
    loss = a * x if b is None else a * x + 0.5 * b * x * x
    x.grad = None
    loss.sum().backward()
