"""Where a value that changes between two runs of the notebook gets its randomness, read from the code.

`sources(plan, task, upto)` reads the cells of the task and of every task upstream of it (up to
cell `upto` of the task itself) and names, with the cell and the fix:

- an estimator or splitter built without `random_state` (a scikit-learn-style class whose
  constructor takes one: `RandomForestClassifier()` -> `random_state=0`);
- `np.random.*` / `random.*` draws with no seed set earlier in the notebook, and
  `np.random.default_rng()` without a seed;
- iteration over a set (its order follows the hash seed for strings);
- threads (`n_jobs=-1`, threading, concurrent.futures, multiprocessing);
- clocks (`time.time()`, `datetime.now()`...): not randomness a seed fixes but a volatile value.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

NP_DRAWS = {"rand", "randn", "randint", "random", "random_sample", "choice", "shuffle", "permutation", "normal",
            "uniform", "binomial", "poisson", "exponential", "beta", "gamma", "multivariate_normal", "sample"}
PY_DRAWS = {"random", "randint", "choice", "choices", "shuffle", "sample", "uniform", "gauss", "randrange",
            "normalvariate"}
CLOCKS = {"time.time", "time.perf_counter", "time.perf_counter_ns", "time.monotonic", "time.time_ns",
          "time.process_time", "datetime.now", "datetime.datetime.now", "datetime.utcnow", "datetime.today",
          "date.today", "datetime.date.today", "pd.Timestamp.now", "pandas.Timestamp.now", "perf_counter",
          "uuid.uuid4", "uuid4"}
# constructors that take random_state (when the library cannot be imported to ask it)
RANDOM_STATE_NAMES = ("RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting", "DecisionTree",
                      "ExtraTree", "KMeans", "MiniBatchKMeans", "MLP", "SGD", "Bagging", "AdaBoost", "IsolationForest",
                      "TSNE", "PCA", "TruncatedSVD", "NMF", "GaussianMixture", "XGB", "LGBM", "CatBoost",
                      "train_test_split", "ShuffleSplit", "StratifiedShuffleSplit", "resample", "make_classification",
                      "make_regression", "make_blobs", "Perceptron", "RandomizedSearchCV", "SVC", "LinearSVC")
LIBRARIES = ("sklearn", "xgboost", "lightgbm", "catboost", "imblearn", "umap", "networkx", "scipy")
SEED_PARAMETERS = ("random_state", "seed")  # scikit-learn's and scipy's; networkx's (spring_layout(G, seed=...))


@dataclass(frozen=True)
class Source:
    kind: str  # estimator | numpy | random | set | threads | clock
    cell: int
    what: str
    fix: str

    def text(self) -> str:
        return f"{self.what} (cell {self.cell})"


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _imports(plan) -> dict[str, str]:
    """local name -> dotted origin, from every import of the notebook."""
    names = {}
    for cell in plan.cells:
        try:
            tree = ast.parse(cell.code or "")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _seed_parameter(dotted: str) -> str | None:
    """The parameter that seeds the class or function at `dotted` ('' when it takes none; None: cannot tell)."""
    import importlib
    import inspect

    module, _, attr = dotted.rpartition(".")
    if not module or module.split(".")[0] not in LIBRARIES:
        return None
    try:
        obj = getattr(importlib.import_module(module), attr)
        parameters = inspect.signature(obj).parameters
        return next((p for p in SEED_PARAMETERS if p in parameters), "")
    except Exception:  # noqa: BLE001 - not importable here: fall back to the names
        return None


def _resolve(name: str, imports: dict[str, str]) -> str:
    head, _, rest = name.partition(".")
    origin = imports.get(head, head)
    return f"{origin}.{rest}" if rest else origin


def _seeded(kwargs: dict, parameter: str = "random_state") -> bool:
    value = kwargs.get(parameter)
    return value is not None and not (isinstance(value, ast.Constant) and value.value is None)


def _cell_sources(cell, imports: dict[str, str], seeded: set[str]) -> list[Source]:
    try:
        tree = ast.parse(cell.code or "")
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)):
            it = node.iter
            if isinstance(it, (ast.Set, ast.SetComp)) or (isinstance(it, ast.Call) and _name(it.func) in (
                    "set", "frozenset")):
                found.append(Source("set", cell.index, "iteration over a set (its order follows the hash seed)",
                                    "iterate over sorted(...) instead of the set"))
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if not name:
            continue
        dotted = _resolve(name, imports)
        last = name.rsplit(".", 1)[-1]
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        if dotted in ("numpy.random.seed", "random.seed") or (dotted.startswith("torch.") and last == "manual_seed"):
            seeded.add("numpy" if dotted.startswith("numpy") else "random")
            continue
        if dotted in CLOCKS or name in CLOCKS:
            found.append(Source("clock", cell.index, f"{name}() reads a clock",
                                "tag the cell volatile:NAME (or pass --ignore NAME): a clock never reproduces"))
            continue
        if dotted in ("numpy.random.default_rng", "numpy.random.RandomState") and not node.args and "seed" not in kwargs:
            found.append(Source("numpy", cell.index, f"{name}() without a seed", f"pass a seed: {name}(0)"))
            continue
        if dotted.startswith("numpy.random.") and last in NP_DRAWS and "numpy" not in seeded:
            # `np.random.randn` -> np.random.seed; `randn` imported from numpy.random -> numpy.random.seed
            prefix = name.rsplit(".", 1)[0] if "." in name else "numpy.random"
            found.append(Source("numpy", cell.index, f"{name}() draws with no seed set before it",
                                f"call {prefix}.seed(0) before it, or draw from np.random.default_rng(0)"))
            continue
        if dotted.startswith("random.") and last in PY_DRAWS and dotted.count(".") == 1 and "random" not in seeded:
            found.append(Source("random", cell.index, f"{name}() draws with no seed set before it",
                                "call random.seed(0) before it"))
            continue
        jobs = kwargs.get("n_jobs")
        if jobs is not None and not (isinstance(jobs, ast.Constant) and jobs.value in (1, None)):
            found.append(Source("threads", cell.index, f"{last}(n_jobs={ast.unparse(jobs)}) runs threads or processes",
                                "n_jobs=1 where the result must be exact (parallel sums change order)"))
        if dotted.split(".")[0] in ("threading", "concurrent", "multiprocessing") and last in (
                "Thread", "ThreadPoolExecutor", "ProcessPoolExecutor", "Pool"):
            found.append(Source("threads", cell.index, f"{name}() runs work in parallel",
                                "collect the results in a fixed order (sorted, or map instead of as_completed)"))
        seed = _seed_parameter(dotted)
        if seed is None:
            seed = "random_state" if any(last.startswith(n) for n in RANDOM_STATE_NAMES) else ""
        if seed and not _seeded(kwargs, seed):
            made = "built" if last[:1].isupper() else "called"
            found.append(Source("estimator", cell.index, f"{last}() {made} without {seed}",
                                f"add {seed}=0 (or the notebook's seed parameter): {last}(..., {seed}=0)"))
    return found


def ancestors(plan, task_name: str) -> list[str]:
    seen: list[str] = []
    todo = [task_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        todo.extend(plan.task(name).upstream)
    return seen


def sources(plan, task_name: str, upto: int | None = None) -> list[Source]:
    """The sources of randomness the value of `task_name` (or its cell `upto`) may come from."""
    imports = _imports(plan)
    lineage = set(ancestors(plan, task_name))
    cells = set()
    for name in lineage:
        for index in plan.task(name).code_cells:
            if name != task_name or upto is None or index <= upto:
                cells.add(index)
    seeded: set[str] = set()
    found: list[Source] = []
    last = max(cells) if cells else -1
    for cell in plan.cells:  # in notebook order, so a seed set earlier counts
        if cell.type != "code" or cell.index > last or cell.role == "skip":
            continue
        here = _cell_sources(cell, imports, seeded)
        if cell.index in cells:
            found.extend(here)
    return list(dict.fromkeys(found))


def describe(found: list[Source], seeds: list[str] | None = None) -> tuple[str, str]:
    """(where the randomness comes from, how to fix it), for a value's detail. `seeds`: the
    string-hash seeds the compared notebook runs had (PYTHONHASHSEED); when they differ and the
    code draws nothing at random, the order of a set (in the notebook or a library it calls) is
    what is left that changes between the runs."""
    random = [s for s in found if s.kind != "clock"] or found
    if not random:
        if seeds and len(set(seeds)) > 1:
            return (f"nothing in the code draws at random; the runs had different string-hash seeds "
                    f"(PYTHONHASHSEED {', '.join(dict.fromkeys(seeds))}), so a set's iteration order (in the "
                    f"notebook or inside a library it calls) is the likely source",
                    "sort what is iterated where order matters (sorted(...)); Workbench runs the pipeline "
                    "and the notebook with PYTHONHASHSEED=0, so the pipeline reproduces the notebook run "
                    "under that seed")
        return ("not found in the code (an outside source, threads or hash order?)",
                "run with --repeat 2 to confirm, then seed what draws")
    return "; ".join(s.text() for s in random), "; ".join(dict.fromkeys(s.fix for s in random))


def clock_only(found: list[Source]) -> bool:
    return bool(found) and all(s.kind == "clock" for s in found)
