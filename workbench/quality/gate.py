"""The model gate: may a new model replace the one before it?

One pure function (`evaluate`) used by the CI step (`workbench gate`), by `workbench promote` (new
version against the champion) and by retraining: the same rules wherever a model is judged. The
rules live in the `gate:` section of the pipeline's `checks.yaml`, a file the user owns and edits:

    gate:
      tolerance: 0.01          # default: no worse than the baseline by more than this
      metrics:
        auc: {min: 0.70}       # an absolute floor as well
        log_loss: {direction: lower, max: 0.5, tolerance: 0.02}

A metric listed without bounds is compared with the baseline only. Without a `gate:` section every
metric the run has is compared with the baseline with the default tolerance; with no baseline (the
first model) only absolute bounds apply.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.tables import text_table

DEFAULT_TOLERANCE = 0.01
_LOWER_IS_BETTER = re.compile(r"(loss|error|err|rmse|mse|mae|mape|latency|gap|drift)", re.IGNORECASE)


class GateError(WorkbenchError):
    """The gate's rules cannot be read."""


@dataclass(frozen=True)
class MetricRule:
    metric: str
    direction: str = "higher"  # "higher" or "lower" is better
    min: float | None = None
    max: float | None = None
    tolerance: float | None = None  # None: the gate's default


@dataclass(frozen=True)
class GateRules:
    tolerance: float = DEFAULT_TOLERANCE
    metrics: tuple[MetricRule, ...] = ()

    def rule(self, metric: str) -> MetricRule:
        for r in self.metrics:
            if r.metric == metric:
                return r
        return MetricRule(metric, direction=default_direction(metric))


@dataclass(frozen=True)
class GateRow:
    metric: str
    value: float | None
    baseline: float | None
    rule: str
    passed: bool
    why: str


@dataclass
class GateResult:
    rows: list[GateRow] = field(default_factory=list)
    baseline_name: str = "baseline"

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def failures(self) -> list[GateRow]:
        return [r for r in self.rows if not r.passed]

    def table(self) -> str:
        head = ("metric", "new", self.baseline_name, "rule", "result")
        body = [(r.metric, _fmt(r.value), _fmt(r.baseline), r.rule, "ok" if r.passed else f"FAIL: {r.why}")
                for r in self.rows]
        return text_table(head, body)


def default_direction(metric: str) -> str:
    return "lower" if _LOWER_IS_BETTER.search(metric) else "higher"


def evaluate(metrics: dict[str, float], baseline: dict[str, float] | None, rules: GateRules,
             baseline_name: str = "baseline") -> GateResult:
    """Judge `metrics` against absolute bounds and against `baseline` (None: no earlier model).

    A metric named in the rules but missing from the run fails: a gate that silently passes
    because the evaluation stopped reporting its metric is no gate.
    """
    names = [r.metric for r in rules.metrics] or sorted(metrics)
    result = GateResult(baseline_name=baseline_name)
    for name in names:
        rule = rules.rule(name)
        tol = rules.tolerance if rule.tolerance is None else rule.tolerance
        value = metrics.get(name)
        base = (baseline or {}).get(name)
        described = _describe(rule, tol, base is not None)
        if value is None or not _finite(value):
            result.rows.append(GateRow(name, None, base, described, False,
                                       "the run did not report this metric"))
            continue
        value = float(value)
        why = ""
        if rule.min is not None and value < rule.min:
            why = f"{_fmt(value)} < min {_fmt(rule.min)}"
        elif rule.max is not None and value > rule.max:
            why = f"{_fmt(value)} > max {_fmt(rule.max)}"
        elif base is not None and _finite(base):
            base = float(base)
            if rule.direction == "higher" and value < base - tol:
                why = f"{_fmt(base - value)} worse than {baseline_name} (tolerance {_fmt(tol)})"
            elif rule.direction == "lower" and value > base + tol:
                why = f"{_fmt(value - base)} worse than {baseline_name} (tolerance {_fmt(tol)})"
        result.rows.append(GateRow(name, value, base, described, not why, why))
    return result


def parse_rules(section: object, source: str = "checks.yaml") -> GateRules:
    """The `gate:` section of checks.yaml as rules; a clear error for anything malformed."""
    if section is None:
        return GateRules()
    if not isinstance(section, dict):
        raise GateError(f"{source}: `gate:` must be a mapping", hint="see `workbench ci --help` for the format")
    tolerance = _number(section.get("tolerance", DEFAULT_TOLERANCE), f"{source}: gate.tolerance")
    rules = []
    for name, spec in (section.get("metrics") or {}).items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise GateError(f"{source}: gate.metrics.{name} must be a mapping such as {{min: 0.7}}")
        unknown = set(spec) - {"direction", "min", "max", "tolerance"}
        if unknown:
            raise GateError(f"{source}: gate.metrics.{name}: unknown key(s) {', '.join(sorted(unknown))}",
                            hint="allowed: direction (higher|lower), min, max, tolerance")
        direction = spec.get("direction", default_direction(str(name)))
        if direction not in ("higher", "lower"):
            raise GateError(f"{source}: gate.metrics.{name}.direction must be `higher` or `lower`, not {direction!r}")
        rules.append(MetricRule(
            str(name), direction,
            None if spec.get("min") is None else _number(spec["min"], f"{source}: gate.metrics.{name}.min"),
            None if spec.get("max") is None else _number(spec["max"], f"{source}: gate.metrics.{name}.max"),
            None if spec.get("tolerance") is None else _number(spec["tolerance"], f"{source}: gate.metrics.{name}.tolerance"),
        ))
    return GateRules(tolerance, tuple(rules))


def load_rules(checks_file: Path) -> GateRules:
    """Rules from a checks.yaml (its `gate:` section); defaults when the file or section is absent."""
    from workbench.quality.checks import read_checks

    return parse_rules(read_checks(checks_file).get("gate"), str(checks_file))


def _describe(rule: MetricRule, tol: float, has_baseline: bool) -> str:
    parts = []
    if rule.min is not None:
        parts.append(f">= {_fmt(rule.min)}")
    if rule.max is not None:
        parts.append(f"<= {_fmt(rule.max)}")
    if has_baseline:
        parts.append(f"{rule.direction} is better, tol {_fmt(tol)}")
    return "; ".join(parts) or "reported"


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GateError(f"{where} must be a number, not {value!r}")
    return float(value)


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
