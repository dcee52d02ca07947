"""The model card: what a packaged model is for, what made it, how good it is, where it stops.

A pure renderer from plain facts to Markdown, so that the card can be tested without a model and
so that the package command, the server extension and any later retraining job write the same
card. Facts the run did not provide are shown as such ("not recorded") rather than left out: a
reader must be able to tell "no data versions" from "the card forgot them".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.core.tables import markdown_table


@dataclass
class OnnxFacts:
    """What the ONNX export gave: a file with a parity check, or why there is none."""

    path: str | None = None
    passed: bool | None = None
    max_abs_diff: float | None = None
    tolerance: float | None = None
    rows: int = 0
    compared: str = ""  # what was compared, e.g. "predict_proba"
    reason: str = ""  # why there is no ONNX file (empty when there is one)


@dataclass
class CardFacts:
    """Everything the card says, already gathered (no I/O happens while rendering)."""

    name: str
    title: str
    description: str
    pipeline: str
    run_id: str
    flavor: str
    model_variable: str
    model_class: str
    output: str  # what `predict` returns
    input_columns: list[str] = field(default_factory=list)
    features_function: str | None = None
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    metrics_task: str | None = None
    data: dict = field(default_factory=dict)  # path -> DVC md5
    git_commit: str | None = None
    git_dirty: bool | None = None
    notebook: str = ""
    notebook_sha256: str = ""
    training_rows: int | None = None
    ranges: dict = field(default_factory=dict)  # input column -> (min, max) seen in training
    onnx: OnnxFacts | None = None
    registered: str | None = None  # "NAME version N", or None when not registered
    requirements: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    fairness: dict | None = None  # fairness.FairnessResult.to_dict(): the metric per sensitive group


def _value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return f"{v!r}" if isinstance(v, str) else str(v)


def _table(head: tuple, rows: list[tuple], empty: str) -> list[str]:
    return markdown_table(head, rows) if rows else [empty]


def onnx_summary(onnx: OnnxFacts | None) -> str:
    """One line on the ONNX export, for the card and for the CLI."""
    if onnx is None:
        return "not attempted"
    if not onnx.path:
        return f"none: {onnx.reason}"
    verdict = "passed" if onnx.passed else "FAILED"
    return (f"{onnx.path}: parity {verdict} on {onnx.rows} training rows ({onnx.compared}, max abs "
            f"difference {onnx.max_abs_diff:.3g}, tolerance {onnx.tolerance:g})")


def default_limitations(facts: CardFacts) -> list[str]:
    """The limitations every model has and the card can state from the facts alone."""
    out = []
    if facts.ranges:
        spans = ", ".join(f"{c} {_value(lo)}..{_value(hi)}" for c, (lo, hi) in facts.ranges.items())
        out.append(f"Trained on inputs in these ranges: {spans}. Scores outside them are extrapolations.")
    if facts.training_rows:
        out.append(f"Fitted on {facts.training_rows} rows; it reflects that sample, not the population "
                   "it came from.")
    if facts.metrics:
        out.append("The metrics were measured once, on the held-out split the notebook evaluates; they are "
                   "an estimate with sampling error, not a guarantee.")
    else:
        out.append("The run reported no metrics: the model's quality is unmeasured.")
    if facts.git_dirty:
        out.append("The code that trained it had uncommitted changes: the commit alone does not reproduce it.")
    if facts.git_commit is None:
        out.append("The project was not at a git commit when it was trained: the code is identified by the "
                   "notebook hash only.")
    return out


def render(facts: CardFacts) -> str:
    """The card as Markdown."""
    lines = [f"# Model card: {facts.name}", ""]
    if facts.title and facts.title != facts.name:
        lines += [f"**{facts.title}**", ""]
    lines += ["## Intended use", "", facts.description or "(the notebook has no description: add one in its "
              "first markdown cell)", ""]

    lines += ["## The model", ""]
    lines.append(f"- `{facts.model_variable}` of pipeline `{facts.pipeline}`: `{facts.model_class}`, "
                 f"packaged as an MLflow `{facts.flavor}` model in `model/`")
    if facts.features_function:
        lines.append(f"- scores **raw rows**: it applies `{facts.features_function}` (the notebook's feature "
                     "code, shipped in `model/code/`) and then the estimator")
    if facts.input_columns:
        lines.append("- input columns: " + ", ".join(f"`{c}`" for c in facts.input_columns))
    lines.append(f"- output: {facts.output}")
    if facts.registered:
        lines.append(f"- registered as {facts.registered}")
    lines.append(f"- ONNX: {onnx_summary(facts.onnx)}")
    lines.append("")

    lines += ["## Metrics", ""]
    where = f" (computed by task `{facts.metrics_task}` on the test split)" if facts.metrics_task else ""
    if facts.metrics:
        lines += [f"From run `{facts.run_id}`{where}.", ""]
    lines += _table(("metric", "value"), [(k, _value(v)) for k, v in sorted(facts.metrics.items())],
                    "No metrics were recorded for this run.")
    lines.append("")

    if facts.fairness:
        f = facts.fairness
        gap = "-" if f.get("gap") is None else f"{f['gap']:.4g}"
        lines += ["## Fairness", "", f"`{f['metric']}` per value of the sensitive column `{f['column']}` "
                  f"(largest gap: {gap}).", ""]
        lines += _table(("group", "rows", f["metric"], "positive rate"),
                        [(g["group"], g["rows"], _value(g["value"]) if g["value"] is not None else "-",
                          _value(g["positive_rate"]) if g["positive_rate"] is not None else "-")
                         for g in f["groups"]], "")
        lines.append("")

    lines += ["## Parameters", ""]
    lines += _table(("parameter", "value"), [(k, _value(v)) for k, v in facts.params.items()],
                    "The notebook has no parameters.")
    lines.append("")

    lines += ["## Training data", ""]
    lines += _table(("path", "DVC md5"), [(f"`{k}`", f"`{v}`") for k, v in sorted(facts.data.items())],
                    "Not recorded: the run was made with `--no-version`, so its data cannot be restored.")
    if facts.data:
        lines += ["", f"`workbench checkout {facts.run_id}` restores exactly this data."]
    lines.append("")

    lines += ["## Limitations", ""]
    lines += [f"- {item}" for item in (facts.limitations or default_limitations(facts))]
    lines.append("")

    commit = facts.git_commit or "not recorded (not a git commit)"
    if facts.git_dirty:
        commit += " + uncommitted changes"
    lines += ["## Lineage", "",
              f"- Workbench run: `{facts.run_id}`",
              f"- git commit: `{commit}`",
              f"- notebook: `{facts.notebook}` (sha256 `{facts.notebook_sha256}`)", ""]
    if facts.requirements:
        lines += ["## Scoring requirements", "", "```", *facts.requirements, "```", ""]
    return "\n".join(lines)
