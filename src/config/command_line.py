"""The command line's overrides read before Hydra reads them (`check`, called by `src.main`): one
that Hydra's grammar rejects (unquoted unicode, a newline) is one line and exit 2, not Hydra's five
lines of lexer error; a group option that does not exist (`optim=adamm`) is one line naming the
group's options, not Hydra's twenty-five lines and exit 1; a tracking URI with a password, or a
value that reads the environment (`${oc.env:…}`) outside hydra.launcher.*, is refused as
`src.cli.RefuseSecrets` refuses it in the composed config; one that names code under `hydra.` is
refused by the trust model (`src.config.trust`) before Hydra instantiates its callbacks. All of it
before torch or MLflow is imported: a typo costs a second, not the imports of a run."""

from __future__ import annotations

import sys

from src import PROJECT_ROOT
from src.config.trust import code_override
from src.config.values import user_folder_problems

OPTIONS_WITH_VALUE = {  # Hydra's command-line options that take the next argument as their value
    "-cd", "--config-dir", "-cn", "--config-name", "-cp", "--config-path",
    "-c", "--cfg", "-p", "--package", "--experimental-rerun", "-sc", "--shell-completion",
}  # fmt: skip
OTHER_CONFIG = {"-cd", "--config-dir", "-cn", "--config-name", "-cp", "--config-path"}


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


def missing_option(arguments: list[str]) -> str | None:
    """One line for the first option of a config group that the group does not have (a typo:
    `optim=adamm`, also in a sweep's list: `optim=adam,adamm`), naming the group's options as
    Hydra's search path holds them (conf/, a user's folders, the plugins'); None if all exist.
    Called inside `check`'s Hydra context."""
    from hydra.core.global_hydra import GlobalHydra  # noqa: PLC0415
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415
    from hydra.core.override_parser.types import ValueType  # noqa: PLC0415

    parsed = OverridesParser.create().parse_overrides(overrides(arguments))
    loader = GlobalHydra.instance().config_loader()
    for override in parsed:
        if override.is_delete() or override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            continue  # a glob picks among the options that exist
        group = override.key_or_group
        options = loader.get_group_options(group)
        if not options:  # a value's key (optim.lr, steps), not a group
            continue
        if override.is_discrete_sweep():
            chosen = list(override.sweep_string_iterator())
        elif override.is_sweep_override():
            continue  # an interval: a sampler's, for a search to draw from
        else:
            value = override.value()
            chosen = [] if value is None else [str(value)]  # null: no option chosen
        for name in chosen:
            if name not in options and name != "null":
                return f"{group}={name}: no such option of {group} (its options: " + (
                    ", ".join(options) + ")"
                )
    return None


def unknown_key(arguments: list[str]) -> str | None:
    """One line for a run's override of a key its config does not have (a typo: `stepz=10`,
    `optim.lrr=0.1`, which Hydra reports in six lines and exit 1), naming the keys beside it, as
    the checks name them for `+stepz=10`, or of a value the typed schema cannot take
    (`merge_problem`); None if every key is there. The config is composed once more for it
    (~0.1 s), with the command line's overrides: Hydra overrides a key only where it exists, so a
    config that composes has none unknown; one that does not is composed again with the group
    options alone, to name the keys beside the unknown one. In a sweep, as Hydra composes its
    config before any job, without the swept values: a swept key is each job's, composed by the
    sweep's own check (`src.sweep_checks`), which lists a job that fails in one line. Called
    inside `check`'s Hydra context."""
    from hydra import compose  # noqa: PLC0415
    from hydra.core.global_hydra import GlobalHydra  # noqa: PLC0415
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415
    from hydra.errors import ConfigCompositionException  # noqa: PLC0415
    from omegaconf import DictConfig, OmegaConf  # noqa: PLC0415

    typed = overrides(arguments)
    parsed = OverridesParser.create().parse_overrides(typed)
    if {"-m", "--multirun"}.intersection(arguments):
        fixed = [(t, o) for t, o in zip(typed, parsed, strict=True) if not o.is_sweep_override()]
        typed, parsed = [t for t, _ in fixed], [o for _, o in fixed]
    loader = GlobalHydra.instance().config_loader()
    groups = [bool(loader.get_group_options(o.key_or_group)) for o in parsed]
    keys = [
        (text, o.key_or_group)
        for text, o, group in zip(typed, parsed, groups, strict=True)
        if not (group or o.is_add() or o.is_force_add() or o.is_delete() or o.package)
    ]
    if not keys:
        return None
    try:
        compose("config", overrides=typed, return_hydra_config=True)
    except ConfigCompositionException as error:
        failed = error
    except Exception:  # noqa: BLE001  (a composition error is Hydra's to report)
        return None
    else:
        return None  # it composes: every key overridden is there and takes its value
    choices = [text for text, group in zip(typed, groups, strict=True) if group]
    try:
        cfg = compose("config", overrides=choices, return_hydra_config=True)
    except Exception:  # noqa: BLE001  (a composition error is Hydra's to report)
        return None
    for text, key in keys:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if isinstance(node, DictConfig) and leaf not in node:
            allowed = ", ".join(str(k) for k in node if not str(k).startswith("_"))
            return f"{text}: unknown key (allowed: {allowed or 'none'})"
    return merge_problem(failed, typed)


def merge_problem(error: Exception, typed: list[str]) -> str | None:
    """One line for a run's override whose value the typed schema cannot take (`steps=abc`,
    `dtype=null`: Hydra's five lines and exit 1), as Hydra words the cause in `error` (the
    composition of `typed` failed); None if the failure is not one of the user's values."""
    failed = str(error).removeprefix("Error merging override ")
    if failed == str(error) or failed not in typed:  # not one of the user's values
        return None
    cause = str(error.__cause__ or "").strip().splitlines()
    return f"{failed}: {cause[0]}" if cause else None


def secret_problem(arguments: list[str]) -> str | None:
    """One line for the first override that would put a secret into Hydra's files, the logs or
    the store: a tracking URI with a password, a value reading the environment outside
    hydra.launcher.* (a preset or a user's config may hold them too: `src.cli.RefuseSecrets`
    checks the composed config again)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415

    from src.config.tracking_checks import environment_reads, uri_password_error  # noqa: PLC0415

    for override in OverridesParser.create().parse_overrides(overrides(arguments)):
        key = override.key_or_group
        if override.is_discrete_sweep():
            values = list(override.sweep_string_iterator())
        elif override.is_sweep_override():
            continue
        else:
            values = [override.value()]
        for value in values:
            if not isinstance(value, str):
                continue
            why = uri_password_error(value) if key == "tracking.uri" else None
            why = why or next(environment_reads({key: value}), None)
            if why:
                return why
    return None


def check(arguments: list[str]) -> None:
    """Exit 2 with one line on stderr if the command line cannot or may not run."""
    refused = (
        grammar_problem(arguments)
        or secret_problem(arguments)
        or next(user_folder_problems(), None)  # before the options its folder would add
        or composition_problem(arguments)
        or code_override(overrides(arguments))
    )
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        raise SystemExit(2)


def composition_problem(arguments: list[str]) -> str | None:
    """`missing_option`, then `unknown_key`, in one Hydra context on the project's `conf/`; left to
    Hydra when the command line points it at other configs (-cp, -cn, -cd)."""
    if OTHER_CONFIG.intersection(a.split("=", 1)[0] for a in arguments):
        return None
    from hydra import initialize_config_dir  # noqa: PLC0415

    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        return missing_option(arguments) or unknown_key(arguments)
