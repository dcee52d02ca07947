"""Alert rules in plain words: parsing, units, scopes, evaluation, and a real webhook POST."""


import pytest
from helpers import webhook

from workbench.monitor.alerts import AlertRuleError, evaluate, parse_rule, parse_rules, post_webhook


def test_rules_read_as_written():
    assert parse_rule("error rate > 1%").value == pytest.approx(0.01)
    assert parse_rule("p99 > 0.2 s").value == pytest.approx(200)
    r = parse_rule("drift > 0.1 on monthly_charges")
    assert (r.metric, r.scope, r.value) == ("drift", "monthly_charges", 0.1)
    assert parse_rule("drift > 0.2").scope == "any feature"
    assert parse_rule("requests < 100").op == "<"


@pytest.mark.parametrize("text, says", [
    ("latency > 3", "unknown metric"),
    ("p99 > 200", "needs a unit"),
    ("error rate > 1% on calls", "only `drift`"),
    ("drift is high", "cannot read"),
])
def test_bad_rules_are_named(text, says):
    with pytest.raises(AlertRuleError, match=says) as info:
        parse_rule(text, "pipelines/churn/checks.yaml")
    assert "pipelines/churn/checks.yaml" in str(info.value) and info.value.hint


def test_evaluate_fires_per_feature_and_on_service_numbers():
    rules, webhook = parse_rules({"rules": ["drift > 0.2 on any feature", "drift > 0.05 on calls",
                                            "error rate > 1%", "p99 > 200 ms", "prediction drift > 0.2"],
                                  "webhook": "http://x"})
    assert webhook == "http://x"
    fired = evaluate(rules, {"drift": {"calls": 0.1, "monthly_charges": 0.5}, "error rate": 0.02, "p99": 150.0,
                             "prediction drift": None})
    assert sorted(str(a) for a in fired) == [
        "drift > 0.05 on calls: calls = 0.1",
        "drift > 0.2 on any feature: monthly_charges = 0.5",
        "error rate > 1%: requests = 0.02",
    ]
    assert evaluate(parse_rules(None)[0], {"drift": {"a": 0.01}, "error rate": 0.0, "p99": 10}) == []


def test_webhook_receives_the_alerts():
    with webhook() as (url, received):
        assert post_webhook(url, {"alerts": ["x"]}) is None
    assert received == [{"alerts": ["x"]}]
    assert "unreachable" in post_webhook("http://127.0.0.1:9/none", {}, timeout=2)
