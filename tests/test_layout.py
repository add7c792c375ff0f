"""The layout's import rules: each package owns one concern and imports only what it may.

Read from the source (every import statement, module level or inside a function), so a rule broken
anywhere fails here, not in review.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from src import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
FRAMEWORKS = ("hydra", "omegaconf", "mlflow")
# package -> the imports it must not make (a prefix of the imported module's dotted name)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engines": (*FRAMEWORKS, "src.tracking", "src.config", "src.job", "src.cli"),
    "problems": (*FRAMEWORKS, "src.engines", "src.tracking", "src.config", "src.job"),
    # the optimizers (classes, rules, registry) import no other package of src: all import them
    "optimizers": (
        *FRAMEWORKS,
        "src.engines",
        "src.problems",
        "src.tracking",
        "src.job",
        "src.config",
        "src.tasks",
        "src.report",
        "src.search",
        "src.cli",
        "src.main",
    ),
    "tasks": (*FRAMEWORKS, "src.engines", "src.problems", "src.tracking", "src.job"),
    "tracking": (
        "torch",
        "src.engines",
        "src.problems",
        "src.optimizers",
        "src.tasks",
        "src.config",
        "src.job",
    ),
    "config": ("mlflow", "src.engines", "src.job", "src.cli", "src.report"),
    "report": ("src.engines", "src.job", "src.cli", "src.config"),
    "search": ("torch", "src.engines", "src.job", "src.cli", "src.config"),
}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "src" else None


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_it_may(package: str) -> None:
    broken = [
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in sorted(imports(path))
        if any(name == rule or name.startswith(f"{rule}.") for rule in FORBIDDEN[package])
    ]
    assert not broken, "\n".join(broken)


def test_packages_import_each_other_without_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        own = package_of(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts))
        for name in imports(path):
            other = package_of(name)
            if own and other and other != own:
                edges.setdefault(own, set()).add(other)
    cycles = [
        (a, b)
        for a, b in itertools.permutations(edges, 2)
        if b in _reachable(edges, a) and a in _reachable(edges, b)
    ]
    assert not cycles, f"packages that import each other: {cycles}"


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_package_says_what_it_owns() -> None:
    for init in sorted(SRC.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 60, f"{init.relative_to(PROJECT_ROOT)} has no docstring"


def test_the_entry_point_is_thin() -> None:
    code = [
        line
        for line in (SRC / "main.py").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", '"""', "import", "from"))
    ]
    # the decorated main and its one call, `if __name__`, the exit, the collector's pause
    assert len(code) <= 6, code
