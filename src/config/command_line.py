"""The command line's overrides read before Hydra reads them (`check`, called by `src.main`): one
that Hydra's grammar rejects (unquoted unicode, a newline) is one line and exit 2, not Hydra's five
lines of lexer error; one that names code under `hydra.` is refused by the trust model
(`src.config.trust`) before Hydra instantiates its callbacks."""

from __future__ import annotations

import sys

from src.config.trust import code_override

OPTIONS_WITH_VALUE = {  # Hydra's command-line options that take the next argument as their value
    "-cd", "--config-dir", "-cn", "--config-name", "-cp", "--config-path",
    "-c", "--cfg", "-p", "--package", "--experimental-rerun",
}  # fmt: skip


def overrides(arguments: list[str]) -> list[str]:
    """The arguments that are overrides (`key=value`), not options or their values."""
    found, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument.startswith("-"):
            skip = argument in OPTIONS_WITH_VALUE
        elif "=" in argument:
            found.append(argument)
    return found


def grammar_problem(arguments: list[str]) -> str | None:
    """One line for the first override Hydra's grammar cannot read, None if all parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415
    from hydra.errors import OverrideParseException  # noqa: PLC0415

    parser = OverridesParser.create()
    for override in overrides(arguments):
        try:
            parser.parse_overrides([override])
        except OverrideParseException as error:
            kind = str(error).split(":", 1)[0].strip()
            return (
                f"{override!r}: Hydra's override grammar cannot read it ({kind}); quote the value, "
                "key='value' (https://hydra.cc/docs/advanced/override_grammar/basic/)"
            )
    return None


def check(arguments: list[str]) -> None:
    """Exit 2 with one line on stderr if the command line cannot or may not run."""
    refused = grammar_problem(arguments) or code_override(overrides(arguments))
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        raise SystemExit(2)
