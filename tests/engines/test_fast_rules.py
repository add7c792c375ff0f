"""The optimizers' rules (`src.optimizers`, one module per family) as the fast engine reads them:
each family module with its named parts, codes that never collide, every registered class mapped to
a rule; and the numba cache guard that keeps a compiled kernel true to the sources it inlined."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from src.engines.fast import dispatch, loop, numba_cache
from src.optimizers import FAMILIES, OPTIMIZERS, RULES
from src.optimizers.base import CONSTS, PER_STEP, SLOTS, Variant


def test_each_family_module_has_its_parts_and_its_own_codes() -> None:
    for family in FAMILIES:
        for part in ("CODES", "OPTIMIZERS", "variant", "prepare", "before_root", "after_root"):
            assert hasattr(family, part), f"{family.__name__} has no {part}"
        assert family.__doc__ and "hyper:" in family.__doc__, family.__name__
        assert all(RULES[code] is family for code in family.CODES), family.__name__
    codes = [code for family in FAMILIES for code in family.CODES]  # the registry's list
    assert sorted(codes) == list(range(len(codes)))  # no two share one, none left out


def test_every_registered_class_builds_a_variant_of_its_familys_code() -> None:
    for family in FAMILIES:
        for entry in family.OPTIMIZERS:
            built = dispatch.variant(entry.cls([torch.zeros(2, requires_grad=True)]))
            assert isinstance(built, Variant), (entry.cls, built)
            assert built.code in family.CODES and 0 < built.slots <= SLOTS
            assert OPTIMIZERS[entry.cls] is entry


def test_an_unregistered_class_is_declined_by_name() -> None:
    why = dispatch.variant(torch.optim.Adamax([torch.zeros(2, requires_grad=True)]))
    assert isinstance(why, str) and "torch.optim.adamax.Adamax is not implemented" in why


def test_the_kernel_reads_every_constant_and_step_scalar_a_rule_may_set() -> None:
    """loop._values and loop._row spell out the slots they copy into registers: a rule's K_*/P_*
    index past them would read nothing (or garbage) in the compiled kernel."""
    constants = np.arange(CONSTS, dtype=np.float64)
    per_step = np.arange(3 * PER_STEP, dtype=np.float64).reshape(3, PER_STEP)
    assert loop._values.py_func(constants) == tuple(constants)
    assert loop._row.py_func(per_step, 2) == tuple(per_step[2])
    for family in FAMILIES:
        for name, index in vars(family).items():
            if name.startswith("K_") and isinstance(index, int):
                assert index < CONSTS, f"{family.__name__}.{name}"
            if name.startswith("P_") and isinstance(index, int):
                assert index < PER_STEP, f"{family.__name__}.{name}"


def test_the_cache_guard_watches_every_family_module() -> None:
    """The kernel inlines each family's rule: an edit of any family module must clear the cache."""
    watched = set(numba_cache.source_files())
    assert all(Path(family.__file__) in watched for family in FAMILIES)


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
