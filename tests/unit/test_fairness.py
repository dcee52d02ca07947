"""The metric per group of a sensitive column, and the largest gap between groups."""

import numpy as np
import pytest

from workbench.quality.fairness import FairnessError, group_metrics
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan


def test_a_fair_model_has_a_small_gap_an_unfair_one_a_large_gap():
    rng = np.random.default_rng(0)
    n = 4000
    groups = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    good = np.clip(y * 0.6 + rng.random(n) * 0.4, 0, 1)  # informative for both groups
    fair = group_metrics(y, good, groups, "auc", "is_new")
    assert fair.gap < 0.05 and {g.group for g in fair.groups} == {"0", "1"}
    unfair_scores = np.where(groups == 1, rng.random(n), good)  # noise for group 1
    unfair = group_metrics(y, unfair_scores, groups, "auc", "is_new")
    assert unfair.gap > 0.3
    assert unfair.metric_name == "auc_gap_is_new"
    assert set(unfair.metrics()) == {"auc_by_is_new/0", "auc_by_is_new/1", "auc_gap_is_new"}
    assert "largest gap" in unfair.table() and "is_new" in unfair.table()


def test_auc_is_undefined_for_a_group_with_one_class():
    result = group_metrics([0, 1, 0, 0], [0.2, 0.8, 0.1, 0.3], ["a", "a", "b", "b"], "auc", "g")
    assert [g.value for g in result.groups][1] is None and result.gap is None
    with pytest.raises(FairnessError):
        group_metrics([0], [0.1], ["a"], "f1", "g")


def test_the_sensitive_tag_reaches_the_plan(make_notebook):
    plan = build_plan(read_notebook(make_notebook([
        ("x = [1, 2]", "task:a"), ("auc = 0.5", ["task:evaluate", "metrics", "sensitive:is_new"])])))
    assert plan.task("evaluate").sensitive == ["is_new"]
