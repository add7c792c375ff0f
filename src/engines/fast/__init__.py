"""The fast engine: the whole time loop in compiled code (numba), over all replicates at once.

It consumes the same coefficient chunks from the same generators as the reference engine
(`src.engines.torch_loop`) and does the same arithmetic as the torch.optim implementation it
stands for, in the run's dtype, operation for operation: a float32 run rounds every intermediate
to float32 exactly as torch's CPU kernels do (hyper-parameters cast to float32 where torch casts
them, bias corrections computed in float64 as torch computes them in Python, with the C library's
pow() as Python's ** calls it). Regret sums are float64.

- `rules/`: one module per optimizer family — its slots by name, its constants, its step
  (supported: torch.optim's Adam (amsgrad, either weight decay), AdamW, SGD, Adagrad, RMSprop,
  NAdam and RAdam in their default for-loop implementation, and every optimizer of
  `src.optimizers`; maximize, capturable, differentiable, foreach and fused ask for the torch
  engine);
- `numerics.py`: torch's arithmetic (fma, lerp, casts, its sqrt kernel);
- `loop.py`: the time loop and the result.

Owns: running a `RunSpec` compiled. Imports: numba, numpy, torch, `src.problems`,
`src.optimizers`, the torch engine (its spec and fallback); never hydra, omegaconf or mlflow.

The compiled kernels are cached on disk (numba `cache=True`), so only the first run on a machine
compiles. numba checks a cached function against its own file only, not the files of the
functions it calls: `numba_cache.py` clears this package's cache when any of its sources changed.
"""

from src.engines.fast import numba_cache

numba_cache.clear_if_stale()

from src.engines.fast.loop import FALLBACK, run, run_fast, unsupported  # noqa: E402
from src.engines.fast.rules import VARIANTS, Variant, variant  # noqa: E402
from src.problems.functions import CHUNK  # noqa: E402

__all__ = ["CHUNK", "FALLBACK", "VARIANTS", "Variant", "run", "run_fast", "unsupported", "variant"]
