"""Where a value that changes between notebook runs gets its randomness, read from the code."""

from __future__ import annotations

from pathlib import Path

from helpers import write_notebook

from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan
from workbench.verification.nondeterminism import describe, sources


def _plan(tmp_path: Path, cells):
    return build_plan(read_notebook(write_notebook(tmp_path / "nb.ipynb", cells)))


def test_a_draw_imported_by_name_gets_the_seed_of_its_module(tmp_path: Path) -> None:
    """matplotlib's legend_guide does `from numpy.random import randn`; the fix said `randn.seed(0)`."""
    plan = _plan(tmp_path, [("from numpy.random import randn\nimport numpy as np", "imports"),
                            ("z = randn(10)\nw = np.random.rand(3)", "task:draw")])
    where, fix = describe(sources(plan, "draw"))
    assert "randn() draws with no seed set before it (cell 1)" in where
    assert "call numpy.random.seed(0) before it" in fix and "call np.random.seed(0) before it" in fix
    assert "randn.seed" not in fix


def test_a_seed_set_before_the_draw_counts_and_an_unseeded_estimator_is_named(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier", "imports"),
                            ("np.random.seed(3)\nx = np.random.rand(5)", "task:data"),
                            ("clf = RandomForestClassifier(n_estimators=3)", "task:fit")])
    assert sources(plan, "data") == []
    where, fix = describe(sources(plan, "fit"))
    assert "RandomForestClassifier() built without random_state (cell 2)" in where and "random_state=0" in fix


def test_nothing_drawn_and_runs_under_other_hash_seeds_name_the_hash_seed(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("order = list({'a', 'b', 'c'})", "task:pick")])
    where, fix = describe(sources(plan, "pick"), ["0", "1"])
    assert "PYTHONHASHSEED 0, 1" in where and "sorted(...)" in fix
    where, _ = describe(sources(plan, "pick"), ["0", "0"])
    assert "not found in the code" in where
