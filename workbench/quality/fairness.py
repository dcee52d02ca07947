"""Fairness across groups: the evaluation metric per value of a sensitive column, and the gap.

A `sensitive:COLUMN` tag (on the model's or the metrics cell) names a column of the evaluation
rows. After a run, Workbench scores the evaluation rows the metrics task used with the model, splits
them by that column, and reports the metric per group and the largest gap between groups. The gap
is a run metric (`<metric>_gap_<column>`), so the gate bounds it like any other metric:

    gate:
      metrics:
        auc_gap_is_new: {max: 0.05}

and the model card prints the table. Everything is found from the plan: the model is the
`model:VAR` product, the evaluation rows are the frame the metrics task reads that holds the column,
the labels the 1-D product of the same length it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.tables import text_table


class FairnessError(WorkbenchError):
    """The per-group evaluation cannot be made as tagged."""


@dataclass
class GroupRow:
    group: str
    rows: int
    value: float | None  # None: undefined for this group (e.g. AUC with one class)
    positive_rate: float | None = None


@dataclass
class FairnessResult:
    column: str
    metric: str
    groups: list[GroupRow] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        values = [g.value for g in self.groups if g.value is not None]
        return max(values) - min(values) if len(values) >= 2 else None

    @property
    def metric_name(self) -> str:
        return f"{self.metric}_gap_{self.column}"

    def metrics(self) -> dict[str, float]:
        out = {f"{self.metric}_by_{self.column}/{g.group}": g.value for g in self.groups if g.value is not None}
        if self.gap is not None:
            out[self.metric_name] = self.gap
        return out

    def table(self) -> str:
        rows = [(g.group, g.rows, "-" if g.value is None else f"{g.value:.4f}",
                 "-" if g.positive_rate is None else f"{g.positive_rate:.3f}") for g in self.groups]
        table = text_table(("group", "rows", self.metric, "positive rate"), rows, align="<>>>")
        gap = "-" if self.gap is None else f"{self.gap:.4f}"
        return "\n".join([f"{self.metric} by {self.column}:", *(f"  {line}" for line in table.split("\n")),
                          f"  largest gap: {gap} ({self.metric_name})"])

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "metric": self.metric, "gap": self.gap,
                "groups": [g.__dict__ for g in self.groups]}


def group_metrics(y_true, scores, groups, metric: str = "auc", column: str = "group") -> FairnessResult:
    """`metric` per group: auc (scores), accuracy (scores thresholded at 0.5 unless labels)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score

    y = np.asarray(y_true)
    s = np.asarray(scores)
    g = np.asarray(groups)
    result = FairnessResult(column, metric)
    for value in sorted(set(g.tolist()), key=str):
        mask = g == value
        yt, sc = y[mask], s[mask]
        labels = (sc > 0.5).astype(int) if sc.dtype.kind == "f" else sc
        if metric == "auc":
            val = float(roc_auc_score(yt, sc)) if len(set(yt.tolist())) == 2 else None
        elif metric == "accuracy":
            val = float(accuracy_score(yt, labels))
        elif metric == "positive_rate":
            val = float(np.mean(labels))
        else:
            raise FairnessError(f"unknown fairness metric {metric!r}", hint="use auc, accuracy or positive_rate")
        result.groups.append(GroupRow(str(value), int(mask.sum()), val, float(np.mean(labels))))
    return result


def sensitive_columns(plan) -> list[str]:
    return sorted({c for t in plan.tasks for c in getattr(t, "sensitive", [])})


def evaluate_run(plan, pipeline: Path, column: str | None = None, metric: str | None = None) -> FairnessResult | None:
    """The per-group table for a pipeline's last products; None when nothing is tagged sensitive."""
    import numpy as np

    from workbench.runtime.fit_capture import read_fit
    from workbench.runtime.products import load

    column = column or next(iter(sensitive_columns(plan)), None)
    if column is None:
        return None
    model_task = next((t for t in plan.tasks if t.model), None)
    metrics_task = next((t for t in plan.tasks if t.metrics), None)
    where = f"sensitive:{column}"
    if model_task is None or metrics_task is None:
        raise FairnessError(f"{plan.notebook}: {where} needs a model (model:VAR tag) and a metrics cell",
                            hint="tag the cell that fits the model `model:VAR` and the evaluation cell `metrics`")
    products = pipeline / "products"
    model = load(products / model_task.name / model_task.model)
    inputs = [load(products / producer / var) for var, producer in metrics_task.inputs.items()]
    frame = next((v for v in inputs if hasattr(v, "columns") and column in v.columns), None)
    if frame is None:
        raise FairnessError(f"{plan.notebook}: no frame with column {column!r} among what task "
                            f"{metrics_task.name!r} reads", hint=f"`{where}` must name a column of the evaluation rows")
    labels = None
    for value in inputs:
        arr = np.asarray(value) if not hasattr(value, "columns") else None
        if arr is not None and arr.ndim == 1 and len(arr) == len(frame):
            labels = arr
            break
    if labels is None:
        raise FairnessError(f"{plan.notebook}: no labels of length {len(frame)} among what task "
                            f"{metrics_task.name!r} reads", hint="the metrics task should read the true labels")
    rows = model_rows(frame, read_fit(products / model_task.name / model_task.model), where)
    if hasattr(model, "predict_proba"):
        scores = np.asarray(model.predict_proba(rows))[:, -1]
    else:
        scores = np.asarray(model.predict(rows))
    metric = metric or ("auc" if "auc" in {m for t in plan.tasks for m in t.metrics} else "accuracy")
    return group_metrics(labels, scores, frame[column].to_numpy(), metric, column)


def model_rows(frame, capture: dict | None, where: str):
    """The evaluation rows as the model takes them: the columns it was fitted on (the run's capture
    of its fit, runtime/fit_capture.py), so that a model fitted on `train[features]` is scored on
    those columns of a frame that also holds the label and the sensitive column. Without a capture
    (a run of an older Workbench) the frame as it is."""
    columns = (capture or {}).get("inputs")
    if not columns:
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FairnessError(f"the evaluation rows lack the model's input columns {', '.join(map(repr, missing))}",
                            hint=f"`{where}` evaluates the frame the metrics task reads: let it hold the columns "
                                 "the model was fitted on")
    return frame[columns]
