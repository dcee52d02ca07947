"""`workbench feedback MODEL labels.csv`: observed outcomes from a table, joined by request id.

Outcomes often arrive in bulk from a warehouse export rather than one POST at a time. The table
(CSV or Parquet) needs the request id column (the `X-Workbench-Request-Id` the server returned,
which the caller stored with its own record) and the outcome column; a row column is optional for
requests of several rows. Rows are appended to the serving folder's feedback log exactly as
`POST /feedback` would (deploy/serving/feedback.py), so `workbench monitor` treats both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import WorkbenchError

__all__ = ["LabelsImport", "import_labels"]


@dataclass
class LabelsImport:
    written: int
    matched: int        # ids found in the request log
    path: Path


def _read_table(path: Path):
    import pandas as pd

    if not path.is_file():
        raise WorkbenchError(f"{path}: no such file", hint="give the CSV or Parquet file with the observed outcomes")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path}: not a readable CSV file ({exc})",
                             hint="give a CSV with a header row, or a .parquet file") from None


def import_labels(spec: str, root: Path, table: Path, id_column: str, label_column: str,
                  row_column: str | None = None, name: str | None = None) -> LabelsImport:
    """Append the table's outcomes to the feedback log of the served model `spec`."""
    from workbench.deploy.serving import models
    from workbench.deploy.serving.feedback import FEEDBACK_DIR, FeedbackLog, parse_feedback
    from workbench.deploy.serving.server import SERVING_DIR, model_slug
    from workbench.monitor.report import read_log
    from workbench.provenance.tracking import default_tracking_uri

    frame = _read_table(Path(table))
    missing = [c for c in (id_column, label_column, row_column) if c and c not in frame.columns]
    if missing:
        raise WorkbenchError(f"{table}: no column {', '.join(map(repr, missing))}",
                             hint=f"its columns: {', '.join(map(str, frame.columns))}; name them with "
                                  "--id-column and --label-column")
    if name is None:
        name = models.resolve(spec, root, default_tracking_uri(root)).name
    folder = Path(root) / SERVING_DIR / model_slug(name)
    if not folder.is_dir():
        raise WorkbenchError(f"no request log for {model_slug(name)} under {folder}",
                             hint=f"the ids come from served requests: serve it first (workbench serve {spec})")
    frame = frame.dropna(subset=[id_column, label_column])
    items = [{"id": str(rid), "outcome": _plain(label),
              **({"row": int(row)} if row_column else {})}
             for rid, label, row in zip(frame[id_column], frame[label_column],
                                        frame[row_column] if row_column else [None] * len(frame))]
    if not items:
        raise WorkbenchError(f"{table}: no rows with both {id_column} and {label_column}")
    try:
        parsed = parse_feedback(items)
    except WorkbenchError as exc:
        raise WorkbenchError(f"{table}: {exc.message}", hint=exc.hint) from None
    logged = {line.get("id") for line in read_log(folder)}
    path = folder / FEEDBACK_DIR / f"labels-{time.strftime('%Y%m%d-%H%M%S')}-{Path(table).stem}.jsonl"
    FeedbackLog(path).append(parsed, f"file:{Path(table).name}")
    return LabelsImport(len(parsed), sum(1 for i in parsed if i["id"] in logged), path)


def _plain(value):
    """NumPy scalars as Python ones (JSON)."""
    return value.item() if hasattr(value, "item") else value
