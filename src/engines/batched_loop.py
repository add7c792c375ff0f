"""Many 1-D jobs as one pass of the reference loop: B jobs that share everything but the values an
elementwise update carries per element (the optimizer's hyper-parameters, the problem's parameters,
the seed) run as ONE parameter of shape [B·R], each job's R replicates a contiguous block.

- Coefficients: each job draws its own stream (its fn, its seed) a chunk at a time, as it would
  alone; the chunk's columns are concatenated, [n, B·R].
- The optimizer: built over the batched parameter with the first job's arguments; each
  hyper-parameter whose value differs between the jobs becomes a per-element tensor in its param
  group (`group["lr"] = tensor([lr_1 …, lr_B …])`, one value per element, in the parameter's dtype).
- Regret: one `RegretBook` per job on its own columns, fed the same coefficients and x values it
  would get alone, so its result is the lone run's, to the bit.

That holds only if the optimizer's update is elementwise with tensor hyper-parameters: `probe`
checks it on the jobs' own optimizers (each coordinate stepped alone against the same coordinate
in a batch, bit for bit) and says why not otherwise; torch's own Adam, for one, reads `lr` with
`.item()`. Knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from src.engines.spec import OptimizerFactory, Progress, RunSpec, warm_up
from src.engines.torch_loop import _run_chunk
from src.problems.functions import CHUNK, RandomStreams
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED, RegretBook, RunResult, log_grid
from src.problems.schedules import make_scheduler

PROBE_STEPS = 40  # steps of the elementwise probe: enough for moments and bias corrections to move


def differing(factories: Sequence[OptimizerFactory]) -> dict[str, list]:
    """The hyper-parameters whose values differ between the jobs' optimizers (their first param
    group), each job's value; ValueError if one that differs is not a number (or tuple of them)."""
    groups = [
        {k: v for k, v in make([torch.zeros(1, requires_grad=True)]).param_groups[0].items()
         if k != "params"}
        for make in factories
    ]  # fmt: skip
    found = {}
    for key in groups[0]:
        values = [group.get(key) for group in groups]
        if all(value == values[0] for value in values):
            continue
        if not all(_numeric(value) for value in values):
            raise ValueError(f"optim.{key} differs between the jobs and is not a number")
        found[key] = values
    return found


def _numeric(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def batched_optimizer(
    factories: Sequence[OptimizerFactory], x: Tensor, replicates: int
) -> torch.optim.Optimizer:
    """The first job's optimizer over `x` ([B·R]), every differing hyper-parameter per element."""
    optimizer = factories[0]([x])
    group = optimizer.param_groups[0]
    for key, values in differing(factories).items():

        def column(jobs: list[float]) -> Tensor:
            return torch.tensor(jobs, dtype=x.dtype).repeat_interleave(replicates)

        group[key] = (
            tuple(column([v[i] for v in values]) for i in range(len(values[0])))
            if isinstance(values[0], tuple)
            else column(values)
        )
    return optimizer


def probe(factories: Sequence[OptimizerFactory], dtype: torch.dtype, schedule: str) -> str | None:
    """None if the jobs' optimizer is elementwise: each job stepped alone on its own gradients
    gives, bit for bit, the same x as its coordinate in one batched parameter; else why not."""
    jobs = len(factories)
    generator = torch.Generator().manual_seed(24)
    scale = 10.0 ** torch.randint(-4, 4, (PROBE_STEPS, jobs), generator=generator)
    grads = torch.randn(PROBE_STEPS, jobs, generator=generator, dtype=torch.float64) * scale
    grads[::7] = 0.0  # zero gradients too
    grads = grads.to(dtype)
    try:
        batch = _probe_steps(lambda p: batched_optimizer(factories, p[0], 1), grads, schedule)
        alone = torch.cat(
            [_probe_steps(make, grads[:, j : j + 1], schedule) for j, make in enumerate(factories)],
            dim=1,
        )
    except Exception as error:  # noqa: BLE001  (any refusal of tensor hyper-parameters)
        text = str(error).strip()
        return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:200]
    same = (batch == alone) | (batch.isnan() & alone.isnan())
    if not bool(same.all()):
        step, job = (int(i) for i in torch.nonzero(~same)[0])
        return f"job {job} alone differs from its coordinate in a batch at probe step {step + 1}"
    return None


def _probe_steps(make: OptimizerFactory, grads: Tensor, schedule: str) -> Tensor:
    x = torch.zeros(grads.shape[1], dtype=grads.dtype, requires_grad=True)
    optimizer = make([x])
    scheduler = make_scheduler(schedule, optimizer)
    out = torch.empty_like(grads)
    for t, grad in enumerate(grads):
        x.grad = grad.clone()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        out[t] = x.detach()
    return out


def run(
    specs: Sequence[RunSpec],
    factories: Sequence[OptimizerFactory],
    schedule: str = "constant",
    progress: Progress | None = None,
) -> list[RunResult]:
    """Each job's result, as `torch_loop.run(specs[j], factories[j], schedule)` gives it alone
    (the probe must have passed; the specs share steps, replicates, x0, dtype, projection, grid)."""
    first = specs[0]
    jobs, reps = len(specs), first.replicates
    x = torch.full((jobs * reps,), float(first.x0), dtype=first.dtype, requires_grad=True)
    x.grad = torch.zeros_like(x)
    optimizer = batched_optimizer(factories, x, reps)
    warm_up()
    scheduler = make_scheduler(schedule, optimizer)
    streams = [RandomStreams(spec.seed, reps) for spec in specs]
    grid = log_grid(first.steps, first.log_points)
    books = []
    for j, spec in enumerate(specs):
        bounds = spec.comparator_bounds()
        x0 = x.detach()[j * reps : (j + 1) * reps]
        books.append(RegretBook(reps, bounds, grid, x0, spec.fn.gradient_bound(*bounds)))
    status, reason = [FINISHED] * jobs, [""] * jobs
    began = time.perf_counter()
    try:
        for start in range(1, first.steps + 1, CHUNK):
            n = min(CHUNK, first.steps - start + 1)
            coeffs = [spec.fn.coefficients(start, n, streams[j]) for j, spec in enumerate(specs)]
            a = torch.cat([c.a.expand(n, reps) for c in coeffs], dim=1).to(first.dtype)
            b = None
            if coeffs[0].b is not None:  # the jobs' losses are all quadratic (src.batched)
                b = torch.cat([c.b.expand(n, reps) for c in coeffs], dim=1).to(first.dtype)
            x_after = torch.empty(n, jobs * reps, dtype=first.dtype)
            done = _run_chunk(x, optimizer, scheduler, first.projection, a, b, x_after, False)
            for j, book in enumerate(books):
                if status[j] != FINISHED:
                    continue
                mine = x_after[:done, j * reps : (j + 1) * reps].contiguous()  # as if alone
                valid = book.add_chunk(start, coeffs[j], mine)
                if valid < done:
                    status[j], reason[j] = DIVERGED, f"non-finite x or loss at step {start + valid}"
                elif done < n:
                    status[j], reason[j] = INTERRUPTED, f"interrupted after step {start + done - 1}"
            if progress:
                progress(done)
            if FINISHED not in status:
                break
    except KeyboardInterrupt:  # between chunks (drawing or booking coefficients): stop there
        for j, book in enumerate(books):
            if status[j] == FINISHED:
                status[j], reason[j] = INTERRUPTED, f"interrupted after step {book.steps_done}"
    elapsed = time.perf_counter() - began
    results = [book.result(s, r, elapsed) for book, s, r in zip(books, status, reason, strict=True)]
    for result in results:
        result.info["batch"] = jobs  # the jobs computed in this one pass
    return results
