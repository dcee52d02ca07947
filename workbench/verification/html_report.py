"""`verify --html FILE`: the report as one HTML page, each difference with both sides.

A frame (pandas DataFrame or Series) is shown as two tables with the cells that differ marked; an
image output as the two PNGs side by side; any other value or text as a difflib side-by-side diff.
Then the full table, every detail whole.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path

STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top;font-family:monospace}
td.changed{background:#fdd}.side{display:inline-block;vertical-align:top;margin-right:2em}
.different{color:#b00}.nondeterministic{color:#a60}.equal{color:#070}
table.diff td{font-size:90%}.diff_add{background:#dfd}.diff_chg{background:#ffa}.diff_sub{background:#fdd}"""


def _frame_table(frame, other) -> str:
    """`frame` as an HTML table, cells that differ from `other` (same position) marked."""
    import pandas as pd

    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    od = other.to_frame() if isinstance(other, pd.Series) else other
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "</tr>"
    body = []
    for i, (label, row) in enumerate(df.iterrows()):
        cells = []
        for j, value in enumerate(row):
            try:
                theirs = od.iat[i, j]
                same = (value == theirs) or (value != value and theirs != theirs)  # NaN equals NaN here
                same = bool(same)
            except Exception:  # noqa: BLE001 - outside the other frame, or not comparable
                same = False
            cls = "" if same else " class='changed'"
            cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        body.append(f"<tr><th>{html.escape(str(label))}</th>{''.join(cells)}</tr>")
        if i >= 500:
            body.append("<tr><td>… (first 500 rows)</td></tr>")
            break
    return f"<table>{head}{''.join(body)}</table>"


def _text(value) -> str:
    import pprint

    return value if isinstance(value, str) else pprint.pformat(value, width=100)


def _text_diff(a: str, b: str, left: str, right: str) -> str:
    return difflib.HtmlDiff(wrapcolumn=100).make_table(a.splitlines(), b.splitlines(), left, right,
                                                       context=True, numlines=3)


def _sides(left: str, right: str, a: str, b: str) -> str:
    return (f"<div class='side'><b>{html.escape(left)}</b>{a}</div>"
            f"<div class='side'><b>{html.escape(right)}</b>{b}</div>")


def value_sides(expected, actual) -> str:
    try:
        import pandas as pd

        if isinstance(expected, (pd.DataFrame, pd.Series)) and isinstance(actual, (pd.DataFrame, pd.Series)):
            return _sides("notebook", "pipeline", _frame_table(expected, actual), _frame_table(actual, expected))
    except ImportError:
        pass
    return _text_diff(_text(expected), _text(actual), "notebook", "pipeline")


def shown_sides(expected, actual) -> str:
    """Both sides of a cell's displayed output (outputs.Shown lists)."""
    def one(items) -> str:
        parts = []
        for s in items:
            if s.kind == "image/png":
                parts.append(f"<div><img src='data:image/png;base64,{s.value}'></div>")
            elif s.kind == "text/html":
                parts.append(f"<div>{s.value}</div>")
            else:
                parts.append(f"<pre>{html.escape(s.value)}</pre>")
        return "".join(parts) or "<p>(nothing)</p>"

    images = any(s.kind in ("image/png", "text/html") for s in [*expected, *actual])
    if images:
        return _sides("notebook", "pipeline", one(expected), one(actual))
    a = "\n".join(s.value for s in expected)
    b = "\n".join(s.value for s in actual)
    return _text_diff(a, b, "notebook", "pipeline")


def _load(folder: Path | None, task: str, name: str):
    from workbench.runtime import load

    if folder is None:
        return None
    try:
        return load(folder / task / name)
    except Exception:  # noqa: BLE001 - a missing product is shown as such
        return "(not there)"


def write_html(report, plan, path: Path) -> Path:
    rows = report.rows
    sections = []
    for r in rows:
        if r.status not in ("different", "nondeterministic"):
            continue
        title = f"{html.escape(r.task)} · {html.escape(r.variable)}: <span class='{r.status}'>{r.status}</span>"
        if r.kind == "output" and r.shown:
            body = shown_sides(*r.shown)
        else:
            products = report.pipeline / "products" if report.pipeline else None
            body = value_sides(_load(report.snapshots, r.task, r.variable), _load(products, r.task, r.variable))
        sections.append(f"<h3>{title}</h3><p>{html.escape(r.detail)}</p>{body}")
    table = "".join(f"<tr><td>{html.escape(r.variable)}</td><td>{html.escape(r.task)}</td>"
                    f"<td class='{r.status}'>{html.escape(r.status)}</td><td>{html.escape(r.detail)}</td></tr>"
                    for r in rows)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>workbench verify {html.escape(plan.notebook)}"
            f"</title><style>{STYLE}</style></head><body><h1>workbench verify {html.escape(plan.notebook)}</h1>"
            f"<pre>{html.escape(report.summary())}</pre><h2>Differences</h2>"
            + ("".join(sections) or "<p>none</p>")
            + "<h2>Every value and output</h2><table><tr><th>variable</th><th>task</th><th>result</th>"
            f"<th>detail</th></tr>{table}</table></body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path.resolve()
