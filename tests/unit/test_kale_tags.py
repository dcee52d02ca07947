"""Kale's notebooks plan as Kale reads them (kubeflow-kale/kale, backend/kale/processors/
nbprocessor.py: `_TAGS_LANGUAGE`, `parse_notebook`, `parse_cell_metadata`), quirks included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workbench.core.errors import PlanError
from workbench.refactor.export import export
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan

CATALOGUE = Path(__file__).resolve().parents[1] / "catalogue" / "kale_tags.ipynb"
KALE = {"kubeflow_notebook": {"pipeline_name": "p", "experiment_name": "e", "volumes": []}}


@pytest.fixture
def plan_of(make_notebook):
    def plan(cells, **kw):
        return build_plan(read_notebook(make_notebook(cells, **kw)))

    return plan


def roles(plan) -> list[tuple[str, str | None]]:
    return [(c.role, c.task) for c in plan.cells if c.type == "code"]


def test_an_empty_step_or_block_tag_carries_the_step_on(plan_of):
    """Kale's extension writes `block:` on the cells of a step after its first; Kale reads an
    empty name as no new step (its STEP_TAG/BLOCK_TAG regexes allow it)."""
    plan = plan_of([("a = 1", "block:load"), ("b = a + 1", "block:"), ("c = b", ["step:", "prev:load"]),
                    ("d = c * 2", "step:train")])
    assert [t.name for t in plan.tasks] == ["load", "train"]
    assert plan.task("load").cells == [0, 1, 2]
    assert plan.task("train").inputs == {"c": "load"}
    with pytest.raises(PlanError, match="invalid task name"):
        plan_of([("a = 1", "task:")])  # Workbench's own tag must name its task


def test_untagged_cells_join_the_block_above_reserved_blocks_included(plan_of):
    plan = plan_of([
        ("import math", "imports"), "import json",
        ("N = 3", "pipeline-parameters"), "M = 4",
        ("def f(x):\n    return math.sqrt(x)", "functions"), "def g(x):\n    return json.dumps(x)",
        ("a = f(N)", "step:one"), "b = g(a) * M",
    ], metadata=KALE)
    assert roles(plan) == [("shared", None), ("shared", None), ("parameters", None), ("parameters", None),
                           ("shared", None), ("shared", None), ("task", "one"), ("task", "one")]
    assert set(plan.parameters) == {"N", "M"}


def test_untagged_cells_before_any_tagged_cell_are_left_out_as_kale_leaves_them(plan_of):
    plan = plan_of(["!wget https://example.com/data.zip", "scratch = 1", ("import math", "imports"),
                    ("a = math.pi", "step:one")])
    assert roles(plan)[:2] == [("skip", None), ("skip", None)]
    assert [t.name for t in plan.tasks] == ["one"]


def test_skip_wins_over_its_cells_other_tags_and_does_not_end_the_step(plan_of):
    plan = plan_of([("a = 1", "step:one"), ("print(a)", ["skip", "prev:one"]), "b = a + 1",
                    ("c = b", ["prev:one", "step:two"])])
    assert roles(plan) == [("task", "one"), ("skip", None), ("task", "one"), ("task", "two")]
    assert plan.task("two").inputs == {"b": "one"}


def test_a_reserved_tag_wins_over_a_step_tag_on_the_same_cell(plan_of):
    plan = plan_of([("import math", ["step:ignored", "imports"]), ("a = math.pi", "step:one")])
    assert [t.name for t in plan.tasks] == ["one"]
    assert roles(plan)[0] == ("shared", None)


def test_a_step_tag_repeated_on_the_next_cells_carries_the_step_on(plan_of):
    """Kale merges a cell whose step already exists into that step (and ignores its `prev:`)."""
    plan = plan_of([("a = 1", "step:one"), ("b = 2", "step:two"), ("c = b", ["step:two", "prev:one"]),
                    ("d = c", "step:three")])
    assert [t.name for t in plan.tasks] == ["one", "two", "three"]
    assert plan.task("two").cells == [1, 2]
    assert "one" not in plan.task("two").upstream


def test_kale_pod_settings_are_known_tags(plan_of):
    plan = plan_of([("a = 1", ["step:one", "limit:nvidia.com/gpu:2", "limit:memory:4Gi",
                               "annotation:sidecar.istio.io/inject:false", "label:team:ml"])])
    assert plan.task("one").gpu == 2


@pytest.mark.parametrize("tag, guess", [("stpe:one", "step:one"), ("pipline-parameters", "pipeline-parameters"),
                                        ("labl:team:ml", "label:team:ml"), ("impots", "imports")])
def test_misspelt_tags_that_are_not_kales_still_get_a_did_you_mean(plan_of, tag, guess):
    with pytest.raises(PlanError) as err:
        plan_of([("a = 1", ["step:one", tag])])
    assert "unknown tag" in str(err.value) and guess in str(err.value)


def test_the_metrics_cell_names_its_metrics_with_print(plan_of):
    plan = plan_of([("a = 0.5", "step:one"), ("score = a * 2", "step:two"), ("x = 1", "skip"),
                    ("print(score)\nprint(a)", "pipeline-metrics")])
    assert plan.task("two").metrics == ["score", "a"]


def test_workbench_structural_tags_turn_kales_reading_off(plan_of):
    """With `task:`/`parameters` the notebook is Workbench's: an untagged cell after the
    parameters cell is not a parameter, a cell before the first task is the preamble."""
    plan = plan_of([("n = 1", "parameters"), "import math", ("a = math.sqrt(n)", "task:one"),
                    ("b = a", "step:two")])
    assert roles(plan)[:2] == [("parameters", None), ("shared", None)]


def test_the_catalogue_kale_notebook_plans_and_exports(tmp_path: Path):
    notebook = tmp_path / "kale_tags.ipynb"
    shutil.copy(CATALOGUE, notebook)
    plan = build_plan(read_notebook(notebook))
    assert [t.name for t in plan.tasks] == ["load_data", "train_model", "evaluate_model"]
    assert plan.task("load_data").cells == [9, 10, 11, 12]  # `block:` cells carry the step on
    assert plan.task("train_model").gpu == 1
    assert plan.task("train_model").inputs == {"x_trn": "load_data", "y_trn": "load_data"}
    assert plan.task("evaluate_model").upstream["train_model"].variables == ["weight"]
    assert plan.task("evaluate_model").metrics == ["precision"]
    assert set(plan.parameters) == {"N_SAMPLES", "SEED", "THRESHOLD"}
    by_index = {c.index: c for c in plan.cells}
    assert by_index[1].role == "skip"  # untagged before any tag: Kale leaves it out
    assert by_index[3].role == "shared" and by_index[7].role == "shared"  # joined imports, functions
    export(plan, tmp_path / "pipelines" / plan.name, notebook)
    folder = tmp_path / "pipelines" / plan.name
    assert sorted(p.name for p in (folder / "tasks").iterdir()) == [
        "evaluate_model.py", "load_data.py", "train_model.py"]
    assert json.loads((folder / "plan.json").read_text())["tasks"][2]["metrics"] == ["precision"]
    for path in (folder / "tasks").iterdir():
        compile(path.read_text(), str(path), "exec")
