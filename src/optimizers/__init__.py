"""The papers' optimizers as `torch.optim.Optimizer` subclasses (AMSGrad as in Algorithm 2, AdamNC,
AdamX, Yogi, AdaBound, ADOPT). Imports torch only.

Importing this package also spares every job the import of `torch._dynamo` (about 1–2 s) that
building any torch.optim optimizer triggers through `add_param_group`'s `torch._disable_dynamo`
wrapper: the wrapper is told, in the attribute it caches itself in, to call the plain method. No
code here is compiled, so that wrapper has nothing to disable; a `step()` still imports dynamo for
its own functional kernels: only jobs that never step a torch optimizer (the fast engine's) save it.
"""

from torch.optim.optimizer import Optimizer

from src.optimizers.paper import ADOPT, AdaBound, AdamNC, AdamX, AMSGradPaper, Yogi

__all__ = ["ADOPT", "AMSGradPaper", "AdaBound", "AdamNC", "AdamX", "Yogi"]


def _build_without_dynamo() -> None:
    wrapper = Optimizer.add_param_group
    for cell in wrapper.__closure__ or ():
        method = cell.cell_contents
        if callable(method) and getattr(method, "__name__", "") == "add_param_group":
            method.__dynamo_disable = method  # what torch._compile's wrapper caches and calls


_build_without_dynamo()
