"""Rerun the notebook itself, with other parameters, as a tracked run.

`workbench run` runs the exported pipeline; `workbench rerun` runs the notebook top to bottom
through papermill (the parameters injected after its `parameters` cell, as papermill does) and
keeps the executed notebook. Both make the same run record and the same MLflow run (experiment
`workbench/<pipeline>`, same parameter and metric names), told apart by the record's `kind`
("notebook" or "pipeline"), so the two compare side by side.

The metrics are what a pipeline run would report: the scalars the `metrics` cells define and the
values given to `workbench.log_metric`. They are read from the kernel by one cell appended to the
copy that runs, and that cell is removed from the executed notebook afterwards: the notebook the
user gets back holds their cells, papermill's injected parameters and the outputs, nothing else.
As in the pipeline (and in `workbench verify`), `skip` cells are not run.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import Location, RunError
from workbench.core.events import EventHandler, Message, TaskFailed, TaskFinished
from workbench.core.plan import Plan

COLLECT_TAG = "workbench-collect"
_CELL_KEY = "workbench_cell"  # metadata key mapping a running cell back to the notebook's cell
RERUNS = Path(".workbench") / "reruns"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_output(root: Path, run_id: str, notebook: Path) -> Path:
    return root / RERUNS / run_id / notebook.name


def metric_names(plan: Plan) -> list[str]:
    """The names the `metrics` cells define, in task order (what a pipeline run reports)."""
    names: list[str] = []
    for task in plan.tasks:
        names.extend(n for n in task.metrics if n not in names)
    return names


def _collect_source(names: list[str], target: Path) -> str:
    """The cell that writes the metrics as a JSON object; it leaves no name behind in the kernel."""
    return "\n".join([
        "def _workbench_collect(names, target):",
        "    import json, sys",
        "    values = {}",
        "    for name in names:",
        "        value = globals().get(name)",
        "        scalar = isinstance(value, (int, float)) or (",
        "            type(value).__module__ == 'numpy' and getattr(value, 'ndim', 1) == 0)",
        "        if scalar:",
        "            try:",
        "                values[name] = float(value)",
        "            except (TypeError, ValueError):",
        "                pass",
        "    logged = sys.modules.get('workbench.runtime.metrics')",
        "    if logged is not None:",
        "        values.update(logged.logged)",
        "    with open(target, 'w', encoding='utf-8') as fh:",
        "        json.dump(values, fh)",
        f"_workbench_collect({names!r}, {str(target)!r})",
        "del _workbench_collect",
    ])


def prepare(source: dict, plan: Plan, collect_to: Path) -> dict:
    """The copy that runs: no `skip` cells, each cell marked with its index, a collect cell last."""
    nb = copy.deepcopy(source)
    skip = {c.index for c in plan.cells if c.role == "skip"}
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if index in skip:
            continue
        cell.setdefault("metadata", {})[_CELL_KEY] = index
        cells.append(cell)
    cells.append({
        "cell_type": "code", "execution_count": None, "id": "workbench-collect",
        "metadata": {"tags": [COLLECT_TAG]}, "outputs": [],
        "source": _collect_source(metric_names(plan), collect_to),
    })
    nb["cells"] = cells
    return nb


def clean(executed: Path) -> None:
    """Remove what Workbench added (the collect cell, the cell marks) from the executed notebook."""
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    nb["cells"] = [c for c in nb["cells"] if COLLECT_TAG not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop(_CELL_KEY, None)
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _failure(exc, executed: Path, plan: Plan) -> RunError:
    """A RunError naming the notebook's own cell (papermill's index counts its injected cell) and line."""
    location = Location(plan.notebook)
    index = None
    try:  # the cell with the error output (papermill adds banner cells, so its index is no guide)
        for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]:
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                index = cell.get("metadata", {}).get(_CELL_KEY)
                break
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    if isinstance(index, int):
        location.cell = index
        location.cell_id = plan.cells[index].id if index < len(plan.cells) else None
        trace = _ANSI.sub("", "\n".join(exc.traceback or []))
        m = re.search(rf"Cell In\[{exc.exec_count}\], line (\d+)", trace)
        if m:
            location.line = int(m.group(1))
    error = RunError(
        f"the notebook failed: {exc.ename}: {exc.evalue}",
        detail=f"executed notebook with the traceback: {executed}",
        hint="fix the cell and rerun; Restart & Run All in JupyterLab shows the same error",
        location=location,
        exit_code=1,
    )
    return error


def execute(notebook: Path, plan: Plan, overrides: dict, output: Path,
            on_event: EventHandler | None = None) -> tuple[dict, float]:
    """Run the notebook with `overrides` injected; returns (metrics, seconds). Raises RunError.

    `on_event`: a Message when it starts, a TaskFinished (task "notebook") when it ends, a
    TaskFailed (task "notebook", the failing cell) when it fails."""
    import papermill

    from workbench.execute import papermill_kernel as papermill_exec

    output.parent.mkdir(parents=True, exist_ok=True)
    collect_to = output.parent / f".{output.stem}.metrics.json"
    collect_to.unlink(missing_ok=True)
    source = json.loads(notebook.read_text(encoding="utf-8"))
    running = output.parent / f".{output.stem}.running.ipynb"
    running.write_text(json.dumps(prepare(source, plan, collect_to.resolve())), encoding="utf-8")
    emit = on_event or (lambda event: None)
    emit(Message(f"running {plan.notebook} through papermill"
                 + (" with " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()) if overrides else "") + " ..."))
    started = time.perf_counter()
    try:
        papermill_exec.execute(running, output, overrides, plan.kernel, notebook.resolve().parent,
                               shown=plan.notebook)
    except papermill.PapermillExecutionError as exc:
        error = _failure(exc, output, plan)
        clean(output)
        where = error.location
        emit(TaskFailed("notebook", f"{exc.ename}: {exc.evalue}", cell=where.cell if where else None,
                        line=where.line if where else None, message=str(error)))
        raise error from None
    finally:
        running.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    clean(output)
    try:
        metrics = json.loads(collect_to.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    collect_to.unlink(missing_ok=True)
    emit(TaskFinished("notebook", seconds))
    return metrics, seconds


def rerun(notebook: Path, plan: Plan, params: dict, overrides: dict, root: Path, run_id: str,
          output: Path | None = None, on_event: EventHandler | None = None,
          sweep_id: str | None = None) -> tuple[dict, RunError | None]:
    """Run the notebook and make its run record (saved by the caller); (record, the failure or None)."""
    from workbench.provenance import records as rec

    output = output or default_output(root, run_id, notebook)
    started = time.time()
    failure, metrics, seconds = None, {}, 0.0
    t0 = time.perf_counter()
    try:
        metrics, seconds = execute(notebook, plan, overrides, output, on_event)
    except RunError as exc:
        failure, seconds = exc, time.perf_counter() - t0
    record = rec.notebook_record(plan, root, params, metrics, run_id, started,
                                 "FAILED" if failure else "FINISHED", output, seconds)
    if sweep_id:
        record["sweep_id"] = sweep_id
    if failure is not None:
        record["error"] = str(failure)
    return record, failure


@dataclass
class RerunOutcome:
    """A tracked run of the notebook itself. `status`: FINISHED or FAILED (then `error` says why)."""

    run_id: str
    status: str
    record: dict
    executed_notebook: Path | None = None
    error: RunError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.record.get("metrics") or {})

    @property
    def mlflow_run_id(self) -> str | None:
        return self.record.get("mlflow_run_id")

    def raise_for_status(self) -> RerunOutcome:
        if self.error is not None:
            raise self.error
        return self


def rerun_notebook(notebook: Path, plan: Plan, overrides: dict, root: Path, *, output: Path | None = None,
                   version: bool = True, tracking: str = "background",
                   on_event: EventHandler | None = None) -> RerunOutcome:
    """`workbench rerun`: run the notebook with `overrides`, then record, version and track the run.
    A failing cell does not raise: the run is recorded as FAILED and the outcome carries the error."""
    import warnings

    from workbench.core.errors import WorkbenchError
    from workbench.core.events import RunFinished
    from workbench.provenance import records as rec
    from workbench.refactor.params import effective

    emit = on_event or (lambda event: None)
    run_id = rec.new_run_id()
    record, failure = rerun(notebook, plan, effective(plan.parameters, overrides), overrides, root, run_id,
                            output, on_event=on_event)
    outcome = RerunOutcome(run_id, record["status"], record, None, failure)
    if record.get("executed_notebook"):
        outcome.executed_notebook = Path(record["executed_notebook"])

    def warn(text: str) -> None:
        outcome.warnings.append(text)
        emit(Message(text, level="warning"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if version:
            try:
                rec.version_inputs([record], plan, notebook.resolve().parent, root, record["params"])
            except WorkbenchError as exc:
                warn(f"data not versioned: {exc}")
        rec.keep_record(record, root, tracking)
    for w in caught:
        if not issubclass(w.category, (ResourceWarning, DeprecationWarning)):
            warn(str(w.message))
    if failure is not None:
        emit(Message(f"run {run_id} recorded as FAILED"))
    emit(RunFinished(run_id, outcome.status, ["notebook"] if failure is None else [], 1,
                     round(float(record.get("seconds") or 0.0), 3), outcome.metrics, None, outcome.mlflow_run_id))
    return outcome
