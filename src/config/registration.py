"""What Hydra must know before it composes the project's config: two resolvers and the schema.

Called by the entry points (`src.main`, `src.bench_job`, the tests), never on import, so that
importing the maths (`src.problems`, `src.engines`) loads neither Hydra nor OmegaConf.
"""

from __future__ import annotations

import secrets

from omegaconf import OmegaConf

from hydra_plugins.breaking_adam_user.user_searchpath import add_to_sys_path
from src import PROJECT_ROOT
from src.config import schema


def register() -> None:
    """Register the resolvers and the typed schema (idempotent)."""
    # ${project_root:} in conf/ resolves to this checkout, so every job writes to one store.
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)
    # ${unique:} is drawn once per launching process (cached, and Hydra copies the cache into
    # every job's config, as for ${now:}): two sweeps started in the same second get folders of
    # their own.
    OmegaConf.register_new_resolver(
        "unique", lambda: secrets.token_hex(3), use_cache=True, replace=True
    )
    schema.register()  # `base_config`, conf/config.yaml's first default
    add_to_sys_path()  # BREAKING_ADAM_USER_DIR's folders: a user's modules import (extending.md)
