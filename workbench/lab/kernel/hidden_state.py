"""`%workbench check` and the panel's Check hidden state: the live kernel against a clean replay.

`check` replays the saved notebook in a fresh kernel (nbclient; `skip` cells left out), snapshots
the variables the notebook binds (the names the planner finds), loads them here and compares them
with the live values (`workbench.verification.compare`). A value that differs, a variable that exists only in the
live kernel (its cell was deleted or edited), or one the live kernel lacks (its cell never ran
here) is hidden state: Restart & Run All would change it. The replay executes the notebook's code
again, side effects (files it writes) included, as `workbench verify` does."""

from __future__ import annotations

import html
import json
import os
import subprocess
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.tables import html_table, text_table
from workbench.lab.kernel.session import notebook_for, plan_of, shown_path

REPLAY_ENV = "WORKBENCH_REPLAY"  # set in the replay kernel: its own %workbench check/run do nothing
IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}

@dataclass
class Replayable:
    """What `check` needs of a notebook: its code cells (Python, magics rewritten), skipped cells, kernel."""

    notebook: str
    kernel: str | None
    code: list[tuple[int, str]]
    skip: set[int]


def replayable(path: Path) -> Replayable:
    """From the plan; a notebook the planner rejects (say a name read before its cell binds it,
    exactly what a replay exposes) is still checked, from its cells and `skip` tags."""
    from workbench.core.errors import PlanError

    try:
        plan = plan_of(path)
    except PlanError:
        from workbench.refactor.ipython_syntax import transform
        from workbench.refactor.notebook import cell_source

        data = json.loads(path.read_text(encoding="utf-8"))
        code, skip = [], set()
        for index, cell in enumerate(data.get("cells", [])):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            if "skip" in ((cell.get("metadata") or {}).get("tags") or []):
                skip.add(index)
                continue
            try:
                code.append((index, transform(cell_source(cell)).code))
            except Exception:  # noqa: BLE001 - a magic we cannot rewrite: its names are not compared
                continue
        kernel = ((data.get("metadata") or {}).get("kernelspec") or {}).get("name")
        return Replayable(shown_path(path), kernel, code, skip)
    return Replayable(plan.notebook, plan.kernel,
                      [(c.index, c.code) for c in plan.cells if c.type == "code" and c.role != "skip"],
                      {c.index for c in plan.cells if c.role == "skip"})


def bound_names(cells: list[tuple[int, str]]) -> list[str]:
    """Every global name these code cells bind, in notebook order."""
    from workbench.refactor.analysis import analyse_cell

    names: dict[str, None] = {}
    for index, code in cells:
        try:
            statements = analyse_cell(code, index)
        except SyntaxError:
            continue
        for stmt in statements:
            for name in sorted(stmt.binds | stmt.maybe_binds | stmt.mutates):
                names.setdefault(name, None)
    return [n for n in names if not n.startswith("_")]


SNAPSHOT = '''\
def __workbench_snapshot(directory, names):
    import json, os, types
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler
    g = globals()
    present = sorted(n for n, v in g.items() if not n.startswith("_") and not isinstance(v, types.ModuleType)
                     and n not in ("In", "Out", "exit", "quit", "get_ipython", "open"))
    saved, unpicklable = [], {}
    for name in names:
        if name not in g or isinstance(g[name], types.ModuleType):
            continue
        try:
            data = pickler.dumps(g[name])
        except Exception as exc:
            unpicklable[name] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        with open(os.path.join(directory, name + ".pkl"), "wb") as f:
            f.write(data)
        saved.append(name)
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump({"present": present, "saved": saved, "unpicklable": unpicklable}, f)
__workbench_snapshot(__DIRECTORY__, __NAMES__)
del __workbench_snapshot
'''


@dataclass
class CheckRow:
    variable: str
    status: str  # different | only in the live kernel | not in the live kernel | not comparable | equal
    detail: str = ""


@dataclass
class CheckReport:
    notebook: str
    rows: list[CheckRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # cells that raised in the clean replay
    unpicklable: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    show_all: bool = False

    PROBLEMS = ("different", "only in the live kernel", "not in the live kernel")

    @property
    def problems(self) -> list[CheckRow]:
        return [r for r in self.rows if r.status in self.PROBLEMS]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.errors

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def summary(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "no variables"
        if self.ok:
            verdict = "no hidden state: the live kernel matches a clean run of the saved notebook"
        else:
            verdict = "HIDDEN STATE: Restart & Run All would change this kernel's variables"
        extra = f"; not picklable in the replay: {', '.join(self.unpicklable)}" if self.unpicklable else ""
        return f"{verdict} ({parts}{extra}; replay {self.seconds:.1f}s)"

    def shown_rows(self) -> list[CheckRow]:
        return self.rows if self.show_all else self.problems

    def __repr__(self) -> str:
        lines = [f"{self.notebook}: live kernel vs a clean top-to-bottom replay of the saved notebook"]
        if self.errors:
            lines.append("the saved notebook does not run top to bottom in a fresh kernel:")
            lines += [f"  {e}" for e in self.errors]
        rows = [(r.variable, r.status, r.detail[:100]) for r in self.shown_rows()]
        if rows:
            lines.append(text_table(("variable", "status", "detail"), rows))
        lines.append(self.summary())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<b>{html.escape(self.notebook)}</b>: live kernel vs a clean replay of the saved notebook"]
        if self.errors:
            parts.append("<b>the saved notebook does not run top to bottom:</b><ul>"
                         + "".join(f"<li>{html.escape(e)}</li>" for e in self.errors) + "</ul>")
        rows = [(r.variable, r.status, r.detail) for r in self.shown_rows()]
        if rows:
            parts.append(html_table(("variable", "status", "detail"), rows))
        parts.append(html.escape(self.summary()))
        return "<br>".join(parts)


CHECK_MIME = "application/vnd.workbench.check+json"


def _report_dict(report: CheckReport) -> dict:
    return {
        "notebook": report.notebook,
        "ok": report.ok,
        "summary": report.summary(),
        "rows": [{"variable": r.variable, "status": r.status, "detail": r.detail} for r in report.rows],
        "counts": report.counts(),
        "errors": list(report.errors),
        "unpicklable": dict(report.unpicklable),
        "seconds": round(report.seconds, 3),
    }


class _Bundle:
    """A value whose display is a JSON document for the JupyterLab panel (and a line of text)."""

    def __init__(self, data: dict, text: str) -> None:
        self.data, self.text = data, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {CHECK_MIME: self.data, "text/plain": self.text}


def panel_check(path: str | None = None, timeout: int = 600) -> _Bundle:
    """The hidden-state check for the Workbench panel's button.

    The panel evaluates this as a silent `user_expressions` request in the notebook's own kernel
    (the live variables are there and nowhere else); the result comes back in the reply as JSON,
    without an output in any cell or an entry in the kernel's history.
    """
    from workbench.core.errors import WorkbenchError

    shell = _shell()
    try:
        notebook = notebook_for(path, shell.user_ns)
        report = check(notebook, shell.user_ns, getattr(shell, "user_ns_hidden", None), None, timeout)
    except WorkbenchError as exc:
        return _Bundle({"error": exc.to_dict()}, f"error: {exc}")
    return _Bundle(_report_dict(report), report.summary())


def _shell():
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("panel_check runs inside an IPython kernel")
    return shell


def _live_names(user_ns: dict, hidden: dict | None) -> set[str]:
    hidden = hidden or {}
    return {n for n, v in user_ns.items()
            if not n.startswith("_") and n not in IPYTHON_NAMES and not isinstance(v, types.ModuleType)
            and not (n in hidden and hidden[n] is v)}


def _compare(replayed, live):
    from workbench.verification.compare import DIFFERENT, EQUAL, Comparison, compare

    if isinstance(replayed, types.FunctionType) and isinstance(live, types.FunctionType):
        a, b = replayed.__code__, live.__code__
        same = (a.co_code, a.co_consts, a.co_names, replayed.__defaults__) == \
               (b.co_code, b.co_consts, b.co_names, live.__defaults__)
        return Comparison(EQUAL) if same else Comparison(DIFFERENT, "function: its code differs from the saved cell")
    return compare(replayed, live)


def replay(notebook: Path, cells: Replayable, names: list[str], directory: Path, kernel_name: str | None = None,
           timeout: int = 600) -> tuple[dict, list[str]]:
    """Run the saved notebook top to bottom in a fresh kernel, then snapshot `names` into directory.

    Returns (the snapshot index, "cell N: Error: message" for each cell that raised)."""
    import nbformat
    from nbclient import NotebookClient

    source = json.loads(notebook.read_text(encoding="utf-8"))
    replayed = []
    for index, cell in enumerate(source.get("cells", [])):
        if index in cells.skip:
            continue
        cell = dict(cell)
        cell["metadata"] = {**(cell.get("metadata") or {}), "workbench_index": index}
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        replayed.append(cell)
    replayed.append({"cell_type": "code", "id": "workbench-check-snapshot", "execution_count": None,
                  "metadata": {"workbench_index": -1}, "outputs": [],
                  "source": SNAPSHOT.replace("__DIRECTORY__", repr(str(directory))).replace("__NAMES__", repr(names))})
    source["cells"] = replayed
    nb = nbformat.reads(json.dumps(source), as_version=4)
    kernel = kernel_name or cells.kernel or "python3"
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=True,
                            resources={"metadata": {"path": str(notebook.resolve().parent)}})
    env = {**os.environ, REPLAY_ENV: "1"}
    env.pop("JPY_SESSION_NAME", None)
    # the replay kernel's own stderr (ipykernel's start-up warnings) would land in this cell
    client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    errors = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                where = cell.metadata.get("workbench_index")
                label = "the snapshot" if where == -1 else f"cell {where}"
                errors.append(f"{label}: {output.get('ename')}: {output.get('evalue')}"[:300])
    index_file = directory / "index.json"
    index = json.loads(index_file.read_text()) if index_file.exists() else {"present": [], "saved": [], "unpicklable": {}}
    return index, errors


def check(notebook: Path, user_ns: dict, hidden: dict | None = None, kernel_name: str | None = None,
          timeout: int = 600) -> CheckReport:
    try:
        import cloudpickle as pickler
    except ImportError:  # pragma: no cover - a dependency of Workbench
        import pickle as pickler

    started = time.perf_counter()
    cells = replayable(notebook)
    names = bound_names(cells.code)
    report = CheckReport(cells.notebook)
    with tempfile.TemporaryDirectory(prefix="workbench-check-") as tmp:
        directory = Path(tmp)
        index, report.errors = replay(notebook, cells, names, directory, kernel_name, timeout)
        report.unpicklable = dict(index.get("unpicklable", {}))
        present = set(index.get("present", []))
        live = _live_names(user_ns, hidden)
        for name in names:
            in_live = name in live
            if name not in present:
                if in_live:
                    report.rows.append(CheckRow(name, "only in the live kernel",
                                                "a clean run of the saved notebook does not define it"))
                continue
            if not in_live:
                if name in user_ns and isinstance(user_ns[name], types.ModuleType):
                    continue
                report.rows.append(CheckRow(name, "not in the live kernel", "its cell has not run in this kernel"))
                continue
            if name not in index.get("saved", []):
                continue  # unpicklable: reported in the summary
            try:
                replayed = pickler.loads((directory / f"{name}.pkl").read_bytes())
            except Exception as exc:  # noqa: BLE001 - whatever unpickling raises
                report.rows.append(CheckRow(name, "not comparable", f"cannot load the replayed value: {exc}"[:200]))
                continue
            result = _compare(replayed, user_ns[name])
            detail = result.detail
            if result.status == "different":
                detail = f"live kernel differs from a clean run: {detail}" if detail else "live kernel differs"
            report.rows.append(CheckRow(name, result.status, detail))
        for name in sorted(live - present - set(names)):
            report.rows.append(CheckRow(name, "only in the live kernel",
                                        "no cell of the saved notebook defines it (deleted or edited cell?)"))
    order = {s: i for i, s in enumerate(("different", "only in the live kernel", "not in the live kernel",
                                         "not comparable", "equal"))}
    report.rows.sort(key=lambda r: order.get(r.status, 9))
    report.seconds = time.perf_counter() - started
    return report
