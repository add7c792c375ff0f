"""What the engines need of valid values: x0 in F, every gradient finite in the run's dtype,
every replicate's buffers in the machine's available memory (checked after the groups' values)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from hydra.utils import get_object

from src.config.values import init_kwargs, is_int, is_number, show

GENERATOR_BYTES = 8 << 10  # a replicate's torch.Generator (mt19937 state) and its Python object


def engine_limits(tree: dict) -> Iterator[str]:
    """What the engines need of valid values: x0 in F, every gradient finite in the run's dtype,
    every replicate's buffers in the machine's available memory."""
    import torch  # noqa: PLC0415

    fn = get_object(tree["fn"]["_target_"])(**init_kwargs(tree["fn"]))
    projection = get_object(tree["projection"]["_target_"])(**init_kwargs(tree["projection"]))
    low, high = projection.bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = fn.domain  # as RunSpec.comparator_bounds
    x0 = tree.get("x0")
    if is_number(x0) and not low <= x0 <= high:
        yield (
            f"x0={show(x0)}: must be in F = [{low:g}, {high:g}] (the projection's set; with "
            "projection=none, the fn's domain)"
        )
    dtype = torch.float32 if tree.get("dtype") == "float32" else torch.float64
    largest = torch.finfo(dtype).max
    bound = fn.gradient_bound(low, high)
    if bound is not None and not bound < largest:
        yield (
            f"fn: its gradient reaches {bound:.3g}, beyond the largest {tree.get('dtype')} "
            f"({largest:.3g}) (lower fn's values, or dtype=float64)"
        )
    elif bound is not None and is_int(tree.get("steps")) and not bound * tree["steps"] < 1e307:
        yield (
            f"fn: its gradient {bound:.3g} summed over steps={tree['steps']} overflows the "
            "float64 regret (lower fn's values or steps)"
        )
    yield from _memory(tree, dtype.itemsize)


def replicate_bytes(itemsize: int, log_points: int) -> int:
    """Bytes a replicate takes in the engines: per CHUNK steps its float64 coefficients a and b,
    its uniform or normal draws and their stacked copy, its iterates and their cast in the run's
    dtype; its logged x and regret (float64, twice: the engine's and the result's);
    its generator."""
    from src.problems.functions import CHUNK  # noqa: PLC0415

    return CHUNK * (4 * 8 + 2 * itemsize) + log_points * 4 * 8 + GENERATOR_BYTES


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _memory(tree: dict, itemsize: int) -> Iterator[str]:
    """The engines' buffers (`replicate_bytes` per replicate and coordinate: a d-dimensional
    problem holds d of everything) against the memory this machine has available."""
    replicates, points = tree.get("replicates"), tree["log"].get("points")
    fn = tree.get("fn") if isinstance(tree.get("fn"), dict) else {}
    dim = fn.get("dim", 1)
    available = available_memory()
    if not (is_int(replicates) and is_int(points) and is_int(dim)) or available is None:
        return
    each = replicate_bytes(itemsize, points) * max(dim, 1)
    if replicates * each > available:
        what = (
            f"fn.dim={dim} × replicates={replicates}" if "dim" in fn else f"replicates={replicates}"
        )
        unit = f"a replicate of {dim} coordinates" if "dim" in fn else "a replicate"
        yield (
            f"{what}: needs about {replicates * each / 2**30:.1f} GiB ({each / 2**20:.1f} MiB "
            f"{unit}), more than the {available / 2**30:.1f} GiB this machine has available; at "
            f"most {available // each} replicates here"
        )
