"""Alert rules for a served model, written the way people say them.

The `alerts:` section of the pipeline's checks.yaml (beside `data:` and `gate:`) is a list of rules
in plain words, one per line:

    alerts:
      - drift > 0.2 on any feature        # PSI of any input feature
      - drift > 0.1 on monthly_charges    # ... of one feature
      - prediction drift > 0.2            # PSI of the predictions
      - error rate > 1%                   # failed requests / requests
      - p99 > 200 ms                      # latency percentiles: p50, p90, p95, p99
      - requests < 100                    # too little traffic to judge
      - auc < 0.7 over 1d                 # concept drift: a metric on joined outcomes (outcomes.py)
      - accuracy < 80% over 7d            #   auc, accuracy, precision, recall, f1, log_loss, rmse, mae, r2
    webhook: https://hooks.example.com/T000/B000   # optional: POSTed when a rule fires

`over WINDOW` (30m, 6h, 1d) measures a rule on the requests of that last window only (in Prometheus
rules, prometheus.py, it is the range of `rate()`); without it, on what `monitor` read. Outcome
rules fire only on a model with at least `min_outcomes` joined outcomes (default 30; checks.yaml
`outcomes: {min_outcomes: N}`), so that a handful of labels cannot raise an alarm.

`parse_rules` turns them into `Rule`s (a clear error naming the rule otherwise) and `evaluate`
checks them against the numbers `workbench monitor` measured. Pure: no I/O but `post_webhook`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError

DEFAULT_RULES = ["drift > 0.2 on any feature", "error rate > 1%", "p99 > 200 ms"]
OUTCOME_METRICS = {"auc", "accuracy", "precision", "recall", "f1", "log_loss", "rmse", "mae", "r2"}
METRICS = {"drift", "prediction drift", "error rate", "p50", "p90", "p95", "p99", "requests"} | OUTCOME_METRICS
MIN_OUTCOMES = 30
_RULE = re.compile(
    r"^\s*(?P<metric>[a-z][a-z0-9_ ]*?)\s*(?P<op>>=|<=|>|<)\s*(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>%|ms|s)?"
    r"(?:\s+on\s+(?P<scope>any feature|[A-Za-z_][\w.\-]*))?"
    r"(?:\s+over\s+(?P<window>\d+(?:\.\d+)?)\s*(?P<window_unit>[smhd]))?\s*$"
)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class AlertRuleError(WorkbenchError):
    """A rule of the alerts file cannot be read."""


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str
    op: str
    value: float  # in base units: a fraction for %, milliseconds for latency
    scope: str | None = None  # feature name, "any feature", or None
    window: float | None = None  # seconds of `over WINDOW`
    window_text: str | None = None  # as written: "1d"

    def compare(self, measured: float) -> bool:
        return {">": measured > self.value, ">=": measured >= self.value,
                "<": measured < self.value, "<=": measured <= self.value}[self.op]


@dataclass(frozen=True)
class Alert:
    rule: str
    measured: float
    subject: str  # what it fired on: a feature, "predictions", "requests"

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject} = {self.measured:.4g}"


def parse_rule(text: str, source: str = "checks.yaml") -> Rule:
    m = _RULE.match(text)
    if not m:
        raise AlertRuleError(f"{source}: cannot read the alert rule {text!r}",
                             hint="write `METRIC > VALUE [unit] [on any feature|on FEATURE] [over WINDOW]`, "
                                  "e.g. `drift > 0.2 on any feature`, `error rate > 1%`, `p99 > 200 ms`, "
                                  "`auc < 0.7 over 1d`")
    metric = m["metric"].strip()
    if metric not in METRICS:
        raise AlertRuleError(f"{source}: unknown metric {metric!r} in alert rule {text!r}",
                             hint="one of: " + ", ".join(sorted(METRICS)))
    value, unit = float(m["value"]), m["unit"]
    if unit == "%":
        value /= 100
    elif unit == "s":
        value *= 1000
    if metric in ("p50", "p90", "p95", "p99") and unit not in ("ms", "s"):
        raise AlertRuleError(f"{source}: latency rule {text!r} needs a unit", hint=f"e.g. `{metric} > 200 ms`")
    scope = m["scope"]
    if scope and metric != "drift":
        raise AlertRuleError(f"{source}: only `drift` rules take `on ...`: {text!r}",
                             hint=f"drop `on {scope}`: {metric} is measured over all requests")
    if metric == "drift" and not scope:
        scope = "any feature"
    window = float(m["window"]) * _SECONDS[m["window_unit"]] if m["window"] else None
    if window is not None and window <= 0:
        raise AlertRuleError(f"{source}: the window of {text!r} must be longer than 0", hint="e.g. `over 1d`")
    window_text = f"{m['window']}{m['window_unit']}" if m["window"] else None
    return Rule(text.strip(), metric, m["op"], value, scope, window, window_text)


def parse_rules(section: Any, source: str = "checks.yaml") -> tuple[list[Rule], str | None]:
    """(rules, webhook URL) from an `alerts:` section (a list, or a mapping with rules/webhook)."""
    webhook = None
    if section is None:
        items = DEFAULT_RULES
    elif isinstance(section, dict):
        items = section.get("rules", DEFAULT_RULES)
        webhook = section.get("webhook")
    else:
        items = section
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise AlertRuleError(f"{source}: `alerts:` must be a list of rules such as `- error rate > 1%`")
    return [parse_rule(i, source) for i in items], webhook


def evaluate(rules: list[Rule], measured: dict[str, Any]) -> list[Alert]:
    """Fired alerts. `measured`: {"drift": {feature: psi}, "prediction drift": psi, "error rate": f,
    "p99": ms, ..., "requests": n}; a metric not measured (no traffic, no predictions) does not fire."""
    fired = []
    for rule in rules:
        if rule.metric == "drift":
            per_feature: dict[str, float] = measured.get("drift") or {}
            targets = per_feature.items() if rule.scope == "any feature" else \
                [(rule.scope, per_feature[rule.scope])] if rule.scope in per_feature else []
            fired += [Alert(rule.text, v, f) for f, v in targets if v is not None and rule.compare(v)]
            continue
        if rule.metric in OUTCOME_METRICS:  # {model: value}, models with too few outcomes left out
            per_model: dict[str, float] = measured.get(rule.metric) or {}
            counts: dict[str, int] = measured.get("outcomes") or {}
            least = measured.get("min outcomes", MIN_OUTCOMES)
            fired += [Alert(rule.text, v, m) for m, v in sorted(per_model.items())
                      if v is not None and counts.get(m, 0) >= least and rule.compare(v)]
            continue
        value = measured.get(rule.metric)
        if value is not None and rule.compare(float(value)):
            subject = "predictions" if rule.metric == "prediction drift" else "requests"
            fired.append(Alert(rule.text, float(value), subject))
    return fired


def post_webhook(url: str, payload: dict, timeout: float = 10) -> str | None:
    """POST the alerts as JSON; None on success, else why it failed (monitoring goes on)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            if reply.status >= 300:
                return f"webhook answered {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"webhook {url} unreachable: {exc}"
    return None
