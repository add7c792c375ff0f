"""The fast engine's numba cache kept true to its sources.

numba decides whether a cached function is stale by its own file's time stamp and size, not by
the files of the functions it calls: after an edit of `src/optimizers/adam.py`, the loop's cached
kernel (which inlined Adam's step) would still load. So the cache files of this package and of
`src/optimizers/` (the rules, their numerics and scalar rules) are removed when a digest of all
those sources differs from the one recorded beside them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).parent
SOURCES = (
    PACKAGE,
    PACKAGE.parents[1] / "optimizers",
    PACKAGE.parents[1] / "problems" / "regret.py",
)
STAMP = PACKAGE / "__pycache__" / "numba-sources.sha256"


def source_files(sources: tuple[Path, ...] = SOURCES) -> list[Path]:
    """Every source file under `sources` (folders and files), in a stable order."""
    files: list[Path] = []
    for source in sources:
        files += sorted(source.rglob("*.py")) if source.is_dir() else [source]
    return files


def digest(files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in files:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def cache_files(files: list[Path]) -> list[Path]:
    """numba's index and data files of the compiled sources (beside each, in __pycache__)."""
    folders = {path.parent / "__pycache__" for path in files}
    return [
        f
        for folder in folders
        if folder.is_dir()
        for f in folder.iterdir()
        if f.suffix in (".nbi", ".nbc")
    ]


def clear_if_stale(sources: tuple[Path, ...] = SOURCES, stamp: Path = STAMP) -> bool:
    """Remove the cache files if the sources changed since the digest in `stamp` was recorded,
    then record it; True if anything was removed."""
    try:
        files = source_files(sources)
        now = digest(files)
        if stamp.exists() and stamp.read_text() == now:
            return False
        stale = cache_files(files)
        for path in stale:
            path.unlink(missing_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        temporary = stamp.with_suffix(f".{os.getpid()}")
        temporary.write_text(now)
        temporary.replace(stamp)
        return bool(stale)
    except OSError:  # a read-only checkout: numba then recompiles or caches elsewhere
        return False
