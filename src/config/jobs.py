"""Every job of a multirun, composed before any of them runs (through Hydra's public API).

Hydra's basic sweeper runs the cartesian product of the swept overrides (`hydra.sweeper.params`
first, then the command line; a key given twice keeps its last value at its first position). This
module builds the same list, in the same order, and composes each job's config, so that a sweep can
be checked as a whole before its parent run exists. Another sweeper (Optuna, a bisection) picks its
values as it goes: then only the base config is known in advance.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"  # its _target_ string


def sweep_overrides(config: DictConfig) -> list[list[str]] | None:
    """The override list of every job the basic sweeper will launch, or None for another sweeper."""
    if str(config.hydra.sweeper.get("_target_")) != BASIC_SWEEPER:
        return None
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    choices: dict[str, list[str]] = {}
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    for override in parser.parse_overrides(arguments):  # the loader expands glob(...)
        key = override.get_key_element()
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


def swept_keys(config: DictConfig) -> list[str]:
    """The keys whose value differs between the jobs of the sweep (a search's search space for
    another sweeper), in the order given."""
    jobs = sweep_overrides(config)
    if jobs is None:  # another sweeper: the keys it picks values for (a range, a choice)
        params = config.hydra.sweeper.get("params") or {}
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        bisected = config.hydra.sweeper.get("key")  # a bisection's one key, and its sweeps
        given = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        parsed += OverridesParser.create().parse_overrides(given) if bisected else []
        keys = [o.get_key_element() for o in parsed if o.is_sweep_override()]
        return keys + ([str(bisected)] if bisected else [])
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job:
            key, _, value = override.partition("=")
            values.setdefault(key.lstrip("+~"), set()).add(value)
    return [key for key, seen in values.items() if len(seen) > 1]


def job_configs(config: DictConfig) -> Iterator[tuple[str, DictConfig | Exception]]:
    """(label, the job's config without its `hydra` node — or the composition error) per job."""
    jobs = sweep_overrides(config)
    if jobs is None:
        yield "base config", job_config(config)
        return
    loader = GlobalHydra.instance().config_loader()
    hidden = tuple(
        f"{k}=" for k in config.hydra.job.config.override_dirname.get("exclude_keys") or ()
    )
    for number, overrides in enumerate(jobs):
        shown = [o for o in overrides if not o.lstrip("+~").startswith(hidden)]
        label = f"job {number} ({','.join(shown) or 'defaults'})"
        try:
            yield label, job_config(loader.load_sweep_config(config, list(overrides)))
        except Exception as error:  # noqa: BLE001  (a composition error is one line too)
            yield label, error


def job_config(config: DictConfig) -> DictConfig:
    """The job's own config, as the task function sees it (without the `hydra` node)."""
    return OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
