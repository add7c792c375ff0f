"""The fast engine: the whole time loop in compiled code (numba), over all replicates at once.

It consumes the same coefficient chunks from the same generators as the reference engine
(`src.engines.torch_loop`) and does the same arithmetic as the torch.optim implementation it
stands for, in the run's dtype, operation for operation: a float32 run rounds every intermediate
to float32 exactly as torch's CPU kernels do (hyper-parameters cast to float32 where torch casts
them, bias corrections computed in float64 as torch computes them in Python, with the C library's
pow() as Python's ** calls it). Regret sums are float64.

- `dispatch.py`: an optimizer to its rule — the `Variant` read from a torch optimizer, and the
  kernel's calls of the rule's functions, generated from the registry of `src.optimizers` (each
  family module there holds its rule: slots by name, constants, the step). Supported: torch.optim's
  Adam (amsgrad, either weight decay), AdamW, SGD, Adagrad, RMSprop, NAdam and RAdam in their
  default for-loop implementation, and every optimizer written in `src.optimizers`; maximize,
  capturable, differentiable, foreach and fused ask for the torch engine;
- `roots.py`: torch's own sqrt kernel, called on a whole step's radicands;
- `loop.py`: the time loop and the result.

Owns: running a `RunSpec` compiled. Imports: numba, numpy, torch, `src.problems`,
`src.optimizers`, the torch engine (its spec and fallback); never hydra, omegaconf or mlflow.

The compiled kernels are cached on disk (numba `cache=True`), one per optimizer code and dtype,
so only the first run of an optimizer on a machine compiles. numba checks a cached function
against its own file only, not the files of the functions it inlined: `numba_cache.py` clears the
cache when any of its sources (this package, `src/optimizers/`) changed.
"""

from src.engines.fast import numba_cache

numba_cache.clear_if_stale()

from src.engines.fast.dispatch import variant  # noqa: E402
from src.engines.fast.loop import FALLBACK, run, run_fast, unsupported  # noqa: E402
from src.optimizers.base import Variant  # noqa: E402
from src.problems.functions import CHUNK  # noqa: E402

__all__ = ["CHUNK", "FALLBACK", "Variant", "run", "run_fast", "unsupported", "variant"]
