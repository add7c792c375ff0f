"""Checks of the d-dimensional options (`src.problems.vector`, `projection=ball_weighted`), before
any compute: one line each, naming the key and what is allowed (called by `src.config.checks`
once the fn and projection groups themselves passed).

- a d-dimensional fn: `autograd=false` (the gradient is in closed form only), x_1 = (x0, …, x0)
  in F (for a ball: |x0|·√d ≤ radius), a projection with a d-dimensional version;
- `projection=ball_weighted`: an optimizer whose step divides by a second moment V̂
  (`src.problems.projections.SECOND_MOMENTS`).

`dim` and the lengths of per-coordinate lists (C, period, p, curvatures, center) are checked by the
fn's constructor (`src.problems.vector.per_coordinate`), relayed as one line by `checks._fn`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from hydra.utils import get_object

from src.config.values import init_kwargs


def problems(tree: dict) -> Iterator[str]:
    """One line per problem of the d-dimensional options of `tree` (a resolved config)."""
    from src.problems.projections import Ball, BallWeighted, Projection  # noqa: PLC0415
    from src.problems.vector import VectorFunction  # noqa: PLC0415

    fn = get_object(tree["fn"]["_target_"])(**init_kwargs(tree["fn"]))
    projection = get_object(tree["projection"]["_target_"])(**init_kwargs(tree["projection"]))
    if isinstance(projection, BallWeighted):
        yield from _second_moment(tree.get("optim"))
    if not isinstance(fn, VectorFunction):
        return
    if tree.get("autograd") is True:
        yield (
            f"autograd=true: fn {type(fn).__name__} is {fn.dim}-dimensional; its gradient is "
            "computed in closed form only (autograd=false)"
        )
    if type(projection).vector is Projection.vector:
        yield (
            f"projection._target_={tree['projection']['_target_']!r}: has no d-dimensional "
            "version (projection=box, ball, ball_weighted or none)"
        )
    x0 = tree.get("x0")
    if isinstance(projection, Ball) and isinstance(x0, (int, float)):
        norm = abs(float(x0)) * math.sqrt(fn.dim)
        if norm > projection.radius:
            yield (
                f"x0={x0}: x_1 = (x0, …, x0) has norm {norm:.4g} > projection.radius="
                f"{projection.radius:g}; must be |x0| <= radius/√dim = "
                f"{projection.radius / math.sqrt(fn.dim):.4g}"
            )


def _second_moment(node: Any) -> Iterator[str]:
    """projection=ball_weighted needs an optimizer with a second moment V̂ (its state, by name)."""
    import torch  # noqa: PLC0415

    import src.optimizers  # noqa: F401, PLC0415
    from src.problems.projections import SECOND_MOMENTS, second_moment_name  # noqa: PLC0415

    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in init_kwargs(node).items()}
    optimizer = get_object(node["_target_"])([torch.zeros(2, requires_grad=True)], **kwargs)
    if second_moment_name(optimizer) is None:
        allowed = ", ".join(name.rsplit(".", 1)[-1] for name in SECOND_MOMENTS)
        yield (
            f"optim._target_={node['_target_']!r}: projection=ball_weighted weights by the "
            f"optimizer's second moment V̂, which it has not (allowed: {allowed}; Adam and AdamW "
            "with amsgrad too; RMSprop not centered)"
        )
