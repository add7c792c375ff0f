"""The fast engine against the reference torch.optim loop, beyond test_fast.py's contract on the
online fn: the same tolerances, and R_t/t equal to the bit, over every kind of fn (periodic,
Bernoulli, x-dependent quadratic) × every kind of projection (a box — `ball` is one in 1-D — or
none) × both dtypes for the first 3,100 steps (about 30 periods of the online fn, 30 rare steps of
the Bernoulli one), across three chunk boundaries (both engines run with `chunk=1024`, so at steps
1,024, 2,048 and 3,072: the random streams, the state and the regret sums carry over each;
test_fast.py runs the product's chunk of 65,536); every fn and projection *config* for a few
thousand steps; and the schedules against torch's lr schedulers, across chunks too. (Its own
file so that the test workers share the equivalence tests: `make test` runs a file's tests on one
worker.)"""

from __future__ import annotations

import pytest

from tests.conftest import options
from tests.engines.test_fast import (
    FAST_DECLINES,
    SMALL_CHUNK,
    assert_equivalent,
    both_engines,
    supported_optims,
)

MATRIX_STEPS = 3_100  # every optimizer × fn × projection × dtype
FN_KINDS = ["online", "stochastic", "noisy_quadratic"]  # Periodic, Bernoulli, NoisyQuadratic
PROJECTION_KINDS = ["box", "none"]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("projection", PROJECTION_KINDS)
@pytest.mark.parametrize("fn", FN_KINDS)
@pytest.mark.parametrize("optim", supported_optims())
def test_every_step_matches_torch_on_every_kind_of_fn_and_projection(
    optim: str, fn: str, projection: str, dtype: str
) -> None:
    reference, fast = both_engines(
        f"optim={optim}",
        f"fn={fn}",
        f"projection={projection}",
        f"dtype={dtype}",
        f"steps={MATRIX_STEPS}",
        f"log.points={MATRIX_STEPS}",
        "replicates=2",
        chunk=SMALL_CHUNK,
    )
    assert_equivalent(reference, fast, dtype)


@pytest.mark.parametrize(
    "projection", [p for p in options("projection") if p not in FAST_DECLINES["projection"]]
)
@pytest.mark.parametrize("fn", [f for f in options("fn") if f not in FAST_DECLINES["fn"]])
def test_every_fn_and_projection_option_runs_alike_on_both_engines(
    fn: str, projection: str
) -> None:
    reference, fast = both_engines(
        f"fn={fn}",
        f"projection={projection}",
        "steps=3000",
        "log.points=3000",
        "replicates=2",
        "optim.lr=0.01",
    )
    assert_equivalent(reference, fast, "float32")


@pytest.mark.slow
@pytest.mark.parametrize("schedule", [s for s in options("schedule") if s != "constant"])
@pytest.mark.parametrize("optim", supported_optims())
def test_schedules_match_torch_lr_scheduler(optim: str, schedule: str) -> None:
    """Each schedule but `constant` (every other test here), its rate α_t across chunk
    boundaries (the fast engine computes a chunk's per-step rates before it runs the chunk)."""
    reference, fast = both_engines(
        f"optim={optim}",
        f"schedule={schedule}",
        "steps=5000",
        "log.points=5000",
        "fn=stochastic",
        chunk=SMALL_CHUNK,
    )
    assert_equivalent(reference, fast, "float32")
