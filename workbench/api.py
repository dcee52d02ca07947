"""The Python API: what the `workbench` commands do, as functions returning plain values.

    import workbench

    plan = workbench.plan("notebooks/churn.ipynb")                   # a Plan (nothing runs)
    outcome = workbench.run("notebooks/churn.ipynb", {"seed": 8}, on_event=print)
    outcome.status, outcome.run_id, outcome.metrics                  # FINISHED, "2025...", {"auc": ...}
    report = workbench.verify("notebooks/churn.ipynb")
    report.ok, [(r.task, r.variable, r.status) for r in report.rows]

Long work reports through `on_event`, a callable receiving typed events (workbench.core.events:
TaskStarted, TaskFinished, TaskSkipped, TaskFailed, RunFinished, VerifyRow, VerifyFinished,
PackageFinished, Message). Errors a user can fix raise WorkbenchError subclasses (PlanError,
ParameterError, ...) with the notebook cell and a hint; a run whose task fails does not raise: its
outcome has status FAILED and `error` (`outcome.raise_for_status()` raises it).

Parameters are a mapping {name: value} (checked against the notebook's `parameters` cell, as
`-p` is) or a list of "NAME=VALUE" strings. Paths are relative to the working directory, as on
the command line. Every import is deferred: `import workbench` stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`workbench plan` pays every import)
if TYPE_CHECKING:
    from typing import Any

    from workbench.core.events import EventHandler
    from workbench.core.plan import Plan
    from workbench.deploy.batch import ScoreResult
    from workbench.deploy.package import PackageResult
    from workbench.deploy.registry import PromoteResult
    from workbench.verification.devices import DeviceReport
    from workbench.verification.pipeline import VerifyReport
    from workbench.workflows.rerun import RerunOutcome
    from workbench.workflows.run import RunOutcome
    from workbench.workflows.sweep import SweepResult
    from workbench.workflows.targets import Exported
    from workbench.workflows.trace import TraceResult

__all__ = ["export", "lineage", "package", "plan", "promote", "rerun", "run", "runs", "score", "sweep", "trace", "verify"]

Params = "Mapping[str, Any] | Sequence[str] | None"  # {name: value} or ["NAME=VALUE", ...]


def plan(notebook: str | Path) -> Plan:
    """The pipeline a notebook becomes: its tasks, what each takes and produces, its parameters
    (`workbench plan`). Reads the code only. Raises PlanError naming the cell and line."""
    from workbench.workflows.targets import plan_notebook

    return plan_notebook(notebook)


def trace(notebook: str | Path, params: Params = None) -> TraceResult:
    """Run the notebook once in a real kernel and fingerprint every global and the process state
    after each task (`workbench trace`); what changed where the static plan did not predict it
    becomes an edge with its evidence. The trace is stored by the notebook's content hash and used
    by `plan`, `export` and `run` until the notebook changes. Returns a TraceResult: `.trace`,
    `.path`, `.plan` (with the traced edges), `.added` (one line per edge), `.summary()`."""
    from workbench.workflows.targets import param_pairs
    from workbench.workflows.trace import trace as trace_

    return trace_(notebook, param_pairs(params))


def export(notebook: str | Path, output: str | Path | None = None, force: bool = False) -> Exported:
    """Write the Ploomber project of a notebook (`workbench export`), by default to
    pipelines/<notebook name>/: only changed files are written. Returns the folder (`.directory`),
    the plan and the files written, unchanged and backed up. A file edited by hand is not
    overwritten without `force` (ExportConflict); with it, a backup is kept."""
    from workbench.workflows.targets import export_notebook

    return export_notebook(notebook, output, force)


def run(target: str | Path, params: Params = None, *, force: bool = False, jobs: int = 1,
        executor: str = "local", scheduler: str | None = None, products: str | None = None,
        require_gpu: bool = False, output: str | Path | None = None, version: bool = True,
        tracking: str | None = None, on_event: EventHandler | None = None) -> RunOutcome:
    """Build the pipeline of `target` (a notebook, exported first to `output`, or a pipeline
    folder): only what changed runs (`workbench run`). The run is recorded, its data versioned with
    DVC (`version`) and logged to MLflow (`tracking`: background, now or off; default
    WORKBENCH_TRACKING, else background).

    Returns a RunOutcome: `status` FINISHED, FAILED (with `error`) or UP_TO_DATE (nothing ran,
    nothing recorded), `run_id`, `record`, `result` (each task's status and seconds), `metrics`.
    `executor="dask"` runs the tasks on a Dask cluster (`scheduler`, `products`: as the CLI)."""
    from workbench.refactor.params import effective
    from workbench.workflows.run import run_pipeline, tracking_mode
    from workbench.workflows.targets import param_pairs, resolve_target

    plan_, pipeline, overrides = resolve_target(target, output, param_pairs(params))
    notebook = Path(target) if str(target).endswith(".ipynb") else None
    return run_pipeline(plan_, pipeline, effective(plan_.parameters, overrides), notebook=notebook, force=force,
                        jobs=jobs, executor=executor, scheduler=scheduler, products=products,
                        require_gpu=require_gpu, version=version, tracking=tracking_mode(tracking),
                        on_event=on_event)


def verify(notebook: str | Path, params: Params = None, *, ignore: Iterable[str] = (), devices: str | None = None,
           output: str | Path | None = None, on_event: EventHandler | None = None, repeat: int | None = None,
           html: str | Path | None = None) -> VerifyReport | DeviceReport:
    """Does the pipeline reproduce the notebook (`workbench verify`)? Runs both with the same
    parameters and compares every product. `ignore`: values (NAME or TASK.NAME) only checked to
    exist. `devices="cpu,gpu"`: compare two runs of the pipeline on those devices instead.

    Returns a report: `.ok`, `.rows` (variable, task, status, detail), `.table()`, `.summary()`;
    `on_event` gets a VerifyRow per compared value and the VerifyFinished verdict. Each task cell's
    displayed output is compared too (rows of kind "output"). `repeat=N`: run the notebook N more
    times; what changes between its runs is "nondeterministic" (listed with its source and fix, not
    failing; `.exit_code` 5 when nothing else differs); None: once more only after a difference.
    `html`: also write an HTML report with both sides of each difference."""
    from workbench.workflows.targets import param_pairs
    from workbench.workflows.verify import verify_notebook

    return verify_notebook(notebook, param_pairs(params), ignore=ignore, devices=devices, output=output,
                           on_event=on_event, repeat=repeat, html=html)


def rerun(notebook: str | Path, params: Params = None, *, output: str | Path | None = None, version: bool = True,
          tracking: str | None = None, on_event: EventHandler | None = None) -> RerunOutcome:
    """Run the notebook itself top to bottom with `params` injected, as a tracked run (`workbench
    rerun`). Returns a RerunOutcome: `status`, `run_id`, `record`, `metrics`, `executed_notebook`
    (kept at `output`, by default under .workbench/reruns/<run id>/), `error` when a cell failed."""
    from dataclasses import replace

    from workbench.provenance import records as rec
    from workbench.refactor.params import parse_overrides
    from workbench.workflows.rerun import rerun_notebook
    from workbench.workflows.run import tracking_mode
    from workbench.workflows.targets import default_pipeline_dir, param_pairs, plan_notebook

    plan_ = plan_notebook(notebook)
    overrides = parse_overrides(param_pairs(params), plan_.parameters, plan_.notebook,
                                {c.index: c.id for c in plan_.cells})
    path = Path(notebook)
    folder = default_pipeline_dir(notebook)
    # the name of the notebook's pipeline (its folder's: a second model.ipynb's is churn_model), so
    # that its runs and MLflow experiment are the pipeline's
    plan_ = replace(plan_, name=folder.name)
    root = rec.project_root(folder, path)
    return rerun_notebook(path, plan_, overrides, root, output=Path(output) if output else None, version=version,
                          tracking=tracking_mode(tracking), on_event=on_event)


def sweep(target: str | Path, grid: Mapping[str, Sequence[Any]] | str | Path | None = None, *,
          params: Params = None, notebook: bool = False, rank: str | None = None, jobs: int = 1,
          output: str | Path | None = None, version: bool = True, tracking: str | None = None,
          on_event: EventHandler | None = None) -> SweepResult:
    """Every combination of a grid as its own tracked run, ranked by a metric (`workbench run
    -p a=1,2` or `--grid FILE`). `grid`: {name: [values]} or a YAML file of that mapping; `params`:
    NAME=V1,V2 pairs (they win over the grid). `notebook=True` sweeps the notebook itself (`workbench
    rerun`) rather than its pipeline. `rank`: METRIC[:lower|higher]. Returns a SweepResult:
    `.members` (each with its record), `.ranked`, `.failed`, `.table()`."""
    import json
    import tempfile

    from workbench.workflows.run import tracking_mode
    from workbench.workflows.sweep import sweep_target
    from workbench.workflows.targets import param_pairs

    def listed(values) -> str:  # NAME=V1,V2 (a comma in a str value escaped)
        return ",".join(v.replace(",", "\\,") if isinstance(v, str) else repr(v) for v in values)

    pairs = [f"{k}={listed(values)}" for k, values in params.items()] if isinstance(params, Mapping) \
        else param_pairs(params)
    if isinstance(grid, Mapping):  # the grid file format, written for read_grid
        with tempfile.TemporaryDirectory(prefix="workbench-grid-") as tmp:
            path = Path(tmp) / "grid.json"  # JSON is YAML
            path.write_text(json.dumps({k: list(v) for k, v in grid.items()}), encoding="utf-8")
            return sweep_target("notebook" if notebook else "pipeline", target, pairs, str(path), rank=rank,
                                output=output, jobs=jobs, version=version, tracking=tracking_mode(tracking),
                                on_event=on_event)
    return sweep_target("notebook" if notebook else "pipeline", target, pairs, str(grid) if grid else None,
                        rank=rank, output=output, jobs=jobs, version=version, tracking=tracking_mode(tracking),
                        on_event=on_event)


def package(pipeline: str | Path, *, run_id: str | None = None, output: str | Path | None = None,
            register: bool = True, name: str | None = None, on_event: EventHandler | None = None) -> PackageResult:
    """Package the `model:VAR` product of a run (default: the latest finished one) as an MLflow model
    with a Dockerfile and a model card, and register it (`workbench package`). `pipeline`: a
    pipeline folder or its notebook. Returns a PackageResult (`.output`, `.version`, `.flavor`...);
    `on_event` gets a Message per step and PackageFinished."""
    from workbench.workflows.deploy import package_model

    return package_model(pipeline, run_id=run_id, output=output, register=register, name=name, on_event=on_event)


def promote(name: str, alias: str = "champion", *, version: str | None = None, force: bool = False,
            reason: str | None = None, rollback: bool = False, root: str | Path | None = None) -> PromoteResult:
    """Point NAME@ALIAS at a registered version if it passes the gate (`workbench promote`).
    Returns a PromoteResult: `.moved`, `.version`, `.previous`, `.gate` (the comparison), `.notes`."""
    from workbench.workflows.deploy import promote_model

    return promote_model(name, alias, Path(root) if root else None, version=version, force=force, reason=reason,
                         rollback=rollback)


def runs(pipeline: str | None = None, *, root: str | Path | None = None) -> list[dict]:
    """The run records of the project (of `root`, else of the working directory), newest first:
    id, kind, status, params, metrics, data versions, git state, MLflow run id..."""
    from workbench.workflows.history import run_records

    return run_records(pipeline, Path(root) if root else None)


def lineage(product: str, *, run: str | None = None, root: str | Path | None = None) -> list[str]:
    """Where a product or model (TASK/VARIABLE, VARIABLE, a products/ path) came from, back to the
    raw data, as the lines `workbench lineage` prints; in `run`, by default the latest that made it."""
    from workbench.workflows.history import lineage_of

    return lineage_of(product, run, Path(root) if root else None)


def score(model: str, input: str | Path, output: str | Path, *, executor: str = "local",
          scheduler: str | None = None, chunk_rows: int = 50_000, log: bool = True, log_sample: float = 1.0,
          name: str | None = None, root: str | Path | None = None,
          on_event: EventHandler | None = None) -> ScoreResult:
    """Score the CSV/Parquet file or folder `input` with `model` (NAME@ALIAS, NAME/VERSION, NAME or a
    model folder, as `serve` takes it) into `output` (a .csv or .parquet file, else a folder of
    parts) in chunks of `chunk_rows` rows (`workbench score`); the packaged model's predict applies its
    feature function. `executor="dask"`: chunks scored on the cluster at `scheduler`, else a local one.
    The scored rows go to the request log `workbench monitor` reads (`log_sample`: the fraction).
    Returns a ScoreResult: `.rows`, `.chunks`, `.seconds`, `.rows_per_s`, `.log`, `.summary()`;
    `on_event` gets ScoreProgress per chunk and ScoreFinished."""
    from workbench.deploy.batch import score as score_
    from workbench.provenance import records as rec

    return score_(model, input, output, root=Path(root) if root else rec.project_root(Path.cwd()),
                  executor=executor, scheduler=scheduler, chunk_rows=chunk_rows, log=log, log_sample=log_sample,
                  name=name, on_event=on_event)
