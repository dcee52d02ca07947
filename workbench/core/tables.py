"""Plain tables, the one renderer for the CLI, the magics and reports: text for terminals,
HTML for a notebook's rich output, Markdown for the model card."""

from __future__ import annotations

import html
from collections.abc import Sequence


def text_table(headers: Sequence | None, rows, *, align: str = "",
               max_width: int | Sequence[int | None] | None = None) -> str:
    """Columns padded to their widest cell, two spaces apart, a rule of dashes under the header;
    for terminals and magics. Trailing blanks are stripped from every line.

    - `headers`: None for the rows alone (no header, no rule);
    - `align`: one character per column, `<` (left, the default for a column not given) or `>`;
    - `max_width`: a cap on every column's width, or one cap per column (None: none); a longer
      cell is cut to it.
    """
    head = None if headers is None else [str(h) for h in headers]
    body = [[str(v) for v in r] for r in rows]
    columns = list(zip(*([head] if head is not None else []), *body))
    widths = [max(len(x) for x in col) for col in columns]
    caps = max_width if isinstance(max_width, Sequence) else [max_width] * len(widths)
    widths = [w if cap is None else min(w, cap) for w, cap in zip(widths, caps)]
    aligns = align.ljust(len(widths), "<")

    def fmt(values):
        return "  ".join(v[:w].rjust(w) if a == ">" else v[:w].ljust(w)
                         for v, w, a in zip(values, widths, aligns)).rstrip()

    lines = [] if head is None else [fmt(head), fmt(["-" * w for w in widths])]
    return "\n".join(lines + [fmt(r) for r in body])


def html_table(headers, rows) -> str:
    """The same table for a notebook's rich output, every cell escaped."""
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_table(headers, rows) -> list[str]:
    """The lines of a Markdown (GitHub) table, cells as they are."""
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]
