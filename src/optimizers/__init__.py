"""The papers' optimizers as `torch.optim.Optimizer` subclasses (AMSGrad as in Algorithm 2, AdamNC,
AdamX, Yogi, AdaBound, ADOPT). Imports torch only.
"""

from src.optimizers.paper import ADOPT, AdaBound, AdamNC, AdamX, AMSGradPaper, Yogi

__all__ = ["ADOPT", "AMSGradPaper", "AdaBound", "AdamNC", "AdamX", "Yogi"]
