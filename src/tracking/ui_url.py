"""`python -m src.tracking.ui_url`: the URL that opens the project's experiment on its runs in
MLflow's UI (MLflow 3 otherwise opens its GenAI overview). `make ui` prints it."""

from __future__ import annotations

import argparse
import sys

from mlflow.tracking import MlflowClient

from src.tracking.store import misplaced_artifacts


def runs_url(store: str, experiment: str, host: str, port: int) -> str:
    """The experiment's runs page, or the UI's home if the experiment does not exist yet."""
    base = f"http://{host}:{port}"
    found = MlflowClient(tracking_uri=store).get_experiment_by_name(experiment)
    if found is None:
        return f"{base}/"
    return f"{base}/#/experiments/{found.experiment_id}/runs?workflowType=machine_learning"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True)
    parser.add_argument("--experiment", default="breaking-adam")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    found = MlflowClient(tracking_uri=args.store).get_experiment_by_name(args.experiment)
    line = misplaced_artifacts(args.store, found.artifact_location if found else None)
    if line:
        print(line, file=sys.stderr)
    print(f"the runs: {runs_url(args.store, args.experiment, args.host, args.port)}")
    print("(if the page shows MLflow's GenAI overview, switch the sidebar to 'Model training')")


if __name__ == "__main__":
    main()
