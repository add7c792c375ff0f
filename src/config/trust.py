"""Which configuration may name code to run: the trust model (docs/errors.md, "Code from
configuration"), enforced on the command line before Hydra reads it.

- Code is named by the config files the project ships (its groups, its presets, its callbacks and
  launchers) and by the folders a user adds (`BREAKING_ADAM_USER_DIR`, `--config-dir`): a config
  folder you add is trusted as a Python module you import is.
- On the command line, a value is data, with two exceptions checked where they are used: a
  group's own `_target_` (`optim._target_=mypkg.SignSGD`: a class, imported to run it) and a
  group choice (`hydra/launcher=joblib`: a shipped or added config file). Everything under
  `hydra.` that names code — a callback, a logging handler, any `_target_` — is refused here,
  before Hydra instantiates its callbacks (it does so before any of the project's code sees the
  config). A nested `_target_` elsewhere is refused by the value checks (`src.config.values`).
"""

from __future__ import annotations

import re

CODE_KEYS = re.compile(r"^hydra\.(callbacks\b|.*_target_|.*\b(handlers|filters|formatters)\b)")
TARGET_IN_VALUE = re.compile(r"[{,]\s*_target_\s*:")  # a dict value naming a class: {_target_: …}


def code_override(overrides: list[str]) -> str | None:
    """One line if one of the command line's `overrides` names code under `hydra.`."""
    for argument in overrides:
        key, equals, value = argument.partition("=")
        key = key.lstrip("+~")
        if not equals or not key.startswith("hydra."):
            continue
        if CODE_KEYS.match(key) or TARGET_IN_VALUE.search(value):
            return (
                f"{key}: the command line may not name code under hydra. (callbacks, logging "
                "handlers, _target_); put it in a config file you add with "
                "BREAKING_ADAM_USER_DIR or --config-dir (docs/errors.md: the trust model)"
            )
    return None
