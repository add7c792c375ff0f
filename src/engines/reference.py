"""The reference engine: torch.optim in a plain loop, the loop chosen by the problem's shape
(`torch_loop` for a 1-D problem, `vector_loop` for a d-dimensional one). The one place that
chooses; the fast engine falls back here.
"""

from __future__ import annotations

from src.engines import torch_loop, vector_loop
from src.engines.spec import OptimizerFactory, Progress, RunSpec
from src.problems.functions import CHUNK
from src.problems.regret import RunResult
from src.problems.vector_regret import VectorRunResult


def run(
    spec: RunSpec,
    make_optimizer: OptimizerFactory,
    schedule: str = "constant",
    progress: Progress | None = None,
    *,
    autograd: bool = False,
    chunk: int = CHUNK,
) -> RunResult | VectorRunResult:
    """Run `spec` on the reference engine (`autograd`: the 1-D loop's gradient through autograd;
    `chunk`: the steps per coefficient chunk, as in `torch_loop.run`)."""
    if vector_loop.is_vector(spec):
        return vector_loop.run(spec, make_optimizer, schedule, progress, chunk=chunk)
    return torch_loop.run(spec, make_optimizer, schedule, progress, autograd=autograd, chunk=chunk)
