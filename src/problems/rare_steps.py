"""The Bernoulli problems' rare steps, with common random numbers across p.

A step is rare with probability p, independently of every other step. Every step t carries one
uniform mark U_t (per seed, replicate and coordinate), and t is rare at p exactly when U_t < p.
So at one seed the rare steps at p are a subset of those at any p' > p: a bisection or a search
over p (or over Theorem 3's δ) compares neighbours through the same draws, not through fresh
sampling noise.

Drawing U_t for every step would cost a uniform a step. Only the steps with a small mark are
drawn, as a ladder of independent sparse streams, one per level L = 0, 1, …, LAST:

- r_L = 2^−L; level L < LAST holds the steps with U_t ∈ [r_{L+1}, r_L) that no deeper level
  holds: a Bernoulli stream of rate q_L = (r_L − r_{L+1}) / (1 − r_{L+1}), each step with a
  mark uniform in [r_{L+1}, r_L). The last level holds U_t ∈ [0, r_LAST) at rate r_LAST.
- The levels L ≥ j together are a Bernoulli stream of rate r_j (by induction from the last:
  1 − (1 − r_{L+1})(1 − q_L) = r_L), every mark uniform below r_j.
- At p, with r_{j+1} < p ≤ r_j, the rare steps are the steps of levels L ≥ j whose mark is below
  p: all of the deeper levels' steps and level j's steps with a mark below p. Their rate is
  r_{j+1} + (1 − r_{j+1})·(p − r_{j+1}) / (1 − r_{j+1}) = p, every step independently.

Level L's k-th step (k = 0, 1, …) comes from the pair (U, V) = (u(2k), u(2k + 1)) of its
stream: its gap from the previous one G = 1 + ⌊log(1 − U)/log(1 − q_L)⌋ (Geometric(q_L) on
{1, 2, …}, by inversion) and its mark r_{L+1}·(1 + V) (r_LAST·V on the last level). A stream is
SplitMix64 (Steele, Lea & Flood 2014) read by counter: u(c) = mix64(key + (c + 1)·γ) / 2^64 to
53 bits, its key drawn by numpy's SeedSequence from (seed, replicate, coordinate), one per level.
Being counter-based, every stream of every replicate is drawn in one vectorised pass, and the
steps depend neither on the chunking nor on the levels in play. A chunk of n steps costs about
2·n·r_j ≤ 4·n·p uniforms. p ≥ 1: every step is rare, p ≤ 0: none, and neither draws.
Coordinate 0 is what a one-dimensional problem draws: coordinate 0 of `bernoulli_nd` is the 1-D
run with p_0 at the same seed, and every other coordinate an independent one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

LAST = 40  # the deepest level, rate 2^−40: p below it thins that level by its marks
BUDGET = 1 << 19  # rows drawn in one vectorised pass at most (memory: ~100 bytes a row)
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (uint64 in, uint64 out; arithmetic modulo 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniforms(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """u(c) ∈ [0, 1) of the streams `keys` at `counters` (53 bits, as numpy's random())."""
    bits = mix64(keys + (counters.astype(np.uint64) + np.uint64(1)) * GAMMA)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def band(p: float) -> int:
    """The level j with r_{j+1} < p ≤ r_j (the last level for p ≤ r_LAST), for 0 < p < 1."""
    mantissa, exponent = math.frexp(p)  # p = mantissa·2^exponent, mantissa ∈ [0.5, 1)
    return min(1 - exponent if mantissa == 0.5 else -exponent, LAST)


def level_rates(levels: np.ndarray) -> np.ndarray:
    """q_L, the rate of level L's own stream: r_{L+1}/(1 − r_{L+1}) (r_L = 2·r_{L+1}), and
    r_LAST for the last."""
    deeper = np.ldexp(1.0, -(levels + 1))
    return np.where(levels == LAST, 2.0**-LAST, deeper / (1.0 - deeper))


def stream_keys(seed: int, replicate: int, coordinate: int) -> np.ndarray:
    """The keys of levels 0, …, LAST for one (seed, replicate, coordinate)."""
    entropy = np.random.SeedSequence([seed, replicate, coordinate])
    return entropy.generate_state(LAST + 1, dtype=np.uint64)


class RareSteps:
    """The rare steps of every replicate and coordinate at probabilities p [d], asked chunk by
    chunk in order (see the module's docstring for the construction).

    Each stream s (a replicate, a coordinate, a level from p's band down) keeps the counter of
    its next pair and the position of its latest step; a step drawn past a chunk waits in
    `ahead` (position, mark) until the chunk that holds it."""

    def __init__(self, p: Sequence[float], seed: int, replicates: int) -> None:
        self.p = np.array([float(q) for q in p])
        self.shape = (replicates, len(self.p))
        rows = []
        for r in range(replicates):
            for i, q in enumerate(self.p):
                if 0 < q < 1:
                    keys, first = stream_keys(seed, r, i), band(q)
                    rows += [(r, i, level, keys[level]) for level in range(first, LAST + 1)]
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        self.replicate, self.coordinate, levels = (np.array(c, np.int64) for c in columns[:3])
        self.key = np.array(columns[3], np.uint64)
        self.rate = level_rates(levels)
        with np.errstate(divide="ignore"):
            self.log_q = np.log1p(-self.rate)  # −inf for level 0 (rate 1): every gap is 1
        self.low = np.where(levels == LAST, 0.0, np.ldexp(1.0, -(levels + 1)))
        self.width = np.ldexp(1.0, -levels) - self.low
        self.below = self.p[self.coordinate]  # a step is rare when its mark is below this
        self.counter = np.zeros(len(levels), np.int64)  # the next pair's index
        self.last = np.zeros(len(levels), np.int64)  # the latest step drawn (0: none yet)
        self.ahead = np.full(len(levels), -1, np.int64)  # a step drawn past the chunk (-1: none)
        self.ahead_mark = np.zeros(len(levels))
        self.covered = 0  # the steps 1, …, covered are done with
        self.drawn = 0  # pairs of uniforms drawn so far, over every stream

    def take(self, start: int, n: int) -> np.ndarray:
        """Which steps of [start, start + n − 1] are rare: a boolean [n, R, d]; steps before
        start not yet asked for are skipped."""
        if start <= self.covered:
            raise ValueError(
                f"the rare steps up to step {self.covered} are drawn: step {start} cannot be "
                "asked again (ask for the steps in order)"
            )
        end = start + n - 1
        rare = np.zeros((n, *self.shape), dtype=bool)
        rare[:, :, self.p >= 1] = True
        waiting = self.ahead >= 0
        due = np.flatnonzero(waiting & (self.ahead <= end))
        self._mark(rare, start, due, self.ahead[due], self.ahead_mark[due])
        self.ahead[due] = -1
        pending = np.flatnonzero(~waiting | (self.ahead <= end))
        while len(pending):
            pending = self._draw(rare, start, end, pending)
        self.covered = end
        return rare

    def _mark(
        self, rare: np.ndarray, start: int, s: np.ndarray, steps: np.ndarray, marks: np.ndarray
    ) -> None:
        """Set the steps of streams s (within the chunk, from its start) whose mark is below p."""
        keep = (steps >= start) & (marks < self.below[s])
        rare[steps[keep] - start, self.replicate[s[keep]], self.coordinate[s[keep]]] = True

    def _draw(self, rare: np.ndarray, start: int, end: int, pending: np.ndarray) -> np.ndarray:
        """One vectorised pass over streams `pending` (every step ≤ end handed out): the steps
        drawn in the chunk are marked, the first past it waits in `ahead`. Returns the streams
        that have not drawn past `end` yet (more rows next pass)."""
        expected = (end - self.last[pending]) * self.rate[pending]
        rows = (expected + 4.0 * np.sqrt(expected)).astype(np.int64) + 8
        fits = np.cumsum(rows) <= max(BUDGET, int(rows[0]))  # this pass: what fits the budget
        later, pending, rows = pending[~fits], pending[fits], rows[fits]
        stream = np.repeat(pending, rows)
        offsets = np.cumsum(rows) - rows  # each stream's first row in the flat arrays
        index = np.arange(len(stream)) - np.repeat(offsets, rows)  # 0, 1, … within a stream
        counter = 2 * (self.counter[stream] + index)
        u = uniforms(self.key[stream], counter)
        v = uniforms(self.key[stream], counter + 1)
        self.drawn += len(stream)
        gaps = 1 + np.floor(np.log1p(-u) / self.log_q[stream]).astype(np.int64)
        total = np.cumsum(gaps)
        before = np.repeat(total[offsets] - gaps[offsets], rows)  # the sum before each stream
        steps = self.last[stream] + total - before
        marks = self.low[stream] + self.width[stream] * v
        inside = steps <= end
        self._mark(rare, start, stream[inside], steps[inside], marks[inside])
        # per stream: how many rows fell inside (steps ascend), the first one past is `ahead`
        count = np.add.reduceat(inside.astype(np.int64), offsets)
        done = count < rows
        first_out = offsets[done] + count[done]
        s = pending[done]
        self.ahead[s], self.ahead_mark[s] = steps[first_out], marks[first_out]
        self.last[s], self.counter[s] = steps[first_out], self.counter[s] + count[done] + 1
        full = pending[~done]  # every row inside: draw on from the last one
        self.last[full] = steps[offsets[~done] + rows[~done] - 1]
        self.counter[full] += rows[~done]
        return np.concatenate([full, later])
