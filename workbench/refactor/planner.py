"""The planner: `build_plan`, a pure function from a notebook to a Plan (workbench.core.plan).

How dependencies are found: statements are visited in notebook order. A name a task reads before
binding it resolves to the latest earlier binding made outside that task: a parameter, a shared
definition (imports, functions, classes: copied into every task that uses them), or a value another
task produced (an upstream product). Functions charge the globals they read to their callers;
mutation is a binding; a file written by one task and read by another is an edge too.
"""

from __future__ import annotations

import ast
import gc
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import PlanError
from workbench.core.plan import (
    RANDOM_STATE_PRODUCT,
    SCHEMA,
    CellPlan,
    Definition,
    Edge,
    Output,
    Parameter,
    Plan,
    Task,
    Warning,
    slug,
)
from workbench.refactor.analysis import BUILTINS, NUMPY_RANDOM_CONSTRUCTORS, RNG_CONSTRUCTORS, Statement, analyse_cell
from workbench.refactor.effects import (
    PLOTTING_METHODS,
    PYPLOT_END_FIGURE,
    PYPLOT_NEW_FIGURE,
    RECREATABLE,
    STATE_CHANGING_METHODS,
    Shares,
    call_changes,
    setting_kind,
)
from workbench.refactor.ipython_syntax import transform
from workbench.refactor.notebook import Cell, Notebook, suggest

UNSAVEABLE = {"<generator>": "a generator", "open": "an open file", "iter": "an iterator"}


def _heading(cell: Cell, level: int) -> str | None:
    if cell.cell_type != "markdown":
        return None
    for line in cell.source.splitlines():
        m = re.match(r"^(#{1,6})\s+(.*)$", line.strip())
        if m and len(m.group(1)) == level:
            return m.group(2).strip()
    return None


# -- sections ---------------------------------------------------------------------------------

def _sections(nb: Notebook) -> tuple[dict[int, str], dict[int, str]]:
    """(cell -> role, cell -> task) from tags, else from level-2 headings, else one task."""
    role: dict[int, str] = {}
    owner: dict[int, str] = {}
    tagged = any(c.tags.task for c in nb.cells if c.cell_type == "code")
    seen: dict[str, Cell] = {}
    current: str | None = None
    pending_md: list[int] = []
    for cell in nb.cells:
        t = cell.tags
        if cell.cell_type == "code" and t.skip:
            role[cell.index] = "skip"
            continue
        injected = "injected-parameters" in cell.raw_tags and not t.task
        if cell.cell_type == "code" and (t.parameters or injected):
            # papermill's injected cell holds parameter values too: it must not become a task
            role[cell.index] = "parameters"
            continue
        if cell.cell_type == "code" and (t.imports or t.functions):
            role[cell.index] = "shared"
            continue
        start = None
        if tagged and cell.cell_type == "code" and t.task:
            start = t.task
        elif not tagged:
            head = _heading(cell, 2)
            if head is not None:
                start = slug(head)
                n = 2
                while start in seen and seen[start].index != cell.index:
                    start = f"{slug(head)}_{n}"
                    n += 1
        if start is not None:
            if start in seen:
                first = seen[start]
                raise PlanError(
                    f"duplicate task name {start!r}: cell {first.index} already starts it",
                    hint=f"rename one of the `task:{start}` tags, or remove the second tag to make "
                    f"cell {cell.index} part of the task above",
                    location=nb.location(cell, 1),
                )
            seen[start] = cell
            current = start
            # markdown just above a task's first cell introduces that task
            for i in pending_md:
                owner[i] = current
            pending_md = []
        if cell.cell_type == "markdown" and tagged and current is not None and start is None:
            pending_md.append(cell.index)
        if current is None or (cell.cell_type == "markdown" and cell.index in pending_md):
            role[cell.index] = "preamble" if cell.cell_type == "code" else "markdown"
            if cell.cell_type == "markdown" and current is not None:
                owner[cell.index] = current
                role[cell.index] = "task"
            continue
        role[cell.index] = "task"
        owner[cell.index] = current
    # markdown left pending at the end belongs to the last task
    return role, owner


def _parameters(nb: Notebook, cell: Cell, code: str) -> list[Parameter]:
    params = []
    tree = ast.parse(code)
    lines = code.split("\n")
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None:
                continue
            source = ast.get_source_segment(code, node.value) or ""
            try:
                value = ast.literal_eval(node.value)
                kind = type(value).__name__ if value is not None else "NoneType"
            except (ValueError, SyntaxError, TypeError):
                value, kind = None, "expression"
            for target in targets:
                if isinstance(target, ast.Name):
                    params.append(Parameter(target.id, value, kind, source, cell.index, node.lineno))
        elif not isinstance(node, ast.Expr):
            raise PlanError(
                "the parameters cell may only assign values",
                hint="keep `name = value` lines in the parameters cell and move other code to a task",
                location=nb.location(cell, node.lineno),
                detail=lines[node.lineno - 1].strip(),
            )
    return params


def _expression_reads(source: str) -> list[str]:
    """The global names a parameter's expression reads (comprehension variables and lambda
    arguments are its own)."""
    try:
        stmts = analyse_cell(f"__parameter__ = ({source})", -1)
    except SyntaxError:
        return []
    return [n for stmt in stmts for n, _ in stmt.reads]


# -- the resolver -----------------------------------------------------------------------------

@dataclass
class _Binding:
    kind: str  # param | def | task | deleted
    owner: str | None  # task name for task bindings and defs made inside a task
    cell: int
    line: int
    ref: str | None = None  # Definition id / parameter name
    maybe: bool = False
    ctor: str = ""  # what made the value, when the statement says (`open`, `<generator>`, ...)


class _Planner:
    def __init__(self, nb: Notebook) -> None:
        self.nb = nb
        self.bindings: dict[str, list[_Binding]] = {}
        self.definitions: dict[str, Definition] = {}
        self.def_statements: dict[str, Statement] = {}
        self.file_writers: dict[str, list[tuple[str, int]]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.rngs: set[str] = set()
        self.random_users: dict[str, str] = {}  # kind -> latest task that used global random state
        self.later: dict[str, tuple[int, int]] = {}  # first binding anywhere, for hints
        self.sure: dict[str, set[str]] = {}  # task -> names it has surely bound so far
        self.statements: dict[str, list[Statement]] = {}  # task -> its statements so far
        # effects.py: what notebook methods change, objects inside objects, state settings (ids of
        # their Definitions, notebook order; `given`: how many of them each task has), values
        # re-created where used (name -> where made, how, what changed it since), pyplot's figure
        self.methods: dict[str, list] = {}  # method name -> FunctionSummary of every class's
        self.shares = Shares()
        self.settings: list[str] = []
        self.given: dict[str, int] = {}
        self.live: dict[str, dict] = {}
        self.pyplot_persists = False  # a non-inline backend keeps figures across cells
        self.figure: list[tuple[str, str, bool]] = []  # (task, Definition id, replayable) drawing it
        self.figure_given: dict[str, int] = {}
        self.summarised: set[str] = set()  # names some notebook function's summary is bound to
        self.local_deferred: dict[str, dict[str, set[str]]] = {}  # task -> callable -> globals it reads

    # bindings
    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def resolve(self, name: str, task: str) -> _Binding | None:
        for binding in reversed(self.bindings.get(name, [])):
            if binding.owner == task and (binding.kind == "task" or binding.maybe):
                continue  # the value before this task's own (maybe) binding
            return binding
        return None

    def qualified(self, dotted_name: str, task: str) -> str:
        """`np.random.seed` -> 'numpy.random.seed' through the import that bound `np`."""
        root, _, rest = dotted_name.partition(".")
        binding = self.resolve(root, task)
        if binding is None or binding.kind != "def" or binding.ref not in self.def_statements:
            return dotted_name
        module = self.def_statements[binding.ref].imports.get(root)
        if not module:
            return dotted_name
        return f"{module}.{rest}" if rest else module

    def is_module(self, name: str, task: str) -> bool:
        binding = self.resolve(name, task)
        if binding is None or binding.kind != "def":
            return False
        stmt = self.def_statements.get(binding.ref)
        return stmt is not None and stmt.kind == "import"


def _undefined(nb: Notebook, planner: _Planner, name: str, cell: int, line: int, task: str) -> PlanError:
    later = planner.later.get(name)
    if later is not None and later[0] == cell and later[1] > line:
        return PlanError(
            f"name {name!r} is used before it is defined (on line {later[1]} of this cell)",
            hint=f"move the line that defines {name!r} above line {line}",
            location=nb.location(cell, line),
        )
    if later is not None and later[0] > cell:
        return PlanError(
            f"name {name!r} is used before it is defined (it is first defined in cell {later[0]})",
            hint=f"move the cell that defines {name!r} above cell {cell}, or reorder the tasks",
            location=nb.location(cell, line),
        )
    known = [n for n in planner.bindings if n not in BUILTINS]
    guess = suggest(name, known)
    hint = f"did you mean {guess!r}? " if guess else ""
    return PlanError(
        f"name {name!r} is not defined by any cell before task {task!r}",
        hint=hint + f"define {name!r} in an earlier cell, add it to the parameters cell, "
        "or fix the spelling",
        location=nb.location(cell, line),
    )


def build_plan(nb: Notebook, name: str | None = None) -> Plan:
    """Turn a read notebook into a Plan. Raises PlanError for anything the user must fix."""
    # Planning allocates many small objects and no cycles worth collecting; the cyclic collector's
    # full passes were a third of the time of a 5,000-cell plan.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_plan(nb, name)
    finally:
        if enabled:
            gc.enable()


def _build_plan(nb: Notebook, name: str | None) -> Plan:
    role, owner = _sections(nb)
    stem = name or slug(Path(nb.path).stem)
    if not any(r == "task" for i, r in role.items() if nb.cells[i].cell_type == "code"):
        # no tags and no headings (or only preamble): the whole notebook is one task
        for cell in nb.cells:
            if role.get(cell.index) in ("preamble", "markdown"):
                role[cell.index] = "task"
                owner[cell.index] = stem
    planner = _Planner(nb)
    cells: list[CellPlan] = []
    params: dict[str, Parameter] = {}
    tasks: dict[str, Task] = {}
    warnings: dict[str, list[dict]] = {}
    requirements: list[str] = []
    statements: dict[int, list[Statement]] = {}
    extra_imports: dict[int, list[str]] = {}

    # 1. per cell: magics, syntax, statements
    for cell in nb.cells:
        r = role.get(cell.index, "markdown")
        code = ""
        if cell.cell_type == "code" and r != "skip":
            tr = transform(cell.source)
            code = tr.code
            for line, text in tr.removed:
                warnings.setdefault("left out of the pipeline (IPython syntax that changes the "
                                    "environment, not the data)", []).append(
                    {**nb.location(cell, line).to_dict(), "text": text})
            requirements.extend(r_ for r_ in tr.requirements if r_ not in requirements)
            extra_imports[cell.index] = tr.imports
            try:
                statements[cell.index] = analyse_cell(code, cell.index)
            except SyntaxError as exc:
                line = exc.lineno or 1
                text = code.split("\n")[line - 1] if line <= len(code.split("\n")) else ""
                raise PlanError(
                    f"syntax error: {exc.msg}",
                    hint="fix the line in the notebook (run the cell to see Python's own message)",
                    location=nb.location(cell, line),
                    detail=text.rstrip(),
                ) from None
            for stmt in statements[cell.index]:
                for n in stmt.binds | stmt.maybe_binds:
                    planner.later.setdefault(n, (cell.index, stmt.line))
        if r == "preamble":
            stmts = statements.get(cell.index, [])
            r = "shared" if all(s.kind in ("import", "def") for s in stmts) else "task"
            if r == "task":
                owner[cell.index] = "setup"
        cells.append(CellPlan(cell.index, cell.id, cell.cell_type, r, owner.get(cell.index),
                              cell.source, code, list(cell.raw_tags)))
        role[cell.index] = r

    if any(c.task == "setup" for c in cells) and "setup" in {c.tags.task for c in nb.cells}:
        for c in cells:
            if c.role == "task" and c.task == "setup" and not nb.cells[c.index].tags.task:
                c.task = "setup_"
                owner[c.index] = "setup_"

    # tasks in notebook order of their first cell
    for c in cells:
        if c.role == "task" and c.task and c.task not in tasks:
            tasks[c.task] = Task(name=c.task, cells=[])
        if c.role == "task" and c.task:
            tasks[c.task].cells.append(c.index)
            if c.type == "code":
                tasks[c.task].code_cells.append(c.index)
    for t in list(tasks.values()):
        if not t.code_cells:
            del tasks[t.name]
            for c in cells:
                if c.task == t.name:
                    c.task, c.role = None, "markdown"

    # 2. walk statements in notebook order
    for cell in nb.cells:
        r = role.get(cell.index)
        stmts = statements.get(cell.index, [])
        if r == "parameters":
            for p in _parameters(nb, cell, cells[cell.index].code):
                params[p.name] = p
                planner.bind(p.name, _Binding("param", None, cell.index, p.line, p.name))
            continue
        if r == "shared":
            for i, stmt in enumerate(stmts):
                ref = f"{cell.ref}:{i}"
                planner.definitions[ref] = Definition(ref, cell.index, stmt.line, stmt.kind,
                                                      sorted(stmt.binds | stmt.maybe_binds), stmt.source)
                planner.def_statements[ref] = stmt
                _register_methods(planner, stmt)
                _register_setting(planner, planner.definitions[ref], stmt, "")
                for n in stmt.binds | stmt.maybe_binds:
                    planner.bind(n, _Binding("def", None, cell.index, stmt.line, ref))
            continue
        if r != "task" or cell.cell_type != "code":
            continue
        task = tasks[owner[cell.index]]
        tags = cell.tags
        task.gpu = max(task.gpu, tags.gpu)
        for limit in ("memory_mb", "timeout_s", "cpus"):  # a task's limit: the largest its cells set
            if (value := getattr(tags, limit)) is not None:
                setattr(task, limit, max(value, getattr(task, limit) or value))
        if tags.model:
            task.model = tags.model
        if tags.features:
            task.features = tags.features
        for column in tags.sensitive:
            if column not in task.sensitive:
                task.sensitive.append(column)
        for value in tags.volatile:
            if value not in task.volatile:
                task.volatile.append(value)
        for after in tags.after:
            task.upstream.setdefault(after, Edge()).after = True
        for path in tags.data:
            # `data:PATH` names an input file the code does not show literally
            key = os.path.normpath(path)
            if key not in task.file_reads:
                task.file_reads.append(key)
        for line in extra_imports.get(cell.index, []):
            # imports the Python form of a magic needs (`%%capture` -> capture_output)
            if line not in task.imports_needed:
                task.imports_needed.append(line)
            for stmt in analyse_cell(line, cell.index):
                planner.sure.setdefault(task.name, set()).update(stmt.binds)
        for i, stmt in enumerate(stmts):
            _visit_task_statement(planner, nb, task, tasks, cell, i, stmt, params)
        if tags.metrics:
            for stmt in stmts:
                for n in sorted(stmt.binds):
                    if n not in task.metrics and not n.startswith("_"):
                        task.metrics.append(n)
            # Kale's metrics cell binds nothing: it names its metrics as `print(NAME)` lines
            task.metrics.extend(n for n in tags.metric_names if n not in task.metrics)

    # 3. after: tags must name tasks; cycles
    for task in tasks.values():
        for up, edge in task.upstream.items():
            if edge.after and up not in tasks:
                cell = next(c for c in nb.cells if up in c.tags.after and owner.get(c.index) == task.name)
                guess = suggest(up, tasks)
                raise PlanError(
                    f"`after:{up}` names no task",
                    hint=(f"did you mean 'after:{guess}'? " if guess else "")
                    + f"the tasks are: {', '.join(tasks)}",
                    location=nb.location(cell, 1),
                )
    order = _toposort(nb, tasks, owner)

    # 4. sinks keep every value they define, so that results can be read and verified
    downstream = {t: set() for t in tasks}
    for t in tasks.values():
        for up in t.upstream:
            downstream[up].add(t.name)
    for t in tasks.values():
        if downstream[t.name]:
            continue
        for index in t.code_cells:
            for stmt in statements.get(index, []):
                if stmt.kind != "code":
                    continue
                for n in sorted(stmt.binds):
                    if n.startswith("_") or n in t.outputs or _unsaveable(stmt, n):
                        continue
                    if planner.qualified(stmt.constructed.get(n, ""), t.name) in RECREATABLE:
                        continue  # a connection, session, lock...: never a product
                    final = planner.resolve(n, "")
                    if final and final.owner != t.name:
                        continue  # rebound later by another task
                    if final and final.kind == "deleted":
                        continue  # `del n` later in the task: the notebook ends without it
                    t.outputs[n] = Output(n, _format(stmt, n), index, stmt.line)
    for t in tasks.values():
        if t.model and t.model not in t.outputs:
            t.outputs[t.model] = Output(t.model, "pickle", t.code_cells[0], 1)
        for name in t.volatile:
            if name not in t.outputs:
                cell = next(c for c in nb.cells if name in c.tags.volatile and owner.get(c.index) == t.name)
                warnings.setdefault("volatile: names a value its task does not pass on (verify never "
                                    "compares it anyway): check the name", []).append(
                    {**nb.location(cell, 1).to_dict(), "text": f"volatile:{name}"})

    return Plan(
        schema=SCHEMA,
        notebook=nb.path,
        notebook_sha256=nb.sha256,
        name=stem,
        title=_title(nb) or stem,
        description=_description(nb),
        kernel=nb.kernel,
        parameters=params,
        tasks=[tasks[n] for n in tasks],
        definitions=planner.definitions,
        cells=cells,
        warnings=[Warning(m, c) for m, c in warnings.items()],
        requirements=requirements,
        order=order,
    )


def _unsaveable(stmt: Statement, name: str) -> bool:
    ctor = stmt.constructed.get(name, "")
    return ctor in ("open", "iter") or "with" in stmt.source.split("\n")[0].split()


_FORMAT_BY_CALL = {
    "DataFrame": "parquet", "read_csv": "parquet", "read_parquet": "parquet", "read_json": "parquet",
    "read_excel": "parquet", "Series": "parquet", "array": "npy", "arange": "npy", "zeros": "npy",
    "ones": "npy", "linspace": "npy", "empty": "npy", "asarray": "npy", "load": "npy",
    "predict_proba": "npy", "predict": "npy",
}


def _format(stmt: Statement, name: str) -> str:
    """A static guess; the runtime picks the real format from the value's type when it saves."""
    ctor = stmt.constructed.get(name)
    if ctor:
        return _FORMAT_BY_CALL.get(ctor.rsplit(".", 1)[-1], "auto")
    return "auto"


def _visit_task_statement(planner: _Planner, nb: Notebook, task: Task, tasks: dict[str, Task],
                          cell: Cell, index: int, stmt: Statement, params: dict) -> None:
    name = task.name
    sure = planner.sure.setdefault(name, set())
    own = planner.statements.setdefault(name, [])
    ref = f"{cell.ref}:{index}"
    # state earlier cells set (os.environ, sys.path, pd.set_option, ...): replayed here (effects.py)
    extra = _give_settings(planner, task) if len(planner.settings) > planner.given.get(name, 0) else []
    # what the statement changes in place: itself, through notebook functions and methods, through
    # objects inside objects (effects.py); computed before the reads, which it may add to
    shares = planner.shares
    if shares.up:
        for n in stmt.binds | stmt.maybe_binds:
            shares.forget(n)
    for member, container, access in stmt.shares:
        shares.add(member, container, access, planner.rngs)
    direct = {n for n in stmt.mutates if not planner.is_module(n, name)}
    direct |= {root for root, _ in stmt.method_calls if root in planner.rngs}
    if stmt.callees & planner.summarised or stmt.passed & planner.rngs:
        direct |= call_changes(planner, stmt, name)
    mutated = shares.changed_with(direct) if direct and shares.up else direct
    for m in sorted(mutated) if shares.retake and mutated else ():
        # a member changed through its container (or the other way round) where both come from
        # upstream: re-take it from the container, so that they are one object as in the notebook
        take = planner.shares.retake.get(m)
        if take is None or m in sure or take[0] not in mutated or take[0] in sure:
            continue
        b = planner.resolve(take[0], name)
        if b is not None and b.kind == "task" and b.owner != name:
            if [m, take[1]] not in task.aliases:
                task.aliases.append([m, take[1]])
            extra.append((take[0], stmt.line))
    if planner.pyplot_persists:
        extra += _pyplot_figure(planner, nb, task, cell, stmt, ref)
    # reads, with the globals of every function called, transitively (a function defined earlier
    # in this task too: its globals are what this task must get)
    local_deferred = planner.local_deferred.setdefault(name, {})
    pending = [(n, line) for n, line in stmt.reads if n not in sure or n in local_deferred] + extra
    seen: set[str] = set()
    while pending:
        n, line = pending.pop(0)
        if n in seen:
            continue
        seen.add(n)
        if n in sure:
            # bound earlier in this task; its deferred reads still matter when it is a function
            local = local_deferred.get(n)
            if local is not None:
                pending.extend((g, line) for g in local if g not in sure)
            continue
        binding = planner.resolve(n, name)
        if binding is None:
            if n in BUILTINS or any(b.owner == name and b.maybe for b in planner.bindings.get(n, ())):
                # bound by this task inside a loop, branch, with or try: the notebook ran, so it was
                continue
            raise _undefined(nb, planner, n, cell.index, line, name)
        if binding.kind == "deleted":
            raise PlanError(
                f"name {n!r} is used after `del {n}` in cell {binding.cell}",
                hint=f"remove the `del {n}` or define {n!r} again before this line",
                location=nb.location(cell, line),
            )
        if binding.kind == "param":
            if n not in task.parameters:
                task.parameters.append(n)
                param = params.get(n)
                if param is not None and param.type == "expression":
                    # `r = math.pi * 2` needs what the expression reads, as the notebook had it
                    pending.extend((g, line) for g in _expression_reads(param.source))
        elif binding.kind == "def":
            _use_definition(planner, task, binding.ref)
            pending.extend((g, line) for g in planner.def_statements[binding.ref].needs(n))
        elif binding.kind == "task":
            up = binding.owner
            live = planner.live.get(n)
            if live is not None and binding.ctor == live["ctor"]:
                # a connection, session, lock...: made again here by its own statement
                if live["changed"]:
                    raise _not_recreatable(nb, n, live, name, cell.index, line)
                _use_definition(planner, task, live["ref"])
                pending.extend((g, line) for g in planner.def_statements[live["ref"]].needs(n))
                if live["task"] != name:
                    # what the object stands for (a database file, a server's state) was made there
                    task.upstream.setdefault(live["task"], Edge()).after = True
                continue
            if binding.ctor in UNSAVEABLE:
                raise PlanError(
                    f"task {name!r} needs {n!r} from task {up!r}, but {n!r} is "
                    f"{UNSAVEABLE[binding.ctor]}, which cannot be saved as a product",
                    hint=f"use {n!r} only inside task {up!r}, or turn it into data before the task "
                    f"ends (e.g. `{n} = list({n})`)",
                    location=nb.location(binding.cell, binding.line),
                    detail=f"used in cell {cell.index}, line {line}",
                )
            task.inputs[n] = up
            edge = task.upstream.setdefault(up, Edge())
            if n not in edge.variables:
                edge.variables.append(n)
            producer = tasks[up]
            out = producer.outputs.get(n)
            if out is None:
                producer.outputs[n] = Output(n, "auto", binding.cell, binding.line, [name])
            elif name not in out.needed_by:
                out.needed_by.append(name)
            # a value that is a function defined by assignment still charges its globals
            for s in planner.statements.get(up, []):
                if n in s.deferred:
                    pending.extend((g, line) for g in s.deferred[n])
    # calls: global random state and functions that assign globals
    for call, line in stmt.calls:
        qual = planner.qualified(call, name)
        kind = None
        if qual.startswith("numpy.random.") and qual.split(".")[2] not in NUMPY_RANDOM_CONSTRUCTORS:
            kind = "numpy"
        elif qual.startswith("random.") and qual.split(".")[1] not in ("Random", "SystemRandom"):
            kind = "random"
        if kind and kind not in task.random_state:
            previous = planner.random_users.get(kind)
            task.random_state[kind] = previous if previous != name else None
            if previous and previous != name:
                task.upstream.setdefault(previous, Edge()).random_state.append(kind)
                tasks[previous].outputs.setdefault(
                    RANDOM_STATE_PRODUCT[kind],
                    Output(RANDOM_STATE_PRODUCT[kind], "pickle", cell.index, line, []),
                ).needed_by.append(name)
            planner.random_users[kind] = name
        root = call.split(".")[0]
        binding = planner.resolve(root, name) if root not in sure else None
        if binding is not None and binding.kind == "def":
            writes = planner.def_statements[binding.ref].deferred_writes.get(root, set())
            for g in writes:
                planner.bind(g, _Binding("task", name, cell.index, line))
    # files
    for key, _line in stmt.file_reads:
        writers = [w for w in planner.file_writers.get(key, []) if w[0] != name]
        if writers:
            up = writers[-1][0]
            edge = task.upstream.setdefault(up, Edge())
            if key not in edge.files:
                edge.files.append(key)
        if key not in task.file_reads:
            task.file_reads.append(key)
    for key, _line in stmt.file_writes:
        planner.file_writers.setdefault(key, []).append((name, cell.index))
        if key not in task.file_writes:
            task.file_writes.append(key)
    # bindings this statement leaves
    recreatable = False
    for n, ctor in stmt.constructed.items():
        qualified = planner.qualified(ctor, name)
        if qualified in RNG_CONSTRUCTORS:
            planner.rngs.add(n)
        recreatable = recreatable or qualified in RECREATABLE
    if mutated is not direct:  # only what this task has can be changed here
        aliased = {a for a, _ in task.aliases}
        mutated = {m for m in mutated if m in direct or m in sure or m in task.inputs or m in aliased
                   or m in stmt.binds or m in stmt.maybe_binds}
    if planner.live or recreatable:
        _track_live(planner, nb, task, cell, stmt, ref, mutated)
    if stmt.setting:
        _register_setting(planner, None, stmt, name, cell, ref)
    if stmt.kind in ("import", "def"):
        planner.definitions[ref] = Definition(ref, cell.index, stmt.line, stmt.kind,
                                              sorted(stmt.binds | stmt.maybe_binds), stmt.source)
        planner.def_statements[ref] = stmt
        _register_methods(planner, stmt)
        for n in stmt.binds:
            planner.bind(n, _Binding("def", name, cell.index, stmt.line, ref))
        for n in stmt.maybe_binds:
            planner.bind(n, _Binding("def", name, cell.index, stmt.line, ref, maybe=True))
    else:
        for n in stmt.binds:
            ctor = stmt.constructed.get(n, "")
            live = planner.live.get(n)
            if live is not None and live["ref"] == ref:
                ctor = live["ctor"]
            planner.bind(n, _Binding("task", name, cell.index, stmt.line, ctor=ctor))
            if n not in stmt.constructed:
                planner.rngs.discard(n)  # rebound to something else: no longer a generator
            for group in planner.aliases.values():
                group.discard(n)
            planner.aliases.pop(n, None)
        for n in stmt.maybe_binds:
            planner.bind(n, _Binding("task", name, cell.index, stmt.line, maybe=True))
        for n in mutated:
            live = planner.live.get(n)
            planner.bind(n, _Binding("task", name, cell.index, stmt.line, ctor=live["ctor"] if live else ""))
            # mutating one name of an alias group changes every name of it
            for other in sorted(planner.aliases.get(n, ())):
                if other in sure or [other, n] in task.aliases:
                    continue
                b = planner.resolve(other, name)
                if b is not None and b.kind == "task":
                    # `other = n` after loading n: the same object, as in the notebook
                    task.aliases.append([other, n])
                    planner.bind(other, _Binding("task", name, cell.index, stmt.line))
        for a, b in stmt.aliases:
            planner.aliases.setdefault(a, set()).add(b)
            planner.aliases.setdefault(b, set()).add(a)
    for n in stmt.deletes:
        planner.bind(n, _Binding("deleted", name, cell.index, stmt.line))
        sure.discard(n)
    sure |= stmt.binds
    own.append(stmt)
    if stmt.deferred:
        local_deferred.update(stmt.deferred)


def _register_methods(planner: _Planner, stmt: Statement) -> None:
    """A class's methods, by name: `obj.push(x)` changes obj when some notebook class's `push`
    changes self (the object's class is not known statically; any class's method of that name)."""
    for key, summary in stmt.summaries.items():
        if "." in key:
            planner.methods.setdefault(key.rsplit(".", 1)[1], []).append(summary)
        planner.summarised.add(key.rsplit(".", 1)[-1])  # functions' and methods' names


def _register_setting(planner: _Planner, definition: Definition | None, stmt: Statement, task: str,
                      cell: Cell | None = None, ref: str | None = None) -> None:
    """A statement that only sets process or library state becomes a Definition every later task
    replays: kind "setting" (with the imports, in notebook order) when it reads only imports,
    parameters and builtins, else "replay" (after the task's loads; what it reads is an input)."""
    if not stmt.setting or stmt.kind != "code" or stmt.binds or stmt.maybe_binds:
        return
    root = stmt.setting.split(".")[0]
    if not planner.is_module(root, task) or not setting_kind(planner.qualified(stmt.setting, task)):
        return
    qualified = planner.qualified(stmt.setting, task)
    if qualified in ("matplotlib.use", "matplotlib.pyplot.switch_backend"):
        planner.pyplot_persists = "inline" not in stmt.source
    sure = planner.sure.get(task, set())
    pure = True
    for n, _ in stmt.reads:
        b = planner.resolve(n, task)
        if n in sure or (b is not None and b.kind not in ("def", "param")):
            pure = False
    kind = "setting" if pure else "replay"
    if definition is None:
        definition = Definition(ref, cell.index, stmt.line, kind, [], stmt.source)
        planner.definitions[ref] = definition
        planner.def_statements[ref] = stmt
    definition.kind = kind
    planner.settings.append(definition.id)


def _give_settings(planner: _Planner, task: Task) -> list[tuple[str, int]]:
    """The settings made before this task that it has not got yet: copied in; returns the reads
    a data-dependent one charges to the task."""
    given = planner.given.get(task.name, 0)
    extra: list[tuple[str, int]] = []
    for ref in planner.settings[given:]:
        d = planner.definitions[ref]
        if d.cell in task.cells:
            continue
        _use_definition(planner, task, ref)
        extra += [(n, 1) for n, _ in planner.def_statements[ref].reads]
    planner.given[task.name] = len(planner.settings)
    return extra


def _track_live(planner: _Planner, nb: Notebook, task: Task, cell: Cell, stmt: Statement, ref: str,
                mutated: set[str]) -> None:
    """Values that cannot be products (effects.RECREATABLE): remember how each was made, and
    whether anything changed it since (then it cannot be made again elsewhere)."""
    for n, info in planner.live.items():
        methods = {m for root, m in stmt.method_calls if root == n}
        if n in mutated or methods & STATE_CHANGING_METHODS:
            if info["changed"] is None and info["ref"] != ref:
                how = ", ".join(sorted(methods & STATE_CHANGING_METHODS)) or "changed in place"
                info["changed"] = (cell.index, stmt.line, how)
    for n in stmt.binds:
        ctor = stmt.constructed.get(n)
        qualified = planner.qualified(ctor, task.name) if ctor else ""
        if qualified in RECREATABLE and stmt.binds == {n} and stmt.kind == "code":
            changed = None
            if qualified == "sqlite3.connect" and ":memory:" in stmt.source:
                changed = (cell.index, stmt.line, "an in-memory database lives only in its connection")
            planner.live[n] = {"ctor": qualified, "what": RECREATABLE[qualified], "ref": ref, "cell": cell.index,
                               "line": stmt.line, "task": task.name, "changed": changed}
            planner.definitions[ref] = Definition(ref, cell.index, stmt.line, "replay", [n], stmt.source)
            planner.def_statements[ref] = stmt
        else:
            planner.live.pop(n, None)


def _not_recreatable(nb: Notebook, n: str, live: dict, task: str, cell: int, line: int) -> PlanError:
    where, at, how = live["changed"]
    return PlanError(
        f"task {task!r} needs {n!r}, {live['what']} made in cell {live['cell']} (task {live['task']!r}), "
        f"which cannot be saved as a product, and cannot be made again in task {task!r} either: "
        f"cell {where} line {at} changed it ({how})",
        hint=f"use {n!r} only inside task {live['task']!r} (move cell {cell} into it), or make it "
        f"again where it is used (`{n} = ...` in cell {cell}) and turn what it gives into data "
        "(a DataFrame, a list) before the task ends",
        location=nb.location(nb.cells[live["cell"]], live["line"]),
        detail=f"used in cell {cell}, line {line}",
    )


def _pyplot_figure(planner: _Planner, nb: Notebook, task: Task, cell: Cell, stmt: Statement,
                   ref: str) -> list[tuple[str, int]]:
    """pyplot's implicit current figure (effects.PYPLOT_DOC): where a non-inline backend keeps
    it across cells, a task drawing on it gets the statements that drew it in earlier tasks,
    replayed after its loads. Returns the reads they charge."""
    if not planner.pyplot_persists or not stmt.calls:
        return []
    names = [planner.qualified(c, task.name) for c, _ in stmt.calls]
    pyplot = [q.rsplit(".", 1)[1] for q in names if q.startswith("matplotlib.pyplot.")]
    plotting = any(method in PLOTTING_METHODS and on and not planner.is_module(on, task.name)
                   for _, on, method, _, _ in stmt.call_args)
    if not pyplot and not plotting:
        return []
    if stmt.setting and setting_kind(planner.qualified(stmt.setting, task.name)):
        return []
    extra: list[tuple[str, int]] = []
    if set(pyplot) & PYPLOT_NEW_FIGURE:
        planner.figure = []
    elif planner.figure_given.get(task.name) is not planner.figure:
        planner.figure_given[task.name] = planner.figure
        for owner, drawn, replayable in planner.figure:
            if owner == task.name:
                continue
            d = planner.definitions[drawn]
            if not replayable:
                raise PlanError(
                    f"task {task.name!r} draws on pyplot's current figure, which task {owner!r} "
                    f"started with a statement that also binds a value (cell {d.cell}, line {d.line})",
                    hint="draw and save each figure within one task, or keep the figure object "
                    "(`fig, ax = plt.subplots()`) and draw on `ax` in the later task",
                    location=nb.location(cell, stmt.line),
                )
            _use_definition(planner, task, drawn)
            extra += [(n, stmt.line) for n, _ in planner.def_statements[drawn].reads]
    if set(pyplot) & PYPLOT_END_FIGURE:
        planner.figure = []
        return extra
    replayable = stmt.kind == "code" and not stmt.binds and not stmt.maybe_binds and not stmt.mutates - {
        r for r, _ in stmt.method_calls}
    if ref not in planner.definitions:
        planner.definitions[ref] = Definition(ref, cell.index, stmt.line, "replay", [], stmt.source)
        planner.def_statements[ref] = stmt
    planner.figure = planner.figure + [(task.name, ref, replayable)]
    return extra


def closure(definitions: Iterable[Definition], names: Iterable[str]) -> tuple[list[Definition], list[str]]:
    """The definitions `names` need, transitively, by the rule a task's reads pull in definitions:
    a name is bound by the latest of `definitions` (notebook order) that binds it, and using it
    needs what that statement needs for it (`Statement.needs`: its reads, and a function's globals).

    Returns those definitions in notebook order, and the names none binds (builtins left out) in
    the order met; their own needs are not followed (a parameter's, say).
    """
    defs = sorted(definitions, key=lambda d: (d.cell, d.line))
    chosen: dict[str, Definition] = {}
    unbound: list[str] = []
    pending, seen = list(names), set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        d = next((d for d in reversed(defs) if name in d.binds), None)
        if d is None:
            if name not in BUILTINS:
                unbound.append(name)
            continue
        chosen[d.id] = d
        for stmt in analyse_cell(d.source, d.cell):
            pending.extend(stmt.needs(name))
    return sorted(chosen.values(), key=lambda d: (d.cell, d.line)), unbound


def _use_definition(planner: _Planner, task: Task, ref: str) -> None:
    d = planner.definitions[ref]
    if d.cell in task.cells:
        return  # the task's own cell runs it
    if ref not in task.definitions:
        task.definitions.append(ref)
        task.definitions.sort(key=lambda r: (planner.definitions[r].cell, planner.definitions[r].line))


def _toposort(nb: Notebook, tasks: dict[str, Task], owner: dict[int, str]) -> list[str]:
    state: dict[str, int] = {}
    order: list[str] = []
    stack: list[str] = []

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name):] + [name]  # each task needs the next one
            culprit, named = None, None
            for task_name, needed in zip(cycle, cycle[1:]):
                for c in nb.cells:
                    if owner.get(c.index) == task_name and needed in c.tags.after:
                        culprit, named = c, needed
                        break
                if culprit:
                    break
            raise PlanError(
                "the tasks form a cycle: " + " -> ".join(reversed(cycle))
                + " (each runs after the one before it)",
                hint="a task cannot run after a task that needs its results: remove one of the "
                "`after:` tags on the cycle"
                + (f" (cell {culprit.index} has `after:{named}`)" if culprit else ""),
                location=nb.location(culprit, 1) if culprit else nb.location(),
            )
        state[name] = 1
        stack.append(name)
        for up in tasks[name].upstream:
            visit(up)
        stack.pop()
        state[name] = 2
        order.append(name)

    for name in tasks:
        visit(name)
    return order


def _title(nb: Notebook) -> str:
    for cell in nb.cells:
        head = _heading(cell, 1)
        if head:
            return head
    return ""


def _description(nb: Notebook) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [line for line in cell.source.splitlines() if not line.startswith("#")]
            return "\n".join(lines).strip()
    return ""
