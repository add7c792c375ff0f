"""Breaking Adam: the AMSGrad paper's counterexamples as Hydra sweeps tracked in MLflow."""

import secrets
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# ${project_root:} in conf/ resolves to this checkout, so every job writes to one store.
OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)
# ${unique:} is drawn once per launching process (cached, and Hydra copies the cache into every
# job's config, as for ${now:}): two sweeps started in the same second get folders of their own.
OmegaConf.register_new_resolver(
    "unique", lambda: secrets.token_hex(3), use_cache=True, replace=True
)

# The typed schema `base_config` (conf/config.yaml's first default) must be in Hydra's ConfigStore
# before any compose: registering it on `import src` covers the CLI, the compose API and tests.
from src.config import schema as _schema  # noqa: E402,F401
