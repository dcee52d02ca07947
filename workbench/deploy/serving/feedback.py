"""Observed outcomes of served requests: `POST /feedback` and labels files, kept beside the request log.

A prediction is judged only when the outcome is known, often days later and elsewhere (a customer
churned, a loan defaulted). The server already gives every request an id (`X-Workbench-Request-Id`,
the key of its line in the request log), so an outcome needs nothing but that id:

    POST /feedback  {"id": "<request id>", "outcome": 1}
                    {"id": "<request id>", "outcome": [1, 0, 0]}          # one per row of the request
                    {"id": "<request id>", "row": 2, "outcome": 0}        # one row of it
                    [{"id": ..., "outcome": ...}, ...]  or  {"feedback": [...]}   # a batch

or `workbench feedback MODEL labels.csv --id-column ... --label-column ...` for a labels table.

Both append JSON lines `{"ts", "id", "row", "outcome", "source"}` to
`.workbench/serving/<name>/feedback/*.jsonl` (a subfolder: `monitor` reads `*.jsonl` of the
serving folder as requests). Append-only like the request log, and crash-safe the same way: a line
is written whole, flushed and fsync'ed before the reply says it was accepted, and a reader skips a
line cut by a crash. A later outcome for the same id and row replaces an earlier one when joined
(a correction), nothing is rewritten. `workbench monitor` joins them with the request log
(monitor/outcomes.py).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["FEEDBACK_DIR", "FeedbackError", "FeedbackLog", "feedback_app", "parse_feedback", "read_feedback"]

FEEDBACK_DIR = "feedback"
MAX_BODY = 32 * 1024**2
MAX_ITEMS = 100_000


class FeedbackError(WorkbenchError):
    """Feedback that cannot be stored as given."""


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (bool, int, str))


def parse_feedback(payload: Any) -> list[dict]:
    """Validated feedback items `{"id", "row", "outcome"}` of a POST body (see the module doc).

    Raises FeedbackError naming the item and what is wrong, so that a client learns how to fix it.
    """
    if isinstance(payload, dict) and "feedback" in payload:
        payload = payload["feedback"]
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise FeedbackError("no feedback in the body", hint='send {"id": "<request id>", "outcome": <value>}')
    if len(items) > MAX_ITEMS:
        raise FeedbackError(f"{len(items)} feedback items in one body; at most {MAX_ITEMS}",
                            hint="send them in several batches")
    out = []
    for i, item in enumerate(items):
        where = f"feedback item {i}" if len(items) > 1 else "feedback"
        if not isinstance(item, dict):
            raise FeedbackError(f"{where}: expected an object, got {type(item).__name__}",
                                hint='e.g. {"id": "<request id>", "outcome": 1}')
        rid = item.get("id", item.get("request_id"))
        if not isinstance(rid, str) or not rid.strip():
            raise FeedbackError(f"{where}: no request id",
                                hint="give `id`: the X-Workbench-Request-Id header of the scored request")
        if "outcome" in item:
            outcome = item["outcome"]
        elif "label" in item:
            outcome = item["label"]
        else:
            raise FeedbackError(f"{where} for {rid}: no `outcome`", hint='e.g. {"id": "...", "outcome": 1}')
        ok = _scalar(outcome) or (isinstance(outcome, list) and outcome and all(_scalar(v) for v in outcome))
        if not ok:
            raise FeedbackError(f"{where} for {rid}: the outcome {outcome!r} is not a number, string or boolean "
                                "(or a list of them, one per row)",
                                hint="send the observed label or value, e.g. 1, 0, true, \"churned\" or 42.5")
        row = item.get("row")
        if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
            raise FeedbackError(f"{where} for {rid}: `row` must be a row index (0, 1, ...), not {row!r}")
        if row is not None and isinstance(outcome, list):
            raise FeedbackError(f"{where} for {rid}: give either `row` with one outcome, or a list of outcomes")
        out.append({"id": rid.strip(), "row": row, "outcome": outcome})
    return out


class FeedbackLog:
    """Appends feedback lines to one JSONL file; thread-safe, each batch fsync'ed before returning."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.written = 0

    def append(self, items: list[dict], source: str) -> int:
        now = time.time()
        text = "".join(json.dumps({"ts": now, "id": i["id"], "row": i.get("row"), "outcome": i["outcome"],
                                   "source": source}, separators=(",", ":"), allow_nan=False) + "\n"
                       for i in items)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            self.written += len(items)
        return len(items)


def read_feedback(folder: Path) -> list[dict]:
    """Every feedback line under `<serving folder>/feedback/`, oldest file first; cut lines skipped."""
    lines = []
    for path in sorted((Path(folder) / FEEDBACK_DIR).glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for raw in fh:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("id"):
                    lines.append(line)
    lines.sort(key=lambda x: x.get("ts") or 0)
    return lines


def feedback_app(log: FeedbackLog):
    """The ASGI app of `POST /feedback`: 200 `{"accepted": n}`, 400 with the reason, 405 otherwise."""
    import asyncio

    async def reply(send, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send) -> None:
        if scope.get("method") != "POST":
            await reply(send, 405, {"error_code": "METHOD_NOT_ALLOWED",
                                    "message": 'POST /feedback with {"id": "<request id>", "outcome": <value>}'})
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await reply(send, 413, {"error_code": "TOO_LARGE", "message": f"more than {MAX_BODY} bytes; "
                                        "send the feedback in batches"})
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        try:
            items = parse_feedback(json.loads(b"".join(chunks) or b"null"))
        except ValueError as exc:
            await reply(send, 400, {"error_code": "BAD_REQUEST", "message": f"the body is not JSON: {exc}"})
            return
        except FeedbackError as exc:
            await reply(send, 400, {"error_code": "BAD_REQUEST", "message": str(exc)})
            return
        accepted = await asyncio.to_thread(log.append, items, "http")
        await reply(send, 200, {"accepted": accepted})

    return app
