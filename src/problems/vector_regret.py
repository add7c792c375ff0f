"""Exact regret in d dimensions: the best fixed point in hindsight, the book, the run's result.

R_t = Σ_{s≤t} f_s(x_s) − min_{x∈F} Σ_{s≤t} f_s(x), with Σ_s f_s(x) = Aᵀx + ½ Σ_i B_i x_i²
(separable) or Aᵀx + ½ t·xᵀQx (coupled; `src.problems.vector`). The minimum over F:

- box [lo, hi]^d, separable: per coordinate, the 1-D closed form (`regret.best_fixed_loss`);
- ball ‖x‖ ≤ r, separable: x_i = −A_i/(B_i + μ) with μ ≥ 0 the root of ‖x(μ)‖ = r (or μ = 0
  when the unconstrained minimiser lies inside), found by bisection to machine precision
  (`secular_root`, the same 1-D root find as the weighted projection's);
- ball, coupled: the same in the eigenbasis of Q = Rᵀ D R (z = R x: A → R A, B = t·D);
- box, coupled: a convex box-constrained QP, solved by exact coordinate descent to a fixed
  point, then polished by solving the KKT system on its free set (`box_qp`).

Loss sums are float64 whatever the run's dtype; the comparator is evaluated at the logged steps
and the last one only (the rest of R_t is never read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor

from src.problems.functions import Coefficients
from src.problems.regret import (
    DIVERGED,
    RunResult,
    Tail,
    Windows,
    band_histories,
    best_fixed_loss,
    running_sum,
)
from src.problems.spread import spreads


@numba.njit(cache=True)
def secular_root(num: np.ndarray, den: np.ndarray, radius: float) -> float:
    """The μ ≥ 0 with Σ_i (num_i / (den_i + μ))² = radius² (den ≥ 0; terms with num_i = 0 left
    out), or 0 when the sum at μ = 0 is already ≤ radius² (then x = num/den, 0/0 read as 0).

    ‖x(μ)‖ is strictly decreasing in μ, so bisection on [0, ‖num‖/radius] (where ‖x‖ ≤ radius)
    finds it; it stops when the bracket is two adjacent floats and returns its upper end, so
    ‖x(μ)‖ ≤ radius up to one rounding."""
    inside = True
    total = 0.0
    for i in range(num.shape[0]):
        if num[i] != 0.0:
            if den[i] <= 0.0:
                inside = False
                break
            total += (num[i] / den[i]) ** 2
    if inside and total <= radius * radius:
        return 0.0
    norm = 0.0
    for i in range(num.shape[0]):
        norm += num[i] * num[i]
    lo, hi = 0.0, np.sqrt(norm) / radius
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        total = 0.0
        for i in range(num.shape[0]):
            if num[i] != 0.0:
                total += (num[i] / (den[i] + mid)) ** 2
        if total > radius * radius:
            lo = mid
        else:
            hi = mid
    return hi


@numba.njit(cache=True)
def weighted_ball_rows(y: np.ndarray, w: np.ndarray, radius: float, out: np.ndarray) -> None:
    """out[r] ← argmin over ‖x‖ ≤ radius of Σ_i w_ri (x_i − y_ri)² for each row r (out = y
    on entry); see `src.problems.projections.weighted_ball_projection`."""
    d = y.shape[1]
    weights = np.empty(d)
    for r in range(y.shape[0]):
        if (y[r] * y[r]).sum() <= radius * radius:
            continue
        weights[:] = w[r]
        if (weights == 0.0).all():
            weights[:] = 1.0
        lam = secular_root(y[r] * weights, weights, radius)
        for i in range(d):
            out[r, i] = y[r, i] * weights[i] / (weights[i] + lam) if weights[i] > 0 else 0.0


def ball_minimiser(A: np.ndarray, B: np.ndarray, radius: float) -> np.ndarray:
    """argmin over ‖x‖ ≤ radius of Aᵀx + ½ Σ B_i x_i² (B ≥ 0), rows of A, B [..., d]."""
    A2, B2 = np.atleast_2d(A), np.broadcast_to(B, np.shape(A)).reshape(np.atleast_2d(A).shape)
    x = np.zeros_like(A2, dtype=np.float64)
    for r in range(A2.shape[0]):
        mu = secular_root(-A2[r], B2[r], radius)
        den = B2[r] + mu
        x[r] = np.where(A2[r] == 0.0, 0.0, -A2[r] / np.where(den > 0, den, 1.0))
    return x.reshape(np.shape(A))


@numba.njit(cache=True)
def _coordinate_descent(
    A: np.ndarray, H: np.ndarray, lo: float, hi: float, x: np.ndarray
) -> np.ndarray:
    """min over [lo, hi]^d of Aᵀx + ½ xᵀHx (H PSD): exact minimisation along each coordinate in
    turn, until a sweep changes nothing (or 100,000 sweeps). Converges for any PSD H."""
    d = A.shape[0]
    for _ in range(100_000):
        change = 0.0
        for i in range(d):
            g = A[i]
            for j in range(d):
                g += H[i, j] * x[j]
            if H[i, i] > 0.0:
                new = min(max(x[i] - g / H[i, i], lo), hi)
            elif g > 0.0:
                new = lo
            elif g < 0.0:
                new = hi
            else:
                new = x[i]
            change = max(change, abs(new - x[i]))
            x[i] = new
        if change == 0.0:
            break
    return x


def box_qp(A: np.ndarray, H: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """argmin over [lo, hi]^d of Aᵀx + ½ xᵀHx (H symmetric PSD) for one A [d]: coordinate
    descent, then the KKT polish: on the free set F (lo < x_i < hi) solve H_FF x_F =
    −(A_F + H_{F,bound} x_bound); kept if it is feasible and lowers (or keeps) the loss."""
    x = _coordinate_descent(A, H, lo, hi, np.clip(np.zeros_like(A), lo, hi))
    free = (x > lo) & (x < hi)
    if free.any():
        polished = x.copy()
        rhs = -(A[free] + H[np.ix_(free, ~free)] @ x[~free])
        try:
            polished[free] = np.linalg.solve(H[np.ix_(free, free)], rhs)
        except np.linalg.LinAlgError:
            return x
        feasible = ((polished >= lo) & (polished <= hi)).all()
        if feasible and quadratic(A, H, polished) <= quadratic(A, H, x):
            return polished
    return x


def quadratic(A: np.ndarray, H: np.ndarray, x: np.ndarray) -> float:
    return float(A @ x + 0.5 * x @ H @ x)


@dataclass
class Comparator:
    """The set F regret compares against: kind 'box' ([low, high]^d) or 'ball' (‖x‖ ≤ radius),
    and the problem's fixed Hessian Q (None: separable)."""

    kind: str
    low: float = -1.0
    high: float = 1.0
    radius: float = 1.0
    hessian: np.ndarray | None = None

    def minimiser(self, A: np.ndarray, B: np.ndarray | None, t: int) -> np.ndarray:
        """argmin_{x∈F} of Aᵀx + ½ Σ B_i x_i² (separable) or Aᵀx + ½ t·xᵀQx, rows [R, d]."""
        A = np.asarray(A, np.float64)
        if self.hessian is None:
            B = np.zeros_like(A) if B is None else np.asarray(B, np.float64)
            if self.kind == "box":
                return np.where(
                    B > 0,
                    np.clip(-A / np.where(B > 0, B, 1.0), self.low, self.high),
                    np.where(A > 0, self.low, self.high),
                )
            return ball_minimiser(A, B, self.radius)
        H = t * self.hessian
        if self.kind == "box":
            return np.stack([box_qp(row, H, self.low, self.high) for row in A])
        eigenvalues, vectors = np.linalg.eigh(H)  # H = V Λ Vᵀ; z = Vᵀx
        z = ball_minimiser(A @ vectors, np.clip(eigenvalues, 0.0, None), self.radius)
        return z @ vectors.T

    def diameter(self, dim: int) -> float:
        """diam(F) in the Euclidean norm: (high − low)·√d for the box, 2·radius for the ball."""
        return (self.high - self.low) * np.sqrt(dim) if self.kind == "box" else 2 * self.radius

    def width(self) -> float:
        """F's extent along one axis: high − low for the box, 2·radius for the ball."""
        return self.high - self.low if self.kind == "box" else 2 * self.radius

    def best_loss(self, A: np.ndarray, B: np.ndarray | None, t: int) -> np.ndarray:
        """min_{x∈F} of the summed loss, per row [R] (float64)."""
        A = np.asarray(A, np.float64)
        if self.hessian is None and self.kind == "box":  # the 1-D closed form, per coordinate
            Bz = np.zeros_like(A) if B is None else np.asarray(B, np.float64)
            return best_fixed_loss(A, Bz, self.low, self.high).sum(-1)
        x = self.minimiser(A, B, t)
        return summed_loss(A, B, t, self.hessian, x)


def summed_loss(
    A: np.ndarray, B: np.ndarray | None, t: int, hessian: np.ndarray | None, x: np.ndarray
) -> np.ndarray:
    """Aᵀx + ½ Σ B_i x_i² (+ ½ t·xᵀQx), per row."""
    loss = (A * x).sum(-1)
    if B is not None:
        loss = loss + 0.5 * (np.asarray(B) * x * x).sum(-1)
    if hessian is not None:
        loss = loss + 0.5 * t * np.einsum("ri,ij,rj->r", x, hessian, x)
    return loss


@dataclass
class VectorRunResult(RunResult):
    """A d-dimensional run: `x`, `x_min`, `x_max` [P, R, d], `final_x` [R, d], `tail_x`
    [3, R, d]; regret as in 1-D. Logged per coordinate (`x_0`, `x_1`, …) and as the norm ‖x‖
    (`x_norm`)."""

    def histories(self) -> dict[str, np.ndarray]:
        """x_i for every coordinate, ‖x‖ and R_t/t: means over replicates, and with R > 1 their
        standard deviations over replicates (`<name>_std`)."""
        rows = {f"x_{i}": self.x[:, :, i] for i in range(self.x.shape[2])}
        rows["x_norm"] = np.linalg.norm(self.x, axis=2)
        return band_histories({**rows, "avg_regret": self.avg_regret})

    def finals(self) -> dict[str, float]:
        """As in 1-D (`RunResult.finals`) per replicate: final_x_i and final_x_norm (x_{T+1}),
        R_T, R_T/T, the tail's tail_x_i_mean; the tail's _min and _max over all replicates."""
        out = {
            "steps_per_second": self.steps_done / max(self.elapsed, 1e-9),
            "steps_done": float(self.steps_done),
        }
        if self.tail_x is not None and not np.isnan(self.tail_x).any():
            for i in range(self.tail_x.shape[2]):
                out[f"tail_x_{i}_min"] = float(self.tail_x[1, :, i].min())
                out[f"tail_x_{i}_max"] = float(self.tail_x[2, :, i].max())
        return {**spreads(self.per_replicate()), **out}

    def per_replicate(self) -> dict[str, np.ndarray]:
        dim = self.final_x.shape[1]
        out = {f"final_x_{i}": self.final_x[:, i] for i in range(dim)}
        out["final_x_norm"] = np.linalg.norm(self.final_x, axis=1)
        out.update(final_regret=self.final_regret, final_avg_regret=self.final_avg_regret)
        if self.tail_x is not None and not np.isnan(self.tail_x).any():
            out.update({f"tail_x_{i}_mean": self.tail_x[0, :, i] for i in range(dim)})
        return {**out, **self.scale_free_per_replicate()}

    def scale_free_per_replicate(self) -> dict[str, np.ndarray]:
        """`final_distance` = ‖x_{T+1} − x*‖ / diam(F), as in 1-D with the Euclidean norm, and
        `final_distance_max` = max_i |x_{T+1,i} − x*_i| / w, w the width of F along an axis
        (high − low for the box, 2·radius for the ball): the worst coordinate, which a norm over
        d coordinates would dilute by up to 1/√d. None if the run diverged or F is unbounded."""
        if self.best_x is None or self.scales is None or self.status == DIVERGED:
            return {}
        gap = np.abs(self.final_x - self.best_x)
        return {
            "final_distance": np.linalg.norm(gap, axis=1) / self.scales[0],
            "final_distance_max": gap.max(axis=1) / (self.width or np.nan),
        }


class VectorRegretBook:
    """Accumulates Σ f_t(x_t), Σ a_t and Σ b_t per replicate ([R], [R, d]) chunk by chunk, in
    float64; the comparator at the logged steps and the last valid one."""

    def __init__(self, comparator: Comparator, log_steps: np.ndarray, x0: Tensor) -> None:
        replicates, dim = x0.shape
        self.comparator, self.log_steps = comparator, log_steps
        self.hessian = comparator.hessian
        self.loss = torch.zeros(replicates, dtype=torch.float64)
        self.A = torch.zeros(replicates, dim, dtype=torch.float64)
        self.B: Tensor | None = None
        self.x_last = x0.detach().to(torch.float64).clone()
        self.steps_done = 0
        self.logged: list[np.ndarray] = []
        self.rows_x: list[Tensor] = []
        self.rows_regret: list[Tensor] = []
        self.regret_last = torch.zeros(replicates, dtype=torch.float64)
        self.tail = Tail(int(log_steps[-1]), (replicates, dim))
        self.windows = Windows((replicates, dim))

    def losses(self, coeffs: Coefficients, x_at: Tensor) -> Tensor:
        """f_t(x_t) [n, R] (constants dropped) for x_at [n, R, d]."""
        a = coeffs.a[: len(x_at)].expand_as(x_at)
        out = (a * x_at).sum(-1)
        if coeffs.b is not None:
            out = out + 0.5 * (coeffs.b[: len(x_at)].expand_as(x_at) * x_at * x_at).sum(-1)
        if self.hessian is not None:
            q = torch.from_numpy(self.hessian)
            out = out + 0.5 * torch.einsum("nri,ij,nrj->nr", x_at, q, x_at)
        return out

    def add_chunk(self, start: int, coeffs: Coefficients, x_after: Tensor) -> int:
        """Book steps start..start+n−1 given x after each of them [n, R, d]; returns how many
        were finite."""
        n = x_after.shape[0]
        x_after = x_after.detach().to(torch.float64)
        x_at = torch.cat([self.x_last.unsqueeze(0), x_after[:-1]])
        a = coeffs.a[:n].expand_as(x_after)
        cum_loss = running_sum(self.loss, self.losses(coeffs, x_at))
        cum_A = running_sum(self.A, a)
        cum_B = None
        if coeffs.b is not None:
            carry = self.B if self.B is not None else torch.zeros_like(self.A)
            cum_B = running_sum(carry, coeffs.b[:n].expand_as(x_after))
        finite = torch.isfinite(x_after).flatten(1).all(1) & torch.isfinite(cum_loss).all(1)
        valid = n if bool(finite.all()) else int(torch.nonzero(~finite)[0, 0])
        if valid == 0:
            return 0
        t = np.arange(start, start + valid)
        rows = np.nonzero(np.isin(t, self.log_steps))[0]
        needed = np.union1d(rows, [valid - 1])
        regret = {
            int(k): cum_loss[k] - torch.from_numpy(self.best(cum_A[k], cum_B, k, int(t[k])))
            for k in needed
        }
        if len(rows):
            self.logged.append(t[rows])
            self.rows_x.append(x_after[rows])
            self.rows_regret.append(torch.stack([regret[int(k)] / float(t[k]) for k in rows]))
        self.tail.add(t, x_after[:valid])
        self.windows.add(x_after[:valid].numpy(), rows)
        self.loss, self.A = cum_loss[valid - 1], cum_A[valid - 1]
        if cum_B is not None:
            self.B = cum_B[valid - 1]
        self.x_last = x_after[valid - 1]
        self.regret_last = regret[valid - 1]
        self.steps_done = start + valid - 1
        return valid

    def best(self, A: Tensor, cum_B: Tensor | None, k: int, t: int) -> np.ndarray:
        B = None if cum_B is None else cum_B[k].numpy()
        return self.comparator.best_loss(A.numpy(), B, t)

    def result(self, status: str, reason: str = "", elapsed: float = 0.0) -> VectorRunResult:
        replicates, dim = self.A.shape
        steps = np.concatenate(self.logged) if self.logged else np.zeros(0, np.int64)
        xs = torch.cat(self.rows_x) if self.rows_x else torch.zeros(0, replicates, dim)
        regrets = torch.cat(self.rows_regret) if self.rows_regret else torch.zeros(0, replicates)
        extra = bool(self.steps_done) and (len(steps) == 0 or steps[-1] != self.steps_done)
        if extra:
            steps = np.append(steps, self.steps_done)
            xs = torch.cat([xs.to(torch.float64), self.x_last.unsqueeze(0)])
            regrets = torch.cat(
                [regrets.to(torch.float64), (self.regret_last / self.steps_done)[None]]
            )
        return VectorRunResult(
            steps,
            xs.to(torch.float64).numpy(),
            regrets.to(torch.float64).numpy(),
            self.x_last.numpy().copy(),
            self.regret_last.numpy().copy(),
            self.steps_done,
            status,
            reason,
            elapsed,
            tail_x=self.tail.stats(),
            best_x=self.best_point(),
            scales=(self.comparator.diameter(dim), None),
            width=self.comparator.width(),
            x_min=self.windows.arrays(extra)[0],
            x_max=self.windows.arrays(extra)[1],
        )

    def best_point(self) -> np.ndarray:
        """x* [R, d], the best fixed point in hindsight of the steps booked (`Comparator`)."""
        B = None if self.B is None else self.B.numpy()
        return self.comparator.minimiser(self.A.numpy(), B, self.steps_done)
