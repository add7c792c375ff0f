"""Divergence is the same fact on both engines: the first non-finite step, the trajectory up to
it, and what is reported (issue 12, item 8). Each case overflows the dtype within a few hundred
steps (314 at most; AdaBound's clipped steps never do, nor ADOPT's on noisy_quadratic in
float32, and then both engines finish alike): every f_t = −C'x (or a quadratic overshot by a
huge rate) with no projection. Both engines run 1,000 steps in chunks of 64 (`chunk`; the
product's is 65,536), so the divergence falls in the first chunk or a later one, anywhere in it,
and the reference loop, which checks finiteness once a chunk, stops within 64 steps of it. A
divergence at the product's chunk: tests/engines/test_envelope.py."""

from __future__ import annotations

import numpy as np
import pytest

from src.engines import fast as fast_engine
from src.engines import torch_loop
from src.engines.result import DIVERGED
from tests.conftest import make_cfg
from tests.engines.test_fast import plain, supported_optims

RATES = {"float32": ("1e37", "1e38"), "float64": ("1e305", "1e307")}
STEPS, SHORT_CHUNK = 1_000, 64


pytestmark = pytest.mark.slow  # every optimizer × fn × dtype, compiled and run on both engines


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn", ["online", "stochastic", "noisy_quadratic"])
@pytest.mark.parametrize("optim", supported_optims())
def test_both_engines_diverge_at_the_same_step_with_the_same_trajectory(
    optim: str, fn: str, dtype: str
) -> None:
    for lr in RATES[dtype]:
        args = plain(
            make_cfg(
                f"optim={optim}",
                f"optim.lr={lr}",
                f"fn={fn}",
                *(["fn.C=-1"] if fn != "noisy_quadratic" else []),
                "projection=none",
                f"dtype={dtype}",
                f"steps={STEPS}",
                f"log.points={STEPS}",
                "replicates=3",
            )
        )
        reference = torch_loop.run(*args, chunk=SHORT_CHUNK)
        fast = fast_engine.run(*args, chunk=SHORT_CHUNK)
        assert (fast.status, fast.steps_done, fast.reason) == (
            reference.status,
            reference.steps_done,
            reference.reason,
        ), (optim, fn, dtype, lr)
        np.testing.assert_array_equal(fast.log_steps, reference.log_steps)
        np.testing.assert_array_equal(fast.x, reference.x)
        np.testing.assert_array_equal(fast.final_x, reference.final_x)
        if reference.status == DIVERGED:
            np.testing.assert_array_equal(fast.final_regret, reference.final_regret)
