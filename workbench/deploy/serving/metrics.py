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
    workbench_feature_drift_psi{feature}                PSI over the last served rows (drift_window.py)
    workbench_prediction_drift_psi{model}               ... of the predictions

The feature histograms' buckets are the training profile's decile edges when the model carries a
profile (`training_profile.json`, written by `workbench package`), so a Prometheus query can compare
served and training fractions bin by bin; otherwise they are built from the first rows served.
"""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
PREDICTION_BUCKETS = tuple(i / 10 for i in range(1, 10))
MAX_CATEGORY_VALUES = 50


def _metric_name(feature: str) -> str:
    return "workbench_feature_" + re.sub(r"[^a-zA-Z0-9_]", "_", feature)


class _Distribution:
    """A histogram kept as NumPy counts: a whole batch of values is one `searchsorted` and one
    `bincount`, not a Python call per value (a 1,000-row request would otherwise cost milliseconds
    of GIL time beside the requests being served)."""

    def __init__(self, edges) -> None:
        import numpy as np

        self.edges = np.asarray(sorted(set(float(e) for e in edges)) or [0.0], dtype=float)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.total = 0.0

    def observe(self, values) -> None:
        import numpy as np

        data = np.asarray(values, dtype=float)
        data = data[np.isfinite(data)]
        if data.size:
            self.counts += np.bincount(np.searchsorted(self.edges, data, side="left"), minlength=len(self.counts))
            self.total += float(data.sum())

    def family(self, name: str, doc: str, labels: dict[str, str] | None = None):
        from prometheus_client.core import HistogramMetricFamily

        cumulative = self.counts.cumsum()
        buckets = [(repr(float(e)), float(c)) for e, c in zip(self.edges, cumulative[:-1])]
        buckets.append(("+Inf", float(cumulative[-1])))
        family = HistogramMetricFamily(name, doc, labels=list(labels or {}))
        family.add_metric(list((labels or {}).values()), buckets, self.total)
        return family


class ServingMetrics:
    def __init__(self, profile: dict | None = None, drift_window: int | None = None) -> None:
        import threading

        from workbench.deploy.serving.drift_window import DEFAULT_WINDOW_ROWS, DriftWindow

        self.registry = CollectorRegistry()
        self.profile = profile or {}
        self.requests = Counter("workbench_requests", "Requests answered", ["model", "role", "status"],
                                registry=self.registry)
        self.errors = Counter("workbench_request_errors", "Requests answered with status >= 400",
                              ["model", "role"], registry=self.registry)
        self.latency = Histogram("workbench_request_latency_seconds", "Time to answer a request", ["role"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("workbench_rows", "Rows scored", ["model", "role"], registry=self.registry)
        self._lock = threading.Lock()
        self._predictions: dict[str, _Distribution] = {}
        self._features: dict[str, _Distribution] = {}
        self._categories: dict[tuple[str, str], int] = {}
        self._seen_values: dict[str, set[str]] = {}
        self.drift = DriftWindow(profile, drift_window or DEFAULT_WINDOW_ROWS)
        self.registry.register(_Collector(self))

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
        predictions = _numbers(line.get("predictions"))
        inputs = line.get("inputs") or {}
        columns, data = inputs.get("columns") or [], inputs.get("data") or []
        with self._lock:
            if predictions:
                if model not in self._predictions:
                    edges = (self.profile.get("predictions") or {}).get("edges") or PREDICTION_BUCKETS
                    self._predictions[model] = _Distribution(edges)
                self._predictions[model].observe(predictions)
            for j, column in enumerate(columns):
                values = [row[j] for row in data if isinstance(row, list) and j < len(row)]
                self._observe_feature(str(column), values)
        self.drift.observe([str(c) for c in columns], data, model, predictions)

    def _observe_feature(self, column: str, values: list[Any]) -> None:
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        known = (self.profile.get("columns") or {}).get(column) or {}
        if known.get("kind") == "categorical" or (not known and len(numeric) < len(values)):
            seen = self._seen_values.setdefault(column, set())
            for v in values:
                text = str(v)
                if text not in seen and len(seen) >= MAX_CATEGORY_VALUES:
                    text = "__other__"
                seen.add(text)
                self._categories[(column, text)] = self._categories.get((column, text), 0) + 1
            return
        if column not in self._features:
            self._features[column] = _Distribution(known.get("edges") or _edges(numeric))
        self._features[column].observe(numeric)

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        with self._lock:
            for model, dist in sorted(self._predictions.items()):
                yield dist.family("workbench_prediction", "Numeric predictions returned", {"model": model})
            for column, dist in sorted(self._features.items()):
                yield dist.family(_metric_name(column), f"Served values of feature {column}")
            family = CounterMetricFamily("workbench_feature_category", "Served values of categorical features",
                                         labels=["feature", "value"])
            for (column, value), count in sorted(self._categories.items()):
                family.add_metric([column, value], count)
            yield family
        yield from self.drift.families()


class _Collector:
    def __init__(self, metrics: ServingMetrics) -> None:
        self.metrics = metrics

    def collect(self):
        return self.metrics.collect()


def _edges(values: list[float]) -> list[float]:
    """Buckets from the first rows served, for a feature the training profile does not know."""
    import numpy as np

    from workbench.quality.profile import decile_edges

    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    return decile_edges(data) if data.size else [0.0]


def _numbers(predictions: Any) -> list[float]:
    out: list[float] = []
    stack = [predictions]
    while stack and len(out) < 100_000:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            if item and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item):
                out.extend(float(v) for v in item)
            elif item and all(isinstance(v, list) and v and isinstance(v[-1], int | float) for v in item):
                out.extend(float(v[-1]) for v in item)  # class probabilities: the positive class
            else:
                stack.extend(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(float(item))
    return out
