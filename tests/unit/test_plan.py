"""The Plan: sections, dependencies, products, parameters, and its JSON form."""

from __future__ import annotations

import json
import math

import pytest

from workbench.core.errors import PlanError
from workbench.core.plan import Plan
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan


@pytest.fixture
def plan_of(make_notebook):
    def plan(cells, **kw):
        return build_plan(read_notebook(make_notebook(cells, **kw)))

    return plan


def test_kale_aliases_are_understood(plan_of):
    plan = plan_of([
        ("n = 3", "pipeline-parameters"),
        ("import math", "imports"),
        ("a = n", "block:first"),
        ("b = math.sqrt(a)", ["step:second", "limit:nvidia.com/gpu:2"]),
        ("c = 1", ["step:third", "prev:second"]),
        ("score = b + c", ["step:last", "pipeline-metrics"]),
    ])
    assert [t.name for t in plan.tasks] == ["first", "second", "third", "last"]
    assert plan.task("second").gpu == 2
    assert plan.task("third").upstream["second"].after is True
    assert plan.task("last").metrics == ["score"]
    assert "n" in plan.parameters and plan.task("first").parameters == ["n"]


def test_untagged_notebook_splits_on_level_two_headings_else_one_task(plan_of):
    plan = plan_of([
        {"cell_type": "markdown", "source": "# Title"},
        "import numpy as np",
        {"cell_type": "markdown", "source": "## Load data"},
        "x = np.arange(3)",
        {"cell_type": "markdown", "source": "### a detail, not a task"},
        "y = x * 2",
        {"cell_type": "markdown", "source": "## Report"},
        "total = int(y.sum())",
    ])
    assert [t.name for t in plan.tasks] == ["load_data", "report"]
    assert plan.task("report").inputs == {"y": "load_data"}
    single = plan_of(["a = 1", "b = a + 1"], name="my notebook.ipynb")
    assert [t.name for t in single.tasks] == ["my_notebook"]


def test_global_random_state_crosses_tasks_as_in_the_notebook(plan_of):
    plan = plan_of([
        ("import numpy as np\nimport random", "imports"),
        ("np.random.seed(0)\nrandom.seed(1)", "task:seed"),
        ("a = np.random.rand(2)", "task:draw"),
        ("b = np.random.rand(2)\nc = random.random()", "task:draw_more"),
        ("rng = np.random.default_rng(3)", "task:make_rng"),
        ("d = rng.integers(0, 9, 3)", "task:use_rng"),
        ("e = rng.integers(0, 9, 3)", "task:use_rng_again"),
    ])
    assert plan.task("draw").random_state == {"numpy": "seed"}
    assert plan.task("draw_more").random_state == {"numpy": "draw", "random": "seed"}
    assert "numpy_random_state" in plan.task("seed").outputs
    # a generator object is a product, and drawing from it is a mutation
    assert plan.task("use_rng").inputs == {"rng": "make_rng"}
    assert plan.task("use_rng_again").inputs == {"rng": "use_rng"}


def test_mutating_one_alias_changes_the_other(plan_of):
    plan = plan_of([("a = b = []", "task:make"), ("b.append(1)", "task:mutate"), ("n = len(a)", "task:read")])
    assert plan.task("mutate").aliases == [["a", "b"]]
    assert plan.task("read").inputs == {"a": "mutate"}


def test_files_written_and_read_are_edges(plan_of):
    plan = plan_of([
        ("import pandas as pd", "imports"),
        ("name = 'x'", "parameters"),
        ("pd.DataFrame({'a': [1]}).to_csv(f'out/{name}.csv')", "task:write"),
        ("other = 1", "task:unrelated"),
        ("df = pd.read_csv(f'out/{name}.csv')", "task:read"),
        ("%%writefile conf.txt\nk=v", "task:conf"),
        ("text = open('conf.txt').read()", "task:read_conf"),
    ])
    assert plan.task("read").upstream["write"].files == ["out/{name}.csv"]
    assert "unrelated" not in plan.task("read").upstream
    assert plan.task("read_conf").upstream["conf"].files == ["conf.txt"]


def test_functions_reading_globals_make_callers_depend_on_them(plan_of):
    plan = plan_of([
        ("scale = 2", "parameters"),
        ("def scaled(x):\n    return x * scale * factor", "functions"),
        ("factor = 10", "task:setup"),
        ("y = scaled(3)", "task:use"),
    ])
    use = plan.task("use")
    assert use.parameters == ["scale"]
    assert use.inputs == {"factor": "setup"}
    assert [plan.definitions[d].source.split("(")[0] for d in use.definitions] == ["def scaled"]


def test_an_unsaveable_value_needed_downstream_is_a_plan_error(plan_of):
    with pytest.raises(PlanError) as err:
        plan_of([("gen = (i for i in range(3))", "task:a"), ("first = next(gen)", "task:b")])
    msg = str(err.value)
    assert "'gen'" in msg and "generator" in msg and "task 'b'" in msg and "cell 0" in msg and "line 1" in msg
    assert "list(gen)" in msg


def test_pip_lines_become_requirements_and_left_out_lines_are_warned_with_where(plan_of):
    plan = plan_of([("%pip install xgboost==2.1\nimport math", "imports"), ("%matplotlib inline\nx = 1", "task:a")])
    assert plan.requirements == ["xgboost==2.1"]
    where = [(c["cell"], c["line"], c["text"]) for w in plan.warnings for c in w.cells]
    assert where == [(0, 1, "%pip install xgboost==2.1"), (1, 1, "%matplotlib inline")]


def test_plan_json_round_trips_and_is_plain(plan_of):
    plan = plan_of([("n = 3", "parameters"), ("import math", "imports"), ("a = [n]", "task:a"),
                    ("b = math.fsum(a)", ["task:b", "metrics", "model:b"])])
    data = json.loads(json.dumps(plan.to_dict()))
    assert Plan.from_dict(data) == plan
    assert data["schema"] == "workbench.plan/1"
    assert data["tasks"][1]["model"] == "b"
    assert data["tasks"][1]["upstream"] == {"a": {"variables": ["a"], "files": [], "random_state": [], "after": False}}


def test_a_parameter_computed_from_an_import_brings_the_import(plan_of):
    """Regression: `r = math.pi * 2` in the parameters cell ran before `import math` in the task
    (NameError at run time), because the expression's own reads were not charged to the task."""
    from workbench.refactor.export import render_task

    plan = plan_of([
        ("import math", "imports"),
        ("r = math.pi * 2\nk = 3\nsizes = [i * k for i in range(3)]", "parameters"),
        ("y = r + k + sum(sizes)", "task:a"),
    ])
    task = plan.task("a")
    assert plan.parameters["r"].type == "expression"
    assert set(task.parameters) == {"r", "k", "sizes"}
    code = render_task(plan, task)
    assert code.index("import math") < code.index("r = math.pi * 2") < code.index("y = r + k")
    namespace: dict = {}
    exec(code.replace("from workbench.runtime import save", "save = lambda *a: None")
         .replace("product = None", "product = {'y': None}"), namespace)
    assert namespace["y"] == math.pi * 2 + 3 + 9


def test_volatile_tags_list_values_and_reject_what_is_not_a_name(plan_of):
    plan = plan_of([("import time", "imports"),
                    ("t0 = time.time()\nx = 1\nt1 = time.time()", ["task:a", "volatile:t0", "volatile:t1,t0"]),
                    ("y = x + t1 - t0", "task:b")])
    assert plan.task("a").volatile == ["t0", "t1"] and plan.task("b").volatile == []
    assert not [w for w in plan.warnings if "volatile" in w.message]
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))).task("a").volatile == ["t0", "t1"]
    with pytest.raises(PlanError, match=r"volatile:t-1 does not name") as err:
        plan_of([("t = 1", ["task:a", "volatile:t-1"])])
    assert err.value.location.cell == 0 and "volatile:seconds,throughput" in err.value.hint
    plan = plan_of([("x = 1", ["task:a", "volatile:nothing"]), ("y = x", "task:b")])
    (warning,) = [w for w in plan.warnings if "volatile" in w.message]
    assert warning.cells == [{"notebook": warning.cells[0]["notebook"], "cell": 0, "cell_id": "c000", "line": 1,
                              "text": "volatile:nothing"}]
