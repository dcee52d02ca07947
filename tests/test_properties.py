"""Property-based tests (hypothesis): whatever notebook a user writes, the planner answers with a
Plan or a PlanError, never a crash; and an exported pipeline of a valid plan runs.

Notebooks are generated from a small statement grammar over a few names (assignments, augmented
assignments, list appends, functions and their calls, `del`, conditionals, imports, syntax errors),
with random tags (task starts, `skip`, `parameters`, `functions`, `after:`, misspelt ones) in a
random order, so that undefined names, cycles, duplicate tasks, deleted names and bad tags all
occur. The planning property runs in-process (hundreds of notebooks); the running property goes
through the real CLI for a few notebooks whose code can only fail by planning.
"""

from __future__ import annotations

import json

import pytest
from harness import workbench
from helpers import notebook_dict, write_notebook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.errors import PlanError, WorkbenchError
from workbench.core.plan import Plan
from workbench.refactor.notebook import parse_notebook
from workbench.refactor.planner import build_plan

NAMES = ["a", "b", "c", "d", "items"]
TASKS = ["load", "clean", "train", "report"]

name = st.sampled_from(NAMES[:4])
number = st.integers(min_value=0, max_value=9)


@st.composite
def statement(draw) -> str:
    kind = draw(st.sampled_from(["assign", "assign", "augment", "append", "function", "call", "del",
                                 "branch", "import", "print", "syntax"]))
    target, source = draw(name), draw(name)
    if kind == "assign":
        return f"{target} = {source} + {draw(number)}" if draw(st.booleans()) else f"{target} = {draw(number)}"
    if kind == "augment":
        return f"{target} += {draw(number)}"
    if kind == "append":
        return f"items.append({source})" if draw(st.booleans()) else "items = []"
    if kind == "function":
        return f"def f_{target}(x):\n    return x + {source}"
    if kind == "call":
        return f"{target} = f_{source}({draw(number)})"
    if kind == "del":
        return f"del {target}"
    if kind == "branch":
        return f"if {source} > {draw(number)}:\n    {target} = 1"
    if kind == "import":
        return draw(st.sampled_from(["import math", "from math import sqrt", "import numpy as np"]))
    if kind == "print":
        return f"print({source})"
    return draw(st.sampled_from(["x = (", "def g(:\n    pass", "1 +* 2"]))


tag = st.sampled_from(["task:load", "task:clean", "task:train", "task:report", "skip", "parameters",
                       "functions", "imports", "metrics", "after:load", "after:nosuch", "taks:x", "gpu",
                       "model:a", "paramters", "task:1bad"])


@st.composite
def notebook_cells(draw) -> list:
    cells = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        source = "\n".join(draw(st.lists(statement(), min_size=1, max_size=3)))
        tags = draw(st.lists(tag, max_size=2, unique=True))
        if draw(st.integers(0, 9)) == 0:
            cells.append({"cell_type": "markdown", "source": f"## {draw(st.sampled_from(TASKS))}"})
        cells.append((source, tags) if tags else source)
    return cells


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebook_cells())
def test_planner_returns_a_plan_or_a_plan_error(cells):
    raw = json.dumps(notebook_dict(cells)).encode()
    try:
        plan = build_plan(parse_notebook(raw, "generated.ipynb"))
    except WorkbenchError as exc:
        # a user error: it says where and how to fix, and serialises for the API
        assert isinstance(exc, PlanError) or type(exc).__name__.endswith("Error")
        assert str(exc).startswith("generated.ipynb"), str(exc)
        assert exc.to_dict()["message"]
        return
    assert isinstance(plan, Plan)
    json.dumps(plan.to_dict(), default=str)  # what the API and the exporter consume
    names = {t.name for t in plan.tasks}
    for task in plan.tasks:
        assert set(task.upstream) <= names - {task.name}
        for var, producer in task.inputs.items():
            assert var in next(t for t in plan.tasks if t.name == producer).outputs


# -- valid plans run ------------------------------------------------------------------------------

@st.composite
def runnable_cells(draw) -> list:
    """Straight-line integer code (no branches, no del, no syntax errors): a notebook that plans
    also runs, so a failing run is a Workbench bug, not the generated code's."""
    cells = [("a = 1\nb = 2\nc = 3\nd = 4\nitems = []", "task:load")]
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        lines = []
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            target, source = draw(name), draw(name)
            lines.append(draw(st.sampled_from([
                f"{target} = {source} + {draw(number)}",
                f"{target} += {draw(number)}",
                f"items.append({source})",
                f"{target} = sum(items) + {source}",
            ])))
        cells.append(("\n".join(lines), f"task:t{i}") if draw(st.booleans()) else "\n".join(lines))
    cells.append(("total = a + b + c + d + len(items)", ["task:final", "metrics"]))
    return cells


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cells=runnable_cells())
def test_an_exported_pipeline_of_a_valid_plan_runs(tmp_path_factory, cells):
    folder = tmp_path_factory.mktemp("prop")
    write_notebook(folder / "nb.ipynb", cells)
    namespace: dict = {}
    for cell in cells:
        exec(cell[0] if isinstance(cell, tuple) else cell, namespace)  # the notebook, top to bottom
    proc = workbench("run", "nb.ipynb", "--no-version", cwd=folder)
    assert proc.returncode == 0, f"{cells}\n{proc.stdout}\n{proc.stderr}"
    from workbench.runtime.products import load

    total = load(folder / "pipelines" / "nb" / "products" / "final" / "total")
    assert total == namespace["total"], cells
