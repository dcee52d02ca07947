"""Per-task limits (`memory:4G`, `timeout:30m`, `cpus:2` cell tags) and the estimated cost of a run.

Kept in core because three layers read them: the notebook reader parses the tags, the runners
enforce them (execute/limited.py locally, Dask resources in execute/dask_runner.py) and the run
record prices what each task used (provenance/records.py) from the project's
`[tool.workbench.cost]` table in pyproject.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["LimitError", "Prices", "format_limits", "load_prices", "parse_cpus", "parse_memory", "parse_timeout",
           "task_cost"]

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT])(i?B?)?$", re.IGNORECASE)
_MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LimitError(ValueError):
    """A limit tag's value Workbench cannot read; the message says what a valid one looks like."""


def parse_memory(value: str) -> int:
    """Megabytes (MiB) of `4G`, `512M`, `1.5GB`, `8Gi`; LimitError otherwise (a unit is required:
    a bare `4` could be bytes or gigabytes)."""
    m = _MEMORY.match(value.strip())
    if not m or float(m.group(1)) <= 0:
        raise LimitError("write `memory:SIZE` with a unit, e.g. `memory:4G` or `memory:512M` (K, M, G, T)")
    return max(1, round(float(m.group(1)) * _MEMORY_UNITS[m.group(2).upper()]))


def parse_timeout(value: str) -> float:
    """Seconds of `30m`, `90s`, `2h`, `1h30m`, `1.5h`; LimitError otherwise."""
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not text or not parts or "".join(n + u for n, u in parts) != text:
        raise LimitError("write `timeout:DURATION` with a unit, e.g. `timeout:30m`, `timeout:90s` or "
                         "`timeout:1h30m` (s, m, h, d)")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise LimitError("a timeout must be longer than zero, e.g. `timeout:30m`")
    return seconds


def parse_cpus(value: str) -> int:
    """The CPU count of `cpus:N` (a positive integer); LimitError otherwise."""
    if not value.strip().isdigit() or int(value) < 1:
        raise LimitError("write `cpus:N` with N a positive integer, e.g. `cpus:2`")
    return int(value)


def format_limits(limits: dict) -> str:
    """`memory:4096M timeout:1800s cpus:2`, as a message names a task's limits."""
    parts = []
    if limits.get("memory_mb"):
        parts.append(f"memory:{limits['memory_mb']}M")
    if limits.get("timeout_s"):
        parts.append(f"timeout:{limits['timeout_s']:g}s")
    if limits.get("cpus"):
        parts.append(f"cpus:{limits['cpus']}")
    return " ".join(parts)


class Prices(dict):
    """The project's prices: cpu_hour (per CPU-hour), gpu_hour (per GPU-hour), gb_hour (per GB of
    peak memory held for an hour), currency."""


PRICE_KEYS = ("cpu_hour", "gpu_hour", "gb_hour")


def load_prices(root: Path) -> Prices | None:
    """`[tool.workbench.cost]` of the project's pyproject.toml; None when the project sets no prices.
    A malformed table raises LimitError naming the file and the key, so a run never records a cost
    computed from a price it misread."""
    import tomllib

    path = Path(root) / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LimitError(f"{path}: cannot read it ({exc})") from None
    table = data.get("tool", {}).get("workbench", {}).get("cost")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise LimitError(f"{path}: [tool.workbench.cost] must be a table, e.g. cpu_hour = 0.04")
    prices = Prices(currency=str(table.get("currency", "USD")))
    for key, value in table.items():
        if key == "currency":
            continue
        if key not in PRICE_KEYS:
            raise LimitError(f"{path}: unknown key {key!r} in [tool.workbench.cost] (known: "
                             f"{', '.join(PRICE_KEYS)}, currency)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LimitError(f"{path}: [tool.workbench.cost] {key} must be a number >= 0, not {value!r}")
        prices[key] = float(value)
    return prices


def task_cost(prices: Prices, *, seconds: float, cpu_seconds: float | None, gpu_seconds: float | None,
              peak_mb: float | None) -> float:
    """The estimated cost of one task: CPU-hours × cpu_hour + GPU-hours × gpu_hour + peak GB × wall
    hours × gb_hour (memory is billed for as long as the task held it, at its peak)."""
    cost = (cpu_seconds or 0) / 3600 * prices.get("cpu_hour", 0.0)
    cost += (gpu_seconds or 0) / 3600 * prices.get("gpu_hour", 0.0)
    cost += (peak_mb or 0) / 1024 * (seconds or 0) / 3600 * prices.get("gb_hour", 0.0)
    return cost
