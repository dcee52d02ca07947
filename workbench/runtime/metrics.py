"""`log_metric` for task code and notebooks.

Inside a pipeline run the runner names a file per task (WORKBENCH_METRICS_FILE) and each call
appends one JSON line to it, which the run's record then carries to MLflow. In a notebook there is
no run: the values are kept in `logged` so the same code runs unchanged in both places.
"""

from __future__ import annotations

import json
import math
import os
import time

logged: dict[str, float] = {}


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a scalar metric of the current task (or notebook)."""
    if not isinstance(name, str) or not name:
        raise ValueError("metric names are non-empty strings")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} is {number}: only finite numbers can be logged")
    logged[name] = number
    target = os.environ.get("WORKBENCH_METRICS_FILE")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"name": name, "value": number, "step": step, "time": time.time()}) + "\n")


def read_metrics(path: str | os.PathLike) -> dict[str, float]:
    """The last value of each metric a task logged."""
    values: dict[str, float] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                values[entry["name"]] = entry["value"]
    except FileNotFoundError:
        pass
    return values
