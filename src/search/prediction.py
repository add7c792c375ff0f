"""A bisection's prediction from a job's config: the optimizer's own boundary (the sign change of
its drift per period, `src.search.drift`) and the problem's (where x* flips), where they are
known in closed form: torch.optim.Adam (AMSGrad too) at a constant rate on `Periodic`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from src.search.drift import adam_drift, periodic_slopes, sign_change

ADAM = "torch.optim.Adam"
PERIODIC = "src.problems.functions.Periodic"


@dataclass
class Prediction:
    optimizer: float | None  # where the drift per period changes sign in the bracket
    problem: float | None  # where x* flips (a property of the problem, not of the optimizer)
    why: str  # how it was computed, or why there is none


def drift_at(job: DictConfig, key: str) -> Callable[[float], float] | str:
    """D(value): the drift per period with `key` set to value; or why there is none."""
    if str(job.optim.get("_target_")) != ADAM or float(job.optim.get("weight_decay", 0)) != 0:
        return f"no drift prediction for optim {job.optim.get('_target_')} (Adam only)"
    if str(job.fn.get("_target_")) != PERIODIC:
        return f"no drift prediction for fn {job.fn.get('_target_')} (Periodic only)"
    if str(job.schedule.name) != "constant":
        return f"no drift prediction for schedule {job.schedule.name} (constant only)"

    parts = {k: OmegaConf.to_container(job[k], resolve=True) for k in ("optim", "fn")}

    def drift(value: float) -> float:
        node = OmegaConf.create(parts)
        OmegaConf.update(node, key, int(round(value)) if key == "fn.period" else value)
        optim, fn = node.optim, node.fn
        slopes = periodic_slopes(float(fn.scale), float(fn.C), int(fn.period))
        beta1, beta2 = (float(b) for b in optim.betas)
        return adam_drift(slopes, float(optim.lr), beta1, beta2, float(optim.eps), optim.amsgrad)

    return drift


def predict(job: DictConfig, key: str, low: float, high: float, log_scale: bool) -> Prediction:
    """The predicted boundaries of `key` in [low, high] for the job's config `job`."""
    flip = None
    if str(job.fn.get("_target_")) == PERIODIC:
        flip = {"fn.C": float(job.fn.period) - 1, "fn.period": float(job.fn.C) + 1}.get(key)
    drift = drift_at(job, key)
    if isinstance(drift, str):
        return Prediction(None, flip, drift)
    boundary = sign_change(drift, low, high, log_scale)
    why = "the sign change of Adam's drift per period at its stationary cycle (src/search/drift.py)"
    if boundary is None:
        why = "Adam's drift per period has one sign over the bracket: no predicted boundary"
    return Prediction(boundary, flip, why)
