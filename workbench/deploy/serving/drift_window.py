"""Drift gauges for `/metrics`: PSI of the most recent served rows against the training profile.

The histograms of metrics.py are cumulative since the server started: Prometheus can compare
them with the profile bucket by bucket, but PSI needs a log per bucket and fractions over a window,
which is awkward PromQL that every rule and dashboard would repeat. So the server computes it:
per feature and for the predictions, over the last `rows` served rows (a sliding window kept as
ring buffers; default 1,000 rows), each time Prometheus scrapes:

    workbench_feature_drift_psi{feature}     PSI of the feature over the window
    workbench_prediction_drift_psi{model}    PSI of the numeric predictions over the window
    workbench_drift_window_rows{feature}     rows in the window (a gauge to tell "no traffic" apart)

The bins are the profile's (numeric deciles, categories with the rest as "other"), the same PSI
as `workbench monitor` (monitor/drift.py), so an alert in Prometheus and one from `monitor` agree.
Features the profile does not know get no gauge. A gauge appears once the window holds
`min_rows` rows, so a handful of requests after a restart cannot fire an alert.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from workbench.quality.profile import OTHER, bin_fractions, psi

__all__ = ["DEFAULT_WINDOW_ROWS", "DriftWindow"]

DEFAULT_WINDOW_ROWS = 1000
MIN_ROWS = 50


def _fractions(column: dict, values: list[Any]) -> tuple[list[float], list[float]] | None:
    """(training fractions, window fractions) over the profile's bins, or None when not comparable."""
    if column.get("kind") == "numeric":
        expected = column.get("fractions") or []
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if not expected or not numbers:
            return None
        return expected, bin_fractions(numbers, column.get("edges") or [])
    freqs: dict[str, float] = column.get("frequencies") or {}
    if not freqs:
        return None
    known = [c for c in freqs if c != OTHER]
    served = [str(v) for v in values if v is not None]
    if not served:
        return None
    counts: dict[str, int] = {}
    for v in served:
        key = v if v in freqs and v != OTHER else OTHER  # unseen categories count as "other"
        counts[key] = counts.get(key, 0) + 1
    actual = [counts.get(c, 0) / len(served) for c in known] + [counts.get(OTHER, 0) / len(served)]
    return [freqs[c] for c in known] + [freqs.get(OTHER, 0.0)], actual


class DriftWindow:
    """Ring buffers of the last `rows` values per profiled feature and per model's predictions."""

    def __init__(self, profile: dict | None, rows: int = DEFAULT_WINDOW_ROWS, min_rows: int = MIN_ROWS) -> None:
        self.profile = profile or {}
        self.rows, self.min_rows = rows, min_rows
        self._lock = threading.Lock()
        self._features: dict[str, deque] = {}
        self._predictions: dict[str, deque] = {}

    def observe(self, columns: list[str], data: list, model: str, predictions: list[float]) -> None:
        known = self.profile.get("columns") or {}
        with self._lock:
            for j, column in enumerate(columns):
                if column not in known:
                    continue
                buffer = self._features.setdefault(column, deque(maxlen=self.rows))
                buffer.extend(row[j] if isinstance(row, list) and j < len(row) else None for row in data)
            if predictions and self.profile.get("predictions"):
                self._predictions.setdefault(model, deque(maxlen=self.rows)).extend(predictions)

    def families(self):
        """Prometheus gauge families, computed now (at scrape time, off the request path)."""
        from prometheus_client.core import GaugeMetricFamily

        with self._lock:
            features = {k: list(v) for k, v in self._features.items()}
            predictions = {k: list(v) for k, v in self._predictions.items()}
        feature_psi = GaugeMetricFamily("workbench_feature_drift_psi",
                                        "PSI of a feature over the last served rows against the training profile",
                                        labels=["feature"])
        window = GaugeMetricFamily("workbench_drift_window_rows", "Rows in the drift window", labels=["feature"])
        columns = self.profile.get("columns") or {}
        for name, values in sorted(features.items()):
            window.add_metric([name], len(values))
            pair = _fractions(columns[name], values) if len(values) >= self.min_rows else None
            if pair is not None:
                feature_psi.add_metric([name], psi(*pair))
        prediction_psi = GaugeMetricFamily("workbench_prediction_drift_psi",
                                           "PSI of the predictions over the last served rows against training",
                                           labels=["model"])
        for model, values in sorted(predictions.items()):
            pair = _fractions(self.profile["predictions"], values) if len(values) >= self.min_rows else None
            if pair is not None:
                prediction_psi.add_metric([model], psi(*pair))
        return [feature_psi, prediction_psi, window]
