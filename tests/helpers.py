"""Shared test helpers: write small notebooks on disk.

`write_notebook(path, cells)` writes a valid nbformat 4.5 notebook (cell ids `c000`, `c001`, ...,
python3 kernelspec). Each cell is one of:

- a string: a code cell with no tags;
- a tuple `(source, tags)`: a code cell with those tags (a list of strings, or one string);
- a dict: a cell given field by field, e.g. `{"cell_type": "markdown", "source": "# Title"}`;
  missing fields (`cell_type` code, `id`, `metadata`, `outputs`, `execution_count`) are filled in,
  `tags` may be given at the top level as a shortcut for `metadata.tags`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _source_lines(source: str) -> list[str]:
    """Jupyter's on-disk form: a list of lines, each but the last ending in a newline."""
    return source.splitlines(keepends=True)


def make_cell(cell, index: int) -> dict:
    if isinstance(cell, str):
        cell = {"source": cell}
    elif isinstance(cell, tuple):
        source, tags = cell
        cell = {"source": source, "tags": [tags] if isinstance(tags, str) else list(tags)}
    elif isinstance(cell, dict):
        cell = dict(cell)
    else:
        raise TypeError(f"a cell is a str, a (source, tags) tuple or a dict, not {type(cell).__name__}")
    tags = cell.pop("tags", None)
    out: dict = {
        "cell_type": cell.pop("cell_type", "code"),
        "id": cell.pop("id", f"c{index:03d}"),
        "metadata": dict(cell.pop("metadata", {})),
    }
    if tags is not None:
        out["metadata"]["tags"] = list(tags)
    source = cell.pop("source", "")
    out["source"] = _source_lines(source) if isinstance(source, str) else list(source)
    if out["cell_type"] == "code":
        out["execution_count"] = cell.pop("execution_count", None)
        out["outputs"] = list(cell.pop("outputs", []))
    out.update(cell)  # anything else given explicitly (e.g. attachments)
    return out


def notebook_dict(cells, metadata: dict | None = None) -> dict:
    meta = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    meta.update(metadata or {})
    return {
        "cells": [make_cell(c, i) for i, c in enumerate(cells)],
        "metadata": meta,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path, cells, metadata: dict | None = None) -> Path:
    """Write `cells` as an nbformat 4.5 notebook at `path` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook_dict(cells, metadata), indent=1) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def webhook():
    """A real HTTP endpoint on 127.0.0.1 that keeps the JSON POSTed to it: (url, received)."""
    received: list = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
