"""Tab completion of `python -m src.main ...` in bash and zsh, through Hydra's own completion.

Enable it (in the checkout's root, or in `~/.bashrc` with the checkout's path):

    eval "$(.venv/bin/python -m src.main -sc install=bash)"   # zsh: install=zsh

Hydra's completion knows `python script.py` and installed apps only: its bash function gives up
when the second word is not a file, and its query reads `python -m src.main optim=` as overrides
`-m src.main optim=` ("Error parsing override 'src.main'"). So `-sc install=bash|zsh` prints the
function below instead of Hydra's (it recognises `python -m src.main`, any python), and
`-sc query=bash` gets a COMP_LINE whose `python -m src.main` is rewritten to `src.main`, which
Hydra's query reads as an app's name; the answers (`optim=adam optim=amsgrad ...`, `fn=` ...)
are Hydra's.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

ENTRY = re.compile(r"^\s*\S*python[0-9.]*\s+-m\s+src\.main(?=\s|$)")
FLAGS = ("-sc", "--shell-completion")

BASH = r"""_breaking_adam_completion()
{
    local words=($COMP_LINE)
    if [[ "${words[1]}" != "-m" || "${words[2]}" != "src.main" ]]; then
        return  # not the project's command: bash's default (file names)
    fi
    local choices word=${words[$COMP_CWORD]:-}  # empty after a space
    choices=$(COMP_POINT=$COMP_POINT COMP_LINE=$COMP_LINE "${words[0]}" -m src.main \
        -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _breaking_adam_completion python python3
"""

UNINSTALL = "complete -r python python3 2>/dev/null; unset -f _breaking_adam_completion\n"
ZSH_PREFIX = "autoload -Uz bashcompinit && bashcompinit\n"


def app_line(line: str) -> str:
    """`python -m src.main ARGS` as `src.main ARGS` (what Hydra's query parses); else unchanged."""
    return ENTRY.sub("src.main", line, count=1)


def requested(argv: Sequence[str]) -> str | None:
    """The value of `-sc`/`--shell-completion` on the command line (`install=bash`...), or None."""
    for i, arg in enumerate(argv):
        if arg in FLAGS and i + 1 < len(argv):
            return argv[i + 1]
        for flag in FLAGS:
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    return None


def script(request: str) -> str | None:
    """The shell code for `install=bash|zsh` / `uninstall=bash|zsh`; None for anything else
    (queries and other shells go to Hydra)."""
    action, _, shell = request.partition("=")
    if shell not in ("bash", "zsh") or action not in ("install", "uninstall"):
        return None
    body = BASH if action == "install" else UNINSTALL
    return ZSH_PREFIX + body if shell == "zsh" and action == "install" else body


def prepare(argv: Sequence[str], environ: MutableMapping[str, str]) -> str | None:
    """Before Hydra parses `argv`: the script to print (then exit), or None after rewriting a
    completion query's COMP_LINE in `environ` so that Hydra's query answers it."""
    request = requested(argv)
    if request is None:
        return None
    if "COMP_LINE" in environ:
        environ["COMP_LINE"] = app_line(environ["COMP_LINE"])
    return script(request)


def handle(argv: Sequence[str], main: Callable[[], Any]) -> bool:
    """Answer `-sc ...` (True: nothing else to do): print the install/uninstall script, or hand a
    query (and other shells) to Hydra's entry point `main` with COMP_LINE rewritten. A query
    imports no torch or MLflow (about 0.3 s, not 4 s a tab)."""
    if requested(argv) is None:
        return False
    text = prepare(argv, os.environ)
    if text is None:
        main()
    else:
        print(text, end="")
    return True


def run_or_complete(main: Callable[[], Any]) -> None:
    """The command line: `-sc ...` answered here (without importing torch or MLflow), anything
    else run by `src.cli.run` (signals, one-line errors)."""
    if not handle(sys.argv[1:], main):
        from src import cli

        cli.run(main)
