"""Outcomes and alert exports without servers: statistics against known values, joining feedback by
request id and row, the A/B decision, `over WINDOW` rules, feedback validation, PromQL and drift gauges."""

import numpy as np
import pytest

from workbench.deploy.serving.drift_window import DriftWindow
from workbench.deploy.serving.feedback import FeedbackError, parse_feedback
from workbench.monitor import outcomes as oc
from workbench.monitor.alerts import evaluate, parse_rule
from workbench.monitor.prometheus import expression, prometheus_rules


def test_statistics_match_known_values():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    assert oc.auc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert oc.wilson(80, 100) == pytest.approx((0.7112, 0.8666), abs=1e-4)
    assert oc.two_proportion_z(80, 100, 90, 100)[1] == pytest.approx(0.0477, abs=1e-3)
    assert oc.proportion_sample_size(0.8, 0.9, 0.05, 0.8) == 199  # the textbook figure


def test_join_by_id_and_row_latest_wins_and_reports_the_unmatched():
    lines = [{"id": "a", "status": 200, "n_rows": 2, "model": "m/1", "ts": 1, "predictions": [[0.9, 0.1], [0.2, 0.8]]},
             {"id": "b", "status": 200, "n_rows": 1, "model": "m/1", "ts": 2, "predictions": [0.7]},
             {"id": "c", "status": 500, "n_rows": 1, "model": "m/1", "ts": 3, "predictions": None}]
    feedback = [{"id": "a", "row": 1, "outcome": 0}, {"id": "a", "row": 1, "outcome": 1},  # a correction
                {"id": "b", "outcome": 1}, {"id": "zz", "outcome": 1}]
    joined = oc.join(lines, feedback)
    assert list(zip(joined.score, joined.outcome)) == [(0.8, 1), (0.7, 1)] and joined.unmatched == 1


def test_ab_names_a_winner_only_when_significant_and_enough():
    rng = np.random.default_rng(1)

    def arm(name, n, correct):
        y = rng.integers(0, 2, n)
        s = np.where(rng.random(n) < correct, y, 1 - y).astype(float)
        return [name] * n, list(s), list(y)

    a, b = arm("A", 400, 0.70), arm("B", 400, 0.85)
    joined = oc.Joined(model=["x"] * 400 + ["y"] * 400, arm=a[0] + b[0], ts=[0] * 800, score=a[1] + b[1],
                       outcome=a[2] + b[2])
    decided = oc.ab_test(joined, oc.ABSettings(metric="accuracy"))
    assert decided.winner == "B" and decided.test == "two-proportion z-test" and decided.p_value < 1e-3
    small = joined.subset([i % 20 == 0 for i in range(800)])  # 20 per arm
    undecided = oc.ab_test(small, oc.ABSettings(metric="accuracy"))
    assert undecided.winner is None and undecided.more_needed >= 10, undecided.summary()
    assert "no winner yet; about" in undecided.summary()


def test_outcome_rules_with_windows_and_too_few_outcomes():
    rule = parse_rule("auc < 0.7 over 1d")
    assert (rule.metric, rule.window, rule.window_text) == ("auc", 86400.0, "1d")
    fired = evaluate([rule], {"auc": {"m/1": 0.6, "m/2": 0.5}, "outcomes": {"m/1": 40, "m/2": 5}})
    assert [str(a) for a in fired] == ["auc < 0.7 over 1d: m/1 = 0.6"]  # m/2 has only 5 outcomes


@pytest.mark.parametrize("body, says", [
    ({"outcome": 1}, "no request id"),
    ({"id": "x"}, "no `outcome`"),
    ({"id": "x", "outcome": {"a": 1}}, "not a number"),
    ([{"id": "x", "outcome": 1}, {"id": "y", "row": -1, "outcome": 1}], "feedback item 1"),
])
def test_bad_feedback_is_named(body, says):
    with pytest.raises(FeedbackError, match=says):
        parse_feedback(body)


def test_rules_become_promql():
    assert expression(parse_rule("error rate > 1% over 1m"), 'job="w"') == (
        'sum(rate(workbench_request_errors_total{job="w"}[1m])) / sum(rate(workbench_requests_total{job="w"}[1m])) > 0.01')
    assert expression(parse_rule("p99 > 200 ms")).startswith("histogram_quantile(0.99, sum by (le) (rate(")
    assert expression(parse_rule("drift > 0.1 on calls")) == \
        'max by (feature) (workbench_feature_drift_psi{feature="calls"}) > 0.1'
    document, skipped = prometheus_rules([parse_rule("drift > 0.2"), parse_rule("auc < 0.7 over 1d")], "churn")
    assert [r["alert"] for r in document["groups"][0]["rules"]] == ["WorkbenchDrift"] and len(skipped) == 1


def test_drift_gauges_need_a_full_enough_window():
    window = DriftWindow({"columns": {"x": {"kind": "numeric", "edges": [1.0], "fractions": [0.5, 0.5]}}},
                         rows=100, min_rows=50)
    window.observe(["x"], [[5.0]] * 40, "m", [])
    assert [s.samples for s in window.families()][0] == []  # 40 rows: no gauge yet
    window.observe(["x"], [[5.0]] * 100, "m", [])
    psi = window.families()[0].samples[0]
    assert psi.labels == {"feature": "x"} and psi.value > 2
