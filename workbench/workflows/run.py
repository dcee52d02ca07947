"""A recorded run of a pipeline: build what is outdated, then record, evaluate, version and track it.

This is `workbench run` without the printing: build (locally or on Dask), assemble the run record,
add the per-group evaluation (`sensitive:` cells), version inputs and products with DVC, save the
record and log it to MLflow. Progress goes to `on_event` as typed events (core/events.py); the
result is a `RunOutcome`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import RunError, WorkbenchError
from workbench.core.events import EventHandler, Message, RunFinished, say
from workbench.core.plan import Plan

TRACKING_MODES = ("background", "now", "off")


@dataclass
class RunOutcome:
    """What a run did. `status`: FINISHED, FAILED (then `error` says why) or UP_TO_DATE (nothing ran,
    nothing was recorded: `run_id` and `record` are None)."""

    run_id: str | None
    status: str
    pipeline: Path
    plan: Plan
    params: dict[str, Any]
    result: Any = None  # execute.build.RunResult: every task's status, seconds, device
    record: dict | None = None  # the run record (`workbench runs`), as saved
    error: RunError | None = None
    fairness: str | None = None  # the per-group table, when the notebook tags `sensitive:` columns
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "FAILED"

    @property
    def ran(self) -> list[str]:
        return list(self.result.ran) if self.result is not None else []

    @property
    def metrics(self) -> dict[str, float]:
        return dict((self.record or {}).get("metrics") or {})

    @property
    def mlflow_run_id(self) -> str | None:
        return (self.record or {}).get("mlflow_run_id")

    @property
    def products(self) -> Path:
        return self.pipeline / "products"

    def raise_for_status(self) -> RunOutcome:
        """The outcome, or its RunError when the run failed."""
        if self.error is not None:
            raise self.error
        return self


def tracking_mode(tracking: str | None = None, track: bool = True) -> str:
    """background (default), now or off; WORKBENCH_TRACKING when not given."""
    import os

    if not track:
        return "off"
    mode = tracking or os.environ.get("WORKBENCH_TRACKING") or "background"
    if mode not in TRACKING_MODES:
        raise WorkbenchError(f"tracking {mode!r}: expected one of {', '.join(TRACKING_MODES)}")
    return mode


def build_pipeline(pipeline: Path, plan: Plan, params: dict, *, run_id: str | None = None, force: bool = False,
                   jobs: int = 1, executor: str = "local", scheduler: str | None = None,
                   products: str | None = None, require_gpu: bool = False,
                   on_event: EventHandler | None = None):
    """execute.build locally, or on Dask with executor="dask" (same RunResult, recorded the same)."""
    if executor == "dask":
        from workbench.execute.dask_runner import build_on_dask

        return build_on_dask(pipeline, plan, params, scheduler=scheduler, force=force, on_event=on_event,
                             run_id=run_id, require_gpu=require_gpu, products=products)
    if executor != "local":
        raise WorkbenchError(f"executor {executor!r}: expected local or dask")
    for option, value in (("scheduler", scheduler), ("products", products)):
        if value:
            raise WorkbenchError(f"--{option} needs --executor dask", hint="add --executor dask")
    from workbench.execute.build import build

    return build(pipeline, plan, params, force=force, jobs=jobs, on_event=on_event, run_id=run_id,
                 require_gpu=require_gpu)


def run_pipeline(plan: Plan, pipeline: Path, params: dict, *, notebook: Path | None = None, force: bool = False,
                 jobs: int = 1, executor: str = "local", scheduler: str | None = None, products: str | None = None,
                 require_gpu: bool = False, version: bool = True, tracking: str = "background",
                 on_event: EventHandler | None = None) -> RunOutcome:
    """Build, record, version and track one run of `pipeline` with `params` (every parameter's value).

    A task failure does not raise: the run is recorded as FAILED and the outcome carries the error
    (`raise_for_status()`); what cannot start at all (a lock held too long, no GPU with
    require_gpu, a bad executor option) raises WorkbenchError."""
    from workbench.provenance import records as rec

    emit = on_event or (lambda event: None)
    pipeline = Path(pipeline)
    run_id, started, t0 = rec.new_run_id(), time.time(), time.perf_counter()
    failure = None
    try:
        result = build_pipeline(pipeline, plan, params, run_id=run_id, force=force, jobs=jobs, executor=executor,
                                scheduler=scheduler, products=products, require_gpu=require_gpu, on_event=on_event)
    except RunError as exc:
        failure, result = exc, getattr(exc, "result", None)
        if result is None:
            raise
    outcome = RunOutcome(run_id, "FAILED" if failure else "FINISHED", pipeline, plan, params, result, error=failure)
    if failure is None and not result.ran:
        outcome.run_id, outcome.status, outcome.seconds = None, "UP_TO_DATE", result.seconds
        emit(RunFinished(None, "UP_TO_DATE", [], len(result.tasks), round(result.seconds, 3), {},
                         str(pipeline / "products")))
        return outcome

    def warn(text: str) -> None:
        outcome.warnings.append(text)
        emit(Message(text, level="warning"))

    root = rec.project_root(pipeline, notebook)
    record = rec.assemble(plan, pipeline, root, result, params, run_id, started, outcome.status)
    outcome.record = record
    if failure is None:
        outcome.fairness = add_fairness(plan, pipeline, record, warn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if version:
            try:
                rec.version_data(record, plan, pipeline, root, params, progress=say(on_event))
            except WorkbenchError as exc:
                warn(f"data not versioned: {exc}")
        rec.keep_record(record, root, tracking)
    for w in caught:
        if not issubclass(w.category, ResourceWarning):  # the detached sync outlives its Popen
            warn(str(w.message))
    outcome.seconds = time.perf_counter() - t0
    if failure is not None:
        emit(Message(f"run {run_id} recorded as FAILED"))
    emit(RunFinished(run_id, outcome.status, outcome.ran, len(result.tasks), round(result.seconds, 3),
                     dict(record.get("metrics") or {}), str(pipeline / "products"), record.get("mlflow_run_id")))
    return outcome


def add_fairness(plan: Plan, pipeline: Path, record: dict, warn) -> str | None:
    """`sensitive:COLUMN`: the metric per group and the largest gap join the run's metrics; returns
    the per-group table (None when nothing is tagged or it cannot be evaluated: `warn` says why)."""
    from workbench.quality.fairness import FairnessError, evaluate_run, sensitive_columns

    if not sensitive_columns(plan):
        return None
    try:
        result = evaluate_run(plan, pipeline)
    except FairnessError as exc:
        warn(f"no per-group evaluation: {exc}")
        return None
    if result is None:
        return None
    record["metrics"].update(result.metrics())
    record["fairness"] = result.to_dict()
    return result.table()
