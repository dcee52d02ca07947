"""Plain tables, the one renderer for the CLI, the magics and reports."""

from __future__ import annotations

import html


def text_table(headers, rows) -> str:
    """Columns padded to their widest cell, a rule under the header; for terminals and magics."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def fmt(values):
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def html_table(headers, rows) -> str:
    """The same table for a notebook's rich output, every cell escaped."""
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
