"""One search trial: run the job, return its scale-free objective to the sweeper.

The trial's config carries a `search` node (conf/search/*.yaml; checked with the rest of the config
by `src.config.checks` before anything runs):

- `search.objective`: the final metric the sweeper optimises, `final_distance` =
  |x_{T+1} − x*| / diam(F), `final_distance_max` (its worst coordinate on a d-dimensional
  problem, so that one broken coordinate of d is not diluted by the norm; final_distance in 1-D)
  or `final_avg_regret_norm` = (R_T/T) / G (`src.problems.regret.RunResult.scale_free`);
- `search.reference`: null, or an optimizer node (as in conf/optim/) run on the *same* problem as
  a second child run; the objective is then the difference

      objective(optim) − objective(reference),

  large only where the searched optimizer fails AND the reference does not (for break_adam:
  Adam's final_distance minus AMSGrad's, ≥ 0.8 exactly when "Adam ≥ 0.9, AMSGrad < 0.1" can hold).

The trial's run gets the metric `search_objective` (and `reference_<objective>`) and the tag
`search.role=trial`; the reference's run the tags `search.role=reference` and `search.trial_run`.
Nothing is computed twice: the objective is the run's own logged final.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from omegaconf import DictConfig, open_dict

from src.tracking import store as tracking

OBJECTIVE_METRIC = "search_objective"


class Finals(Protocol):
    info: dict

    def finals(self) -> dict[str, float]: ...


def reference_config(cfg: DictConfig) -> DictConfig:
    """The trial's config with `optim` replaced by `search.reference` (the same problem)."""
    reference = cfg.copy()
    with open_dict(reference):
        reference.optim = cfg.search.reference
        reference.search = None
    return reference


def objective_of(result: Finals, name: str) -> float:
    """The run's final `name` (`final_distance_max` of a 1-D run: its `final_distance`); NaN when
    it has none (F unbounded), which the sweeper ranks last."""
    finals = result.finals()
    if name == "final_distance_max" and name not in finals:
        name = "final_distance"
    return float(finals.get(name, float("nan")))


def search_trial(
    cfg: DictConfig,
    run: Callable[..., Finals],
    name: str,
    choices: dict[str, str],
    reference_choice: str | None = None,
) -> float:
    """Run the trial `run(cfg, run_name=..., choices=...)` (and its reference), log the objective
    on the trial's run, and return it."""
    objective = str(cfg.search.objective)
    result = run(cfg, run_name=name, choices=choices)
    value = objective_of(result, objective)
    client, _ = tracking.connect(str(cfg.tracking.uri), str(cfg.tracking.experiment))
    run_id = result.info["run_id"]
    extra: dict[str, Any] = {}
    if cfg.search.get("reference") is not None:
        ref_choices = {**choices, "optim": reference_choice or "reference"}
        ref_name = name.replace(choices.get("optim", ""), ref_choices["optim"], 1)
        ref = run(reference_config(cfg), run_name=ref_name, choices=ref_choices)
        ref_value = objective_of(ref, objective)
        extra[f"reference_{objective}"] = ref_value
        value -= ref_value
        tracking.set_tags(
            client, ref.info["run_id"], {"search.role": "reference", "search.trial_run": run_id}
        )
        tracking.set_tags(client, run_id, {"search.reference_run": ref.info["run_id"]})
    tracking.set_tags(client, run_id, {"search.role": "trial"})
    tracking.log_metrics(client, run_id, {OBJECTIVE_METRIC: value, **extra}, step=0)
    return value
