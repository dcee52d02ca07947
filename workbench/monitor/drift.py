"""Drift of served data from the training profile, per feature and for the predictions.

Three standard tests, each where it fits:

- population stability index (PSI) over the profile's bins (numeric deciles, or categories) — the
  drift *score* alert rules use (`drift > 0.2`): by the usual reading, < 0.1 is stable, 0.1-0.2 a
  moderate shift, > 0.2 a significant one;
- two-sample Kolmogorov-Smirnov (numeric) between the profile's sample and the served values;
- chi-square goodness of fit (categorical) of the served counts against the training frequencies.

A feature is *drifted* when its PSI passes the threshold or, with enough rows to mean something,
its test rejects at the given significance. Pure functions of (profile, served frame): no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.tables import text_table
from workbench.quality.profile import OTHER, PSI_FLOOR, bin_fractions, psi

PSI_THRESHOLD = 0.2
P_VALUE = 0.01
MIN_ROWS_FOR_TEST = 50


@dataclass
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical | missing
    rows: int
    psi: float | None = None
    test: str = ""  # ks | chi2
    statistic: float | None = None
    p_value: float | None = None
    null_fraction: float | None = None
    training_null_fraction: float | None = None
    drifted: bool = False
    why: str = ""
    bins: list[str] = field(default_factory=list)  # labels, for the report's plot
    expected: list[float] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    rows: int
    features: list[FeatureDrift]
    predictions: FeatureDrift | None = None

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.all() if f.drifted]

    def all(self) -> list[FeatureDrift]:
        return self.features + ([self.predictions] if self.predictions else [])

    def max_psi(self) -> float:
        return max((f.psi for f in self.features if f.psi is not None), default=0.0)

    def table(self) -> str:
        head = ("feature", "kind", "rows", "PSI", "test", "p-value", "drifted")
        body = [(f.feature, f.kind, str(f.rows), _fmt(f.psi), f.test or "-", _fmt(f.p_value),
                 f"YES: {f.why}" if f.drifted else "no") for f in self.all()]
        return text_table(head, body)


def numeric_drift(name: str, profile: dict, values, *, threshold: float = PSI_THRESHOLD,
                  p_value: float = P_VALUE) -> FeatureDrift:
    import numpy as np
    from scipy import stats

    raw = np.asarray(values, dtype=float)
    nulls = float(np.isnan(raw).mean()) if raw.size else 0.0
    data = raw[~np.isnan(raw)]
    edges = profile.get("edges", [])
    expected = profile.get("fractions", [])
    actual = bin_fractions(data, edges)
    result = FeatureDrift(name, "numeric", int(raw.size), null_fraction=nulls,
                          training_null_fraction=profile.get("null_fraction"),
                          bins=_bin_labels(edges), expected=list(expected), actual=actual)
    if data.size == 0 or not expected:
        result.why = "no values to compare"
        return result
    result.psi = psi(expected, actual)
    sample = profile.get("sample") or []
    if sample:
        ks = stats.ks_2samp(np.asarray(sample, dtype=float), data)
        result.test, result.statistic, result.p_value = "ks", float(ks.statistic), float(ks.pvalue)
    _judge(result, data.size, threshold, p_value)
    return result


def categorical_drift(name: str, profile: dict, values, *, threshold: float = PSI_THRESHOLD,
                      p_value: float = P_VALUE) -> FeatureDrift:
    import pandas as pd
    from scipy import stats

    series = pd.Series(values)
    nulls = float(series.isna().mean()) if len(series) else 0.0
    served = series.dropna().astype(str)
    freqs: dict[str, float] = profile.get("frequencies", {})
    known = [c for c in freqs if c != OTHER]
    counts = served.value_counts()
    observed = [float(counts.get(c, 0)) for c in known]
    observed.append(float(counts[~counts.index.isin(known)].sum()))  # unseen or folded categories
    expected_fracs = [freqs[c] for c in known] + [freqs.get(OTHER, 0.0)]
    n = float(sum(observed))
    result = FeatureDrift(name, "categorical", int(len(series)), null_fraction=nulls,
                          training_null_fraction=profile.get("null_fraction"),
                          bins=known + ["other / unseen"], expected=expected_fracs,
                          actual=[o / n if n else 0.0 for o in observed])
    if n == 0:
        result.why = "no values to compare"
        return result
    result.psi = psi(expected_fracs, result.actual)
    smoothed = [max(e, PSI_FLOOR) for e in expected_fracs]
    scale = n / sum(smoothed)
    chi = stats.chisquare(observed, [e * scale for e in smoothed])
    result.test, result.statistic, result.p_value = "chi2", float(chi.statistic), float(chi.pvalue)
    _judge(result, int(n), threshold, p_value)
    return result


def _judge(result: FeatureDrift, n: int, threshold: float, p_value: float) -> None:
    if result.psi is not None and result.psi > threshold:
        result.drifted, result.why = True, f"PSI {result.psi:.3f} > {threshold:g}"
    elif n >= MIN_ROWS_FOR_TEST and result.p_value is not None and result.p_value < p_value \
            and (result.psi or 0) > threshold / 2:
        # significance alone flags trivial shifts on large samples: require a visible shift too
        result.drifted, result.why = True, f"{result.test} p={result.p_value:.2g} < {p_value:g}"


def drift_report(profile: dict, frame, predictions=None, *, threshold: float = PSI_THRESHOLD,
                 p_value: float = P_VALUE) -> DriftReport:
    """Compare served rows (a DataFrame) and predictions with a training profile."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    features = []
    for name, col in profile.get("columns", {}).items():
        if name not in frame.columns:
            features.append(FeatureDrift(name, "missing", 0, drifted=len(frame) > 0,
                                         why="the served rows lack this column"))
            continue
        check = numeric_drift if col["kind"] == "numeric" else categorical_drift
        features.append(check(name, col, frame[name], threshold=threshold, p_value=p_value))
    report = DriftReport(int(len(frame)), features)
    if predictions is not None and profile.get("predictions"):
        col = profile["predictions"]
        check = numeric_drift if col["kind"] == "numeric" else categorical_drift
        report.predictions = check("prediction", col, predictions, threshold=threshold, p_value=p_value)
    return report


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    labels = [f"<= {edges[0]:.3g}"]
    labels += [f"({a:.3g}, {b:.3g}]" for a, b in zip(edges, edges[1:])]
    labels.append(f"> {edges[-1]:.3g}")
    return labels


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
