"""The traced check: a static Plan corrected by what one real run showed (pure: runs nothing).

`apply_trace(plan, trace)` compares each task boundary of the trace with the one before it. A
value a task changed although the plan takes that value, in a later task, from an earlier task
(the change went through `getattr`, `exec`, `operator.setitem`, an object reachable from another,
a C extension...) becomes an edge from the changing task to each later task that reads it, with
its evidence ("found by trace: task `clean` changed `train`, cell 4"); the reader then loads the
changed value from there. Global random state drawn in a task the plan did not see draw is passed
on the same way. Other process state (os.environ, the working directory, sys.path, options) set
where the code shows no such setting orders the later tasks that use it after that task and is
reported as a warning: the pipeline does not replay it.

A trace only adds: a static edge is never removed (when its variable now comes from the traced
task, the edge stays, saying so in its evidence).
"""

from __future__ import annotations

import copy
import re

from workbench.core.plan import RANDOM_STATE_PRODUCT, Edge, Output, Plan, Warning
from workbench.core.trace import Trace

# state key prefix -> (words in a task's code that set it, words in a later task's code that read it)
STATE_WORDS = {
    "os.environ[": (("environ", "putenv", "load_dotenv"), ("environ", "getenv")),
    "os.getcwd()": (("chdir",), ("open(", "read_", "to_", "Path(", "load", "save", "glob", "listdir", "exists")),
    "sys.path": (("sys.path", "site.addsitedir"), ("import ",)),
    "warnings.filters": (("warnings.", "simplefilter", "filterwarnings"), ("warn",)),
    "logging.root": (("basicConfig", "logging.", "addHandler", "setLevel"), ("logging", "logger", "log.")),
    "numpy.printoptions": (("set_printoptions", "printoptions"), ("print(", "repr(", "str(")),
    "pandas.options": (("set_option", "pd.options", "option_context"), ("pd.", "print(", "display(")),
    "matplotlib.rcParams": (("rcParams", "rc(", "style.use", "set_theme", "sns.set"), ("plt.", "plot", "sns.")),
    "matplotlib.backend": (("matplotlib.use", "switch_backend"), ("plt.", "plot", "savefig")),
}
RANDOM_KINDS = {"numpy.random": "numpy", "random": "random"}


def evidence(task: str, what: str, cell: int) -> str:
    return f"found by trace: task `{task}` changed {what}, cell {cell}"


def apply_trace(plan: Plan, trace: Trace | None) -> Plan:
    """`plan` with the edges `trace` shows and the plan lacks (a new Plan; `plan` is unchanged).
    A trace of another notebook content (its hash differs) is ignored."""
    if trace is None or trace.notebook_sha256 != plan.notebook_sha256:
        return plan
    plan = copy.deepcopy(plan)
    tasks = {t.name: t for t in plan.tasks}
    traced = [b.task for b in trace.boundaries if b.task in tasks]
    position = {name: i for i, name in enumerate(traced)}
    changed: dict[str, dict[str, object]] = {}
    for name in traced:
        changed[name] = {c.name: c for c in trace.changes(name)}
    warnings: dict[str, list[dict]] = {}

    def cell_of(task, word: str | None) -> int:
        """The last cell of `task` whose code mentions `word` (else its last code cell)."""
        if word:
            pattern = re.compile(rf"(?<![\w.]){re.escape(word)}(?!\w)") if word.isidentifier() else None
            for index in reversed(task.code_cells):
                code = plan.cells[index].code
                if (pattern.search(code) if pattern else word in code):
                    return index
        return max(task.code_cells)

    # values: the reader takes the value from the last task before it that changed it
    for reader_name in traced:
        reader = tasks[reader_name]
        for var, producer in list(reader.inputs.items()):
            if producer not in position or position[producer] >= position[reader_name]:
                continue
            between = [t for t in traced[position[producer] + 1:position[reader_name]]
                       if var in changed[t] and changed[t][var].kind == "value" and changed[t][var].after]
            if not between:
                continue
            changer = tasks[between[-1]]
            cell = cell_of(changer, var)
            why = evidence(changer.name, f"`{var}`", cell)
            _take(plan, tasks, reader, var, producer, changer.name, why)
            if var not in changer.inputs and changer.name != producer:
                # the changer changed a value it never names: it must have it to change it again
                _take(plan, tasks, changer, var, producer, producer, f"found by trace: task `{changer.name}` changes "
                      f"`{var}` (cell {cell}) in a way the code does not show")

    # global random state drawn where the plan saw no draw
    for name in traced:
        task = tasks[name]
        for key, kind in RANDOM_KINDS.items():
            change = changed[name].get(key)
            if change is None or kind in task.random_state:
                continue
            for later in traced[position[name] + 1:]:
                user = tasks[later]
                source = user.random_state.get(kind, "missing")
                if source == "missing":
                    continue
                if source is None or (source in position and position[source] < position[name]):
                    user.random_state[kind] = name
                    word = "np.random" if kind == "numpy" else "random"
                    why = evidence(name, f"the global `{key}` state (it draws from it)", cell_of(task, word))
                    edge = _edge(user, name)
                    if kind not in edge.random_state:
                        edge.random_state.append(kind)
                    edge.evidence.append(why)
                    product = RANDOM_STATE_PRODUCT[kind]
                    out = task.outputs.setdefault(product, Output(product, "pickle", max(task.code_cells), 1, []))
                    if later not in out.needed_by:
                        out.needed_by.append(later)
                break  # later users take it from this first one, as the plan already says

    # other process and library state
    previous_cell = -1
    for name in traced:
        task = tasks[name]
        last_cell = max(task.code_cells)
        stretch = "\n".join(c.code for c in plan.cells if previous_cell < c.index <= last_cell and c.type == "code"
                            and c.role != "skip")
        previous_cell = last_cell
        for key, change in changed[name].items():
            if change.kind != "state" or key in RANDOM_KINDS:
                continue
            prefix = next((p for p in STATE_WORDS if key.startswith(p)), None)
            if prefix is None:
                continue
            sets, reads = STATE_WORDS[prefix]
            if any(w in stretch for w in sets):
                continue  # the code shows the setting: the plan replays it (effects.py)
            what = f"`{key}`"
            why = evidence(name, what, last_cell)
            readers = [later for later in traced[position[name] + 1:]
                       if any(w in "\n".join(plan.cells[i].code for i in tasks[later].code_cells) for w in reads)]
            for later in readers:
                edge = _edge(tasks[later], name)
                edge.after = True
                edge.evidence.append(why)
            read_by = f"; read by {', '.join(f'`{r}`' for r in readers)}" if readers else ""
            warnings.setdefault("found by trace: process state a task changed where the code shows no setting; "
                                "the pipeline does not replay it (set it in the tasks that need it)", []).append(
                {"notebook": plan.notebook, "cell": last_cell, "cell_id": plan.cells[last_cell].id, "line": None,
                 "text": f"task `{name}` changed {what}{read_by}"})
    for message, cells in warnings.items():
        known = next((w for w in plan.warnings if w.message == message), None)
        if known is None:
            plan.warnings.append(Warning(message, cells))
        else:  # the plan had this trace applied already
            known.cells += [c for c in cells if c not in known.cells]
    plan.order = _order(plan)
    return plan


def found_by_trace(static: Plan, traced: Plan) -> tuple[list[tuple[str, str, str]], list[Warning]]:
    """What the trace added to a plan: (task, upstream, evidence) for each traced edge reason the
    static plan lacks, and the warnings it added (state the pipeline does not replay)."""
    edges = []
    for task in traced.tasks:
        for up, edge in task.upstream.items():
            before = static.task(task.name).upstream.get(up)
            for why in edge.evidence:
                if why.startswith("found by trace") and (before is None or why not in before.evidence):
                    edges.append((task.name, up, why))
    return edges, traced.warnings[len(static.warnings):]


def _edge(task, up: str) -> Edge:
    if up not in task.upstream:
        task.upstream[up] = Edge(traced=True)
    return task.upstream[up]


def _take(plan: Plan, tasks: dict, reader, var: str, old: str, new: str, why: str) -> None:
    """`reader` loads `var` from task `new` instead of `old` (the edge from `old` stays)."""
    if old != new and old in reader.upstream:
        static = reader.upstream[old]
        if var in static.variables:
            static.variables.remove(var)
        static.evidence.append(f"`{var}` now comes from `{new}` ({why})")
        if not (static.variables or static.files or static.random_state):
            static.after = True  # kept: the static plan's ordering stands
        out = tasks[old].outputs.get(var)
        if out is not None and reader.name in out.needed_by:
            out.needed_by.remove(reader.name)
    edge = _edge(reader, new)
    if var not in edge.variables:
        edge.variables.append(var)
    if why not in edge.evidence:
        edge.evidence.append(why)
    reader.inputs[var] = new
    producer = tasks[new]
    out = producer.outputs.get(var)
    if out is None:
        cell = max(producer.code_cells)
        producer.outputs[var] = Output(var, "auto", cell, 1, [reader.name])
    elif reader.name not in out.needed_by:
        out.needed_by.append(reader.name)


def _order(plan: Plan) -> list[str]:
    """The plan's order, changed only where a (traced) edge needs it."""
    rank = {name: i for i, name in enumerate(plan.order)}
    pending = {t.name: set(t.upstream) & set(rank) for t in plan.tasks}
    order: list[str] = []
    while pending:
        ready = sorted((n for n, ups in pending.items() if not ups), key=rank.__getitem__)
        if not ready:  # a cycle cannot come from a trace (edges follow the run); keep the rest as it was
            order += sorted(pending, key=rank.__getitem__)
            break
        name = ready[0]
        order.append(name)
        del pending[name]
        for ups in pending.values():
            ups.discard(name)
    return order
