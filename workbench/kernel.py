"""Workbench inside a running kernel: `%load_ext workbench`, then

    %workbench plan [PATH] [--text]      the plan of the notebook being edited (a widget, or a table)
    %workbench run [PATH] [-p k=v ...] [--force]   `workbench run` as a subprocess, progress streamed
    %workbench check [PATH] [--all] [--kernel NAME] [--timeout S]
                                         hidden state: the live kernel vs a clean top-to-bottom replay

PATH defaults to the notebook this kernel belongs to: Jupyter tells the kernel its notebook's path
(`JPY_SESSION_NAME`, `__session__`). Plan and check read the *saved* notebook: save first.

`check` replays the saved notebook in a fresh kernel (nbclient; `skip` cells left out), snapshots
the variables the notebook binds (the names the planner finds), loads them here and compares them
with the live values (`workbench.compare`). A value that differs, a variable that exists only in the
live kernel (its cell was deleted or edited), or one the live kernel lacks (its cell never ran
here) is hidden state: Restart & Run All would change it. The replay executes the notebook's code
again, side effects (files it writes) included, as `workbench verify` does.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

REPLAY_ENV = "WORKBENCH_REPLAY"  # set in the replay kernel: its own %workbench check/run do nothing
IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}


# ---------------------------------------------------------------- which notebook


def session_notebook(user_ns: dict | None = None) -> Path | None:
    """The notebook this kernel was started for, from what Jupyter tells the kernel."""
    candidates = [os.environ.get("JPY_SESSION_NAME"), (user_ns or {}).get("__session__")]
    cwd = Path.cwd()
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.endswith(".ipynb"):
            continue
        path = Path(candidate)
        if path.is_absolute():
            if path.is_file():
                return path
            continue
        # a path relative to the server's root; the kernel runs in the notebook's folder
        for base in (cwd, *cwd.parents):
            if (base / path).is_file():
                return base / path
        if (cwd / path.name).is_file():
            return cwd / path.name
    return None


def _notebook(arg: str | None, user_ns: dict) -> Path:
    from workbench.errors import WorkbenchError

    if arg:
        path = Path(arg).expanduser()
        if not path.exists():
            raise WorkbenchError(f"{arg}: no such notebook", hint="give the path relative to the kernel's "
                                 f"working directory ({Path.cwd()})")
        return path
    found = session_notebook(user_ns)
    if found is None:
        raise WorkbenchError("cannot tell which notebook this kernel belongs to",
                             hint="name it: %workbench plan PATH.ipynb")
    return found


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _plan(path: Path):
    from workbench.notebook import read_notebook
    from workbench.plan import build_plan

    return build_plan(read_notebook(path, _shown(path)))


# ---------------------------------------------------------------- plan


def plan_rows(plan) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name in plan.order:
        t = plan.task(name)
        takes = "; ".join(f"{u}: {', '.join(e.variables + e.files + e.random_state) or '(after)'}"
                          for u, e in t.upstream.items())
        flags = [f"gpu:{t.gpu}"] if t.gpu else []
        if t.model:
            flags.append(f"model:{t.model}")
        rows.append((name, ",".join(map(str, t.code_cells)), takes or "-", ", ".join(t.outputs) or "-",
                     ", ".join(t.parameters + flags) or "-"))
    return rows


def _table(headers, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def fmt(values):
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def _warning_lines(plan) -> list[str]:
    return [f"{w.message}: " + ", ".join(f"cell {c['cell']} line {c['line']} ({c['text']})" for c in w.cells)
            for w in plan.warnings]


def plan_text(plan) -> str:
    lines = [f"{plan.notebook}: {len(plan.tasks)} task(s), {len(plan.parameters)} parameter(s)"]
    if plan.parameters:
        lines.append("parameters: " + ", ".join(f"{p.name}={p.source} ({p.type})" for p in plan.parameters.values()))
    lines += ["", _table(("task", "cells", "takes (upstream: variables)", "produces", "params"), plan_rows(plan))]
    edges = [f"  {u} -> {name}: {', '.join(e.variables + e.files + e.random_state) or '(after)'}"
             for name in plan.order for u, e in plan.task(name).upstream.items()]
    if edges:
        lines += ["", "edges:", *edges]
    if plan.requirements:
        lines += ["", "requirements: " + " ".join(plan.requirements)]
    warnings = _warning_lines(plan)
    if warnings:
        lines += ["", "warnings:", *(f"  {w}" for w in warnings)]
    return "\n".join(lines)


def _html_table(headers, rows) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def plan_html(plan) -> str:
    parts = [f"<b>{html.escape(plan.notebook)}</b>: {len(plan.tasks)} task(s), {len(plan.parameters)} parameter(s)"]
    if plan.parameters:
        parts.append(_html_table(("parameter", "default", "type"),
                                 [(p.name, p.source, p.type) for p in plan.parameters.values()]))
    parts.append(_html_table(("task", "cells", "takes (upstream: variables)", "produces", "params"), plan_rows(plan)))
    warnings = _warning_lines(plan)
    if warnings:
        parts.append("<b>warnings</b><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    return "<br>".join(parts)


class PlanView:
    """What `%workbench plan` displays: an ipywidgets view (tasks, edges, params, warnings, a
    Refresh button) whose mime bundle also carries the plan as HTML and as a text table, so a
    frontend without widgets (or nbconvert, or a log) still shows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.plan = _plan(path)
        self.widget = None
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return
        self.widget = self._build()

    def _build(self):
        import ipywidgets as w

        self._body = w.HTML(plan_html(self.plan))
        button = w.Button(description="Refresh", tooltip="re-read the saved notebook", icon="refresh")
        self._status = w.HTML("")

        def refresh(_):
            from workbench.errors import WorkbenchError

            try:
                self.plan = _plan(self.path)
            except WorkbenchError as exc:
                self._status.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"
                return
            self._body.value = plan_html(self.plan)
            self._status.value = f"<i>refreshed {time.strftime('%H:%M:%S')}</i>"

        button.on_click(refresh)
        return w.VBox([self._body, w.HBox([button, self._status])])

    def __repr__(self) -> str:
        return plan_text(self.plan)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {}
        if self.widget is not None:
            bundle.update(self.widget._repr_mimebundle_() or {})
        bundle["text/html"] = plan_html(self.plan)
        bundle["text/plain"] = plan_text(self.plan)
        return bundle


# ---------------------------------------------------------------- run


def run_cli(action: str, path: str, params: list[str], cwd: Path, force: bool = False, out=None) -> int:
    """`python -m workbench.cli ACTION PATH --param ...`, its output streamed line by line."""
    out = out or sys.stdout
    argv = [sys.executable, "-m", "workbench.cli", action, path, *(f"--param={p}" for p in params)]
    if force:
        argv.append("--force")
    env = {"PLOOMBER_STATS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
           **os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            out.flush()
        return process.wait()
    except KeyboardInterrupt:  # the kernel was interrupted: stop the run and everything it started
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        out.write(f"interrupted: workbench {action} stopped\n")
        return 130


# ---------------------------------------------------------------- check (hidden state)


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
    from workbench.errors import PlanError

    try:
        plan = _plan(path)
    except PlanError:
        from workbench.magics import transform
        from workbench.notebook import _source

        data = json.loads(path.read_text(encoding="utf-8"))
        code, skip = [], set()
        for index, cell in enumerate(data.get("cells", [])):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            if "skip" in ((cell.get("metadata") or {}).get("tags") or []):
                skip.add(index)
                continue
            try:
                code.append((index, transform(_source(cell)).code))
            except Exception:  # noqa: BLE001 - a magic we cannot rewrite: its names are not compared
                continue
        kernel = ((data.get("metadata") or {}).get("kernelspec") or {}).get("name")
        return Replayable(_shown(path), kernel, code, skip)
    return Replayable(plan.notebook, plan.kernel,
                      [(c.index, c.code) for c in plan.cells if c.type == "code" and c.role != "skip"],
                      {c.index for c in plan.cells if c.role == "skip"})


def bound_names(cells: list[tuple[int, str]]) -> list[str]:
    """Every global name these code cells bind, in notebook order."""
    from workbench.analysis import analyse_cell

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
            lines.append(_table(("variable", "status", "detail"), rows))
        lines.append(self.summary())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<b>{html.escape(self.notebook)}</b>: live kernel vs a clean replay of the saved notebook"]
        if self.errors:
            parts.append("<b>the saved notebook does not run top to bottom:</b><ul>"
                         + "".join(f"<li>{html.escape(e)}</li>" for e in self.errors) + "</ul>")
        rows = [(r.variable, r.status, r.detail) for r in self.shown_rows()]
        if rows:
            parts.append(_html_table(("variable", "status", "detail"), rows))
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
    from workbench.errors import WorkbenchError

    shell = _shell()
    try:
        notebook = _notebook(path, shell.user_ns)
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
    from workbench.compare import DIFFERENT, EQUAL, Comparison, compare

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


# ---------------------------------------------------------------- the magic


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%workbench", add_help=False, exit_on_error=False,
                                description="Workbench in the kernel: plan, run, check the notebook.")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("plan", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("--text", action="store_true", help="print a text table (no widget)")
    s = sub.add_parser("run", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("-p", "--param", action="append", default=[])
    s.add_argument("--force", action="store_true")
    s = sub.add_parser("check", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("--all", action="store_true", help="list equal and not comparable variables too")
    s.add_argument("--kernel", help="kernel for the replay (default: the notebook's)")
    s.add_argument("--timeout", type=int, default=600, help="seconds per cell in the replay")
    return p


USAGE = """\
%workbench plan [PATH] [--text]             the pipeline this notebook becomes (reads the saved file)
%workbench run [PATH] [-p NAME=VALUE] [--force]   build it (only what changed), progress streamed
%workbench check [PATH] [--all]             hidden state: live variables vs a clean replay
PATH defaults to this kernel's notebook."""


def _project_dir(notebook: Path) -> Path:
    from workbench.versioning import project_root

    return project_root(notebook) or notebook.resolve().parent


def workbench_magic(shell, line: str):
    from workbench.errors import WorkbenchError

    try:
        args = _parser().parse_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit, ValueError) as exc:
        print(f"{exc}\n{USAGE}" if str(exc) else USAGE, file=sys.stderr)
        return None
    if args.command is None:
        print(USAGE)
        return None
    replaying = os.environ.get(REPLAY_ENV) == "1"
    if replaying and args.command in ("run", "check"):
        return None  # inside `%workbench check`'s own replay
    try:
        notebook = _notebook(args.path, shell.user_ns)
        if args.command == "plan":
            view = PlanView(notebook)
            interactive = type(shell).__name__ == "ZMQInteractiveShell"
            if args.text or view.widget is None or not interactive:
                print(plan_text(view.plan))
                return None
            from IPython.display import display

            display(view)
            return None
        if args.command == "run":
            if args.path:
                cwd, target = Path.cwd(), args.path
            else:
                cwd = _project_dir(notebook)
                target = os.path.relpath(notebook.resolve(), cwd.resolve())
            code = run_cli("run", target, args.param, cwd, force=args.force)
            if code not in (0, 130):
                print(f"workbench run failed (exit status {code})", file=sys.stderr)
            return None
        report = check(notebook, shell.user_ns, getattr(shell, "user_ns_hidden", None), args.kernel, args.timeout)
        report.show_all = args.all
        return report
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def load_ipython_extension(ipython) -> None:
    """`%load_ext workbench` (workbench/__init__.py forwards here)."""

    def workbench(line: str = ""):
        return workbench_magic(ipython, line)

    workbench.__doc__ = USAGE
    ipython.register_magic_function(workbench, "line", "workbench")
