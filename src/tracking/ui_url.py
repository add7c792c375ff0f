"""`python -m src.tracking.ui_url`: the URLs that open the project's experiments on their runs in
MLflow's UI (MLflow 3 otherwise opens its GenAI overview). `make ui` prints them.

What MLflow 3.17's runs page reads from its URL (its `useExperimentPageSearchFacets` and
`useSharedExperimentViewState`):

- `workflowType=machine_learning`: the "Model training" sidebar, not GenAI (also on a run's own
  page, `#/experiments/<id>/runs/<run id>`);
- the search facets `searchFilter`, `orderByKey`, `orderByAsc`, `startTime`, `lifecycleFilter`,
  `modelVersionFilter`, `datasetsFilter`;
- `viewStateShareKey=<key>`: a view (the facets, and the table's `selectedColumns`,
  `columnOrder`, ...) read from the experiment's tag `mlflow.sharedViewState.<key>` (JSON), as
  MLflow's own "Share" button writes it. Unfolded parents (`runsExpanded`) are not taken from a
  shared view (3.17 omits them, with `runsPinned` and `runsHidden`): no URL unfolds a parent.

So `view_state` writes two such tags, rewritten each time: `breaking-adam` (`VIEW_KEY`) filters
on the latest sweep's children (with a filter MLflow lists children flat, no parent to unfold),
their key metrics and options as the first columns; `breaking-adam-sweeps` lists the sweeps'
parents with their summary metrics (`src.report.outcome`). The URLs name them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlflow.tracking import MlflowClient

from src.tracking.calls import retry
from src.tracking.new_store import open_store
from src.tracking.store import misplaced_artifacts

WORKFLOW = "workflowType=machine_learning"
VIEW_KEY = "breaking-adam"  # the latest sweep's jobs
SWEEPS_KEY = "breaking-adam-sweeps"  # every sweep's parent
VIEW_TAG = "mlflow.sharedViewState."
KEY_METRICS = (  # shown first where a run logged them: the sweep's result on the first screen
    "final_avg_regret",
    "final_x",
    "final_distance",
    "final_test_accuracy",
    "final_test_loss",
)
KEY_PARAMS = ("optim", "fn", "task", "data")  # the options, before any swept value


def column(kind: str, key: str) -> str:
    """A column's id in MLflow's runs table: `metrics.`final_x``."""
    return f"{kind}.`{key}`"


def latest_sweep(client: MlflowClient, experiment_id: str) -> tuple[Any, Any] | None:
    """The experiment's latest sweep parent and one of its children (None if no sweep)."""
    parents = retry(
        lambda: client.search_runs(
            [experiment_id], "tags.role = 'sweep'", order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    )  # fmt: skip
    if not parents:
        return None
    query = f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'"
    children = retry(lambda: client.search_runs([experiment_id], query, max_results=1))
    return parents[0], (children[0] if children else parents[0])


def view_state(search: str, columns: list[str], order: str = "") -> dict[str, Any]:
    """A shared view: runs matching `search`, `columns` first, sorted by column `order` (MLflow
    then lists children flat, not under their parent), else newest first."""
    return {
        "searchFilter": search,
        "orderByKey": order or "attributes.start_time",
        "orderByAsc": bool(order),
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "selectedColumns": columns,
        "columnOrder": columns,
        "columnWidths": {},
        "runsHiddenMode": "FIRST_10_RUNS",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
    }


def views(client: MlflowClient, experiment_id: str) -> dict[str, dict[str, Any]]:
    """The two views (see the module docstring) of the experiment's latest sweep; {} if none."""
    found = latest_sweep(client, experiment_id)
    if found is None:
        return {}
    parent, child = found
    swept = [k.removeprefix("sweep.") for k in parent.data.params if k.startswith("sweep.")]
    params = [k for k in (*KEY_PARAMS, *swept) if k in child.data.params]
    jobs = [column("metrics", k) for k in KEY_METRICS if k in child.data.metrics]
    summary = [
        column("metrics", k)
        for k in ("jobs", *(f"{m}.{end}" for m in KEY_METRICS for end in ("best", "worst")))
        if k in parent.data.metrics
    ]
    return {
        VIEW_KEY: view_state(
            f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
            jobs + [column("params", k) for k in params],
            jobs[0] if jobs else column("attributes", "Run Name"),
        ),
        SWEEPS_KEY: view_state("tags.role = 'sweep'", [*summary, column("params", "overrides")]),
    }


def runs_url(
    store: str, experiment: str, host: str, port: int, view: bool = False, key: str = VIEW_KEY
) -> str:
    """The experiment's runs page, or the UI's home if the experiment does not exist yet; with
    `view`, the views (`views`) written on the experiment and view `key` named in the URL."""
    base = f"http://{host}:{port}"
    client = MlflowClient(tracking_uri=store)
    found = retry(lambda: client.get_experiment_by_name(experiment))
    if found is None:
        return f"{base}/"
    url = f"{base}/#/experiments/{found.experiment_id}/runs?{WORKFLOW}"
    written = views(client, found.experiment_id) if view else {}
    for name, state in written.items():
        text = json.dumps(state)
        if found.tags.get(VIEW_TAG + name) != text:
            retry(
                lambda n=name, t=text: client.set_experiment_tag(
                    found.experiment_id, VIEW_TAG + n, t
                )
            )
    return f"{url}&viewStateShareKey={key}" if key in written else url


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """A run's own page, in the "Model training" sidebar."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def experiments(store: str) -> list[Any]:
    """The store's experiments that hold runs, the one with the latest run first."""
    client = MlflowClient(tracking_uri=store)
    # a new store is made here under the project's lock (`make ui` runs this first): `mlflow ui`
    # then finds it made, and never migrates it at the same moment as a sweep
    found = open_store(store, lambda: retry(client.search_experiments))
    latest = {}
    for experiment in found:
        runs = retry(
            lambda e=experiment: client.search_runs(
                [e.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
            )
        )
        latest[experiment.experiment_id] = runs[0].info.start_time if runs else 0
    return sorted(
        (e for e in found if latest[e.experiment_id]), key=lambda e: -latest[e.experiment_id]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--store", required=True)
    parser.add_argument(
        "--experiment", default=None, help="default: the one with the latest run, then the others"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    found = [e for e in experiments(args.store) if args.experiment in (None, e.name)]
    line = misplaced_artifacts(args.store, found[0].artifact_location if found else None)
    if line:
        print(line, file=sys.stderr)
    if not found:
        print(f"the runs: http://{args.host}:{args.port}/")
        return
    urls = [runs_url(args.store, e.name, args.host, args.port, view=True) for e in found]
    print(f"the runs: {urls[0]}   ({found[0].name}: its latest sweep's jobs)")
    sweeps = runs_url(args.store, found[0].name, args.host, args.port, True, SWEEPS_KEY)
    print(f"  {found[0].name}, every sweep with its summary: {sweeps}")
    for experiment, url in zip(found[1:], urls[1:], strict=True):
        print(f"  {experiment.name}: {url}")
    print("(if a page shows MLflow's GenAI overview, switch the sidebar to 'Model training')")


if __name__ == "__main__":
    main()
