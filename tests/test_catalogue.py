"""The catalogue (tests/catalogue/): everyday notebook patterns the plan must get right.

Each notebook is planned (no PlanError), exported, run with every task in a fresh process of its
own (`build(..., isolated=True)`, as an incremental rerun runs a task alone: no state one task
leaves in the process can hide a missing dependency), and its products compared with the
notebook's own, run top to bottom through papermill.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CATALOGUE = Path(__file__).resolve().parent / "catalogue"
sys.path.insert(0, str(CATALOGUE))
from make_catalogue import NOTEBOOKS  # noqa: E402

# written by make_catalogue.py, and one tagged by hand the way Kale's own examples are
CASES = sorted([*NOTEBOOKS, "kale_tags"])


@pytest.mark.parametrize("name", CASES)
def test_catalogue_notebook_runs_isolated_and_verifies_equal(name: str, tmp_path: Path):
    from workbench.execute.build import build
    from workbench.refactor.export import export
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan
    from workbench.verification.pipeline import compare_products, run_notebook

    work = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE, work, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(CATALOGUE / "catalogue_lib", work / "catalogue_lib", dirs_exist_ok=True)
    notebook = work / f"{name}.ipynb"
    plan = build_plan(read_notebook(notebook))
    pipeline = tmp_path / "pipe"
    export(plan, pipeline, notebook)
    params = {p.name: p.value for p in plan.parameters.values() if p.type != "expression"}
    result = build(pipeline, plan, params, isolated=True)
    assert [t.status for t in result.tasks] == ["ran"] * len(plan.tasks)
    snapshots = tmp_path / "verify"
    snapshots.mkdir()
    run_notebook(notebook, plan, {}, snapshots)
    rows = compare_products(plan, pipeline, snapshots / "notebook")
    assert rows, "nothing was compared"
    different = [(r.task, r.variable, r.detail) for r in rows if r.status != "equal"]
    assert not different, different
