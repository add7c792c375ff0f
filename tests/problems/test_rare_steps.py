"""The Bernoulli problems' rare steps (src/problems/rare_steps.py).

A step is rare with probability p, independently, and with common random numbers across p: a step
t is rare at p when its mark U_t < p, so at one seed the rare steps at p are a subset of those at
p' > p. Only the steps with small marks are drawn (a ladder of sparse geometric streams): a chunk
of n steps costs a few n·p draws instead of n, and the steps do not depend on the chunking.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from src.problems.functions import CHUNK, Bernoulli, RandomStreams, Theorem3
from src.problems.rare_steps import RareSteps
from src.problems.vector import VectorBernoulli
from tests.conftest import bernoulli_rare_steps


def slopes(fn: object, sizes: list[int], seed: int = 0, replicates: int = 1) -> torch.Tensor:
    """a_t over consecutive chunks of the given sizes, from one set of streams."""
    streams, start, parts = RandomStreams(seed, replicates), 1, []
    for n in sizes:
        parts.append(fn.coefficients(start, n, streams).a)
        start += n
    return torch.cat(parts)


def draws_taken(generator: torch.Generator, seed: int, replicate: int, limit: int) -> int:
    """How many float64 uniforms `generator` has drawn since it was seeded as replicate
    `replicate` of seed `seed` (compared with a fresh copy advanced one draw at a time)."""
    fresh = RandomStreams(seed, replicate + 1).generators[replicate]
    for k in range(limit + 1):
        if torch.equal(fresh.get_state(), generator.get_state()):
            return k
        torch.rand(1, generator=fresh, dtype=torch.float64)
    raise AssertionError(f"more than {limit} draws")


def pairs_drawn(rare: RareSteps) -> list[int]:
    """The pairs of uniforms each replicate's level streams have drawn, summed over levels."""
    return np.bincount(rare.replicate, weights=rare.counter, minlength=rare.shape[0]).tolist()


# ------------------------------------------------------------------------------ the definition


@pytest.mark.parametrize("p", [0.01, 0.3, 0.75, 2.0**-7, 3e-6])
def test_rare_steps_are_those_of_the_definition(p: float) -> None:
    fn = Bernoulli(scale=10, C=101, p=p)
    a = fn.coefficients(1, 30_000, RandomStreams(4, 2)).a[:, 1]
    rare = (torch.nonzero(a == 1010.0)[:, 0] + 1).tolist()
    assert rare == bernoulli_rare_steps(4, p, 30_000, replicate=1)
    assert set(a.tolist()) == ({1010.0, -10.0} if p > 1e-5 else {-10.0})


# ------------------------------------------------------------------------------ common numbers


@pytest.mark.parametrize(
    ("p", "larger"),
    [(0.01, 0.0101), (0.01, 0.02), (0.004, 0.3), (0.3, 0.9), (2.0**-7, 0.01), (1e-5, 0.5)],
)
def test_rare_steps_at_p_are_among_those_at_a_larger_p(p: float, larger: float) -> None:
    """Same seed: every rare step at p is rare at p' > p, and the share of p' 's rare steps that
    are also rare at p is about p/p' (0.99 for 0.01 against 0.0101)."""
    sizes = [CHUNK, 4321, CHUNK]
    low = slopes(Bernoulli(1, 5, p), sizes, seed=3, replicates=2) > 0
    high = slopes(Bernoulli(1, 5, larger), sizes, seed=3, replicates=2) > 0
    assert bool((high | ~low).all())  # low ⊆ high
    if p * low.shape[0] > 100:
        shared = low.sum().item() / high.sum().item()
        assert abs(shared - p / larger) < 5 * math.sqrt(p / larger / high.sum().item()) + 0.01


def test_a_vector_problem_s_first_coordinate_is_the_1d_run() -> None:
    one = slopes(Bernoulli(10, 101, 0.01), [CHUNK, 999], seed=6, replicates=2)
    vector = slopes(
        VectorBernoulli(3, 10.0, [101.0, 5.0, 101.0], [0.01, 0.3, 0.01]),
        [CHUNK, 999],
        seed=6,
        replicates=2,
    )
    assert torch.equal(vector[..., 0], one)
    assert not torch.equal(vector[..., 2], one)  # another coordinate: its own streams


# ------------------------------------------------------------------------------ chunking


@pytest.mark.parametrize(
    "fn",
    [
        Bernoulli(10, 101, 0.01),
        Bernoulli(1, 5, 0.5),
        Theorem3(1, 101, 0.02),
        VectorBernoulli(4, 1.0, [5.0, 2.0, 1.0, 3.0], [0.3, 0.01, 0.0, 1.0]),
    ],
    ids=["stochastic", "half", "theorem3", "vector"],
)
def test_coefficients_do_not_depend_on_the_chunking(fn: object) -> None:
    total = 2 * CHUNK + 12_345
    by_chunk = slopes(fn, [CHUNK, CHUNK, 12_345], seed=7, replicates=3)
    odd = [1, 1, 2, 99, 1000, CHUNK - 1, 3, CHUNK + 5]
    odd.append(total - sum(odd))
    assert torch.equal(by_chunk, slopes(fn, odd, seed=7, replicates=3))
    assert torch.equal(by_chunk, slopes(fn, [total], seed=7, replicates=3))
    assert not torch.equal(by_chunk[:, 0], by_chunk[:, 1])  # each replicate its own stream


def test_asking_for_steps_already_drawn_is_an_error() -> None:
    fn, streams = Bernoulli(), RandomStreams(0, 1)
    fn.coefficients(1, 100, streams)
    with pytest.raises(ValueError, match="step 50"):
        fn.coefficients(50, 10, streams)


# ------------------------------------------------------------------------------ statistics


def test_rare_frequency_and_gaps_are_those_of_bernoulli_steps() -> None:
    """Over 2,000,000 steps (seed fixed): the count within 5σ of its binomial mean; the gaps'
    mean within 5σ of 1/p (a geometric gap's σ is √(1−p)/p) and P(gap = 1) within 5σ of p."""
    p, steps = 0.01, 2_000_000
    a = slopes(Bernoulli(10, 101, p), [CHUNK] * (steps // CHUNK) + [steps % CHUNK], seed=11)
    rare = torch.nonzero(a[:, 0] == 1010.0)[:, 0].numpy() + 1
    assert abs(len(rare) - steps * p) < 5 * math.sqrt(steps * p * (1 - p))
    gaps = np.diff(np.concatenate([[0], rare]))
    k = len(gaps)
    assert abs(gaps.mean() - 1 / p) < 5 * math.sqrt(1 - p) / p / math.sqrt(k)
    assert abs((gaps == 1).mean() - p) < 5 * math.sqrt(p * (1 - p) / k)
    # the tail: P(gap > m) = (1 − p)^m
    assert abs((gaps > 200).mean() - (1 - p) ** 200) < 5 * math.sqrt(0.14 * 0.86 / k)


def test_vector_coordinates_with_p_zero_and_one_draw_nothing() -> None:
    fn, streams = VectorBernoulli(2, 1.0, [5.0, 3.0], [0.0, 1.0]), RandomStreams(0, 2)
    a = fn.coefficients(1, 1000, streams).a  # [n, R, d]
    assert bool((a[..., 0] == -1.0).all()) and bool((a[..., 1] == 3.0).all())
    assert [draws_taken(g, 0, r, 0) for r, g in enumerate(streams.generators)] == [0, 0]
    assert pairs_drawn(streams._rare[(0.0, 1.0)]) == [0, 0]


def test_vector_coordinates_are_independent_with_their_own_p() -> None:
    fn = VectorBernoulli(dim=2, scale=1.0, C=[10.0, 20.0], p=[0.5, 0.1])
    a = fn.coefficients(1, 20_000, RandomStreams(3, 2)).a.numpy()  # [n, R, d]
    rare = a > 0
    assert abs(rare[..., 0].mean() - 0.5) < 0.02 and abs(rare[..., 1].mean() - 0.1) < 0.01
    assert abs(np.corrcoef(rare[:, 0, 0], rare[:, 0, 1])[0, 1]) < 0.03


# ------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize(("p", "expected"), [(0.0, -10.0), (1.0, 1010.0)])
def test_p_zero_is_never_rare_and_p_one_always_without_a_draw(p: float, expected: float) -> None:
    fn, streams = Bernoulli(10, 101, p), RandomStreams(2, 2)
    a = torch.cat([fn.coefficients(1, CHUNK, streams).a, fn.coefficients(CHUNK + 1, 9, streams).a])
    assert a.shape == (CHUNK + 9, 2) and bool((a == expected).all())
    assert pairs_drawn(streams._rare[(p,)]) == [0, 0]


@pytest.mark.parametrize("p", [1e-300, 5e-324, 1e-18])
def test_tiny_p_draws_huge_gaps_without_overflow(p: float) -> None:
    fn, streams = Bernoulli(10, 101, p), RandomStreams(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warning from numpy
        for start in range(1, 5 * CHUNK, CHUNK):
            assert bool((fn.coefficients(start, CHUNK, streams).a == -10.0).all())
    assert pairs_drawn(streams._rare[(p,)])[0] <= 8 * 41  # a handful of gaps a level, all huge


def test_p_near_one_is_rare_almost_always() -> None:
    a = Bernoulli(10, 101, 1 - 1e-9).coefficients(1, CHUNK, RandomStreams(0, 1)).a
    assert bool((a == 1010.0).all())


# ------------------------------------------------------------------------------ the draw count


@pytest.mark.parametrize("p", [0.01, 0.016, 0.3])
def test_a_chunk_draws_about_n_p_uniforms_not_n(p: float) -> None:
    """The levels from p's band down draw about n·r_j ≤ 2·n·p pairs (plus a margin a level),
    and none of the replicate's torch generator (kept for the uniform and normal draws)."""
    seed, replicates = 5, 3
    fn, streams = Bernoulli(10, 101, p), RandomStreams(seed, replicates)
    a = fn.coefficients(1, CHUNK, streams).a
    drawn = pairs_drawn(streams._rare[(p,)])
    for r, generator in enumerate(streams.generators):
        rare = int((a[:, r] == 1010.0).sum())
        assert rare < drawn[r] <= 2.5 * CHUNK * p + 8 * 41, (rare, drawn[r])
        assert draws_taken(generator, seed, r, 0) == 0
