"""Checks of the `tracking` node: a store URI and an experiment name, and no password in the URI
(it would land in Hydra's files, logs and the store; it goes through the environment instead)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from src.config.values import show


def tracking_problems(tree: dict) -> Iterator[str]:
    tracking = tree.get("tracking")
    if not isinstance(tracking, dict):
        yield f"tracking={show(tracking)}: must be a mapping with keys uri, experiment"
        return
    from src.tracking.store import redact  # noqa: PLC0415

    for key in ("uri", "experiment"):
        value = tracking.get(key)
        if not isinstance(value, str) or not value.strip():
            shown = redact(value) if isinstance(value, str) else show(value)
            yield f"tracking.{key}={shown!r}: must be a non-empty string"
    experiment = tracking.get("experiment")
    if isinstance(experiment, str) and len(experiment) > EXPERIMENT_NAME_MAX:
        yield (
            f"tracking.experiment={experiment[:24]!r}… ({len(experiment):,} characters): MLflow "
            f"takes at most {EXPERIMENT_NAME_MAX}"
        )
    why = uri_password_error(tracking.get("uri"))
    if why:
        yield why


def uri_password_error(uri: Any) -> str | None:
    """One line if `uri` carries a password (it would land in Hydra's files, logs and the store),
    saying how to pass it instead; None otherwise."""
    from src.tracking.redaction import carries_password, redact  # noqa: PLC0415

    if not isinstance(uri, str) or not carries_password(uri):
        return None
    return (
        f"tracking.uri={redact(uri)!r}: carries a password; pass it through the environment "
        "instead: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an MLflow server, "
        "PGPASSWORD or ~/.pgpass for PostgreSQL (MySQL: an option file)"
    )


EXPERIMENT_NAME_MAX = 500  # MLflow's limit on an experiment's name (its store refuses longer)
ENV_RESOLVER = re.compile(r"\$\{\s*oc\.env\s*:")  # OmegaConf's resolver that reads a variable
ENV_ALLOWED = ("hydra.launcher.",)  # a launcher's own settings (RAY_ADDRESS, SLURM_PARTITION)
OVERRIDES = ("hydra.overrides.", "hydra.job.override_dirname")  # the command line as typed


def environment_reads(tree: Any, prefix: str = "") -> Iterator[str]:
    """One line per value outside `ENV_ALLOWED` that reads an environment variable
    (`${oc.env:…}`): the variable's value would be logged as a param or a name and written to
    Hydra's files, and the environment is where passwords live (docs/errors.md). `tree` is the
    config unresolved (`OmegaConf.to_container(cfg, resolve=False)`)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in sorted(items, key=lambda item: item[0] == "hydra"):  # the job's keys first
        path = f"{prefix}{key}"
        if path.startswith(OVERRIDES):
            continue
        if isinstance(value, dict | list):
            yield from environment_reads(value, f"{path}.")
        elif isinstance(value, str) and ENV_RESOLVER.search(value):
            if not path.startswith(ENV_ALLOWED):
                yield (
                    f"{path}={value!r}: reads an environment variable (oc.env), which may hold a "
                    "secret and would be logged and written to .hydra/; only hydra.launcher.* "
                    "may: give the value itself"
                )
