"""Breaking Adam: the AMSGrad paper's counterexamples as Hydra sweeps tracked in MLflow.

Importing `src` (or any of its modules) registers nothing: the entry points (`src.main`,
`src.bench_job`, the tests' conftest) call `src.config.registration.register()` before composing.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
