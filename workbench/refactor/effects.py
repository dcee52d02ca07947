"""Effects a statement has beyond what it binds, for the planner.

Each of these changes something a later task may rely on although no assignment names it:

- **notebook functions and methods** that change an argument, `self` or a global in place
  (`add_col(df)`, `acc.push(x)`, a helper doing `cache[k] = v`): `call_changes` applies the
  function's summary (analysis.FunctionSummary), followed through the notebook functions it calls,
  at the call site, looking names up as Python does when the call runs;
- **objects inside other objects** (`Shares`): `combine = [train, test]` then
  `for ds in combine: ds["x"] = ...` changes train and test; `first = rows[0]; first.append(1)`
  changes rows; an estimator built with `random_state=rng` draws from rng when it is fitted. Where
  such a value crosses into another task, the task re-takes the member from its container
  (`train = combine[0]`) so that both names are one object again, as in the notebook;
- **generators handed to a library call** (`train_test_split(..., random_state=rng)`) draw from them;
- **process and library state** (`os.environ[...] = ...`, `sys.path.insert`, `pd.set_option`,
  `matplotlib.use`, `plt.rcParams[...] = ...`, `warnings.filterwarnings`, ...): see `setting_kind`;
  a pure setting is replayed in every later task like an import, one computed from data is replayed
  after that task's loads (its reads become the task's inputs: an edge);
- **pyplot's current figure** (see `PYPLOT_DOC`);
- **values that cannot be products** (connections, sessions, locks, threads): see `RECREATABLE`.

Nothing here executes notebook code.
"""

from __future__ import annotations

from workbench.refactor.analysis import FunctionSummary, Statement

# Prefixes of (qualified) names whose call or assignment sets process or library state that later
# code relies on without naming it. Global random seeds are not settings: they are carried across
# tasks as state products (planner, `random_state`), because replaying a seed would redraw.
STATE_SETTERS = (
    "os.environ", "os.putenv", "os.unsetenv", "os.chdir", "os.umask", "sys.path", "sys.setrecursionlimit",
    "pandas.set_option", "pandas.reset_option", "pandas.options", "numpy.set_printoptions",
    "numpy.seterr", "warnings.filterwarnings", "warnings.simplefilter", "warnings.resetwarnings",
    "matplotlib.use", "matplotlib.rcParams", "matplotlib.rc", "matplotlib.style.use",
    "matplotlib.pyplot.rcParams", "matplotlib.pyplot.rc", "matplotlib.pyplot.style.use",
    "matplotlib.pyplot.switch_backend", "matplotlib.pyplot.ioff", "matplotlib.pyplot.ion",
    "seaborn.set", "torch.set_default_dtype", "torch.set_num_threads", "torch.set_printoptions",
    "torch.set_grad_enabled", "logging.basicConfig", "logging.disable", "sklearn.set_config",
    "locale.setlocale",
)

PYPLOT_DOC = """pyplot's implicit current figure.

Under Jupyter's default inline backend (papermill's and JupyterLab's kernels) every cell's figures
are shown and closed when the cell ends, so a cell never sees a figure an earlier cell drew: the
notebook itself carries no figure from one task to the next (a task starts at a cell boundary),
and neither does the pipeline (ploomber-engine's shell uses the same inline backend, one cell per
notebook cell). Nothing needs to cross then. With a non-inline backend (`matplotlib.use("Agg")`,
`plt.switch_backend(...)`, set in any earlier cell) figures persist across cells: a task that
keeps drawing on (or saves) the current figure of an earlier task gets it by replaying the
earlier task's drawing statements since the figure was made (after its loads, their data read
as inputs): a figure is not data to pickle and re-activate faithfully (its canvas and manager
belong to a process), while the statements that drew it are. A drawing statement that also binds
a value (`line, = plt.plot(x)`) cannot be replayed without rebinding: a PlanError says so."""

# What makes a value that cannot be a product and how to re-create it: the constructing
# statement `name = CTOR(...)` is replayed in the consuming task when nothing changed the object
# since (else a PlanError names the variable, the cells and the fix).
RECREATABLE = {
    "sqlite3.connect": "a database connection",
    "requests.Session": "an HTTP session",
    "requests.session": "an HTTP session",
    "httpx.Client": "an HTTP client",
    "urllib3.PoolManager": "an HTTP connection pool",
    "sqlalchemy.create_engine": "a database engine",
    "threading.Lock": "a lock",
    "threading.RLock": "a lock",
    "threading.Semaphore": "a semaphore",
    "threading.Event": "an event",
    "threading.Condition": "a condition",
    "threading.Thread": "a thread",
    "multiprocessing.Lock": "a lock",
    "multiprocessing.Pool": "a process pool",
    "concurrent.futures.ThreadPoolExecutor": "a thread pool",
    "concurrent.futures.ProcessPoolExecutor": "a process pool",
    "socket.socket": "a socket",
}
# Methods after which re-creating the object is no longer the same object: a started thread, a
# held lock, a set event, a connected socket.
STATE_CHANGING_METHODS = {"start", "acquire", "set", "connect", "bind", "listen", "mount", "submit", "map"}

# pyplot calls that start a new current figure or end it (the chain of drawing restarts)
PYPLOT_NEW_FIGURE = {"figure", "subplots", "subplot_mosaic"}
PYPLOT_END_FIGURE = {"close", "show", "clf", "cla"}
# methods that draw on pyplot's current axes (pandas' plotting)
PLOTTING_METHODS = {"plot", "hist", "boxplot", "scatter", "bar", "barh", "pie", "area", "kde", "line"}


def setting_kind(qualified: str | None) -> bool:
    """Whether a (qualified) dotted target or callee sets process or library state."""
    if not qualified:
        return False
    if qualified.startswith("seaborn.set"):  # set, set_theme, set_style, set_context, set_palette
        return True
    return any(qualified == p or qualified.startswith(p + ".") for p in STATE_SETTERS)


def call_changes(planner, stmt: Statement, task: str) -> set[str]:
    """The names this statement's calls change in place through notebook functions and methods
    (their summaries, transitively) and by drawing from random generators handed to a call."""
    changed: set[str] = set()
    for callee, on, method, args, kws in stmt.call_args:
        summaries: list[tuple[FunctionSummary, int]] = []
        if method is None and callee in planner.summarised:
            summary = function_summary(planner, callee, task)
            if summary is not None:
                summaries.append((summary, 0))
        elif method in planner.methods and on and not planner.is_module(on, task):
            summaries += [(s, 1) for s in planner.methods[method]]
        for summary, offset in summaries:
            inner = function_changes(planner, summary, task, set())
            if offset and summary.params and summary.params[0] in inner and on:
                changed.add(on)  # the method changes self: the object it was called on
            for i, root in enumerate(args):
                j = i + offset
                if root and j < len(summary.params) and summary.params[j] in inner:
                    changed.add(root)
            for k, root in kws.items():
                if root and k in inner and k in summary.every:
                    changed.add(root)
            changed |= {g for g in inner if g not in summary.every}  # globals it fills
        if planner.rngs:
            for root in [*args, *kws.values()]:
                if root in planner.rngs:
                    changed.add(root)  # `train_test_split(..., random_state=rng)` draws from rng
    return changed


def function_summary(planner, name: str, task: str) -> FunctionSummary | None:
    binding = planner.resolve(name, task)
    if binding is None or binding.kind != "def":
        return None
    stmt = planner.def_statements.get(binding.ref)
    return stmt.summaries.get(name) if stmt is not None else None


def function_changes(planner, summary: FunctionSummary, task: str, seen: set[int]) -> set[str]:
    """Parameters and globals a call of the function changes, through the notebook functions and
    methods it calls (named as the call site's task sees them)."""
    if id(summary) in seen:
        return set()
    seen.add(id(summary))
    out = set(summary.mutates)
    for callee, args, kws, obj, method in summary.calls:
        inner_summaries: list[tuple[FunctionSummary, int]] = []
        if method is None and callee and "." not in callee and callee not in summary.every:
            inner = function_summary(planner, callee, task)
            if inner is not None:
                inner_summaries.append((inner, 0))
        elif method:
            inner_summaries += [(s, 1) for s in planner.methods.get(method, ())]
        for inner, offset in inner_summaries:
            changes = function_changes(planner, inner, task, seen)
            if offset and inner.params and inner.params[0] in changes:
                out |= obj
            for i, origins in enumerate(args):
                j = i + offset
                if j < len(inner.params) and inner.params[j] in changes:
                    out |= origins
            for k, origins in kws.items():
                if k in changes and k in inner.every:
                    out |= origins
            out |= {g for g in changes if g not in inner.every}
    seen.discard(id(summary))
    return out


class Shares:
    """Which names may hold objects inside other names' objects (see the module docstring).

    `up[m]`: the containers m is in or an element of (changing m changes them); `loose[c]`:
    names taken out of c without saying which element (a loop variable: it may be any member);
    `members[c]`: c's members that can be re-taken, `retake[m] = (c, "c[0]")`; `kept[c]`: what c
    keeps and changes when c is changed (an estimator's generator)."""

    def __init__(self) -> None:
        self.up: dict[str, set[str]] = {}
        self.members: dict[str, set[str]] = {}
        self.loose: dict[str, set[str]] = {}
        self.kept: dict[str, set[str]] = {}
        self.retake: dict[str, tuple[str, str]] = {}

    def forget(self, name: str) -> None:
        """`name` was rebound to a new object: it shares nothing any more."""
        if not self.up:
            return  # nothing shares anything (most notebooks, most of the time)
        for c in self.up.pop(name, ()):
            for table in (self.members, self.loose, self.kept):
                if c in table:
                    table[c].discard(name)
        self.retake.pop(name, None)
        for table in (self.members, self.loose, self.kept):
            for m in table.pop(name, ()):
                self.up.get(m, set()).discard(name)
                if self.retake.get(m, ("",))[0] == name:
                    del self.retake[m]

    def add(self, member: str, container: str, access: str | None, rngs: set[str]) -> None:
        if member == container:
            return
        if access is not None and access.startswith(f"{container}.") and "[" not in access:
            # `clf = RF(random_state=rng)`: only a generator is kept and changed by the estimator
            if member in rngs:
                self.kept.setdefault(container, set()).add(member)
                self.up.setdefault(member, set()).add(container)
                self.retake[member] = (container, access)
            return
        self.up.setdefault(member, set()).add(container)
        if access is None:
            self.loose.setdefault(container, set()).add(member)
        else:
            self.members.setdefault(container, set()).add(member)
            self.retake[member] = (container, access)

    def changed_with(self, names: set[str]) -> set[str]:
        """Everything changed when `names` are changed in place."""
        out = set(names)
        stack = list(names)
        while stack:
            n = stack.pop()
            more = set(self.up.get(n, ())) | self.kept.get(n, set())
            for c in self.up.get(n, ()):
                if n in self.loose.get(c, ()):
                    # a loop variable over c may be any of c's members
                    more |= self.members.get(c, set()) | self.loose.get(c, set())
            for m in more - out:
                out.add(m)
                stack.append(m)
        return out
