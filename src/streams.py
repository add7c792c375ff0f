"""Standard output that cannot take the output: closed (`>&-`), full (`> /dev/full`) or a pipe
whose reader has gone (`| head -5`). The printing ends there, quietly; the work goes on and the
exit status says how the work went.

`guard()` (called first by the entry points):
- a closed stdout or stderr gets /dev/null as its file descriptor, so that no file the process
  opens later (the SQLite store) takes descriptor 1 or 2 and receives what is printed; one closed
  when the interpreter started whose descriptor a file has taken since (opened by the user's
  `sitecustomize`) is left to that file, and the printing goes to /dev/null;
- `sys.stdout` becomes a `QuietStream`: the first write or flush that fails (a full disk, a broken
  pipe) points descriptor 1 at /dev/null and drops what was pending, so no later write, and not
  the interpreter's own flush at exit, fails again;
- logging's handlers report no error of their own (`logging.raiseExceptions = False`, the switch
  the logging docs give for production), which printed a traceback per line.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from typing import TextIO

STDOUT, STDERR = 1, 2


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _to_null(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


class QuietStream(io.TextIOBase):
    """A text stream over `stream` that stops writing, silently, at its first OSError."""

    def __init__(self, stream: TextIO, fd: int) -> None:
        super().__init__()
        self._stream, self._fd, self.broken = stream, fd, False

    def _give_up(self) -> None:
        self.broken = True
        _to_null(self._fd)  # what the stream still holds now flushes into /dev/null
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
                if "\n" in text and self._stream.line_buffering:
                    self._stream.flush()
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return not self.broken and self._stream.isatty()

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors

    @property
    def buffer(self) -> io.BufferedIOBase:
        return self._stream.buffer


def _quiet(stream: TextIO | None, fd: int) -> QuietStream:
    """`stream` (sys.stdout or sys.stderr, on descriptor `fd`) as a QuietStream."""
    if stream is None and _open(fd):
        # closed when the interpreter started (so sys.stdout is None), and the descriptor since
        # taken by a file the user's own code opened (a sitecustomize): not ours to write to or
        # replace; the printing goes to /dev/null on a descriptor of its own
        null = open(os.devnull, "w")  # noqa: SIM115  (the process's own, for its life)
        return QuietStream(null, null.fileno())
    if stream is None or not _open(fd):
        _to_null(fd)
        stream = open(fd, "w", closefd=False)  # noqa: SIM115  (the process's own)
    return QuietStream(stream, fd)


def guard() -> None:
    """Make a closed, full or broken standard output harmless to the work (see the module)."""
    for fd, name in ((STDOUT, "stdout"), (STDERR, "stderr")):
        if not isinstance(getattr(sys, name), QuietStream):
            setattr(sys, name, _quiet(getattr(sys, name), fd))
    logging.raiseExceptions = False
