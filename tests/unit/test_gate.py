"""The model gate's rules: bounds, comparison with a baseline, direction, missing metrics."""

import pytest

from workbench.core.errors import WorkbenchError
from workbench.quality.gate import GateError, GateRules, MetricRule, evaluate, load_rules, parse_rules


def test_no_worse_than_baseline_by_more_than_tolerance():
    rules = GateRules(tolerance=0.01)
    assert evaluate({"auc": 0.795}, {"auc": 0.80}, rules).passed
    result = evaluate({"auc": 0.78}, {"auc": 0.80}, rules, baseline_name="champion")
    assert not result.passed
    assert "worse than champion" in result.failures[0].why
    assert "champion" in result.table() and "FAIL" in result.table()


def test_lower_is_better_for_losses_and_absolute_bounds():
    rules = parse_rules({"tolerance": 0.0, "metrics": {"log_loss": {"max": 0.5}, "auc": {"min": 0.7}}})
    assert rules.rule("log_loss").direction == "lower"
    assert evaluate({"log_loss": 0.4, "auc": 0.9}, {"log_loss": 0.45, "auc": 0.9}, rules).passed
    failed = evaluate({"log_loss": 0.6, "auc": 0.65}, None, rules)
    assert [r.metric for r in failed.failures] == ["log_loss", "auc"]


def test_a_metric_the_run_stopped_reporting_fails():
    rules = GateRules(metrics=(MetricRule("auc", min=0.5),))
    result = evaluate({"accuracy": 0.9}, None, rules)
    assert not result.passed and "did not report" in result.failures[0].why


def test_first_model_without_baseline_passes_on_comparisons():
    assert evaluate({"auc": 0.1}, None, GateRules()).passed


def test_malformed_rules_are_clear_errors(tmp_path):
    with pytest.raises(GateError, match="direction"):
        parse_rules({"metrics": {"auc": {"direction": "up"}}})
    with pytest.raises(GateError, match="unknown key"):
        parse_rules({"metrics": {"auc": {"minimum": 0.7}}})
    bad = tmp_path / "checks.yaml"
    bad.write_text("gate: [1, 2")
    with pytest.raises(WorkbenchError, match="not valid YAML"):
        load_rules(bad)
    assert load_rules(tmp_path / "missing.yaml") == GateRules()
