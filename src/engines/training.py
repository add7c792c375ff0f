"""The minibatch training loop of the real-world experiments (the `task` config group).

Per step t = 1..T: the next minibatch of `batch_size` training examples (a seeded random
permutation per epoch, batches running on into the next epoch), its mean cross-entropy, a backward
pass, `optimizer.step()` and the learning-rate scheduler if any (α_t = α/√t with
`schedule=inv_sqrt`, as the paper's logistic regression). At every step of the evaluation grid
(`log_grid(steps, log_points)`, as the synthetic runs' logging grid) it records

- `train_loss`: the mean of the minibatch losses since the previous grid step (the training loss a
  minibatch run sees; dropout on);
- `test_loss`, `test_accuracy`: on the whole test set, in eval mode (dropout off).

A non-finite minibatch loss stops the run as diverged (the step before it is the last done); Ctrl-C
stops it as interrupted, with the history so far. Seeded: the same spec and seed give the same
numbers (model initialisation, batches and dropout all draw from `seed`), and the caller's global
torch RNG state is left as it was. Knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.engines.spec import warm_up
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED, log_grid
from src.problems.schedules import make_scheduler
from src.tasks.datasets import Dataset

OptimizerFactory = Callable[[list[Tensor]], torch.optim.Optimizer]
ModelFactory = Callable[[], nn.Module]
Progress = Callable[[int], None]
HISTORIES = ("train_loss", "test_loss", "test_accuracy")


@dataclass
class TrainSpec:
    """Everything a training run needs besides the optimizer."""

    data: Dataset
    model: ModelFactory
    steps: int
    batch_size: int = 128
    seed: int = 0
    log_points: int = 1000
    dtype: torch.dtype = torch.float32
    eval_batch_size: int = 1000
    device: str = "cpu"


HISTORIES = ("train_loss", "test_loss", "test_accuracy")


@dataclass
class TrainResult:
    """The evaluation grid `log_steps` [P] and the three histories [P] on it, and how it ended."""

    log_steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    steps_done: int
    status: str = FINISHED
    reason: str = ""
    elapsed: float = 0.0
    info: dict = field(default_factory=dict)

    artifact = "history"  # the name of its .npz and .png in the run's artifacts

    def final(self, key: str) -> float:
        """The last recorded value of a history (NaN if none was recorded)."""
        values = getattr(self, key)
        return float(values[-1]) if len(values) else math.nan

    def histories(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key) for key in HISTORIES}

    def finals(self) -> dict[str, float]:
        """The last value of each history (those recorded), speed and steps done."""
        finals = {f"final_{key}": self.final(key) for key in HISTORIES}
        return {
            **{k: v for k, v in finals.items() if math.isfinite(v)},
            "steps_per_second": self.steps_done / max(self.elapsed, 1e-9),
            "steps_done": float(self.steps_done),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {"log_steps": self.log_steps, **self.histories()}


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Indices of successive minibatches: one random permutation of 0..n−1 per epoch, batches
    running across epoch boundaries (no example is dropped or drawn twice within an epoch)."""
    order, pos = torch.randperm(n, generator=generator), 0
    while True:
        parts, need = [], batch_size
        while need:
            if pos == n:
                order, pos = torch.randperm(n, generator=generator), 0
            take = min(need, n - pos)
            parts.append(order[pos : pos + take])
            pos, need = pos + take, need - take
        yield parts[0] if len(parts) == 1 else torch.cat(parts)


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, spec: TrainSpec) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the whole test set, in eval mode."""
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(data.test_y), spec.eval_batch_size):
        x = data.features(data.test_x[start : start + spec.eval_batch_size], spec.dtype)
        y = data.test_y[start : start + spec.eval_batch_size].to(spec.device)
        logits = model(x.to(spec.device))
        total += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train()
    n = max(len(data.test_y), 1)
    return total / n, correct / n


def train(
    spec: TrainSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Progress | None = None,
) -> TrainResult:
    """Train `spec.model()` with the optimizer `make_optimizer(parameters)`; see the module doc."""
    devices = [] if spec.device == "cpu" else None  # fork the CUDA generators too on a GPU
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(spec.seed)  # initialisation and dropout
        model = spec.model().to(device=spec.device, dtype=spec.dtype)
        model.train()
        optimizer = make_optimizer(list(model.parameters()))
        warm_up()
        scheduler = make_scheduler(schedule, optimizer)
        sampler = batches(
            len(spec.data.train_y), spec.batch_size, torch.Generator().manual_seed(spec.seed)
        )
        return _loop(spec, model, optimizer, scheduler, sampler, progress)


def _loop(
    spec: TrainSpec,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: object | None,
    sampler: Iterable[Tensor],
    progress: Progress | None,
) -> TrainResult:
    data, grid = spec.data, log_grid(spec.steps, spec.log_points)
    rows: dict[str, list[float]] = {key: [] for key in ("step", *HISTORIES)}
    status, reason, done, began = FINISHED, "", 0, time.perf_counter()
    running, count, next_row = 0.0, 0, 0
    try:
        for t, index in zip(range(1, spec.steps + 1), sampler, strict=False):
            x = data.features(data.train_x[index], spec.dtype).to(spec.device)
            loss = F.cross_entropy(model(x), data.train_y[index].to(spec.device))
            value = float(loss.detach())
            if not math.isfinite(value):
                status, reason = DIVERGED, f"non-finite training loss {value} at step {t}"
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            done, running, count = t, running + value, count + 1
            if progress:
                progress(1)
            if t == grid[next_row]:
                test_loss, test_accuracy = evaluate(model, data, spec)
                for key, v in zip(
                    rows, (t, running / count, test_loss, test_accuracy), strict=True
                ):
                    rows[key].append(v)
                running, count, next_row = 0.0, 0, next_row + 1
    except KeyboardInterrupt:
        status, reason = INTERRUPTED, f"interrupted after step {done}"
    return TrainResult(
        np.asarray(rows["step"], np.int64),
        *(np.asarray(rows[key], float) for key in HISTORIES),
        steps_done=done,
        status=status,
        reason=reason,
        elapsed=time.perf_counter() - began,
    )
