"""Static analysis of cell code: which names each statement reads, binds and mutates.

The planner needs, for every top-level statement, what it takes from earlier code and what it
leaves behind, in execution order and with Python's real scoping: comprehensions and lambdas have
scopes of their own, function bodies read globals only when called (so those reads are *deferred*
and charged to whoever calls the function), a loop or `if` binds only maybe, and mutation
(`df["c"] = ...`, `xs.append(...)`, `df.drop(..., inplace=True)`) is a definition. Nothing here
executes notebook code.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
from dataclasses import dataclass, field

BUILTINS = set(dir(builtins)) | {"display", "get_ipython", "In", "Out", "exit", "quit", "__name__"}

# Methods that change the object they are called on.
MUTATING_METHODS = {
    "append", "extend", "insert", "remove", "pop", "clear", "update", "add", "discard", "sort",
    "reverse", "setdefault", "popitem", "fit", "partial_fit", "fit_transform", "fit_predict",
    "fit_resample", "set_params", "resize", "fill", "put", "itemset", "shuffle", "appendleft",
    "extendleft", "popleft", "rotate", "set_state", "seed", "load_state_dict", "step", "train",
    "intersection_update", "difference_update", "symmetric_difference_update", "setflags",
}
# Functions that change their first argument.
MUTATING_FUNCTIONS = {"random.shuffle", "numpy.random.shuffle", "np.random.shuffle"}
# Library functions (by their last name, called through a module or imported bare) that write into
# their first argument: `np.copyto(dst, src)`, `np.put(a, ind, v)`, `setattr(obj, name, v)`.
FIRST_ARGUMENT_WRITERS = {
    "copyto", "put", "fill_diagonal", "place", "putmask", "put_along_axis", "setattr", "delattr",
}

FILE_READERS = {
    "read_csv", "read_parquet", "read_json", "read_pickle", "read_excel", "read_feather",
    "read_table", "read_hdf", "read_orc", "read_stata", "read_sas", "read_fwf", "load", "loadtxt",
    "genfromtxt", "fromfile", "read_text", "read_bytes", "imread", "load_npz",
}
FILE_WRITERS = {
    "to_csv", "to_parquet", "to_json", "to_pickle", "to_excel", "to_feather", "to_hdf", "to_orc",
    "to_stata", "save", "savez", "savez_compressed", "savetxt", "savefig", "write_text",
    "write_bytes", "imsave", "tofile", "save_npz", "dump",
}
# (reader or writer) -> index of the positional argument that is the path
PATH_ARG = {"dump": 1}

NUMPY_RANDOM_CONSTRUCTORS = {
    "default_rng", "Generator", "RandomState", "SeedSequence", "PCG64", "PCG64DXSM", "MT19937",
    "Philox", "SFC64", "BitGenerator",
}
RNG_CONSTRUCTORS = {
    "numpy.random.default_rng", "numpy.random.Generator", "numpy.random.RandomState",
    "random.Random",
}

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass
class Statement:
    """One top-level statement of a cell, and what it means for the data flow."""

    cell: int
    line: int  # 1-based, within the cell
    end_line: int
    source: str
    kind: str  # "import", "def" (function or class) or "code"
    reads: list[tuple[str, int]] = field(default_factory=list)  # read before bound here
    binds: set[str] = field(default_factory=set)  # surely bound when the statement ends
    maybe_binds: set[str] = field(default_factory=set)  # bound on some paths only
    mutates: set[str] = field(default_factory=set)  # changed in place (also read)
    deletes: set[str] = field(default_factory=set)
    deferred: dict[str, set[str]] = field(default_factory=dict)  # callable -> globals it reads
    deferred_writes: dict[str, set[str]] = field(default_factory=dict)  # callable -> globals set
    method_calls: set[tuple[str, str]] = field(default_factory=set)  # (root name, method)
    calls: list[tuple[str, int]] = field(default_factory=list)  # dotted call targets
    imports: dict[str, str] = field(default_factory=dict)  # bound name -> module.path
    aliases: list[tuple[str, str]] = field(default_factory=list)
    file_reads: list[tuple[str, int]] = field(default_factory=list)
    file_writes: list[tuple[str, int]] = field(default_factory=list)
    constructed: dict[str, str] = field(default_factory=dict)  # name -> dotted constructor called
    # every call with the root names of its arguments (analysis.call_roots), and for a quick test
    # whether any matters: the names called (functions and methods) and the roots passed
    call_args: list[tuple] = field(default_factory=list)
    callees: set[str] = field(default_factory=set)
    passed: set[str] = field(default_factory=set)
    summaries: dict[str, FunctionSummary] = field(default_factory=dict)  # "f" / "Class.method"
    # names that may hold the same objects as a container's: (member, container, how to re-take the
    # member from the container, or None): `combine = [train, test]` -> (train, combine,
    # "combine[0]"); `for ds in combine` -> (ds, combine, None); `clf = RF(random_state=rng)` ->
    # (rng, clf, "clf.random_state") (kept by the planner only for random generators)
    shares: list[tuple[str, str, str | None]] = field(default_factory=list)
    setting: str | None = None  # `os.environ[..] = ..` / `pd.set_option(..)`: the dotted target

    def needs(self, name: str) -> list[str]:
        """What using `name`, bound here, needs: the names the statement reads, then, when `name` is
        a function or class, the globals its body reads once called. The one rule for what a
        definition pulls in (the planner's, and `planner.closure`'s)."""
        return [n for n, _ in self.reads] + list(self.deferred.get(name, ()))


@dataclass
class FunctionSummary:
    """What calling a notebook function changes, from its body alone (the planner follows `calls`
    through the notebook functions they name, at the call site, as Python looks names up then).

    Origins are the function's parameters (by name; a method's `self` is its first) and the
    globals it reads: a local that aliases one (`d2 = d`, `for row in rows`, `first = rows[0]`)
    stands for it."""

    params: list[str]  # positional parameters in order
    every: set[str] = field(default_factory=set)  # every parameter name (keyword-only, *args too)
    mutates: set[str] = field(default_factory=set)  # parameters and globals changed in place
    # calls made in the body: (callee dotted name or None, [origins of the arguments],
    # {keyword: origins}, origins of the object a method is called on, method name or None)
    calls: list[tuple] = field(default_factory=list)


def call_roots(node: ast.Call, name: str | None) -> tuple:
    """(dotted callee `name` or None, the root the method is called on or None, the method name or
    None, [root names of the arguments], {keyword: root name})."""
    func = node.func
    attribute = type(func) is ast.Attribute
    return (name, root_name(func.value) if attribute else None, func.attr if attribute else None,
            [a.id if type(a) is ast.Name else root_name(a) for a in node.args] if node.args else [],
            {k.arg: k.value.id if type(k.value) is ast.Name else root_name(k.value)
             for k in node.keywords if k.arg} if node.keywords else {})


def dotted(node: ast.AST) -> str | None:
    """`np.random.seed` -> 'np.random.seed'; None for anything that is not a plain name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def root_name(node: ast.AST) -> str | None:
    """The variable at the root of `a.b[0].c`, the object a mutation changes."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def path_key(node: ast.AST | None) -> str | None:
    """A literal or f-string path as a comparable key (`f"out/{x}.csv"` -> 'out/{x}.csv')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return os.path.normpath(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return os.path.normpath("".join(parts))
    if isinstance(node, ast.Call) and dotted(node.func) in ("Path", "pathlib.Path") and node.args:
        return path_key(node.args[0])
    return None


def _arg_names(args: ast.arguments) -> set[str]:
    every = args.posonlyargs + args.args + args.kwonlyargs
    names = {a.arg for a in every}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    return names


def _local_walk(nodes):
    """Nodes of one scope: descend everything except the bodies of nested scopes."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _scope_parts(node) -> tuple[list, set[str]]:
    """(nodes evaluated inside the scope, names bound by its signature)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return list(node.body), _arg_names(node.args)
    if isinstance(node, ast.Lambda):
        return [node.body], _arg_names(node.args)
    if isinstance(node, ast.ClassDef):
        return list(node.body), set()
    # comprehension: the first iterable is evaluated outside
    gens = node.generators
    inner = [g.target for g in gens] + [g.iter for g in gens[1:]]
    inner += [cond for g in gens for cond in g.ifs]
    inner += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    return inner, set()


def _outer_parts(node) -> list:
    """Parts of a scope node evaluated in the enclosing scope (decorators, defaults, bases...)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        parts = list(args.defaults) + [d for d in args.kw_defaults if d is not None]
        if not isinstance(node, ast.Lambda):
            parts += list(node.decorator_list)
        return parts
    if isinstance(node, ast.ClassDef):
        return list(node.decorator_list) + list(node.bases) + [k.value for k in node.keywords]
    return [node.generators[0].iter]


def free_globals(node, enclosing: frozenset = frozenset()) -> tuple[set[str], set[str]]:
    """Globals read and globals assigned (via `global`) when the scope's code runs."""
    body, params = _scope_parts(node)
    local = set(params)
    declared_global: set[str] = set()
    nested = []
    loads = set()
    for sub in _local_walk(body):
        if sub is not node and isinstance(sub, _SCOPES):
            nested.append(sub)
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(sub.name)
            for part in _outer_parts(sub):
                for n in _local_walk([part]):
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                        loads.add(n.id)
                    elif isinstance(n, _SCOPES):
                        nested.append(n)
            continue
        if isinstance(sub, ast.Global):
            declared_global.update(sub.names)
        elif isinstance(sub, ast.Nonlocal):
            local.update(sub.names)
        elif isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else local).add(sub.id)
        elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
            loads.add(sub.target.id)  # `x += 1` reads x first
        elif isinstance(sub, ast.alias):
            local.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            local.add(sub.name)
        elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
            local.add(sub.name)
    if isinstance(node, ast.ClassDef):
        # methods do not see class-level names
        local_for_nested = set(enclosing)
    else:
        local_for_nested = set(enclosing) | (local - declared_global)
    reads = {n for n in loads if (n not in local or n in declared_global) and n not in enclosing}
    writes = {n for n in declared_global if n in local}
    for sub in nested:
        sub_reads, sub_writes = free_globals(sub, frozenset(local_for_nested))
        reads |= sub_reads
        writes |= sub_writes
    return reads, writes


_ELEMENT_METHODS = {"get", "setdefault", "pop", "values", "items", "keys"}
# last names of calls that may write into an argument (written_arguments), for a cheap first test
_WRITER_NAMES = FIRST_ARGUMENT_WRITERS | {"at", "shuffle"}
_SAME_ELEMENTS = {"enumerate", "zip", "reversed", "sorted", "list", "tuple", "iter", "filter"}


def _element_roots(node: ast.AST | None) -> list[str]:
    """Names whose objects the values of `node` may be (or be inside of): `combine`, `d.items()`,
    `rows[0]`, `enumerate(xs)`, `zip(a, b)` -> the containers' names."""
    if node is None:
        return []
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        root = root_name(node)
        return [root] if root else []
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _ELEMENT_METHODS:
            return _element_roots(func.value)
        if isinstance(func, ast.Name) and func.id in _SAME_ELEMENTS:
            return [r for a in node.args for r in _element_roots(a)]
    return []


def written_arguments(node: ast.Call, name: str | None) -> list[ast.AST]:
    """The arguments a library call writes into although nothing is assigned: `out=`,
    `np.add.at(a, ...)` (a ufunc's `.at`), `np.copyto(dst, src)`, `np.put(a, ...)`,
    `np.fill_diagonal(a, ...)`, `setattr(obj, ...)`, `random.shuffle(xs)`."""
    written = [k.value for k in node.keywords if k.arg == "out"]
    if not node.args or not name:
        return written
    parts = name.split(".")
    last = parts[-1]
    if name in MUTATING_FUNCTIONS:
        written.append(node.args[0])
    elif last in FIRST_ARGUMENT_WRITERS and (len(parts) == 1 or last != "put" or parts[0] in ("np", "numpy")):
        # `a.put(ind, v)` is a method (it changes a, handled as one): only `np.put(a, ...)` here
        written.append(node.args[0])
    elif last == "at" and len(parts) >= 3:
        written.append(node.args[0])
    return written


def summarise_function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionSummary:
    """Which of its parameters and globals a function changes in place, and the calls it makes
    (see FunctionSummary). Static and cheap: one walk of the body, plus a fixpoint over its
    aliasing assignments."""
    args = node.args
    params = [a.arg for a in args.posonlyargs + args.args]
    every = _arg_names(args)
    reads, _ = free_globals(node)
    body = list(node.body)
    stored: set[str] = set()
    declared: set[str] = set()
    links: list[tuple[str, list[str]]] = []
    for sub in _local_walk(body):
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            stored.add(sub.id)
        elif isinstance(sub, ast.Global):
            declared.update(sub.names)
        if isinstance(sub, ast.Assign):
            roots = _element_roots(sub.value)
            if roots:
                for target in sub.targets:
                    links += [(n.id, roots) for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(sub, (ast.For, ast.AsyncFor)):
            roots = _element_roots(sub.iter)
            if roots:
                links += [(n.id, roots) for n in ast.walk(sub.target) if isinstance(n, ast.Name)]
    origins: dict[str, set[str]] = {p: {p} for p in every}
    for g in reads:
        if g not in stored or g in declared:
            origins[g] = {g}
    changed = True
    while changed:
        changed = False
        for n, roots in links:
            if n in every:
                continue
            new = set().union(*(origins.get(r, set()) for r in roots))
            if new and not new <= origins.get(n, set()):
                origins.setdefault(n, set()).update(new)
                changed = True

    def of(expr) -> set[str]:
        root = root_name(expr) if expr is not None else None
        return origins.get(root, set()) if root else set()

    summary = FunctionSummary(params, set(every))
    for sub in _local_walk(body):
        targets = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign)):
            targets = [sub.target]
        elif isinstance(sub, ast.Delete):
            targets = sub.targets
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, (ast.Subscript, ast.Attribute)) and not isinstance(t.ctx, ast.Load):
                    summary.mutates |= of(t)
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        name = dotted(func)
        for written in written_arguments(sub, name):
            summary.mutates |= of(written)
        arg_origins = [of(a) for a in sub.args]
        kw_origins = {k.arg: of(k.value) for k in sub.keywords if k.arg}
        if isinstance(func, ast.Attribute):
            obj = of(func.value)
            inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                          for k in sub.keywords)
            if func.attr in MUTATING_METHODS or inplace:
                summary.mutates |= obj
            summary.calls.append((name, arg_origins, kw_origins, obj, func.attr))
        elif isinstance(func, ast.Name):
            summary.calls.append((func.id, arg_origins, kw_origins, set(), None))
    return summary


class _StatementVisitor:
    """Walks one top-level statement in execution order."""

    def __init__(self, stmt: Statement, star_names) -> None:
        self.s = stmt
        self.bound_here: set[str] = set()  # surely bound so far within this statement
        self.star_names = star_names
        self.top: ast.stmt | None = None  # the top-level statement (settings are only those)

    # -- recording
    def read(self, name: str, line: int) -> None:
        if name not in self.bound_here:
            self.s.reads.append((name, line))

    def bind(self, name: str, maybe: bool) -> None:
        if maybe:
            # later code of this same statement (a loop body after its target) sees the name
            self.s.maybe_binds.add(name)
            self.bound_here.add(name)
        else:
            self.bound_here.add(name)
            self.s.binds.add(name)

    def mutate(self, name: str, line: int) -> None:
        self.read(name, line)
        self.s.mutates.add(name)

    # -- expressions
    def expr(self, node: ast.AST | None, maybe: bool) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id, node.lineno)
            return
        if isinstance(node, ast.NamedExpr):
            self.expr(node.value, maybe)
            self.bind(node.target.id, maybe)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for part in _outer_parts(node):
                self.expr(part, maybe)
            reads, _ = free_globals(node)
            if isinstance(node, ast.Lambda):
                # read when called: charged to whatever name the lambda is bound to
                self._pending_deferred |= reads
            else:
                for name in sorted(reads):
                    self.read(name, node.lineno)
                self._walrus_in(node, maybe)
            return
        if isinstance(node, ast.IfExp):
            self.expr(node.test, maybe)
            self.expr(node.body, True)
            self.expr(node.orelse, True)
            return
        if isinstance(node, ast.BoolOp):
            self.expr(node.values[0], maybe)
            for value in node.values[1:]:
                self.expr(value, True)
            return
        if isinstance(node, ast.Call):
            self.call(node, maybe)
        for child in ast.iter_child_nodes(node):
            self.expr(child, maybe)

    def _walrus_in(self, node, maybe: bool) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.bind(sub.target.id, True)

    def call(self, node: ast.Call, maybe: bool) -> None:
        name = dotted(node.func)
        if name:
            self.s.calls.append((name, node.lineno))
        args, keywords = node.args, node.keywords
        if keywords or (args and name and name.rpartition(".")[2] in _WRITER_NAMES):
            for written in written_arguments(node, name):
                root = root_name(written)
                if root:
                    self.mutate(root, node.lineno)
        func = node.func
        roots = call_roots(node, name)
        s = self.s
        s.call_args.append(roots)
        s.callees.add(roots[2] or name or "")
        if args:
            s.passed.update(roots[3])
        if keywords:
            s.passed.update(roots[4].values())
        method = func.attr if isinstance(func, ast.Attribute) else (func.id if isinstance(func, ast.Name) else None)
        if isinstance(func, ast.Attribute):
            root = root_name(func.value)
            if root:
                self.s.method_calls.add((root, func.attr))
                inplace = any(
                    k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                if func.attr in MUTATING_METHODS or inplace:
                    self.mutate(root, node.lineno)
        if method is None:
            return
        if method == "open":
            key = path_key(node.args[0]) if node.args else None
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None
            )
            mode_text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
            if key:
                writing = any(c in mode_text for c in "wax+")
                (self.s.file_writes if writing else self.s.file_reads).append((key, node.lineno))
            return
        if method in FILE_READERS or method in FILE_WRITERS:
            index = PATH_ARG.get(method, 0)
            target = None
            if method in ("write_text", "write_bytes", "read_text", "read_bytes") and isinstance(func, ast.Attribute):
                target = func.value
            elif len(node.args) > index:
                target = node.args[index]
            else:
                target = next((k.value for k in node.keywords if k.arg in (
                    "path", "path_or_buf", "filepath_or_buffer", "fname", "file", "filename")), None)
            key = path_key(target)
            if key:
                (self.s.file_reads if method in FILE_READERS else self.s.file_writes).append((key, node.lineno))

    # -- targets
    def target(self, node: ast.AST, maybe: bool) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id, maybe)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.target(elt, maybe)
        elif isinstance(node, ast.Starred):
            self.target(node.value, maybe)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            # `obj.attr = v` / `df["c"] = v`: the object is changed in place
            if isinstance(node, ast.Subscript):
                self.expr(node.slice, maybe)
            inner = node.value
            self.expr(inner if not isinstance(inner, ast.Name) else None, maybe)
            root = root_name(node)
            if root:
                self.mutate(root, node.lineno)

    # -- statements
    def stmt(self, node: ast.stmt, maybe: bool) -> None:
        s = self.s
        self._pending_deferred: set[str] = set()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    module = node.module or ""
                    for name in self.star_names(module):
                        self.bind(name, maybe)
                        s.imports[name] = f"{module}.{name}"
                    continue
                bound = alias.asname or alias.name.split(".")[0]
                if isinstance(node, ast.Import):
                    s.imports[bound] = alias.name if alias.asname else bound
                else:
                    s.imports[bound] = f"{node.module}.{alias.name}" if node.module else alias.name
                self.bind(bound, maybe)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for part in _outer_parts(node):
                self.expr(part, maybe)
            if isinstance(node, ast.ClassDef):
                # the class body runs now; methods run later
                for sub in node.body:
                    if not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        inner = _StatementVisitor(Statement(s.cell, 0, 0, "", "code"), self.star_names)
                        inner.stmt(sub, maybe)
                        for name, line in inner.s.reads:
                            self.read(name, line)
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        s.summaries[f"{node.name}.{sub.name}"] = summarise_function(sub)
            else:
                s.summaries[node.name] = summarise_function(node)
            reads, writes = free_globals(node)
            s.deferred[node.name] = reads
            if writes:
                s.deferred_writes[node.name] = writes
            self.bind(node.name, maybe)
            return
        if isinstance(node, ast.Assign):
            self.expr(node.value, maybe)
            for target in node.targets:
                self.target(target, maybe)
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if isinstance(node.value, ast.Name):
                names.append(node.value.id)
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    if a != b:
                        s.aliases.append((a, b))
            self._shares(node)
            if node is self.top and len(node.targets) == 1 and isinstance(node.targets[0], (ast.Subscript, ast.Attribute)):
                s.setting = _setting_target(node.targets[0])
            if isinstance(node.value, ast.GeneratorExp):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        s.constructed[t.id] = "<generator>"
            if isinstance(node.value, ast.Call):
                ctor = dotted(node.value.func)
                if ctor:
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            s.constructed[t.id] = ctor
            self._charge_deferred(node.targets)
            return
        if isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.read(node.target.id, node.lineno)
                self.expr(node.value, maybe)
                self.bind(node.target.id, maybe)
            else:
                self.expr(node.value, maybe)
                self.target(node.target, maybe)
                if node is self.top:
                    s.setting = _setting_target(node.target)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value, maybe)
                self.target(node.target, maybe)
                self._charge_deferred([node.target])
            return
        if isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter, maybe)
            self.target(node.target, True)
            for root in _element_roots(node.iter):
                for n in ast.walk(node.target):
                    if isinstance(n, ast.Name):
                        s.shares.append((n.id, root, None))
            self._block(node.body, True)
            self._block(node.orelse, True)
            return
        if isinstance(node, ast.While):
            self.expr(node.test, maybe)
            self._block(node.body, True)
            self._block(node.orelse, True)
            return
        if isinstance(node, ast.If):
            self.expr(node.test, maybe)
            self._block(node.body, True)
            self._block(node.orelse, True)
            return
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr, maybe)
                if item.optional_vars is not None:
                    self.target(item.optional_vars, maybe)
            self._block(node.body, maybe)
            return
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self._block(node.body, maybe)
            for handler in node.handlers:
                self.expr(handler.type, True)
                if handler.name:
                    self.bind(handler.name, True)
                self._block(handler.body, True)
            self._block(node.orelse, True)
            self._block(node.finalbody, maybe)
            return
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.read(target.id, node.lineno)
                    s.deletes.add(target.id)
                    self.bound_here.discard(target.id)
                    s.binds.discard(target.id)
                else:
                    self.target(target, maybe)
            return
        if isinstance(node, ast.Match):
            self.expr(node.subject, maybe)
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    if isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
                        self.bind(sub.name, True)
                    elif isinstance(sub, ast.MatchMapping) and sub.rest:
                        self.bind(sub.rest, True)
                self.expr(case.guard, True)
                self._block(case.body, True)
            return
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return
        if node is self.top and isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            s.setting = dotted(node.value.func)
        for child in ast.iter_child_nodes(node):
            self.expr(child, maybe)

    def _shares(self, node: ast.Assign) -> None:
        """Containers built from names, elements taken out of one, generators handed to a call."""
        value = node.value
        for target in node.targets:
            if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, ast.Name):
                for i, elt in enumerate(target.elts):  # `a, b = pair`
                    if isinstance(elt, ast.Name):
                        self.s.shares.append((elt.id, value.id, f"{value.id}[{i}]"))
                continue
            if not isinstance(target, ast.Name):
                continue
            t = target.id
            if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
                indexed = not isinstance(value, ast.Set)
                for i, elt in enumerate(value.elts):
                    if isinstance(elt, ast.Starred):
                        indexed = False
                    elif isinstance(elt, ast.Name):
                        self.s.shares.append((elt.id, t, f"{t}[{i}]" if indexed else None))
            elif isinstance(value, ast.Dict):
                for key, elt in zip(value.keys, value.values):
                    if isinstance(elt, ast.Name):
                        constant = isinstance(key, ast.Constant) and isinstance(key.value, (str, int))
                        self.s.shares.append((elt.id, t, f"{t}[{key.value!r}]" if constant else None))
            elif isinstance(value, (ast.Subscript, ast.Attribute)):
                root = root_name(value)
                names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                if root and root != t:
                    # `first = rows[0]`: re-taken the same way where rows is loaded
                    self.s.shares.append((t, root, ast.unparse(value) if names == {root} else None))
            elif isinstance(value, ast.Call):
                for root in _element_roots(value):
                    if root != t:
                        self.s.shares.append((t, root, None))
                for k in value.keywords:
                    if k.arg and isinstance(k.value, ast.Name):
                        # `clf = RF(random_state=rng)`: clf keeps rng (the planner keeps generators)
                        self.s.shares.append((k.value.id, t, f"{t}.{k.arg}"))

    def _block(self, body, maybe: bool) -> None:
        for sub in body:
            saved = self._pending_deferred
            self.stmt(sub, maybe)
            self._pending_deferred = saved | self._pending_deferred

    def _charge_deferred(self, targets) -> None:
        if not self._pending_deferred:
            return
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    self.s.deferred[sub.id] = set(self._pending_deferred)


def _setting_target(node: ast.AST) -> str | None:
    """`os.environ["X"]` -> 'os.environ', `pd.options.display.width` -> itself: what an
    assignment sets when it sets library or process state (the planner decides whether it does)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return dotted(node)


def _module_names(module: str) -> list[str]:
    """Names `from module import *` binds; imports the library (never notebook code) to know."""
    try:
        mod = importlib.import_module(module)
    except Exception:
        return []
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in vars(mod) if not n.startswith("_")]
    return [n for n in names if isinstance(n, str)]


def analyse_cell(code: str, cell: int, star_names=_module_names) -> list[Statement]:
    """Statements of a cell's Python code. Raises SyntaxError (the planner turns it into a PlanError)."""
    tree = ast.parse(code)
    lines = code.split("\n")
    statements = []
    for node in tree.body:
        end = node.end_lineno or node.lineno
        start = node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
            start = min(d.lineno for d in node.decorator_list)
        source = "\n".join(lines[start - 1 : end])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kind = "import"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "def"
        else:
            kind = "code"
        stmt = Statement(cell, start, end, source, kind)
        visitor = _StatementVisitor(stmt, star_names)
        visitor.top = node
        visitor.stmt(node, False)
        statements.append(stmt)
    return statements
