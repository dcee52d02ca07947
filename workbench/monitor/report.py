"""`workbench monitor`: is the served model still seeing the world it was trained on?

Reads what `workbench serve` logged (`.workbench/serving/<name>/*.jsonl`, see serving_log.py) since
a given time, compares the served inputs and predictions with the training profile packaged with
the model (drift.py), measures the service (requests, error rate, latency percentiles), checks the
alert rules (alerts.py; the `alerts:` section of the pipeline's checks.yaml), writes an HTML report
with a plot per drifted feature, and logs all of it to MLflow (experiment `workbench/monitor/<name>`).

When a rule fires: exit status 1, a POST to the webhook if one is configured, and with `--retrain`
the loop closes (workflows/retrain.py, given to `monitor` as its `retrain` callback): the pipeline
runs again on the newest data version (`dvc pull` where a remote holds newer data, then a forced
run), its model goes through the gate against the champion, and if it passes it is packaged,
registered and proposed as `challenger` (promoting it stays a decision: `workbench promote NAME
--alias champion`). Each step is tracked.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

MONITORING_DIR = Path(".workbench") / "monitoring"

Retrain = Callable[[Path, Path, str], dict]  # (pipeline folder, project root, model name) -> the steps taken


class MonitorError(WorkbenchError):
    """Monitoring cannot run as asked."""


@dataclass
class ServiceStats:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass
class MonitorResult:
    name: str
    since: float | None
    service: ServiceStats
    drift: Any  # drift.DriftReport | None
    alerts: list  # alerts.Alert
    report: Path | None = None
    mlflow_run_id: str | None = None
    retrain: dict | None = None
    notes: list[str] = field(default_factory=list)
    outcomes: Any = None  # outcomes.OutcomeReport | None: metrics on joined outcomes
    ab: Any = None        # outcomes.ABTest | None: with A/B serving
    min_outcomes: int = 30

    def measured(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self.service.requests, "error rate": self.service.error_rate}
        if self.outcomes is not None:
            out.update(self.outcomes.values())
            out["outcomes"] = self.outcomes.counts()
            out["min outcomes"] = self.min_outcomes
        out.update(self.service.latency_ms)
        if self.drift is not None:
            out["drift"] = {f.feature: (f.psi if f.kind != "missing" else float("inf"))
                            for f in self.drift.features if f.psi is not None or f.kind == "missing"}
            if self.drift.predictions is not None:
                out["prediction drift"] = self.drift.predictions.psi
        return out


# -- reading the request log ---------------------------------------------------------------------

def parse_since(text: str | None, now: float | None = None) -> float | None:
    """`30m`, `2h`, `7d`, an ISO date/time, or epoch seconds -> epoch seconds."""
    if not text:
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if m:
        return now - float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise MonitorError(f"--since {text!r}: not a time", hint="write 30m, 2h, 7d, 2026-11-23T10:00 or epoch seconds") from None


def read_log(folder: Path, since: float | None = None) -> list[dict]:
    lines = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for raw in fh:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # a line cut by a crash: skip it
                if since is None or (line.get("ts") or 0) >= since:
                    lines.append(line)
    return lines


def served_frame(lines: list[dict]):
    """The rows the model scored (answered requests), and one prediction per row where possible."""
    import pandas as pd

    frames, predictions = [], []
    for line in lines:
        if (line.get("status") or 500) >= 400 or not line.get("inputs"):
            continue
        inputs = line["inputs"]
        frame = pd.DataFrame(inputs.get("data") or [], columns=inputs.get("columns") or None)
        frames.append(frame)
        preds = _row_predictions(line.get("predictions"), len(frame))
        predictions.extend(preds if preds is not None else [None] * len(frame))
    if not frames:
        return pd.DataFrame(), []
    return pd.concat(frames, ignore_index=True), predictions


def _row_predictions(predictions: Any, rows: int) -> list | None:
    if isinstance(predictions, dict):  # {"predictions": [...]} or a column dict
        predictions = predictions.get("predictions", next(iter(predictions.values()), None))
    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    out = []
    for p in predictions:
        if isinstance(p, list):  # probabilities per class: the positive class
            p = p[-1] if p else None
        elif isinstance(p, dict):
            p = next(iter(p.values()), None)
        out.append(p)
    return out


def service_stats(lines: list[dict]) -> ServiceStats:
    import numpy as np

    stats = ServiceStats(requests=len(lines), errors=sum(1 for x in lines if (x.get("status") or 500) >= 400),
                         rows=sum(x.get("n_rows") or 0 for x in lines))
    latencies = [x["latency_ms"] for x in lines if isinstance(x.get("latency_ms"), int | float)]
    if latencies:
        for q in (50, 90, 95, 99):
            stats.latency_ms[f"p{q}"] = float(np.percentile(latencies, q))
    return stats


# -- the report ----------------------------------------------------------------------------------

def _plot(feature) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8), dpi=90)
    xs = range(len(feature.bins))
    width = 0.4
    ax.bar([x - width / 2 for x in xs], feature.expected, width, label="training")
    ax.bar([x + width / 2 for x in xs], feature.actual, width, label="served")
    ax.set_xticks(list(xs), feature.bins, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("fraction of rows")
    ax.set_title(f"{feature.feature}: {feature.why}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(result: MonitorResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    parts = [f"<html><head><meta charset='utf-8'><title>Monitoring {esc(result.name)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.alert{color:#b00}</style></head><body>",
             f"<h1>Monitoring {esc(result.name)}</h1>",
             f"<p>{result.service.requests} requests, {result.service.rows} rows"
             + (f" since {time.strftime('%Y-%m-%d %H:%M', time.localtime(result.since))}" if result.since else "")
             + "</p>"]
    if result.alerts:
        parts.append("<h2 class='alert'>Alerts</h2><ul>" + "".join(f"<li class='alert'>{esc(str(a))}</li>"
                                                                   for a in result.alerts) + "</ul>")
    else:
        parts.append("<h2>No alert</h2>")
    s = result.service
    parts.append("<h2>Service</h2><table><tr><th>requests</th><th>errors</th><th>error rate</th>"
                 + "".join(f"<th>{k} (ms)</th>" for k in s.latency_ms) + "</tr><tr>"
                 + f"<td>{s.requests}</td><td>{s.errors}</td><td>{_pct(s.error_rate)}</td>"
                 + "".join(f"<td>{v:.1f}</td>" for v in s.latency_ms.values()) + "</tr></table>")
    if result.drift is not None:
        parts.append("<h2>Drift from the training data</h2><table><tr><th>feature</th><th>kind</th><th>rows</th>"
                     "<th>PSI</th><th>test</th><th>p-value</th><th>drifted</th></tr>")
        for f in result.drift.all():
            parts.append(f"<tr><td>{esc(f.feature)}</td><td>{f.kind}</td><td>{f.rows}</td><td>{_num(f.psi)}</td>"
                         f"<td>{f.test or '-'}</td><td>{_num(f.p_value)}</td>"
                         f"<td class='{'alert' if f.drifted else ''}'>{esc(f.why) if f.drifted else 'no'}</td></tr>")
        parts.append("</table>")
        for f in result.drift.drifted:
            if not f.bins:
                continue
            png = _plot(f)
            safe = re.sub(r"[^\w.-]", "_", f.feature)
            (folder / f"drift_{safe}.png").write_bytes(png)
            parts.append(f"<h3>{esc(f.feature)}</h3><img src='data:image/png;base64,"
                         f"{base64.b64encode(png).decode()}'>")
    if result.outcomes is not None:
        parts.append(f"<h2>Outcomes</h2><p>{result.outcomes.joined} row(s) with an observed outcome "
                     f"({result.outcomes.feedback} feedback line(s)); 95% confidence intervals</p>"
                     "<table><tr><th>model</th><th>metric</th><th>live</th><th>95% CI</th><th>n</th><th>training</th></tr>")
        for model, estimates in result.outcomes.per_model.items():
            for e in estimates:
                ci = "-" if e.low is None else f"[{e.low:.3f}, {e.high:.3f}]"
                parts.append(f"<tr><td>{esc(model)}</td><td>{e.metric}</td><td>{_num(e.value)}</td><td>{ci}</td>"
                             f"<td>{e.n}</td><td>{_num(e.training)}</td></tr>")
        parts.append("</table>")
    if result.ab is not None:
        parts.append(f"<h2>A/B test</h2><p>{esc(result.ab.summary())}</p>")
    for note in result.notes:
        parts.append(f"<p><i>{esc(note)}</i></p>")
    parts.append("</body></html>")
    path = folder / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


# -- the whole check -----------------------------------------------------------------------------

def monitor(spec: str, root: Path, *, since: str | None = None, rules_file: Path | None = None,
            webhook: str | None = None, retrain: Retrain | None = None, track: bool = True,
            progress: Callable[[str], None] = lambda m: None) -> MonitorResult:
    """Check the served model `spec`. `retrain(pipeline, root, model name) -> steps dict` is called
    when a rule fires (workflows.retrain.retrain: monitoring sits below the workflows)."""
    from workbench.deploy.serving import models as models
    from workbench.deploy.serving.feedback import read_feedback
    from workbench.deploy.serving.server import SERVING_DIR, model_slug
    from workbench.monitor import alerts as al
    from workbench.monitor import outcomes as oc
    from workbench.monitor.drift import drift_report
    from workbench.provenance.tracking import default_tracking_uri

    uri = default_tracking_uri(root)
    ref = models.resolve(spec, root, uri)
    name = model_slug(ref.name)
    folder = root / SERVING_DIR / name
    if not folder.is_dir():
        raise MonitorError(f"no request log for {name} under {folder}",
                           hint=f"serve it first: workbench serve {spec}")
    started = parse_since(since)
    lines = read_log(folder, started)
    progress(f"read {len(lines)} logged request(s) of {name}")
    profile_path = folder / "training_profile.json"
    profile = json.loads(profile_path.read_text()) if profile_path.is_file() else models.training_profile(ref, uri)
    pipeline = _pipeline_of(ref, root)
    rules, configured_hook = _rules(rules_file, pipeline)
    settings = _settings(rules_file, pipeline)
    feedback = read_feedback(folder)
    training = _training_metrics(ref, uri) if feedback else {}

    def measure(subset: list[dict]) -> MonitorResult:
        out = MonitorResult(name, started, service_stats(subset), None, [], min_outcomes=settings["min_outcomes"])
        frame, predictions = served_frame(subset)
        if profile is not None and len(frame):
            out.drift = drift_report(profile, frame, [p for p in predictions if p is not None] or None)
        if feedback:
            joined = oc.join(subset, feedback)
            out.outcomes = oc.measure(joined, training)
            out.ab = oc.ab_test(joined, settings["ab"], training, settings["min_outcomes"])
        return out

    result = measure(lines)
    if profile is None:
        result.notes.append("the model carries no training profile (package it with `workbench package`): "
                            "no drift measured")
    if result.outcomes is not None and result.outcomes.unmatched:
        result.notes.append(f"{result.outcomes.unmatched} request id(s) with feedback are not in the request log "
                            "read (another model, or before --since)")
    result.alerts = al.evaluate([r for r in rules if r.window is None], result.measured())
    now = time.time()
    for window in sorted({r.window for r in rules if r.window is not None}):
        cut = max(started or 0.0, now - window)
        windowed = measure([x for x in lines if (x.get("ts") or 0) >= cut])
        result.alerts += al.evaluate([r for r in rules if r.window == window], windowed.measured())
    result.report = write_report(result, root / MONITORING_DIR / name / time.strftime("%Y%m%d-%H%M%S"))
    hook = webhook or configured_hook
    if result.alerts and hook:
        problem = al.post_webhook(hook, {"model": ref.label, "alerts": [str(a) for a in result.alerts],
                                         "report": str(result.report)})
        result.notes.append(problem or f"alerts posted to {hook}")
    if result.alerts and retrain:
        if pipeline is None:
            result.notes.append("--retrain: cannot tell which pipeline made this model")
        else:
            result.retrain = retrain(pipeline, root, ref.name)
    if track:
        result.mlflow_run_id = _track(result, root, uri, ref)
    return result


def _pipeline_of(ref, root: Path) -> Path | None:
    """The pipeline folder that made the model: its version's tags, else pipelines/<name>."""
    for key in ("workbench.pipeline_dir", "workbench.pipeline"):
        value = (ref.tags or {}).get(key)
        if value:
            for candidate in (root / value, root / "pipelines" / value):
                if (candidate / "pipeline.yaml").is_file():
                    return candidate
    candidate = root / "pipelines" / ref.name
    return candidate if (candidate / "pipeline.yaml").is_file() else None


def _rules(rules_file: Path | None, pipeline: Path | None):
    from workbench.monitor import alerts as al
    from workbench.quality.checks import read_checks

    if rules_file is not None and not rules_file.is_file():
        raise MonitorError(f"{rules_file}: no such file", hint="give the YAML file that holds the `alerts:` rules")
    path = rules_file or (pipeline / "checks.yaml" if pipeline is not None else None)
    section = read_checks(path).get("alerts") if path is not None else None
    return al.parse_rules(section, str(path or "defaults"))


def _settings(rules_file: Path | None, pipeline: Path | None) -> dict[str, Any]:
    """`ab:` (significance level, power, ...) and `outcomes: {min_outcomes}` of the checks file."""
    from workbench.monitor.alerts import MIN_OUTCOMES
    from workbench.monitor.outcomes import ABSettings
    from workbench.quality.checks import read_checks

    path = rules_file or (pipeline / "checks.yaml" if pipeline is not None else None)
    checks = read_checks(path) if path is not None and path.is_file() else {}
    section = checks.get("outcomes") or {}
    least = section.get("min_outcomes", MIN_OUTCOMES) if isinstance(section, dict) else None
    if not isinstance(least, int) or isinstance(least, bool) or least < 1:
        raise MonitorError(f"{path}: `outcomes: min_outcomes` must be a positive whole number",
                           hint="e.g. outcomes: {min_outcomes: 30}")
    return {"ab": ABSettings.from_section(checks.get("ab"), str(path)), "min_outcomes": least}


def _training_metrics(ref, uri: str) -> dict[str, float]:
    """The metrics of the run that trained the model version (MLflow), for the same names live."""
    if not ref.run_id:
        return {}
    from workbench.provenance.tracking import mlflow_client, mlflow_session, translate_errors

    try:
        with mlflow_session(), translate_errors(uri, "read the training run's metrics"):
            return {k: float(v) for k, v in mlflow_client(uri).get_run(ref.run_id).data.metrics.items()}
    except Exception:  # noqa: BLE001 - without them the default metrics are measured
        return {}


def _track(result: MonitorResult, root: Path, uri: str, ref) -> str | None:
    from workbench.provenance.tracking import experiment_for, mlflow_client, mlflow_session, translate_errors

    try:
        with mlflow_session(), translate_errors(uri, "log the monitoring run"):
            client = mlflow_client(uri)
            experiment = experiment_for(client, f"monitor/{result.name}", None)
            run = client.create_run(experiment, run_name=f"monitor {time.strftime('%Y-%m-%d %H:%M')}",
                                    tags={"workbench.kind": "monitor", "workbench.model": ref.label,
                                          "workbench.alerts": "; ".join(str(a) for a in result.alerts)[:5000],
                                          **({"workbench.retrain": json.dumps(result.retrain, default=str)[:5000]}
                                             if result.retrain else {})})
            metrics = {"requests": result.service.requests, "error_rate": result.service.error_rate,
                       "alerts": len(result.alerts)}
            metrics.update({f"latency_{k}_ms": v for k, v in result.service.latency_ms.items()})
            if result.outcomes is not None:
                metrics["outcomes_joined"] = result.outcomes.joined
                for model, estimates in result.outcomes.per_model.items():
                    for e in estimates:
                        metrics[f"live/{e.metric}/{model}"] = e.value
            if result.ab is not None:
                metrics["ab_p_value"] = result.ab.p_value
                metrics["ab_difference"] = result.ab.difference
            if result.drift is not None:
                for f in result.drift.all():
                    if f.psi is not None:
                        metrics[f"psi/{f.feature}"] = f.psi
                    if f.p_value is not None:
                        metrics[f"p_value/{f.feature}"] = f.p_value
            stamp = int(time.time() * 1000)
            for key, value in metrics.items():
                if value is not None:
                    client.log_metric(run.info.run_id, re.sub(r"[^\w./ -]", "_", key), float(value), stamp)
            if result.report is not None:
                client.log_artifacts(run.info.run_id, str(result.report.parent), "monitoring")
            client.set_terminated(run.info.run_id, "FINISHED")
            return run.info.run_id
    except WorkbenchError as exc:
        result.notes.append(f"not logged to MLflow: {exc.message}")
        return None
