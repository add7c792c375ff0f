"""The reference engine: a plain PyTorch loop over the real torch.optim optimizer.

Per step t: the gradient of f_t at x_t (through autograd, or in closed form from the coefficient
stream: the same number, without the autograd graph), `optimizer.step()`, the learning-rate
scheduler if any, then the projection. Replicates are one parameter of shape [R]; every optimizer
here is elementwise, so that is exactly R independent runs. Coefficients are drawn a chunk at a time
and the loop never reads a tensor value on the host; finiteness is checked once per chunk.

Knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim import optimizer as _optimizer_module

from src.problems.functions import CHUNK, OnlineFunction, RandomStreams
from src.problems.projections import Projection
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED, RegretBook, RunResult, log_grid
from src.problems.schedules import make_scheduler

OptimizerFactory = Callable[[list[Tensor]], torch.optim.Optimizer]
Progress = Callable[[int], None]


@dataclass
class RunSpec:
    """Everything a run needs besides the optimizer."""

    fn: OnlineFunction
    projection: Projection
    steps: int
    replicates: int = 1
    seed: int = 0
    x0: float = 0.0
    dtype: torch.dtype = torch.float32
    log_points: int = 1000

    def comparator_bounds(self) -> tuple[float, float]:
        """The set regret compares against: the projection's, or the fn's domain if unbounded."""
        low, high = self.projection.bounds
        return (
            (low, high)
            if abs(low) != float("inf") and abs(high) != float("inf")
            else self.fn.domain
        )


def warm_up() -> None:
    """Import what a torch.optim step imports on first use (torch._dynamo, 1–2 s), so that it is
    not paid inside the timed, interruptible loop."""
    import torch._dynamo  # noqa: F401, PLC0415


def run(
    spec: RunSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Progress | None = None,
    *,
    autograd: bool = False,
) -> RunResult:
    """Run `spec` with the optimizer built by `make_optimizer([x])` and the step-size `schedule`
    (a name of `src.problems.schedules.SCHEDULES`); see the module docstring."""
    if getattr(spec.fn, "dim", 1) > 1:  # a d-dimensional fn: its own loop
        from src.engines import vector_loop  # noqa: PLC0415

        return vector_loop.run(spec, make_optimizer, schedule, progress)
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
        for start in range(1, spec.steps + 1, CHUNK):
            n = min(CHUNK, spec.steps - start + 1)
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
    step = unprofiled_step(optimizer)
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


def unprofiled_step(optimizer: torch.optim.Optimizer) -> Callable[[], object]:
    """optimizer.step, minus torch's per-call profiler/hook wrapper when no hook is registered.

    The wrapper (`Optimizer.profile_hook_step`) only records a profiler range and runs step hooks;
    on a one-element CPU tensor it costs about a third of Adam's step. The update is the same code.
    """
    wrapped = getattr(type(optimizer).step, "__wrapped__", None)
    hooks = (
        optimizer._optimizer_step_pre_hooks,
        optimizer._optimizer_step_post_hooks,
        _optimizer_module._global_optimizer_pre_hooks,
        _optimizer_module._global_optimizer_post_hooks,
    )
    if wrapped is None or any(hooks):
        return optimizer.step
    optimizer._opt_called = True  # what the wrapper tells an lr_scheduler: step() was called
    return lambda: wrapped(optimizer)


def _autograd_gradient(x: Tensor, a: Tensor, b: Tensor | None) -> None:
    """x.grad ← ∇ Σ_r f_t(x_r), through autograd."""
    loss = a * x if b is None else a * x + 0.5 * b * x * x
    x.grad = None
    loss.sum().backward()
