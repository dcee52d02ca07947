"""Prometheus metrics of a served model: counts, latency, and distributions bucketed by the profile."""

from prometheus_client import generate_latest

from workbench.deploy.serving.metrics import ServingMetrics


def scrape(metrics: ServingMetrics) -> dict[str, float]:
    out = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_distributions_follow_the_training_deciles_and_class_probabilities():
    profile = {"columns": {"x": {"kind": "numeric", "edges": [1.0, 2.0]}, "plan": {"kind": "categorical"}},
               "predictions": {"edges": [0.5]}}
    metrics = ServingMetrics(profile)
    metrics.observe_request("m/1", "primary", 200, 0.004)
    metrics.observe_request("m/1", "primary", 400, 0.002)
    metrics.observe_line({"status": 200, "model": "m/1", "role": "primary", "n_rows": 4,
                          "inputs": {"columns": ["x", "plan"], "data": [[0.5, "a"], [1.0, "b"], [1.5, "a"], [9, "a"]]},
                          "predictions": [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]]})
    metrics.observe_line({"status": 500, "model": "m/1", "inputs": {"columns": ["x"], "data": [[100]]}})
    got = scrape(metrics)
    assert got['workbench_requests_total{model="m/1",role="primary",status="200"}'] == 1
    assert got['workbench_request_errors_total{model="m/1",role="primary"}'] == 1
    assert got['workbench_rows_total{model="m/1",role="primary"}'] == 4
    # x <= 1.0: 0.5 and 1.0; <= 2.0: + 1.5; +Inf: + 9 (the failed request is not counted)
    assert got['workbench_feature_x_bucket{le="1.0"}'] == 2
    assert got['workbench_feature_x_bucket{le="2.0"}'] == 3
    assert got['workbench_feature_x_bucket{le="+Inf"}'] == 4 and got["workbench_feature_x_sum"] == 12.0
    assert got['workbench_feature_category_total{feature="plan",value="a"}'] == 3
    # the positive class of each probability pair: 0.1, 0.8, 0.6, 0.3 -> two at or under 0.5
    assert got['workbench_prediction_bucket{le="0.5",model="m/1"}'] == 2
    assert got['workbench_prediction_count{model="m/1"}'] == 4
