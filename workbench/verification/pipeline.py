"""Does the pipeline reproduce the notebook? Run both, compare every product.

The notebook runs top to bottom through papermill in a real kernel, exactly as a user would run it,
with one addition: after the last cell of each task a cell saves that task's products as they are
at that point (the same `save` the pipeline uses), because a later cell may rebind or mutate them.
Then the pipeline runs with the same parameters and each product is compared value by value.

The same run is a trace (workbench.execute.trace): a cell before the first task and one after each
task fingerprint the globals and the process state. It is stored like `workbench trace`'s, and when
the pipeline fails or differs and the trace shows a dependency the plan missed, verify says which
(the task and cell that changed the value, the task that reads it) and how to re-export with it.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import RunError
from workbench.core.events import Event, EventHandler, Message, VerifyFinished, VerifyRow
from workbench.core.plan import RANDOM_STATE_PRODUCT, Plan
from workbench.core.tables import text_table
from workbench.verification.outputs import tag_cells

SNAPSHOT_TAG = "workbench-snapshot"


@dataclass
class Row:
    variable: str
    task: str
    status: str
    detail: str = ""
    kind: str = "value"  # value: a product compared value by value; output: a cell's displayed output
    shown: tuple = field(default=(), repr=False, compare=False)  # output rows: (notebook, pipeline) Shown lists


# verify's exit codes (cli `workbench verify`): 2 is argparse's and every user error's
EXIT_EQUAL, EXIT_DIFFERS, EXIT_PIPELINE_FAILED, EXIT_NONDETERMINISTIC = 0, 1, 3, 5
EXIT_NOTEBOOK_FAILED = 4  # not the pipeline's fault, and not a difference: the reference itself did not run


def agree(rows) -> bool:
    """The verdict of verify and verify --devices: something was compared and nothing differs
    (a nondeterministic value is listed, it does not fail)."""
    return any(r.status != "volatile" for r in rows) and all(r.status != "different" for r in rows)


@dataclass
class VerifyReport:
    rows: list[Row] = field(default_factory=list)
    notebook_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    executed_notebook: Path | None = None
    explanation: list[str] = field(default_factory=list)  # dependencies the trace shows and the plan lacks
    trace: object = None  # the workbench.core.trace.Trace of the notebook run
    repeats: int = 0  # extra notebook runs made to find nondeterminism
    repeat_note: str = ""  # why they ran (the automatic one after a difference)
    snapshots: Path | None = None  # the notebook's products (the first run)
    pipeline: Path | None = None
    html_report: Path | None = None  # verify --html: where the report was written

    @property
    def ok(self) -> bool:
        return agree(self.rows)

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return EXIT_DIFFERS
        return EXIT_NONDETERMINISTIC if any(r.status == "nondeterministic" for r in self.rows) else EXIT_EQUAL

    def table(self) -> str:
        """Every row with its whole detail (a long one wraps in its column; nothing is cut)."""
        headers = ("variable", "task", "result", "detail")
        rows = [(r.variable, r.task, r.status, " ".join(r.detail.split("\n"))) for r in self.rows]
        return text_table(headers, rows)

    def counts(self, kind: str = "value") -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            if r.kind == kind:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def events(self) -> list[Event]:
        """One VerifyRow per compared value (its whole detail), then the VerifyFinished verdict."""
        rows: list[Event] = [VerifyRow(r.task, r.variable, r.status, r.detail, compared=r.kind) for r in self.rows]
        executed = str(self.executed_notebook) if self.executed_notebook else None
        return rows + [VerifyFinished(self.ok, self.summary(), self.counts(), executed)]

    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{n} {s}" for s, n in counts.items())
        shown = self.counts("output")
        if shown:
            parts += "; displayed outputs: " + ", ".join(f"{n} {s}" for s, n in shown.items())
        verdict = "the pipeline reproduces the notebook" if self.ok else "the pipeline DIFFERS from the notebook"
        if self.ok and self.exit_code == EXIT_NONDETERMINISTIC:
            verdict += " except values that change from run to run of the notebook itself (nondeterministic)"
        text = (f"{verdict}: {parts} (notebook {self.notebook_seconds:.1f}s, "
                f"pipeline {self.pipeline_seconds:.1f}s; executed notebook: {self.executed_notebook})")
        if self.repeat_note:  # on the verdict's line: scripts read the table as the lines before it
            text += "; " + self.repeat_note
        if self.explanation and not self.ok:
            text += "\n" + "\n".join(self.explanation)
        return text


def snapshot_source(plan: Plan, task_name: str, directory: Path) -> str:
    task = plan.task(task_name)
    lines = ["from workbench.runtime import save as _workbench_save"]
    for name in task.outputs:
        target = str(directory / task_name / name)
        if name == RANDOM_STATE_PRODUCT["numpy"]:
            value = "__import__('numpy').random.get_state()"
        elif name == RANDOM_STATE_PRODUCT["random"]:
            value = "__import__('random').getstate()"
        else:
            value = name
        # needed=False: a value that cannot be stored must not fail the user's notebook run
        lines.append(f"try:\n    _workbench_save({value}, {target!r}, needed=False)\nexcept NameError:\n    pass")
    lines.append("del _workbench_save")
    return "\n".join(lines)


def instrument(notebook: dict, plan: Plan, directory: Path) -> dict:
    """A copy of the notebook without `skip` cells and with a snapshot cell after each task."""
    nb = copy.deepcopy(notebook)
    last_cell = {}
    for task in plan.tasks:
        last_cell[max(task.code_cells)] = task.name
    skip = {c.index for c in plan.cells if c.role == "skip"}
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if index in skip:
            continue
        cells.append(cell)
        if index in last_cell:
            cells.append({
                "cell_type": "code",
                "execution_count": None,
                "id": f"workbench-snapshot-{index}",
                "metadata": {"tags": [SNAPSHOT_TAG]},
                "outputs": [],
                "source": snapshot_source(plan, last_cell[index], directory),
            })
    nb["cells"] = cells
    return nb


def run_notebook(notebook: Path, plan: Plan, overrides: dict, workdir: Path, hash_seed: str | None = None) -> Path:
    """Execute the instrumented notebook with papermill; products land in workdir/notebook/, the
    trace's fingerprints in workdir/trace.jsonl (workbench.execute.trace.read_trace reads them)."""
    import papermill

    from workbench.execute import trace as tracing
    from workbench.execute.papermill_kernel import execute

    snapshots = workdir / "notebook"
    if snapshots.exists():
        shutil.rmtree(snapshots)
    snapshots.mkdir(parents=True)
    lines = (workdir / "trace.jsonl").resolve()
    lines.unlink(missing_ok=True)
    source = tag_cells(json.loads(notebook.read_text(encoding="utf-8")))  # outputs.py maps cells back
    last_cell = {max(t.code_cells): t.name for t in plan.tasks}

    def snapshot(index: int) -> list[dict]:
        if index not in last_cell:
            return []
        return [{"cell_type": "code", "execution_count": None, "id": f"workbench-snapshot-{index}",
                 "metadata": {"tags": [SNAPSHOT_TAG]}, "outputs": [],
                 "source": snapshot_source(plan, last_cell[index], snapshots.resolve())}]

    instrumented = workdir / "instrumented.ipynb"
    instrumented.write_text(json.dumps(tracing.instrument(source, plan, lines, extra=snapshot)))
    executed = workdir / "executed.ipynb"
    try:
        execute(instrumented, executed, overrides, plan.kernel, notebook.resolve().parent, hash_seed,
                shown=plan.notebook)
    except papermill.PapermillExecutionError as exc:
        raise RunError(
            f"the notebook itself failed under papermill: {exc.ename}: {exc.evalue}",
            detail=f"executed notebook with the traceback: {executed}",
            hint="make the notebook run top to bottom in a fresh kernel first (Restart & Run All)",
            exit_code=EXIT_NOTEBOOK_FAILED,
        ) from None
    return executed


def not_compared(task, var: str, ignore: frozenset[str] = frozenset()) -> str:
    """Why `var` of `task` is only checked to exist ('' when it is compared): a value tagged
    `volatile:` in the notebook or named by --ignore differs on every run (a timing, a clock)."""
    if var in task.volatile:
        return "not compared: tagged volatile in the notebook"
    if var in ignore or f"{task.name}.{var}" in ignore:
        return "not compared: --ignore"
    return ""


def compare_products(plan: Plan, pipeline: Path, snapshots: Path, ignore: frozenset[str] = frozenset()) -> list[Row]:
    return compare_folders(plan, snapshots, pipeline / "products", ignore)


def compare_folders(plan: Plan, snapshots: Path, products: Path, ignore: frozenset[str] = frozenset(),
                    other: str = "the pipeline") -> list[Row]:
    """Every product in `snapshots` (the notebook's) against the same in `products` (TASK/NAME)."""
    from workbench.verification import figures

    with figures.memo():  # a figure loaded as fig, ax and axs is fingerprinted and drawn once
        return [row for name in plan.order for row in _compare_task(plan.task(name), snapshots, products,
                                                                    ignore, other)]


def _compare_task(task, snapshots: Path, products: Path, ignore: frozenset[str], other: str) -> list[Row]:
    from workbench.runtime import load
    from workbench.runtime.products import NotSaved, ProductError
    from workbench.verification.compare import compare

    rows = []
    name = task.name
    for var in task.outputs:
        missing = "not defined in the notebook at the end of the task"
        try:
            expected = load(snapshots / name / var)
            missing = f"{other} did not produce it"
            actual = load(products / name / var)
        except NotSaved as exc:  # a value no task reads that cannot be stored: said, not judged
            rows.append(Row(var, name, "not comparable", str(exc)))
            continue
        except ProductError:
            rows.append(Row(var, name, "different", missing))
            continue
        why = not_compared(task, var, ignore)
        if why:
            rows.append(Row(var, name, "volatile", why))
            continue
        result = compare(expected, actual)
        rows.append(Row(var, name, result.status, result.detail))
    return rows


def explain(plan: Plan, trace, notebook: str) -> list[str]:
    """What the trace shows and `plan` lacks, one line per missed dependency, then the fix."""
    from workbench.refactor.traced import apply_trace, found_by_trace

    edges, warnings = found_by_trace(plan, apply_trace(plan, trace))
    lines = [f"missed dependency: task `{task}` must come after `{up}` and take what it changed ({why})"
             for task, up, why in edges]
    for w in warnings:
        lines += [f"missed dependency: {c.get('text')}, cell {c.get('cell')} (the pipeline does not replay it)"
                  for c in w.cells]
    if lines:
        lines = list(dict.fromkeys(lines))
        lines.append(f"fix: re-export with the traced edges: workbench trace {notebook} && workbench export "
                     f"{notebook} --force (this run's trace is saved already: the export alone does it)")
    return lines


def output_rows(plan: Plan, executed: Path, pipeline: Path) -> list[Row]:
    """A row (kind output) per task cell that shows something in either run."""
    from workbench.verification.outputs import compare_outputs

    volatile = {c.index for c in plan.cells if any(t.startswith("volatile:") for t in c.tags)}
    # a cell with IPython syntax (%%time, !shell, %%writefile) is exported without it: it cannot show the same
    volatile |= {c.index for c in plan.cells if c.type == "code" and c.code.strip() != c.source.strip()}
    rows = []
    for d in compare_outputs(plan, executed, pipeline / "products"):
        if d.cell in volatile:  # it shows a value tagged volatile: not compared, as the value is not
            continue
        rows.append(Row(f"cell{d.cell}:output", d.task, d.status, d.detail, kind="output",
                        shown=(d.expected, d.actual)))
    return rows


def find_nondeterminism(plan: Plan, report: VerifyReport, workdir: Path, notebook: Path, overrides: dict,
                        runs: int, ignore: frozenset[str], emit) -> None:
    """Run the notebook `runs` more times; a value or output that changes between notebook runs is
    `nondeterministic` (listed, not failing) with where its randomness comes from and the fix. A
    value that only reads a clock stays `different`: it is volatile (tag it), not unseeded."""
    from workbench.execute.hash_seed import other_seed, seed
    from workbench.verification import nondeterminism
    from workbench.verification.outputs import compare_runs

    changed: dict[tuple[str, str], str] = {}
    seeds = [seed()]
    for i in range(1, runs + 1):
        emit(Message(f"running {plan.notebook} through papermill again ({i} of {runs}) to find nondeterminism ..."))
        again = workdir / f"repeat-{i}"
        again.mkdir(parents=True, exist_ok=True)
        # another hash seed each time: a value that follows a set's order shows itself
        executed = run_notebook(notebook, plan, overrides, again, other_seed(i))
        seeds.append(other_seed(i))
        for row in compare_folders(plan, workdir / "notebook", again / "notebook", ignore, "the notebook run again"):
            if row.status == "different":
                changed.setdefault((row.task, row.variable), f"run 1 vs run {i + 1}: {row.detail}")
        for index, why in compare_runs(plan, report.executed_notebook, executed).items():
            task = plan.cells[index].task if index < len(plan.cells) else None
            if task:
                changed.setdefault((task, f"cell{index}:output"), f"run 1 vs run {i + 1}: {why}")
    report.repeats = runs
    for row in report.rows:
        why = changed.get((row.task, row.variable))
        if why is None or row.status == "volatile":
            continue
        upto = int(row.variable[4:].split(":")[0]) if row.kind == "output" else None
        found = nondeterminism.sources(plan, row.task, upto)
        versus = f"; against the pipeline: {row.detail}" if row.status == "different" and row.detail else ""
        if nondeterminism.clock_only(found):
            where = "; ".join(s.text() for s in found)
            if row.kind == "output":  # what a cell shows of a clock (a timing it prints): known noise
                row.status = "volatile"
                row.detail = (f"changes between runs of the notebook ({why}): {where}: a clock never "
                              f"reproduces; not compared{versus}")
                continue
            row.detail += (f"; it changes between runs of the notebook too ({why}): {where}; fix: tag the cell "
                           f"volatile:{row.variable} or pass --ignore {row.variable}")
            continue
        where, fix = nondeterminism.describe(found, seeds)
        row.status = "nondeterministic"
        row.detail = f"changes between runs of the notebook ({why}); from: {where}; fix: {fix}{versus}"
    # A difference downstream of a value that changes between notebook runs follows from it: in the
    # pipeline the task read other inputs than in the notebook. The repeat may not show it (imbalanced-
    # learn's sampling example: a pie of counts after TomekLinks came out the same in two notebook
    # runs, by chance, and differed in the pipeline's).
    unstable: dict[str, list[str]] = {}
    for row in report.rows:
        if row.status == "nondeterministic" and row.kind == "value":
            unstable.setdefault(row.task, []).append(row.variable)
    for row in report.rows:
        if row.status != "different":
            continue
        upstream = [t for t in nondeterminism.ancestors(plan, row.task) if t != row.task and t in unstable]
        if upstream:
            names = ", ".join(f"{v} (task {t})" for t in upstream for v in unstable[t])
            row.status = "nondeterministic"
            row.detail = (f"reads values that change between runs of the notebook: {names}; seed those and "
                          f"this follows; against the pipeline: {row.detail}")


def verify(notebook: Path, pipeline: Path, plan: Plan, params: dict, overrides: dict,
           on_event: EventHandler | None = None, ignore: frozenset[str] = frozenset(),
           traces: Path | None = None, repeat: int | None = None) -> VerifyReport:
    """Run the notebook and the pipeline, compare; `on_event` gets the pipeline's task events, then
    a VerifyRow per compared value and the VerifyFinished verdict. The notebook run is a trace too,
    saved under `traces` (a project folder) when given.

    `repeat`: run the notebook that many more times and mark what changes between its runs
    `nondeterministic`; None (the default) runs it once more only when something differs, 0 never."""
    from workbench.execute.build import build
    from workbench.execute.trace import read_trace, save_trace

    emit = on_event or (lambda event: None)
    report = VerifyReport()
    workdir = pipeline / ".workbench" / "verify"
    workdir.mkdir(parents=True, exist_ok=True)
    emit(Message(f"running {plan.notebook} through papermill ..."))
    started = time.perf_counter()
    for old in workdir.glob("repeat-*"):
        shutil.rmtree(old, ignore_errors=True)
    report.snapshots, report.pipeline = workdir / "notebook", pipeline
    report.executed_notebook = run_notebook(notebook, plan, overrides, workdir)
    report.notebook_seconds = time.perf_counter() - started
    if plan.notebook_sha256 == _sha256(notebook):
        report.trace = read_trace(plan, workdir / "trace.jsonl", overrides, report.notebook_seconds)
        if traces is not None:
            save_trace(report.trace, traces)
        report.explanation = explain(plan, report.trace, str(notebook))
    emit(Message(f"running the pipeline in {pipeline} ..."))
    started = time.perf_counter()
    try:
        build(pipeline, plan, params, on_event=on_event)
    except RunError as exc:
        if report.explanation:
            exc.hint = ("the trace of the notebook run explains it, not the cell:\n  "
                        + "\n  ".join(report.explanation))
        exc.exit_code = EXIT_PIPELINE_FAILED
        raise
    report.pipeline_seconds = time.perf_counter() - started
    report.rows = compare_products(plan, pipeline, workdir / "notebook", ignore)
    report.rows += output_rows(plan, report.executed_notebook, pipeline)
    runs = repeat
    if runs is None:
        runs = 0 if report.ok else 1
        if runs:
            report.repeat_note = ("something differs: the notebook ran once more to tell a value that changes "
                                  "from run to run (nondeterministic) from a real difference (--repeat 0: not)")
    elif runs:
        report.repeat_note = f"the notebook ran {runs} more time(s) (--repeat {runs}) to find nondeterminism"
    if runs:
        find_nondeterminism(plan, report, workdir, notebook, overrides, runs, ignore, emit)
    if report.explanation and not report.ok:
        readers = {line.split("`")[1] for line in report.explanation if line.startswith("missed dependency: task")}
        for row in report.rows:
            if row.status == "different" and row.task in readers:
                row.detail = (row.detail + "; " if row.detail else "") + "the trace shows a missed dependency (below)"
    for event in report.events():
        emit(event)
    return report


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
