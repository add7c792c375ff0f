"""A SQLite store's schema, made once: MLflow creates or migrates a new SQLite file when a client
first opens it, and two clients doing so at once break the migration (`table … already exists`,
or an `alembic_version` row moved under the other; the file is left half-migrated, with
`_alembic_tmp_*` tables, and no client can open it again).

The project's own processes open a SQLite store under an exclusive lock (`schema_lock`:
`<db>-init.lock` beside it), so sweeps started together make it once. Another MLflow client (a bare
`mlflow ui` started at the same moment) does not take the lock. If opening the store fails then,
`open_store` waits until the file is quiet and tries again: the other client's migration may have
won. If it broke the store instead, the error says so in one line, and the next start finds the
store half-made (`_alembic_tmp_*` tables left, no run in it, nobody migrating it), moves it aside
(`<db>.collided-<time>`, kept, nothing deleted) and makes a new one. (It cannot do that in the
process that met the collision: MLflow keeps that file's connections open for the URI.)
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from src.tracking.health import sqlite_path
from src.tracking.redaction import redact

T = TypeVar("T")
QUIET_S = 2.0  # the file unchanged this long: the other client's migration is over
WAIT_S = 60.0  # at most this long for it


@contextlib.contextmanager
def schema_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on `<db>-init.lock` beside a SQLite store (nothing for another store)."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    with open(path.parent / f"{path.name}-init.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_store(uri: str, opening: Callable[[], T]) -> T:
    """`opening()` (the first MLflow call on `uri` in this process) under the lock, after moving
    aside a half-made store; after a failure, once more when the file is quiet (see the module
    docstring)."""
    path = sqlite_path(uri)
    with schema_lock(uri):
        if path is not None and half_made(path):
            move_aside(path, uri)
        try:
            return opening()
        except Exception:
            if path is None or not path.is_file() or holds_runs(path):
                raise
    wait_until_quiet(path)  # another client may be migrating it: its migration may succeed
    with schema_lock(uri):
        try:
            return opening()
        except Exception as error:
            if holds_runs(path):
                raise
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise RuntimeError(
                f"another MLflow client (a bare mlflow ui?) migrated this new store at the same "
                f"moment and broke it ({first[:200]}); it holds no run: run the command again, "
                "it moves the half-made file aside first"
            ) from error


def half_made(path: Path) -> bool:
    """A store left half-migrated by a client that failed or died (`_alembic_tmp_*` tables left),
    with no run in it, that nobody is migrating now."""
    if not path.is_file() or holds_runs(path):
        return False
    if not _tables(path, "_alembic_tmp_"):
        return False
    wait_until_quiet(path)
    return bool(_tables(path, "_alembic_tmp_"))


def move_aside(path: Path, uri: str) -> Path:
    """Rename a half-made store (and its journal) to `<db>.collided-<time>`; one line says so."""
    aside = path.with_name(f"{path.name}.collided-{time.strftime('%Y%m%d-%H%M%S')}")
    journal = path.with_name(f"{path.name}-journal")
    path.rename(aside)
    if journal.exists():
        journal.rename(aside.with_name(f"{aside.name}-journal"))
    print(
        f"warning: tracking.uri={redact(uri)}: the store was left half-migrated by another MLflow "
        f"client (no run in it); kept as {aside}, a new store is made",
        file=sys.stderr,
    )
    return aside


def wait_until_quiet(path: Path) -> None:
    """Until the file and its journal have not changed for QUIET_S (at most WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = tuple(_stamp(p) for p in (path, path.with_name(f"{path.name}-journal")))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_S:
            return
        time.sleep(0.2)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _read(path: Path) -> sqlite3.Connection:
    """A connection as any SQLite client opens the file: a hot journal a dead writer left is rolled
    back first (a read-only connection could not read the file at all)."""
    return sqlite3.connect(path)


def _tables(path: Path, prefix: str) -> list[str]:
    try:
        with contextlib.closing(_read(path)) as db:
            names = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    except sqlite3.Error:
        return []
    return [name for name in names if name.startswith(prefix)]


def holds_runs(path: Path) -> bool:
    """Whether the SQLite file has a run in it (a file with no `runs` table has none)."""
    try:
        with contextlib.closing(_read(path)) as db:
            return db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None
    except sqlite3.Error as error:
        return "no such table" not in str(error)  # unreadable: say yes, never move it
