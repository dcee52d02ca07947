"""What `workbench serve` remembers about the requests it scored: a JSONL log and live counters.

The request log is the contract with monitoring (drift and quality over what was actually served):
one JSON object per scored request, appended to `<root>/.workbench/serving/<name>/<session>.jsonl`
(one file per `workbench serve` session, named like run ids, so a reader globs `*.jsonl` and sorts):

    {"ts": 1795432057.59,              # when the request arrived (epoch seconds)
     "id": "4be0...",                  # also sent back as the X-Workbench-Request-Id header
     "model": "churn/3", "role": "primary" | "canary",
     "status": 200, "latency_ms": 3.1, "n_rows": 1,
     "input_format": "dataframe_split" | "dataframe_records" | "instances" | "inputs" | "csv" | ...,
     "inputs": {"columns": [...], "data": [[...], ...]} | null,   # any tabular input, as a split frame
     "inputs_raw": ...,                # only when the input was not tabular (tensors, text...)
     "predictions": [...] | null,      # what the answering model returned ("predictions" of the reply)
     "error": "...",                   # only when status != 200
     "shadow": {"model": "churn/4", "status": 200, "latency_ms": 2.9, "predictions": [...]}}
                                       # shadow mode only ({"skipped": true} when it fell behind)

Writing never happens on the request path: the app hands the raw body and reply to `RequestLog.write`
(a queue put), and a background thread decodes, normalises and appends. Under overload the queue
drops entries (counted) rather than slowing answers down.

`ServingStats` keeps the counters the MLflow serving run logs periodically (and the Prometheus
`/metrics` route will expose): requests and errors per role, latency percentiles, and for shadow
mode how often the two models agree and by how much numeric predictions differ.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Comparison", "RequestLog", "ServingStats", "compare_predictions", "decode_inputs"]

_QUEUE_SIZE = 10_000
_LATENCY_WINDOW = 10_000  # latencies kept per role for percentiles
_MAX_ERROR = 2_000


# --------------------------------------------------------------------------------------------------
# comparing two models' predictions


@dataclass
class Comparison:
    """How two predictions for the same request compare, element by element."""

    elements: int = 0          # predicted values compared
    agree: int = 0             # equal (numbers: within 1e-9 relative)
    numeric: int = 0           # pairs of numbers among them
    abs_diff_sum: float = 0.0  # sum of |a - b| over the numeric pairs
    mismatched: bool = False   # different shapes: nothing compared


def _leaves(value: Any) -> list[Any]:
    """Scalars of a prediction in a fixed order (lists in order, dicts by sorted key)."""
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_predictions(a: Any, b: Any) -> Comparison:
    """Element-wise agreement and absolute difference of two decoded `predictions` values."""
    left, right = _leaves(a), _leaves(b)
    if len(left) != len(right):
        return Comparison(mismatched=True)
    result = Comparison(elements=len(left))
    for x, y in zip(left, right):
        if _number(x) and _number(y):
            result.numeric += 1
            if math.isfinite(x) and math.isfinite(y):
                result.abs_diff_sum += abs(x - y)
            same = x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        else:
            same = x == y
        result.agree += bool(same)
    return result


# --------------------------------------------------------------------------------------------------
# counters


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


class ServingStats:
    """Thread-safe counters since the server started; `snapshot()` gives them as metric values."""

    def __init__(self, roles: tuple[str, ...] = ("primary",)) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self._latency: dict[str, deque[float]] = {role: deque(maxlen=_LATENCY_WINDOW) for role in roles}
        self.shadow_requests = 0
        self.shadow_errors = 0
        self.shadow_skipped = 0
        self.shadow_compared = 0     # requests where both answered 200 with the same shape
        self.shadow_mismatched = 0   # both answered, shapes differ
        self.shadow_elements = 0
        self.shadow_agree = 0
        self.shadow_numeric = 0
        self.shadow_abs_diff = 0.0
        self.log_dropped = 0

    def record(self, role: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[role] += 1
            if status >= 400:
                self.errors[role] += 1
            self._latency.setdefault(role, deque(maxlen=_LATENCY_WINDOW)).append(seconds * 1000)

    def add_rows(self, role: str, rows: int) -> None:
        """Rows scored (counted by the log writer, which decodes the inputs anyway)."""
        with self._lock:
            self.rows[role] += rows

    def add_dropped(self) -> None:
        with self._lock:
            self.log_dropped += 1

    def record_shadow(self, status: int | None, comparison: Comparison | None) -> None:
        """One shadow scoring: its status (None: skipped) and, when both answered, the comparison."""
        with self._lock:
            if status is None:
                self.shadow_skipped += 1
                return
            self.shadow_requests += 1
            if status >= 400:
                self.shadow_errors += 1
            if comparison is None:
                return
            if comparison.mismatched:
                self.shadow_mismatched += 1
                return
            self.shadow_compared += 1
            self.shadow_elements += comparison.elements
            self.shadow_agree += comparison.agree
            self.shadow_numeric += comparison.numeric
            self.shadow_abs_diff += comparison.abs_diff_sum

    def snapshot(self, shadow: bool = False) -> dict[str, float]:
        """Metric name -> value, as logged to MLflow. Shadow metrics only when `shadow`."""
        with self._lock:
            out: dict[str, float] = {
                "requests_total": float(sum(self.requests.values())),
                "errors_total": float(sum(self.errors.values())),
                "uptime_s": round(time.time() - self.started, 3),
                "log_dropped": float(self.log_dropped),
            }
            for role in self._latency:
                out[f"requests_{role}"] = float(self.requests[role])
                out[f"errors_{role}"] = float(self.errors[role])
                out[f"rows_{role}"] = float(self.rows[role])
                latencies = list(self._latency[role])
                if latencies:
                    out[f"latency_p50_ms_{role}"] = round(_percentile(latencies, 0.50), 3)
                    out[f"latency_p99_ms_{role}"] = round(_percentile(latencies, 0.99), 3)
            if shadow:
                out.update({
                    "shadow_requests": float(self.shadow_requests),
                    "shadow_errors": float(self.shadow_errors),
                    "shadow_skipped": float(self.shadow_skipped),
                    "shadow_compared": float(self.shadow_compared),
                    "shadow_shape_mismatch": float(self.shadow_mismatched),
                })
                if self.shadow_elements:
                    out["shadow_agreement_rate"] = self.shadow_agree / self.shadow_elements
                if self.shadow_numeric:
                    out["shadow_mean_abs_diff"] = self.shadow_abs_diff / self.shadow_numeric
            return out


# --------------------------------------------------------------------------------------------------
# decoding what was scored


def _split(frame: Any) -> dict:
    split = frame.to_dict(orient="split")
    return {"columns": [str(c) for c in split["columns"]], "data": split["data"]}


def _tabular(value: Any) -> dict | None:
    """Records (list of dicts) or columns (dict of equal-length lists) as a split frame."""
    import pandas as pd

    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return _split(pd.DataFrame.from_records(value))
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) == 1:
            return _split(pd.DataFrame(value))
    return None


def decode_inputs(body: bytes, content_type: str) -> dict:
    """`input_format`, `n_rows` and `inputs` (a split frame) or `inputs_raw` of a request body."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime == "text/csv":
        import io

        import pandas as pd

        frame = pd.read_csv(io.BytesIO(body))
        return {"input_format": "csv", "n_rows": len(frame), "inputs": _split(frame)}
    if mime != "application/json":
        return {"input_format": mime or "unknown", "n_rows": None, "inputs": None}
    payload = json.loads(body)
    if not isinstance(payload, dict):
        return {"input_format": "raw", "n_rows": None, "inputs": None, "inputs_raw": payload}
    for key in ("dataframe_split", "dataframe_records", "instances", "inputs"):
        if key not in payload:
            continue
        value = payload[key]
        if key == "dataframe_split" and isinstance(value, dict) and "data" in value:
            data = value["data"]
            columns = value.get("columns") or list(range(len(data[0]) if data else 0))
            frame = {"columns": [str(c) for c in columns], "data": data}
        else:
            frame = _tabular(value)
        if frame is not None:
            return {"input_format": key, "n_rows": len(frame["data"]), "inputs": frame}
        rows = len(value) if isinstance(value, list) else None
        return {"input_format": key, "n_rows": rows, "inputs": None, "inputs_raw": value}
    return {"input_format": "raw", "n_rows": None, "inputs": None, "inputs_raw": payload}


def decode_reply(body: bytes) -> tuple[Any, str | None]:
    """(predictions, error message) of a scoring server reply."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, body[:_MAX_ERROR].decode("utf-8", "replace")
    if isinstance(payload, dict) and "predictions" in payload:
        return payload["predictions"], None
    if isinstance(payload, dict) and ("message" in payload or "error_code" in payload):
        return None, str(payload.get("message") or payload.get("error_code"))[:_MAX_ERROR]
    return payload, None  # unwrapped (LLM-style) replies


# --------------------------------------------------------------------------------------------------
# the log


class RequestLog:
    """Appends one JSON line per scored request to `path`, from a background thread.

    `write(entry)` takes the raw request (`body`, `content_type`) and reply (`reply`, `status`) and
    returns at once; the thread decodes them into the documented line. `close()` writes what is
    queued and stops the thread.
    """

    def __init__(self, path: Path, stats: ServingStats | None = None, sample: float = 1.0,
                 observers: list | None = None, seed: int = 0) -> None:
        import random

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stats = stats
        self.sample = sample  # the fraction of requests logged (and observed for /metrics distributions)
        self.observers = list(observers or [])  # called with each decoded line, in the log's thread
        self._draw = random.Random(seed).random
        self.written = 0
        self.unsampled = 0
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._file = self.path.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="workbench-request-log", daemon=True)
        self._thread.start()
        self._closed = False

    def write(self, entry: dict) -> None:
        """Queue an entry: ts, id, model, role, status, latency_ms, body, content_type, reply, shadow."""
        if self._closed:
            return
        if self.sample < 1.0 and self._draw() >= self.sample:
            self.unsampled += 1
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            if self.stats is not None:
                self.stats.add_dropped()

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        self._file.close()

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                self._file.flush()
                return
            try:
                decoded = self.line(entry)
                if self.stats is not None and decoded.get("n_rows") and (decoded.get("status") or 500) < 400:
                    self.stats.add_rows(decoded.get("role") or "primary", decoded["n_rows"])
                for observe in self.observers:
                    try:
                        observe(decoded)
                    except Exception:  # noqa: BLE001 - metrics must never stop the log
                        pass
                line = json.dumps(decoded, default=str, allow_nan=False, separators=(",", ":"))
            except Exception as exc:  # noqa: BLE001 - one odd request must not stop the log
                line = json.dumps({"ts": entry.get("ts"), "id": entry.get("id"), "model": entry.get("model"),
                                   "role": entry.get("role"), "status": entry.get("status"),
                                   "log_error": f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]}, default=str)
            self._file.write(line + "\n")
            self.written += 1
            if self._queue.empty():
                self._file.flush()

    @staticmethod
    def line(entry: dict) -> dict:
        """The JSON object logged for one raw entry (see the module docstring)."""
        out = {key: entry.get(key) for key in ("ts", "id", "model", "role", "status", "latency_ms")}
        try:
            out.update(decode_inputs(entry.get("body") or b"", entry.get("content_type") or ""))
        except Exception as exc:  # noqa: BLE001 - the model answered; the log says why inputs are missing
            out.update({"input_format": "undecodable", "n_rows": None, "inputs": None,
                        "input_error": f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]})
        predictions, error = entry.get("predictions"), entry.get("error")
        if predictions is None and error is None and entry.get("reply") is not None:
            predictions, error = decode_reply(entry["reply"])
        out["predictions"] = predictions if (entry.get("status") or 500) < 400 else None
        if (entry.get("status") or 500) >= 400:
            out["error"] = error or "error"
        if "shadow" in entry:
            out["shadow"] = entry["shadow"]
        if "arm" in entry:  # A/B serving: which arm answered
            out["arm"] = entry["arm"]
        return _finite(out)


def _finite(value: Any) -> Any:
    """NaN and infinities as null: the lines stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
