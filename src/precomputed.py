"""Results computed ahead of their jobs (the batched launcher's one pass over many jobs:
`src.batched`), each waiting in this process for its job's run to log it, keyed by the job's
resolved config. A job takes its result once; a job with none computes as usual (`src.build`).
"""

from __future__ import annotations

import json

from omegaconf import DictConfig, OmegaConf

from src.engines.result import Result

_WAITING: dict[str, Result] = {}


def key(cfg: DictConfig) -> str:
    """The job's resolved config (without `hydra`) as text: equal configs, equal keys."""
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tree.pop("hydra", None)
    return json.dumps(tree, sort_keys=True, default=str)


def keep(cfg: DictConfig, result: Result) -> None:
    _WAITING[key(cfg)] = result


def take(cfg: DictConfig) -> Result | None:
    """The result computed ahead for `cfg`'s job (removed: a job logs it once), or None."""
    return _WAITING.pop(key(cfg), None) if _WAITING else None
