"""What a run records about what ran: its options' true names, the source of every class that
comes from outside the project (a user's own optimizer or problem: docs/extending.md) with its
sha256, the checkout's commit and whether it is dirty, the versions of python, torch and numba.

Knows the config and git; nothing of MLflow (the job logs what this returns).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import platform
import subprocess
import sysconfig
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from src import PROJECT_ROOT
from src.config.values import TARGET_NODES

PROJECT_CODE = (PROJECT_ROOT / "src", PROJECT_ROOT / "hydra_plugins")


def _git(*args: str) -> tuple[int, str]:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return 1, ""
    return done.returncode, done.stdout.strip()


@functools.cache  # once per process: a sweep's jobs share the checkout
def _checkout() -> tuple[str, bool]:
    commit = _git("rev-parse", "HEAD")[1] or "unknown"
    return commit, bool(_git("status", "--porcelain", "--untracked-files=no")[1])


@functools.cache
def _tracked_and_clean(path: Path) -> bool:
    """Whether the checkout's commit gives `path` back: tracked by git, unmodified."""
    tracked = _git("ls-files", "--error-unmatch", "--", str(path))[0] == 0
    return tracked and not _git("status", "--porcelain", "--", str(path))[1]


def git_state(sources: Iterable[Path] = ()) -> dict[str, str]:
    """The checkout's commit, and `git_dirty`: a tracked file modified, or a user's source file
    (`sources`) that the commit does not hold as it is (untracked, modified, or elsewhere)."""
    commit, dirty = _checkout()
    dirty = dirty or not all(_tracked_and_clean(path) for path in sources)
    return {"mlflow.source.git.commit": commit, "git_dirty": "true" if dirty else "false"}


def versions() -> dict[str, str]:
    """python, torch and numba versions as tags (numba's from its metadata: not imported here)."""
    import torch  # noqa: PLC0415

    try:
        numba = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba = "absent"
    return {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "numba_version": numba,
    }


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(Path(p).resolve() for k, p in sysconfig.get_paths().items() if k in keys)


def from_outside(path: Path) -> bool:
    """Whether `path` is neither the project's code nor installed (stdlib, site-packages)."""
    roots = (*(p.resolve() for p in PROJECT_CODE), *_installed_roots())
    return not any(path.is_relative_to(root) for root in roots)


def user_files(cfg: DictConfig) -> list[Path]:
    """The source file of every group's `_target_` class defined outside the project (a user's
    module): what the run logs under `source/` and hashes."""
    files: list[Path] = []
    for node in TARGET_NODES:
        target = OmegaConf.select(cfg, f"{node}._target_", default=None)
        if target is None:
            continue
        try:
            path = Path(inspect.getsourcefile(get_object(str(target)))).resolve()
        except Exception:  # noqa: BLE001, S112  (no target, a builtin: no source of its own)
            continue
        if from_outside(path) and path not in files:
            files.append(path)
    return files


def source_tags(sources: dict[str, bytes]) -> dict[str, str]:
    """`source/<file>`: the file's sha256, as its artifact `source/<file>` holds it."""
    return {f"source/{name}": hashlib.sha256(data).hexdigest() for name, data in sources.items()}


def named_choices(
    choices: dict[str, str], overrides: Sequence[str], cfg: DictConfig
) -> dict[str, str]:
    """The chosen options, except a group whose `_target_` the overrides replace: the option no
    longer says what ran, so the group is named after its class (`optim=adam
    optim._target_=torch.optim.SGD` ran `SGD`)."""
    given = {str(o).split("=", 1)[0].lstrip("+~") for o in overrides}
    return {
        group: (
            str(OmegaConf.select(cfg, f"{group}._target_")).rsplit(".", 1)[-1]
            if f"{group}._target_" in given
            else option
        )
        for group, option in choices.items()
    }
