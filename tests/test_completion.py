"""Tab completion of `python -m src.main`, for real: the function that `-sc install=bash` prints is
evaluated in bash and called as bash calls it on <TAB> (COMP_LINE, COMP_POINT, COMP_WORDS,
COMP_CWORD), and Hydra's query answers with the config's options."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from src import PROJECT_ROOT
from tests.conftest import options

PYTHON = shlex.quote(sys.executable)


def complete(line: str, shell: str = "bash") -> list[str]:
    """COMPREPLY for `line` typed in bash (zsh's script is bash's behind bashcompinit)."""
    script = f"""
set -u
eval "$({PYTHON} -m src.main -sc install={shell} | grep -v bashcompinit)"
COMP_LINE={shlex.quote(line)}
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
[[ "$COMP_LINE" == *" " ]] && COMP_CWORD=${{#COMP_WORDS[@]}}
_breaking_adam_completion
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        check=True,
    )
    return sorted(word for word in done.stdout.split() if word)


@pytest.mark.slow
def test_tab_after_optim_offers_every_optimizer() -> None:
    assert complete(f"{sys.executable} -m src.main optim=") == [
        f"optim={name}" for name in options("optim")
    ]


@pytest.mark.slow
def test_tab_completes_a_prefix_in_a_sweep_and_the_groups() -> None:
    assert complete(f"{sys.executable} -m src.main -m optim=adam,amsgrad fn=on") == ["fn=online"]
    assert {"optim=", "fn=", "projection=", "schedule=", "steps="} <= set(
        complete(f"{sys.executable} -m src.main ")
    )


def shell_completion(argument: str, env: dict[str, str] | None = None) -> str:
    """What `python -m src.main -sc <argument>` prints."""
    return subprocess.run(
        [sys.executable, "-m", "src.main", "-sc", argument],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout


@pytest.mark.slow
def test_zsh_script_is_bash_completion_behind_bashcompinit() -> None:
    assert shell_completion("install=zsh").startswith("autoload -Uz bashcompinit && bashcompinit\n")
    assert complete(f"{sys.executable} -m src.main fn=stoch", "zsh") == ["fn=stochastic"]


@pytest.mark.slow
def test_the_query_reads_python_dash_m() -> None:
    """What the function asks Hydra: before, `Error parsing override 'src.main'`."""
    answer = shell_completion("query=bash", {"COMP_LINE": "python -m src.main projection="})
    assert sorted(answer.split()) == [f"projection={name}" for name in options("projection")]
