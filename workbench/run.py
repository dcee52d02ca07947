"""Run an exported pipeline through Ploomber.

Importing Ploomber costs seconds, so a run first asks a cheaper question: does every task's
fingerprint (its script, the parameter values it takes, its upstream fingerprints) and every
product still match what the last successful build left? If so, nothing runs and Ploomber is never
imported. Otherwise Ploomber builds, deciding task by task what is outdated (its metadata holds the
source and parameters each product was made with), and the fingerprints are recorded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import Location, RunError, WorkbenchError
from workbench.plan import Plan

STATE = Path(".workbench") / "state.json"


@dataclass
class TaskResult:
    name: str
    status: str  # ran | skipped | failed | not run
    seconds: float = 0.0


@dataclass
class RunResult:
    pipeline: Path
    params: dict
    tasks: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0
    fast_path: bool = False

    @property
    def ran(self) -> list[str]:
        return [t.name for t in self.tasks if t.status == "ran"]


def load_plan(pipeline: Path) -> Plan:
    path = pipeline / "plan.json"
    try:
        return Plan.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise WorkbenchError(
            f"{pipeline}: not a Workbench pipeline (no plan.json)",
            hint="export one with `workbench export NOTEBOOK`, or pass the notebook itself to `workbench run`",
        ) from None


def product_paths(pipeline: Path, plan: Plan) -> dict[str, dict[str, Path]]:
    return {
        t.name: {"nb": pipeline / "products" / f"{t.name}.ipynb",
                 **{o: pipeline / "products" / t.name / o for o in t.outputs}}
        for t in plan.tasks
    }


def _fingerprints(pipeline: Path, plan: Plan, params: dict) -> dict[str, str]:
    prints: dict[str, str] = {}
    # pipeline.yaml (products, executors) and env.yaml concern every task
    common = hashlib.sha256()
    for spec in ("pipeline.yaml", "env.yaml"):
        common.update((pipeline / spec).read_bytes())
    for name in plan.order:
        task = plan.task(name)
        h = common.copy()
        h.update((pipeline / "tasks" / f"{name}.py").read_bytes())
        h.update(json.dumps({p: params.get(p) for p in task.parameters}, sort_keys=True, default=str).encode())
        for up in sorted(task.upstream):
            h.update(prints[up].encode())
        prints[name] = h.hexdigest()
    return prints


def _stat(path: Path) -> list[int] | None:
    """A product's identity for the fast path: the newest mtime and total size under it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if not path.is_dir():
        return [st.st_mtime_ns, st.st_size]
    newest, size = st.st_mtime_ns, 0
    for child in path.iterdir():
        cst = child.stat()
        newest, size = max(newest, cst.st_mtime_ns), size + cst.st_size
    return [newest, size]


def _snapshot(pipeline: Path, plan: Plan, params: dict) -> dict:
    products = {
        f"{task}/{key}": _stat(path)
        for task, paths in product_paths(pipeline, plan).items()
        for key, path in paths.items()
    }
    return {"tasks": _fingerprints(pipeline, plan, params), "products": products}


def up_to_date(pipeline: Path, plan: Plan, params: dict) -> bool:
    try:
        recorded = json.loads((pipeline / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return False
    now = _snapshot(pipeline, plan, params)
    return None not in now["products"].values() and recorded == now


def _record(pipeline: Path, plan: Plan, params: dict) -> None:
    state = pipeline / STATE
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(_snapshot(pipeline, plan, params), indent=1))
    os.replace(tmp, state)


def _quiet_imports() -> None:
    """Environment for a fast, offline Ploomber: no telemetry, no slow unused format checker."""
    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "true")
    # jsonschema only loads this IRI grammar (over a second of import) for a format nbformat's
    # notebook schema never uses; marking it unavailable makes jsonschema skip that checker.
    sys.modules.setdefault("rfc3987_syntax", None)


def build(pipeline: Path, plan: Plan, params: dict, *, force: bool = False, jobs: int = 1,
          progress=None) -> RunResult:
    """Build the pipeline; returns which tasks ran. Raises RunError naming the failing task."""
    started = time.perf_counter()
    result = RunResult(pipeline, params)
    if not force and up_to_date(pipeline, plan, params):
        result.tasks = [TaskResult(n, "skipped") for n in plan.order]
        result.fast_path = True
        result.seconds = time.perf_counter() - started
        return result
    _quiet_imports()
    from ploomber.constants import TaskStatus
    from ploomber.exceptions import DAGBuildError
    from ploomber.spec import DAGSpec

    with _in_dir(pipeline), warnings.catch_warnings():
        # "placeholders declared but unused": env.yaml holds every parameter, tasks take some
        warnings.filterwarnings("ignore", category=UserWarning)
        spec = DAGSpec(str(pipeline / "pipeline.yaml"), env=params, lazy_import=False)
        dag = spec.to_dag()
    if jobs > 1:
        from ploomber.executors import Parallel

        dag.executor = Parallel(processes=jobs, print_progress=False)
    # ploomber-engine prints each cell's output: keep it in the task notebooks, not the terminal
    sink = io.StringIO()
    times: dict[str, float] = {}
    try:
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            # Ploomber's render/build warnings repeat what the plan already said
            warnings.filterwarnings("ignore", category=UserWarning, module="ploomber")
            dag.render(force=force, show_progress=False)
            pending = [t.name for t in dag.values() if t.exec_status != TaskStatus.Skipped]
            if progress:
                progress(f"running {len(pending)} of {len(dag)} task(s): {', '.join(pending) or '-'}")
            report = dag.build(force=force, show_progress=False)
        columns = report.values  # column -> list of values
        for task_name, elapsed in zip(columns.get("name", []), columns.get("Elapsed (s)", [])):
            times[task_name] = float(elapsed or 0)
    except DAGBuildError as exc:
        failed = [t.name for t in dag.values() if t.exec_status == TaskStatus.Errored]
        result.tasks = [
            TaskResult(t.name, {TaskStatus.Executed: "ran", TaskStatus.Errored: "failed"}.get(t.exec_status, "not run"))
            for t in dag.values()
        ]
        raise _task_error(pipeline, plan, failed, exc) from None
    for task in dag.values():
        ran = task.exec_status == TaskStatus.Executed
        result.tasks.append(TaskResult(task.name, "ran" if ran else "skipped", times.get(task.name, 0.0)))
    _record(pipeline, plan, params)
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _in_dir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _task_error(pipeline: Path, plan: Plan, failed: list[str], exc: Exception) -> RunError:
    """The failing task, the notebook cell that raised and the exception, without Ploomber's noise."""
    name = failed[0] if failed else "?"
    cause = _root_cause(exc)
    executed = pipeline / "products" / f"{name}.ipynb"
    cell_text, error = _failing_cell(executed)
    location = None
    if error:
        detail = error
    elif cause:
        detail = f"{type(cause).__name__}: {cause}"
    else:
        found = re.findall(r"^(\w+(?:Error|Exception|Interrupt)\b.*)$", str(exc), re.M)
        detail = found[-1] if found else str(exc).strip().splitlines()[0]
    saving = re.search(r"variable '(\w+)'", detail) if detail.startswith("ProductError") else None
    if saving and name in {t.name for t in plan.tasks} and saving.group(1) in plan.task(name).outputs:
        # the value could not be saved: point at where the notebook defines it
        out = plan.task(name).outputs[saving.group(1)]
        location = Location(plan.notebook, out.cell, plan.cells[out.cell].id, out.line)
    elif cell_text and name != "?":
        m = re.search(r"notebook cell (\d+)", cell_text)
        if m:
            index = int(m.group(1))
            location = Location(plan.notebook, index, plan.cells[index].id)
    return RunError(
        f"task {name!r} failed",
        detail=detail + (f"\nexecuted notebook with the traceback: {executed}" if executed.exists() else ""),
        hint="fix the cell in the notebook and run again; tasks that succeeded are not rerun",
        location=location,
        exit_code=1,
    )


def _root_cause(exc: BaseException | None) -> BaseException | None:
    seen = set()
    last = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        last = exc
        exc = exc.__cause__ or exc.__context__
    if last is not None and type(last).__module__.startswith("ploomber"):
        return None
    return last


def _failing_cell(executed: Path) -> tuple[str | None, str | None]:
    """(the failing cell's title or source, 'Error: message') from the executed task notebook."""
    try:
        nb = json.loads(executed.read_text())
    except (OSError, ValueError):
        return None, None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                meta = cell.get("metadata", {})
                text = meta.get("title") or "".join(cell.get("source", ""))
                return text, f"{output.get('ename')}: {output.get('evalue')}"
    return None, None
