"""The fast engine against the reference torch.optim loop: the equivalence contract.

For every optimizer the fast engine supports (found from conf/, so a new option is covered the day
it is added) × both dtypes: |x_fast − x_torch| ≤ 1e-6 in float32 and ≤ 1e-12 in float64 at every
step of the first 7,500 on the online fn, and R_t/t equal to the bit (both engines add the float64
sums in the same order). Those steps cross seven chunk boundaries (both engines run with
`chunk=1024`, where the product's chunk is CHUNK = 65,536: the coefficients, the optimizer's state
and per-step scalars, the regret sums and the log carry over each), and pass t = 7,073 where 0.9ᵗ
underflows to 0 in float64 (through the subnormals from t = 6,724): every β of the optimizer's
config raised to the power t is set to 0.9 there (β₁ is 0.9 already; β₂, and AdamX's λ in
β₁ₜ = β₁λᵗ⁻¹, are 0.99 in the configs), so every power the optimizers take (the bias corrections'
βᵗ, RAdam's ρ_t, AdamX's β₁ₜ) runs down to 0 as 0.99ᵗ does only at t = 74,141. At the product's
own chunk and the configs' own betas, Adam (float64, online) and AdamX (float32, noisy_quadratic)
run 75,000 steps: past one chunk of 65,536 and past t = 74,141, x and R_t/t equal to the bit.
test_fast_matrix.py holds the same contract over every kind of fn and projection and for the
schedules, across chunks too. (x agrees bit for bit in practice; the tolerances are the contract.)
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.utils import get_class

from src import PROJECT_ROOT
from src.build import build_spec, optimizer_factory, run_engine
from src.engines import fast as fast_engine
from src.engines import torch_loop
from src.optimizers import OPTIMIZERS
from src.problems.functions import CHUNK
from tests.conftest import CONF, make_cfg, options

STEPS = 7_500  # past 0.9ᵗ's underflow (t = 7,073): every optimizer, both dtypes
SMALL_CHUNK = 1_024  # the engines' `chunk` in the short runs: 7 boundaries in STEPS
LONG_STEPS = 75_000  # past one CHUNK and past 0.99ᵗ's underflow (t = 74,141)
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}  # the contract; in fact bit-exact
OPTIM_DIR = Path(CONF) / "optim"


@functools.cache  # collected by three files: each YAML read once
def supported_optims() -> list[str]:
    """The conf/optim options whose class the fast engine has a rule for (the registry,
    `src.optimizers.OPTIMIZERS`), read from each YAML's `_target_` without composing it, so that
    collecting the tests stays cheap. A test still asks the engine itself on the composed config
    (`both_engines`: `unsupported(...) is None`), so an option the engine declines fails there."""
    return [
        name
        for name in options("optim")
        if get_class(yaml.safe_load((OPTIM_DIR / f"{name}.yaml").read_text())["_target_"])
        in OPTIMIZERS
    ]


def plain(cfg) -> tuple:
    """What both engines take: the spec, the optimizer factory and the schedule's name."""
    return build_spec(cfg), optimizer_factory(cfg), str(cfg.schedule.name)


def both_engines(*overrides: str, chunk: int = CHUNK) -> tuple:
    """The reference and the fast engine's results for one config, both `chunk` steps a chunk."""
    args = plain(make_cfg(*overrides))
    assert fast_engine.unsupported(*args) is None
    return torch_loop.run(*args, chunk=chunk), fast_engine.run(*args, chunk=chunk)


def assert_equivalent(reference, fast, dtype: str) -> None:
    tol = TOLERANCE[dtype]
    np.testing.assert_array_equal(reference.log_steps, fast.log_steps)
    np.testing.assert_allclose(fast.x, reference.x, rtol=0, atol=tol)
    for edge in ("x_min", "x_max"):  # each logging window's envelope
        np.testing.assert_allclose(getattr(fast, edge), getattr(reference, edge), rtol=0, atol=tol)
    # both engines add the float64 regret sums in the same order: equal to the bit
    np.testing.assert_array_equal(fast.avg_regret, reference.avg_regret)
    np.testing.assert_array_equal(fast.final_regret, reference.final_regret)
    assert reference.status == fast.status == "finished"


@functools.cache
def underflowing_betas(optim: str) -> tuple[str, ...]:
    """Overrides setting every β of the optimizer's config that is raised to the power t to 0.9:
    its betas, and AdamX's λ (β₁ₜ = β₁λᵗ⁻¹; λ = 1 in amsgrad_paper and adamnc, no power)."""
    cfg = make_cfg(f"optim={optim}")
    found = ("optim.betas=[0.9,0.9]",) if "betas" in cfg.optim else ()
    if cfg.optim.get("beta1_decay", 1.0) != 1.0:
        found += ("optim.beta1_decay=0.9",)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optim", supported_optims())
def test_every_step_matches_torch_across_chunks_and_past_the_betas_underflow(
    optim: str, dtype: str
) -> None:
    reference, fast = both_engines(
        f"optim={optim}",
        *underflowing_betas(optim),
        "fn=online",
        f"dtype={dtype}",
        f"steps={STEPS}",
        f"log.points={STEPS}",
        "replicates=2",
        chunk=SMALL_CHUNK,
    )
    assert_equivalent(reference, fast, dtype)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("optim", "dtype", "fn"),
    [("adam", "float64", "online"), ("adamx", "float32", "noisy_quadratic")],
)
def test_x_and_regret_are_bit_equal_at_the_products_chunk_and_betas(
    optim: str, dtype: str, fn: str
) -> None:
    """The product's chunk (no `chunk` given) and the configs' betas (β₂ = 0.99 in Adam's bias
    correction, λ = 0.99 in AdamX's β₁ₜ): 75,000 steps, every one logged, x and R_t/t equal to
    the bit past the first chunk of 65,536 and past t = 74,141 where 0.99ᵗ is 0 in float64."""
    assert CHUNK < 74_141 < LONG_STEPS
    reference, fast = both_engines(
        f"optim={optim}",
        f"fn={fn}",
        f"dtype={dtype}",
        f"steps={LONG_STEPS}",
        f"log.points={LONG_STEPS}",
        "replicates=2",
        "seed=4",
    )
    assert_equivalent(reference, fast, dtype)
    for field in ("x", "x_min", "x_max", "final_x"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field))


@pytest.mark.parametrize("fn", ["online", "stochastic"])
def test_the_chunk_is_only_where_the_loops_break(fn: str) -> None:
    """`chunk` sets where both engines draw coefficients and check finiteness (one progress call a
    chunk), and nothing else: on these fns (Bernoulli's rare steps are drawn the same however the
    steps are chunked), 1,024 steps a chunk give the product's results to the bit."""
    args = plain(make_cfg(f"fn={fn}", "steps=2500", "log.points=2500", "replicates=2"))
    for engine in (torch_loop, fast_engine):
        calls: list[int] = []
        short = engine.run(*args, calls.append, chunk=SMALL_CHUNK)
        assert calls == [1024, 1024, 452]
        product = engine.run(*args)
        for field in ("x", "x_min", "x_max", "avg_regret", "final_regret", "tail_x"):
            np.testing.assert_array_equal(getattr(short, field), getattr(product, field))


FAST_DECLINES = {  # reference engine only (docs/ddim.md): d-dimensional fns, ball_weighted
    "fn": {"periodic_nd", "bernoulli_nd", "quadratic_nd"},
    "projection": {"ball_weighted"},
}


@pytest.mark.parametrize("group", list(FAST_DECLINES))
def test_the_fast_engine_declines_exactly_the_reference_only_options(group: str) -> None:
    """Every other fn and projection option runs on the fast engine (the test below)."""
    declined = {
        name
        for name in options(group)
        if fast_engine.unsupported(*plain(make_cfg(f"{group}={name}", "steps=10"))) is not None
    }
    assert declined == FAST_DECLINES[group]


def test_same_config_and_seed_draw_the_same_sequence_in_both_engines() -> None:
    reference, fast = both_engines(
        "fn=stochastic", "replicates=3", "seed=11", "steps=3000", "log.points=3000", "dtype=float64"
    )
    np.testing.assert_allclose(fast.x, reference.x, rtol=0, atol=1e-12)
    assert not np.allclose(fast.x[:, 0], fast.x[:, 1])


def test_auto_picks_fast_and_falls_back_to_torch() -> None:
    cfg = make_cfg("steps=100", "log.points=10")
    assert run_engine(cfg, build_spec(cfg), None)[0] == "fast"
    cfg = make_cfg(
        "steps=100",
        "log.points=10",
        "optim._target_=torch.optim.ASGD",
        "~optim.betas",
        "~optim.amsgrad",
        "~optim.eps",
    )
    assert run_engine(cfg, build_spec(cfg), None)[0] == "torch"
    cfg = make_cfg("steps=100", "log.points=10", "engine=torch")
    assert run_engine(cfg, build_spec(cfg), None)[0] == "torch"


@pytest.mark.parametrize("optim", ["amsgrad_paper", "adamnc", "adamx"])
def test_an_underflowed_second_moment_gives_the_reference_engines_steps(optim: str) -> None:
    """Gradients ~1e-29 in float32 (fn.scale = 1e-31): g² underflows to 0, so the float32 v̂ is 0
    under m ≠ 0. The paper-exact optimizers then take the formula's step from their float64 v̂
    (src/optimizers/amsgrad_paper.py, adamnc.py); the fast engine's state cannot, so it hands the
    job to the reference engine, and the job's numbers are the reference's, moving x as the
    formula does."""
    tiny = (f"optim={optim}", "fn.scale=1e-31", "steps=3000", "log.points=3000")
    args = plain(make_cfg(*tiny))
    reference, fast = torch_loop.run(*args), fast_engine.run(*args)
    assert fast.info["engine"] == "torch" and "reference engine ran" in fast.info["fallback"]
    np.testing.assert_array_equal(fast.x, reference.x)
    np.testing.assert_array_equal(fast.avg_regret, reference.avg_regret)
    # the formula's steps: as in float64, where g² ~ 1e-58 does not underflow (scale-free steps)
    wide = torch_loop.run(*plain(make_cfg(*tiny, "dtype=float64")))
    assert reference.status == "finished" and np.abs(reference.x).max() > 1e-3
    np.testing.assert_allclose(reference.x, wide.x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("optim", ["amsgrad_paper", "adamnc", "adamx"])
def test_a_true_divergence_of_a_paper_optimizer_stays_on_the_fast_engine(optim: str) -> None:
    """x overflows float32 (lr = 1e38, no projection): a divergence, not an underflowed v̂, so
    the fast engine reports it itself, at the reference engine's step, without re-running the
    job on the reference engine (minutes for millions of steps)."""
    huge = (f"optim={optim}", "optim.lr=1e38", "projection=none", "steps=3000", "log.points=3000")
    args = plain(make_cfg(*huge))
    reference, fast = torch_loop.run(*args), fast_engine.run(*args)
    assert reference.status == fast.status == "diverged"
    assert "engine" not in fast.info and fast.steps_done == reference.steps_done
    assert fast.reason == reference.reason
    np.testing.assert_array_equal(fast.x, reference.x)


# A process that runs the fast engine on a kernel already in numba's cache and prints how many
# times numba's compiler ran (numba's event API: "numba:compile" fires on a cache miss only)
WARM_RUN = """
import sys
from numba.core import event
from src.build import build_spec, optimizer_factory
from src.engines import fast
from tests.conftest import make_cfg

class Compiles(event.Listener):
    count = 0
    def on_start(self, ev): Compiles.count += 1
    def on_end(self, ev): pass

cfg = make_cfg(*sys.argv[1:])
spec, factory = build_spec(cfg), optimizer_factory(cfg)
with event.install_listener("numba:compile", Compiles()):
    result = fast.run(spec, factory, "constant")
print(result.status, Compiles.count)
"""


@pytest.mark.slow
def test_a_kernel_in_numbas_cache_is_loaded_without_compiling() -> None:
    """The second process on the same optimizer and fn loads the kernels from the cache (as every
    sweep after a machine's first does), and runs numba's compiler not at all: a compile that
    stops at `numba.literally` to retry with the literal code costs ~0.25 s a kernel."""
    job = ("optim=adam", "fn=stochastic", "steps=100", "replicates=3")
    runs = [
        subprocess.run(
            [sys.executable, "-c", WARM_RUN, *job], cwd=PROJECT_ROOT, capture_output=True,
            text=True, check=True,
        ).stdout.split()
        for _ in range(2)
    ]  # fmt: skip
    assert runs[1] == ["finished", "0"], runs
