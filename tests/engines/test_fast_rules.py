"""The fast engine's rules (`src.engines.fast.rules`): one module per optimizer family, each with
its named parts, codes that never collide, every supported class mapped to a rule; and the numba
cache guard that keeps a compiled kernel true to the sources it inlined."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from src.engines.fast import numba_cache, rules

RULES = [
    importlib.import_module(f"{rules.__name__}.{info.name}")
    for info in pkgutil.iter_modules(rules.__path__)
    if info.name != "base"
]


def codes(module: object) -> dict[str, int]:
    """The kernel codes a rule module declares: its upper-case names without a K_/P_ prefix that
    are ints and name an optimizer (the state slot names are torch's, in lower-case in STATE)."""
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, int) and name in CODE_NAMES
    }


CODE_NAMES = {
    "ADAM", "AMSGRAD", "NADAM", "RADAM", "SGD", "ADAGRAD", "RMSPROP", "AMSGRAD_PAPER", "ADAMX",
    "ADAMNC", "YOGI", "ADABOUND", "ADOPT",
}  # fmt: skip


def test_each_rule_module_has_its_parts_and_its_own_codes() -> None:
    seen: dict[int, str] = {}
    for module in RULES:
        for part in ("variant", "prepare", "before_root", "after_root"):
            assert hasattr(module, part), f"{module.__name__} has no {part}"
        assert module.__doc__ and "hyper:" in module.__doc__, module.__name__
        for name, code in codes(module).items():
            assert code not in seen or seen[code] == name, f"code {code}: {seen[code]} and {name}"
            seen[code] = name
    assert sorted(seen) == list(range(len(CODE_NAMES)))


def test_every_supported_class_builds_a_variant_of_a_known_code() -> None:
    import torch  # noqa: PLC0415

    known = {code for module in RULES for code in codes(module).values()}
    for cls in rules.VARIANTS:
        built = rules.variant(cls([torch.zeros(2, requires_grad=True)]))
        assert isinstance(built, rules.Variant), (cls, built)
        assert built.code in known and 0 < built.slots <= rules.SLOTS


def test_the_kernel_reads_every_constant_and_step_scalar_a_rule_may_set() -> None:
    """loop._values and loop._row spell out the slots they copy into registers: a rule's K_*/P_*
    index past them would read nothing (or garbage) in the compiled kernel."""
    import numpy as np  # noqa: PLC0415

    from src.engines.fast import loop  # noqa: PLC0415

    constants = np.arange(rules.CONSTS, dtype=np.float64)
    per_step = np.arange(3 * rules.PER_STEP, dtype=np.float64).reshape(3, rules.PER_STEP)
    assert loop._values.py_func(constants) == tuple(constants)
    assert loop._row.py_func(per_step, 2) == tuple(per_step[2])
    for module in RULES:
        for name, index in vars(module).items():
            if name.startswith("K_") and isinstance(index, int):
                assert index < rules.CONSTS, f"{module.__name__}.{name}"
            if name.startswith("P_") and isinstance(index, int):
                assert index < rules.PER_STEP, f"{module.__name__}.{name}"


MODULE_A = """
import numba
import b
@numba.njit(cache=True)
def f(x):
    return b.g(x)
print(f(1.0))
"""


def run_a(folder: Path, guard: bool) -> str:
    """Import a.py in a fresh process (its print is f's value), after the guard if asked."""
    prelude = f"import sys; sys.path.insert(0, {str(folder)!r})\n"
    if guard:
        prelude += (
            "import importlib.util, pathlib\n"
            f"spec = importlib.util.spec_from_file_location('guard', {numba_cache.__file__!r})\n"
            "guard = importlib.util.module_from_spec(spec); spec.loader.exec_module(guard)\n"
            f"here = pathlib.Path({str(folder)!r})\n"
            "guard.clear_if_stale((here / 'a.py', here / 'b.py'), here / 'stamp')\n"
        )
    code = prelude + "import a\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.slow
def test_the_cache_guard_recompiles_a_kernel_whose_callee_changed(tmp_path: Path) -> None:
    """numba alone keeps a cached kernel after an edit of a function it inlined (the first pair
    of runs shows it); the guard clears the cache when any listed source changed."""
    for guard, folder in ((False, tmp_path / "plain"), (True, tmp_path / "guarded")):
        folder.mkdir()
        (folder / "a.py").write_text(textwrap.dedent(MODULE_A))
        (folder / "b.py").write_text(
            "import numba\n@numba.njit(cache=True)\ndef g(x):\n    return x + 1\n"
        )
        assert run_a(folder, guard) == "2.0"
        (folder / "b.py").write_text(
            "import numba\n@numba.njit(cache=True)\ndef g(x):\n    return x + 10\n"
        )
        assert run_a(folder, guard) == ("11.0" if guard else "2.0")
