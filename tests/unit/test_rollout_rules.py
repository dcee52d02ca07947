"""The canary's pure parts: durations, ramps, the `canary:` rules and the judgement (no server)."""

from __future__ import annotations

import json

import pytest

from workbench.deploy.serving.rollout import (
    CanaryRules,
    RolloutError,
    Sample,
    judge,
    parse_canary_rules,
    parse_duration,
    parse_ramp,
    psi,
    same_distribution_p,
)


def reply(predictions, status=200, ms=5.0) -> Sample:
    return Sample(status, ms / 1000, json.dumps({"predictions": predictions}).encode())


def test_durations_ramps_and_rules_parse_or_say_how_to_fix():
    assert [parse_duration(t) for t in ("90", "30s", "10m", "1.5h", 2)] == [90, 30, 600, 5400, 2]
    assert parse_ramp("5,25,50,100") == [5, 25, 50, 100]
    for bad in ("0,50", "50,25", "5,x", "", "150"):
        with pytest.raises(RolloutError, match="increasing percentages"):
            parse_ramp(bad)
    with pytest.raises(RolloutError, match="not a duration"):
        parse_duration("10 minutes")
    rules = parse_canary_rules({"min_requests": 8, "check_every": "0.5s", "max_psi": None, "ramp": [10, 100]})
    assert (rules.min_requests, rules.check_every, rules.max_psi, rules.ramp) == (8, 0.5, None, (10.0, 100.0))
    assert parse_canary_rules(None) == CanaryRules()
    with pytest.raises(RolloutError, match="unknown key"):
        parse_canary_rules({"max_p99": 3})
    with pytest.raises(RolloutError, match="must be a number"):
        parse_canary_rules({"max_p95_ratio": "fast"})


def test_judge_names_each_breach_and_waits_for_enough_replies():
    rules = CanaryRules(min_requests=10)
    primary = [reply([i % 2]) for i in range(40)]
    assert not judge(rules, primary[:5], primary).enough
    healthy = judge(rules, [reply([i % 2], ms=7) for i in range(20)], primary)
    assert healthy.enough and healthy.breaches == [] and healthy.measures["prediction_psi"] < 0.01
    slow = judge(rules, [reply([i % 2], ms=300) for i in range(20)], primary)
    assert [b.split(" ")[0] for b in slow.breaches] == ["p95"]
    failing = judge(rules, [reply(None, status=400) for _ in range(5)] + [reply([1])] * 15, primary)
    assert failing.breaches[0].startswith("error rate 25.0%")
    shifted = judge(rules, [reply([1]) for _ in range(20)], primary)
    assert any(b.startswith("prediction PSI") for b in shifted.breaches)


def test_a_psi_over_the_limit_breaches_only_when_it_is_not_sampling_noise():
    """The healthy canary of tests/test_rollout.py was once rolled back for "prediction PSI 0.852 >
    0.6": over 8 replies, a 0/1 classifier that says 1 three times in ten can say 0 eight times."""
    primary = [reply([int(i % 10 < 3)]) for i in range(100)]   # 30% ones
    unlucky = [reply([0]) for _ in range(8)]                    # the same model, 8 zeros: p = 0.3**0 * 0.7**8 = 6%
    rules = CanaryRules(min_requests=8)
    verdict = judge(rules, unlucky, primary)
    assert verdict.measures["prediction_psi"] > 0.25           # the bare threshold would roll it back ...
    assert verdict.breaches == [] and verdict.measures["prediction_psi_p"] > 0.01  # ... the test does not
    assert judge(CanaryRules(min_requests=8, psi_significance=None), unlucky, primary).breaches  # as before
    flipped = [reply([1]) for _ in range(30)]                   # a canary that says 1 to everyone
    breach = judge(rules, flipped, primary).breaches
    assert len(breach) == 1 and breach[0].startswith("prediction PSI") and "chi-square p" in breach[0]
    assert same_distribution_p([0.0] * 50, [0.0] * 10) == 1.0  # one value in both: nothing differs
    for level in (5, 1, 0):  # 0 would let no PSI breach at all
        with pytest.raises(RolloutError, match="psi_significance"):
            parse_canary_rules({"psi_significance": level})
    assert parse_canary_rules({"psi_significance": None}).psi_significance is None


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift():
    same = [i / 100 for i in range(100)]
    assert psi(same, same) == pytest.approx(0, abs=1e-9)
    assert psi(same, [x + 0.3 for x in same]) > 0.5


def test_model_and_share_read_the_same_way_for_canary_and_ab():
    from workbench.core.errors import WorkbenchError
    from workbench.deploy.serving.ab import parse_ab
    from workbench.deploy.serving.rollout import split_share
    from workbench.deploy.serving.server import parse_canary

    assert split_share("churn/3:50") == ("churn/3", 50.0)
    assert split_share("churn@challenger:20%") == ("churn@challenger", 20.0)
    assert split_share("models:/churn@challenger") == ("models:/churn@challenger", None)
    assert parse_canary("models:/churn@challenger:25") == ("models:/churn@challenger", 25.0)
    assert parse_canary("churn/4:100") == ("churn/4", 100.0)  # a canary may take all the traffic
    assert parse_ab("churn/3:50") == ("churn/3", 50.0)
    for bad in ("churn/3:100", "churn/3:0", "churn/3", ":50"):  # an A/B test needs two arms
        with pytest.raises(WorkbenchError, match="--ab"):
            parse_ab(bad)
    for bad in ("churn/4:0", "churn/4:101", "churn/4"):
        with pytest.raises(WorkbenchError, match="--canary"):
            parse_canary(bad)
