"""Checks of the `tracking` node: a store URI and an experiment name, and no password in the URI
(it would land in Hydra's files, logs and the store; it goes through the environment instead)."""

from __future__ import annotations

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
    why = uri_password_error(tracking.get("uri"))
    if why:
        yield why


def uri_password_error(uri: Any) -> str | None:
    """One line if `uri` carries a password (it would land in Hydra's files, logs and the store),
    saying how to pass it instead; None otherwise."""
    from src.tracking.store import carries_password, redact  # noqa: PLC0415

    if not isinstance(uri, str) or not carries_password(uri):
        return None
    return (
        f"tracking.uri={redact(uri)!r}: carries a password; pass it through the environment "
        "instead: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an MLflow server, "
        "PGPASSWORD or ~/.pgpass for PostgreSQL (MySQL: an option file)"
    )
