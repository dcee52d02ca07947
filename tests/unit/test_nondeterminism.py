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


def test_a_difference_downstream_of_a_nondeterministic_value_follows_from_it(tmp_path: Path, monkeypatch) -> None:
    """imbalanced-learn's sampling example: `y` changes between notebook runs (make_imbalance without
    random_state); a later pie of counts came out the same in both notebook runs by chance and
    differed in the pipeline's, and was reported as a real difference. The notebook runs are stand-ins
    here (the end-to-end behaviour is in tests/test_verify_outputs.py)."""
    import json

    from workbench.runtime import save
    from workbench.verification import pipeline as verification

    plan = _plan(tmp_path, [("import numpy as np", "imports"), ("y = np.random.rand(4)", "task:draw"),
                            ("share = round(float((y > 2).sum()), 3)", "task:count"),
                            ("other = 1", "task:apart")])
    executed = tmp_path / "executed.ipynb"
    executed.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    work = tmp_path / "verify"
    for task, var, value in [("draw", "y", [1.0]), ("count", "share", 0.0), ("apart", "other", 1)]:
        save(value, work / "notebook" / task / var)

    def again(notebook, plan, overrides, workdir, hash_seed=None):
        for task, var, value in [("draw", "y", [2.0]), ("count", "share", 0.0), ("apart", "other", 1)]:
            save(value, workdir / "notebook" / task / var)
        return executed

    monkeypatch.setattr(verification, "run_notebook", again)
    report = verification.VerifyReport()
    report.executed_notebook = executed
    report.rows = [verification.Row("y", "draw", "different", "0.1 vs 0.7"),
                   verification.Row("share", "count", "different", "0.0 vs 1.0"),
                   verification.Row("other", "apart", "different", "1 vs 2")]
    verification.find_nondeterminism(plan, report, work, tmp_path / "nb.ipynb", {}, 1, frozenset(), lambda e: None)
    rows = {r.variable: r for r in report.rows}
    assert rows["y"].status == "nondeterministic" and "np.random.rand()" in rows["y"].detail
    assert rows["share"].status == "nondeterministic", rows["share"]
    assert "reads values that change between runs of the notebook: y (task draw)" in rows["share"].detail
    assert rows["other"].status == "different"  # not downstream of `draw`: a real difference
    assert report.exit_code == 1


def test_a_library_function_seeded_by_seed_is_named(tmp_path: Path) -> None:
    """networkx's plot_mst draws `nx.spring_layout(G)`: its layout changes on every run, and verify
    said "nothing in the code draws at random"."""
    plan = _plan(tmp_path, [("import networkx as nx", "imports"),
                            ("G = nx.path_graph(4)\npos = nx.spring_layout(G)\nfixed = nx.spring_layout(G, seed=1)\n"
                             "ring = nx.circular_layout(G)", "task:draw")])
    found = sources(plan, "draw")
    assert [s.what for s in found] == ["spring_layout() called without seed"], found
    assert describe(found)[1] == "add seed=0 (or the notebook's seed parameter): spring_layout(..., seed=0)"
