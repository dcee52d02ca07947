"""Model quality on real outcomes: the request log joined with feedback, per model and per A/B arm.

Input drift says the world changed; only outcomes say whether the model is still right (concept
drift). `POST /feedback` and `workbench feedback` store observed outcomes by request id
(deploy/serving/feedback.py); here they are joined row by row with the predictions of the request
log, and the training run's metrics (`auc`, `accuracy`, ...: the same names, so live and training
numbers line up) are measured on the joined rows, each with a 95% confidence interval:

- proportions (accuracy, precision, recall): Wilson score interval (good at small n and near 0/1);
- everything else (auc, f1, log_loss, rmse, mae, r2): percentile bootstrap, 500 resamples, seeded.

An A/B test (`workbench serve MODEL --ab MODEL2:PERCENT`, lines carry `arm`) is decided on one metric
(checks.yaml `ab: {metric, alpha, power, min_effect}`; default the training's auc, else accuracy):

- accuracy-like metrics: two-proportion z-test (pooled), and the sample size per arm that detects
  the observed difference (at least `min_effect`) with the given power (the usual normal formula);
- auc and other metrics: a bootstrap test of the difference (each arm resampled on its own; the
  two-sided p-value is twice the smaller tail of the bootstrap differences around zero), and the
  sample size from scaling the bootstrap standard error (SE ~ 1/sqrt(n)).

A winner is named only when p < alpha; otherwise the report says how many more outcomes per arm
are needed. Pure functions: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

__all__ = ["ABSettings", "ABTest", "Estimate", "OutcomeReport", "ab_test", "auc", "join", "measure",
           "proportion_sample_size", "two_proportion_z", "wilson"]

PROPORTIONS = {"accuracy", "precision", "recall"}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
CLASSIFICATION = ["auc", "accuracy", "precision", "recall", "f1", "log_loss"]
REGRESSION = ["rmse", "mae", "r2"]
METRICS = set(CLASSIFICATION) | set(REGRESSION)
BOOTSTRAP = 500
Z95 = NormalDist().inv_cdf(0.975)


# -- statistics ----------------------------------------------------------------------------------

def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def auc(scores, labels) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None without both classes.
    2-D `scores`/`labels` (one resample per row) give one AUC per row."""
    import numpy as np
    from scipy.stats import rankdata

    s, y = np.atleast_2d(np.asarray(scores, dtype=float)), np.atleast_2d(np.asarray(labels, dtype=float))
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    ranks = rankdata(s, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ((ranks * y).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    out = np.where((positives > 0) & (negatives > 0), out, np.nan)
    if np.asarray(scores).ndim == 1:
        return None if math.isnan(out[0]) else float(out[0])
    return out


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """(z, two-sided p) of the pooled two-proportion z-test of k1/n1 against k2/n2."""
    if not n1 or not n2:
        return (0.0, 1.0)
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return (0.0, 1.0)
    z = (k2 / n2 - k1 / n1) / se
    return (z, 2 * (1 - NormalDist().cdf(abs(z))))


def proportion_sample_size(p1: float, p2: float, alpha: float, power: float) -> int:
    """Outcomes per arm for a two-sided two-proportion test to detect p1 vs p2."""
    if p1 == p2:
        return 0
    za, zb = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    mean = (p1 + p2) / 2
    n = (za * math.sqrt(2 * mean * (1 - mean)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p1 - p2) ** 2
    return math.ceil(n)


# -- metrics -------------------------------------------------------------------------------------

@dataclass
class Estimate:
    metric: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    training: float | None = None  # the training run's value, when known

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.metric} -"
        text = f"{self.metric} {self.value:.3f}"
        if self.low is not None:
            text += f" [{self.low:.3f}, {self.high:.3f}]"
        if self.training is not None:
            text += f" (training {self.training:.3f})"
        return text


def _binary(outcomes: list) -> list[int] | None:
    out = []
    for v in outcomes:
        if isinstance(v, bool) or v in (0, 1):
            out.append(int(v))
        elif isinstance(v, str) and v.strip().lower() in ("0", "1", "true", "false", "yes", "no"):
            out.append(int(v.strip().lower() in ("1", "true", "yes")))
        else:
            return None
    return out


def _numbers(values: list) -> list[float] | None:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _point(metric: str, s, y) -> float | None:
    """One metric on arrays s (scores or predictions) and y (outcomes); 1-D or 2-D (resamples)."""
    import numpy as np

    if metric == "auc":
        return auc(s, y)
    if metric in ("accuracy", "precision", "recall", "f1"):
        predicted = (s >= 0.5).astype(float)
        tp = (predicted * y).sum(axis=-1)
        if metric == "accuracy":
            return (predicted == y).mean(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision, recall = tp / predicted.sum(axis=-1), tp / y.sum(axis=-1)
            if metric == "precision":
                return precision
            if metric == "recall":
                return recall
            return 2 * precision * recall / (precision + recall)
    if metric == "log_loss":
        p = np.clip(s, 1e-15, 1 - 1e-15)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)
    if metric == "rmse":
        return np.sqrt(((s - y) ** 2).mean(axis=-1))
    if metric == "mae":
        return np.abs(s - y).mean(axis=-1)
    if metric == "r2":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
            return 1 - ((s - y) ** 2).sum(axis=-1) / total
    raise ValueError(metric)


def _scalar(value) -> float | None:
    import numpy as np

    if value is None:
        return None
    value = float(np.asarray(value))
    return value if math.isfinite(value) else None


def _bootstrap(metric: str, s, y, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), (BOOTSTRAP, len(y)))
    values = np.asarray(_point(metric, s[index], y[index]), dtype=float)
    return values[np.isfinite(values)]


def estimate(metric: str, scores: list[float], outcomes: list[float], training: float | None = None) -> Estimate:
    import numpy as np

    s, y = np.asarray(scores, dtype=float), np.asarray(outcomes, dtype=float)
    value = _scalar(_point(metric, s, y)) if len(y) else None
    result = Estimate(metric, value, n=len(y), training=training)
    if value is None:
        return result
    if metric in PROPORTIONS:
        predicted = s >= 0.5
        base = {"accuracy": len(y), "precision": int(predicted.sum()), "recall": int(y.sum())}[metric]
        result.low, result.high = wilson(round(value * base), base)
    else:
        values = _bootstrap(metric, s, y)
        if values.size:
            result.low, result.high = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    return result


# -- joining -------------------------------------------------------------------------------------

def row_scores(predictions: Any, rows: int) -> list | None:
    """One prediction per row: a number, the positive class of class probabilities, or None."""
    if isinstance(predictions, dict):
        predictions = predictions.get("predictions", next(iter(predictions.values()), None))
    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    out = []
    for p in predictions:
        if isinstance(p, list):
            p = p[-1] if p else None
        elif isinstance(p, dict):
            p = next(iter(p.values()), None)
        out.append(p)
    return out


@dataclass
class Joined:
    """Rows with both a prediction and an outcome."""

    model: list[str] = field(default_factory=list)
    arm: list[str | None] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    score: list[Any] = field(default_factory=list)
    outcome: list[Any] = field(default_factory=list)
    feedback: int = 0       # feedback lines read
    unmatched: int = 0      # feedback whose request id is not in the log (or not for these rows)
    ambiguous: int = 0      # one outcome for a request of several rows, without `row`

    def subset(self, keep) -> Joined:
        out = Joined(feedback=self.feedback, unmatched=self.unmatched, ambiguous=self.ambiguous)
        for i, k in enumerate(keep):
            if k:
                for name in ("model", "arm", "ts", "score", "outcome"):
                    getattr(out, name).append(getattr(self, name)[i])
        return out


def join(lines: list[dict], feedback: list[dict]) -> Joined:
    """Join request-log lines with feedback lines (oldest first: a later outcome corrects an earlier)."""
    by_row: dict[tuple[str, int], Any] = {}
    whole: dict[str, Any] = {}
    for item in feedback:
        rid, row, outcome = item["id"], item.get("row"), item.get("outcome")
        if row is not None:
            by_row[(rid, int(row))] = outcome
        else:
            whole[rid] = outcome
    out = Joined(feedback=len(feedback))
    with_rows = {rid for rid, _row in by_row}
    used: set[str] = set()
    for line in lines:
        rid = line.get("id")
        if not rid or (line.get("status") or 500) >= 400 or (rid not in whole and rid not in with_rows):
            continue
        rows = line.get("n_rows") or 0
        scores = row_scores(line.get("predictions"), rows)
        if scores is None:
            continue
        given = whole.get(rid)
        for r in range(rows):
            if (rid, r) in by_row:
                outcome = by_row[(rid, r)]
            elif isinstance(given, list):
                if len(given) != rows:
                    out.ambiguous += 1
                    break
                outcome = given[r]
            elif given is not None and rows == 1:
                outcome = given
            else:
                if given is not None:
                    out.ambiguous += 1
                    break
                continue
            used.add(rid)
            out.model.append(str(line.get("model")))
            out.arm.append(line.get("arm"))
            out.ts.append(float(line.get("ts") or 0))
            out.score.append(scores[r])
            out.outcome.append(outcome)
    out.unmatched = len({i["id"] for i in feedback} - used)
    return out


# -- the report ----------------------------------------------------------------------------------

@dataclass
class OutcomeReport:
    task: str                              # binary | regression | labels | none
    per_model: dict[str, list[Estimate]]   # model label -> estimates
    joined: int
    feedback: int
    unmatched: int
    ambiguous: int = 0

    def values(self) -> dict[str, dict[str, float]]:
        """metric -> {model: value}, what alert rules read."""
        out: dict[str, dict[str, float]] = {}
        for model, estimates in self.per_model.items():
            for e in estimates:
                if e.value is not None:
                    out.setdefault(e.metric, {})[model] = e.value
        return out

    def counts(self) -> dict[str, int]:
        return {model: max((e.n for e in estimates), default=0) for model, estimates in self.per_model.items()}


def _prepare(scores: list, outcomes: list) -> tuple[str, list[float], list[float]]:
    """(task, numeric scores, numeric outcomes) for the metrics; labels task compares equality."""
    y = _binary(outcomes)
    s = _numbers(scores)
    if y is not None and s is not None:
        return "binary", s, [float(v) for v in y]
    y2, s2 = _numbers(outcomes), s
    if y2 is not None and s2 is not None:
        return "regression", s2, y2
    return "labels", [float(str(a) == str(b)) for a, b in zip(scores, outcomes)], [1.0] * len(outcomes)


def measure(joined: Joined, training: dict[str, float] | None = None, by: str = "model") -> OutcomeReport:
    """Estimates per model (or per `arm`) of the metrics the training run logged that apply here
    (all that apply when the training metrics are unknown)."""
    training = training or {}
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(getattr(joined, by)):
        groups.setdefault(str(key), []).append(i)
    per_model: dict[str, list[Estimate]] = {}
    task = "none"
    for key, index in sorted(groups.items()):
        task, s, y = _prepare([joined.score[i] for i in index], [joined.outcome[i] for i in index])
        if task == "labels":  # predicted labels against observed ones: accuracy only
            per_model[key] = [Estimate("accuracy", sum(s) / len(s), *wilson(int(sum(s)), len(s)), n=len(s),
                                       training=training.get("accuracy"))]
            continue
        candidates = CLASSIFICATION if task == "binary" else REGRESSION
        names = [m for m in candidates if m in training] or (["auc", "accuracy"] if task == "binary" else ["rmse", "mae"])
        if task == "binary" and any(v not in (0.0, 1.0) for v in s):
            pass  # probabilities: every metric applies
        elif task == "binary":
            names = [m for m in names if m != "log_loss"]
        per_model[key] = [estimate(m, s, y, training.get(m)) for m in names]
    return OutcomeReport(task, per_model, len(joined.outcome), joined.feedback, joined.unmatched, joined.ambiguous)


# -- A/B -----------------------------------------------------------------------------------------

@dataclass
class ABSettings:
    alpha: float = 0.05
    power: float = 0.8
    min_effect: float = 0.01
    metric: str | None = None  # default: auc when measured, else accuracy (else the first measured)

    @classmethod
    def from_section(cls, section: Any, source: str = "checks.yaml") -> ABSettings:
        from workbench.core.errors import WorkbenchError

        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise WorkbenchError(f"{source}: `ab:` must be a mapping", hint="e.g. ab: {alpha: 0.05, power: 0.8}")
        unknown = set(section) - {"alpha", "power", "min_effect", "metric"}
        if unknown:
            raise WorkbenchError(f"{source}: unknown key(s) in `ab:`: {', '.join(sorted(unknown))}",
                                 hint="`ab:` takes alpha, power, min_effect and metric")
        out = cls(**section)
        if not 0 < out.alpha < 1 or not 0 < out.power < 1:
            raise WorkbenchError(f"{source}: `ab:` alpha and power must be between 0 and 1",
                                 hint="e.g. alpha: 0.05, power: 0.8")
        if out.metric is not None and out.metric not in METRICS:
            raise WorkbenchError(f"{source}: `ab: metric: {out.metric}` is not one of {', '.join(sorted(METRICS))}")
        return out


@dataclass
class ABTest:
    metric: str
    arms: dict[str, str]               # arm -> model label
    estimates: dict[str, Estimate]     # arm -> estimate
    difference: float | None           # B - A
    p_value: float | None
    test: str
    alpha: float
    winner: str | None = None          # arm, only when significant
    more_needed: int | None = None     # outcomes per arm still needed, when not significant
    min_outcomes: int = 30             # no decision below this many outcomes in an arm

    def summary(self) -> str:
        a, b = self.estimates.get("A"), self.estimates.get("B")
        head = f"A/B on {self.metric}: A {self.arms.get('A')} {_v(a)} (n={a.n if a else 0}), " \
               f"B {self.arms.get('B')} {_v(b)} (n={b.n if b else 0})"
        if self.p_value is None:
            return head + "; not enough outcomes to test"
        head += f"; {self.test} p={self.p_value:.3g}"
        if self.winner:
            return head + f" < {self.alpha:g}: winner {self.winner} ({self.arms[self.winner]})"
        smallest = min(a.n if a else 0, b.n if b else 0)
        why = f"fewer than {self.min_outcomes} outcomes in an arm" if smallest < self.min_outcomes \
            else f">= {self.alpha:g}"
        return head + f" ({why}): no winner yet; about {self.more_needed} more outcome(s) per arm needed"


def _v(e: Estimate | None) -> str:
    return "-" if e is None or e.value is None else f"{e.value:.3f}"


def ab_test(joined: Joined, settings: ABSettings, training: dict[str, float] | None = None,
            min_outcomes: int = 30) -> ABTest | None:
    """The A/B comparison of arms A and B (None when the log has no arms). No winner is named
    while an arm has fewer than `min_outcomes` outcomes: resampling tests are too optimistic on a
    handful of rows."""
    import numpy as np

    arms = {a for a in joined.arm if a}
    if not arms:
        return None
    keep = [a in ("A", "B") for a in joined.arm]
    sub = joined.subset(keep)
    report = measure(sub, training, by="arm")
    labels = {}
    for arm, model in zip(sub.arm, sub.model):
        labels.setdefault(arm, model)
    names = [e.metric for ests in report.per_model.values() for e in ests]
    metric = settings.metric or next((m for m in ("auc", "accuracy") if m in names), names[0] if names else "accuracy")
    estimates = {arm: next((e for e in ests if e.metric == metric), None) for arm, ests in report.per_model.items()}
    estimates = {k: v for k, v in estimates.items() if v is not None}
    result = ABTest(metric, labels, estimates, None, None, "", settings.alpha, min_outcomes=min_outcomes)
    a, b = estimates.get("A"), estimates.get("B")
    if a is None or b is None or a.value is None or b.value is None:
        return result
    result.difference = b.value - a.value
    better = (lambda d: d < 0) if metric in LOWER_IS_BETTER else (lambda d: d > 0)
    if metric == "accuracy" and report.task in ("binary", "labels"):
        ka, kb = round(a.value * a.n), round(b.value * b.n)
        _z, result.p_value = two_proportion_z(ka, a.n, kb, b.n)
        result.test = "two-proportion z-test"
        effect = max(abs(result.difference), settings.min_effect)
        p1 = a.value
        p2 = min(1.0, max(0.0, p1 + (effect if result.difference >= 0 else -effect)))
        needed = proportion_sample_size(p1, p2, settings.alpha, settings.power)
    else:
        index = {arm: [i for i, x in enumerate(sub.arm) if x == arm] for arm in ("A", "B")}
        draws = {}
        for seed, arm in enumerate(("A", "B")):
            _task, s, y = _prepare([sub.score[i] for i in index[arm]], [sub.outcome[i] for i in index[arm]])
            draws[arm] = _bootstrap(metric, np.asarray(s, dtype=float), np.asarray(y, dtype=float), seed=seed + 1)
        n = min(draws["A"].size, draws["B"].size)
        if n < 10:
            return result
        diffs = draws["B"][:n] - draws["A"][:n]
        tail = min((diffs <= 0).mean(), (diffs >= 0).mean())
        result.p_value = float(min(1.0, 2 * tail + 1 / (n + 1)))
        result.test = "bootstrap test"
        # a bootstrap of a few rows can have no spread at all (both AUCs 1.0): never below the
        # binomial SE of the two values (clipped away from 0 and 1), a conservative floor
        floor = math.sqrt(sum(min(0.95, max(0.05, e.value)) * (1 - min(0.95, max(0.05, e.value))) / max(e.n, 1)
                              for e in (a, b)))
        se = max(float(diffs.std()), floor)
        effect = max(abs(result.difference), settings.min_effect)
        za, zb = NormalDist().inv_cdf(1 - settings.alpha / 2), NormalDist().inv_cdf(settings.power)
        per_arm = (a.n + b.n) / 2
        needed = math.ceil(per_arm * ((za + zb) * se / effect) ** 2)
    smallest = min(a.n, b.n)
    if smallest >= min_outcomes and result.p_value < settings.alpha:
        result.winner = "B" if better(result.difference) else "A"
    else:
        result.more_needed = max(1, needed - smallest, min_outcomes - smallest)
    return result
