"""A user's own folder, found through one switch: `BREAKING_ADAM_USER_DIR=<folder>[:<folder>…]`.

For each folder, `<folder>/conf` is appended to Hydra's config search path (after the project's
`conf/`: a user's `optim/adam.yaml` does not replace the project's), so `optim=signsgd` finds
`<folder>/conf/optim/signsgd.yaml`; and `<folder>` is put on `sys.path`, so its `_target_`
(`signsgd.SignSGD`) imports. Hydra calls this plugin whenever it composes a config (the command
line, a sweep's job configs, the compose API of `src.api` and the tests). See docs/extending.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

USER_ENV = "BREAKING_ADAM_USER_DIR"


def user_folders() -> list[Path]:
    """The folders `BREAKING_ADAM_USER_DIR` names, absolute (`~` expanded), in order."""
    given = os.environ.get(USER_ENV, "")
    return [Path(p).expanduser().resolve() for p in given.split(os.pathsep) if p.strip()]


def add_to_sys_path() -> None:
    """Each user folder on `sys.path` (after what is there: a user's module never shadows an
    installed one). Also called by `src.config.registration.register()`, which every process that
    runs a job calls (a joblib worker never composes a config)."""
    for folder in user_folders():
        if str(folder) not in sys.path:
            sys.path.append(str(folder))


class UserFolders(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for folder in user_folders():
            search_path.append(provider="breaking-adam-user", path=f"file://{folder / 'conf'}")
        add_to_sys_path()
