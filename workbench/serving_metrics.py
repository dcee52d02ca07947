"""Prometheus metrics of a served model, on `/metrics` of `workbench serve`.

Service metrics are updated on the request path (a counter increment and a histogram observation,
microseconds); the distributions of inputs and predictions are updated from the request log's
background thread, off the request path, from the decoded rows:

    workbench_requests_total{model, role, status}       requests answered
    workbench_request_errors_total{model, role}         answers with status >= 400
    workbench_request_latency_seconds{role}             latency histogram
    workbench_rows_total{model, role}                   rows scored
    workbench_prediction{model}                         histogram of numeric predictions
    workbench_feature_<name>                            histogram per numeric input feature
    workbench_feature_category_total{feature, value}    counts per categorical feature value

The feature histograms' buckets are the training profile's decile edges when the model carries a
profile (`training_profile.json`, written by `workbench package`), so a Prometheus query can compare
served and training fractions bin by bin; otherwise they are built from the first rows served.
"""

from __future__ import annotations

import math
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
PREDICTION_BUCKETS = tuple(i / 10 for i in range(1, 10))
MAX_CATEGORY_VALUES = 50


def _metric_name(feature: str) -> str:
    return "workbench_feature_" + re.sub(r"[^a-zA-Z0-9_]", "_", feature)


class ServingMetrics:
    def __init__(self, profile: dict | None = None) -> None:
        self.registry = CollectorRegistry()
        self.profile = profile or {}
        self.requests = Counter("workbench_requests", "Requests answered", ["model", "role", "status"],
                                registry=self.registry)
        self.errors = Counter("workbench_request_errors", "Requests answered with status >= 400",
                              ["model", "role"], registry=self.registry)
        self.latency = Histogram("workbench_request_latency_seconds", "Time to answer a request", ["role"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("workbench_rows", "Rows scored", ["model", "role"], registry=self.registry)
        pred_profile = self.profile.get("predictions") or {}
        buckets = tuple(pred_profile.get("edges") or ()) or PREDICTION_BUCKETS
        self.prediction = Histogram("workbench_prediction", "Numeric predictions returned", ["model"],
                                    buckets=buckets, registry=self.registry)
        self.categories = Counter("workbench_feature_category", "Served values of categorical features",
                                  ["feature", "value"], registry=self.registry)
        self._features: dict[str, Histogram | None] = {}
        self._seen_values: dict[str, set[str]] = {}

    def app(self):
        """The ASGI app for `/metrics`."""
        return make_asgi_app(self.registry)

    # request path -------------------------------------------------------------------------------

    def observe_request(self, model: str, role: str, status: int, seconds: float) -> None:
        self.requests.labels(model, role, str(status)).inc()
        if status >= 400:
            self.errors.labels(model, role).inc()
        self.latency.labels(role).observe(seconds)

    # log thread ----------------------------------------------------------------------------------

    def observe_line(self, line: dict) -> None:
        """Update the distributions from one decoded request-log line."""
        if (line.get("status") or 500) >= 400:
            return
        model, role = str(line.get("model")), str(line.get("role") or "primary")
        if line.get("n_rows"):
            self.rows.labels(model, role).inc(line["n_rows"])
        for value in _numbers(line.get("predictions")):
            self.prediction.labels(model).observe(value)
        inputs = line.get("inputs") or {}
        columns, data = inputs.get("columns") or [], inputs.get("data") or []
        for j, column in enumerate(columns):
            values = [row[j] for row in data if isinstance(row, list) and j < len(row)]
            self._observe_feature(str(column), values)

    def _observe_feature(self, column: str, values: list[Any]) -> None:
        numeric = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(float(v))]
        known = (self.profile.get("columns") or {}).get(column) or {}
        if known.get("kind") == "categorical" or (not known and len(numeric) < len(values)):
            seen = self._seen_values.setdefault(column, set())
            for v in values:
                text = str(v)
                if text not in seen and len(seen) >= MAX_CATEGORY_VALUES:
                    text = "__other__"
                seen.add(text)
                self.categories.labels(column, text).inc()
            return
        if column not in self._features:
            edges = known.get("edges") or _edges(numeric)
            self._features[column] = Histogram(
                _metric_name(column), f"Served values of feature {column}",
                buckets=tuple(sorted(set(edges))) or (0.0,), registry=self.registry)
        histogram = self._features[column]
        for v in numeric:
            histogram.observe(v)


def _edges(values: list[float]) -> list[float]:
    if not values:
        return [0.0]
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, int(len(ordered) * q / 10))] for q in range(1, 10)]


def _numbers(predictions: Any) -> list[float]:
    out: list[float] = []
    stack = [predictions]
    while stack and len(out) < 100_000:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            if item and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item):
                out.extend(float(v) for v in item if math.isfinite(float(v)))
            else:
                stack.extend(item)
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(float(item)):
            out.append(float(item))
    return out
