"""`workbench trace`: run the notebook once in a real kernel and fingerprint each task boundary.

The notebook runs top to bottom through papermill (in its own folder, `skip` cells left out, the
parameters injected as `verify` does). Before the first task and after the last cell of each task
a hidden cell calls `record_boundary`, which fingerprints every user global and the process and
library state (workbench.core.trace.fingerprint) and appends one JSON line. `verify` puts the same
cells into its own papermill run, so one notebook run is both verify's reference and a trace.

Traces are stored by the notebook's content hash under the project's `.workbench/traces/`; the
planner uses the one matching the notebook (`load_trace`) until the notebook changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from workbench.core.plan import Plan
from workbench.core.trace import SCHEMA, Boundary, Trace

TRACE_TAG = "workbench-trace"
TRACES = Path(".workbench") / "traces"
IGNORED = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def state_fingerprints() -> dict[str, str]:
    """The process and library state a task can change without binding a name, fingerprinted.

    Libraries not imported yet are not imported (their state cannot have changed)."""
    import logging
    import os
    import random
    import sys
    import warnings

    from workbench.core.trace import fingerprint

    state = {f"os.environ[{k}]": fingerprint(v) for k, v in sorted(os.environ.items())}
    state["sys.path"] = fingerprint(list(sys.path))
    state["os.getcwd()"] = fingerprint(os.getcwd())
    state["warnings.filters"] = fingerprint(repr(warnings.filters))
    root = logging.getLogger()
    state["logging.root"] = fingerprint(repr((root.level, [(type(h).__name__, h.level, getattr(h.formatter, "_fmt", None))
                                                            for h in root.handlers])))
    state["random"] = fingerprint(random.getstate())
    np = sys.modules.get("numpy")
    if np is not None:
        state["numpy.random"] = fingerprint(np.random.get_state())
        state["numpy.printoptions"] = fingerprint(repr(sorted(np.get_printoptions().items())))
    pd = sys.modules.get("pandas")
    if pd is not None:
        state["pandas.options"] = fingerprint(repr(_options(pd.options)))
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        state["matplotlib.rcParams"] = fingerprint(repr(sorted((k, repr(v)) for k, v in mpl.rcParams.items()
                                                               if k != "backend")))
        state["matplotlib.backend"] = fingerprint(str(mpl.rcParams.get("backend")))
    return state


def _options(options, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    out = []
    for key in dir(options):
        try:
            value = getattr(options, key)
        except Exception:  # noqa: BLE001 - a deprecated or broken option
            continue
        if hasattr(value, "__dir__") and type(value).__name__ == "DictWrapper" and depth < 4:
            out += _options(value, f"{prefix}{key}.", depth + 1)
        else:
            out.append((prefix + key, repr(value)))
    return out


def record_boundary(namespace: dict, task: str | None, cell: int, path: str) -> None:
    """Called in the kernel: fingerprint `namespace`'s user globals and the state, append a line."""
    import types

    from workbench.core.trace import UNFINGERPRINTABLE, fingerprint

    started = time.perf_counter()
    values, unfingerprintable = {}, {}
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in IGNORED or isinstance(value, types.ModuleType):
            continue
        print_ = fingerprint(value)
        values[name] = print_
        if print_.startswith(UNFINGERPRINTABLE):
            unfingerprintable[name] = print_
    state = state_fingerprints()
    line = {"task": task, "cell": cell, "values": values, "state": state, "unfingerprintable": unfingerprintable,
            "seconds": time.perf_counter() - started}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def boundary_source(task: str | None, cell: int, path: Path) -> str:
    return (f"__import__('workbench.execute.trace', fromlist=['record_boundary']).record_boundary("
            f"globals(), {task!r}, {cell}, {str(path)!r})")


def boundary_cell(task: str | None, cell: int, path: Path) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"workbench-trace-{cell}-{task or 'start'}",
            "metadata": {"tags": [TRACE_TAG]}, "outputs": [], "source": boundary_source(task, cell, path)}


def boundaries(plan: Plan) -> tuple[int, dict[int, str]]:
    """(the first task cell, {last code cell of a task: task})."""
    last = {max(t.code_cells): t.name for t in plan.tasks}
    first = min(c for t in plan.tasks for c in t.code_cells)
    return first, last


def instrument(notebook: dict, plan: Plan, path: Path, extra=None) -> dict:
    """A copy of the notebook without `skip` cells, a start cell before the first task cell and a
    boundary cell after each task's last cell (then `extra(index)`'s cells, verify's snapshots)."""
    import copy

    nb = copy.deepcopy(notebook)
    first, last = boundaries(plan)
    skip = {c.index for c in plan.cells if c.role == "skip"}
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if index in skip:
            continue
        if index == first:
            cells.append(boundary_cell(None, index, path))
        cells.append(cell)
        if index in last:
            cells.append(boundary_cell(last[index], index, path))
        if extra is not None:
            cells.extend(extra(index))
    nb["cells"] = cells
    return nb


def read_trace(plan: Plan, path: Path, parameters: dict, seconds: float = 0.0) -> Trace:
    """The Trace of the JSON lines `record_boundary` appended to `path`."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    start = next((line for line in lines if line["task"] is None), {"values": {}, "state": {}})
    bounds = [Boundary(line["task"], line["cell"], line["values"], line["state"], line["unfingerprintable"],
                       line["seconds"]) for line in lines if line["task"] is not None]
    return Trace(SCHEMA, plan.notebook, plan.notebook_sha256, dict(parameters), bounds, start["state"],
                 start["values"], seconds)


def trace_notebook(notebook: Path, plan: Plan, overrides: dict, workdir: Path) -> tuple[Trace, Path]:
    """Run the instrumented notebook with papermill; (the trace, the executed notebook)."""
    import papermill

    from workbench.core.errors import RunError
    from workbench.execute.papermill_kernel import execute

    workdir.mkdir(parents=True, exist_ok=True)
    lines = (workdir / "trace.jsonl").resolve()
    lines.unlink(missing_ok=True)
    source = json.loads(notebook.read_text(encoding="utf-8"))
    instrumented = workdir / "traced.ipynb"
    instrumented.write_text(json.dumps(instrument(source, plan, lines)), encoding="utf-8")
    executed = workdir / "trace-executed.ipynb"
    started = time.perf_counter()
    try:
        execute(instrumented, executed, overrides, plan.kernel, notebook.resolve().parent, shown=plan.notebook)
    except papermill.PapermillExecutionError as exc:
        raise RunError(f"the notebook itself failed under papermill: {exc.ename}: {exc.evalue}",
                       detail=f"executed notebook with the traceback: {executed}",
                       hint="make the notebook run top to bottom in a fresh kernel first (Restart & Run All)",
                       exit_code=1) from None
    return read_trace(plan, lines, overrides, time.perf_counter() - started), executed


def trace_file(project: Path, sha256: str) -> Path:
    return project / TRACES / f"{sha256}.json"


def save_trace(trace: Trace, project: Path) -> Path:
    path = trace_file(project, trace.notebook_sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(trace.to_dict()), encoding="utf-8")
    tmp.replace(path)
    return path


def load_trace(project: Path, sha256: str) -> Trace | None:
    """The stored trace of the notebook with this content hash, or None (none, or unreadable)."""
    path = trace_file(project, sha256)
    if not path.is_file():
        return None
    try:
        trace = Trace.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError):
        return None
    return trace if trace.notebook_sha256 == sha256 else None
