"""`workbench verify --devices A,B`: does the pipeline give the same results on the CPU and the GPU?

The pipeline runs twice, each time in its own copy and its own process (CUDA reads
`CUDA_VISIBLE_DEVICES` once per process): on `cpu` every device is hidden, so even a task that
tries CuPy itself falls back to NumPy; on `gpu` the run needs a GPU (`--require-gpu`). Every
product is then compared with a tolerance chosen by its dtype, because a GPU sums in another order
(and often in float32): float16 is compared loosely, float32 moderately, float64 tightly, and
integers, labels and strings exactly. `cpu,cpu` compares two CPU runs: a determinism check.
Without a usable GPU, asking for `gpu` is an error (exit 2) before anything runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.plan import Plan
from workbench.core.tables import text_table
from workbench.verification.pipeline import agree, not_compared

DEVICES = ("cpu", "gpu")

# (rtol, atol) by the least precise floating dtype a value holds; everything else is exact
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "float32": (1e-4, 1e-5),
    "complex64": (1e-4, 1e-5),
    "float64": (1e-9, 1e-12),
    "complex128": (1e-9, 1e-12),
}
EXACT = (0.0, 0.0)
_ORDER = ["float16", "float32", "complex64", "float64", "complex128"]


def float_dtypes(value: Any) -> set[str]:
    """The floating dtypes inside a value (arrays, frames, series, scalars, lists and dicts of them)."""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if isinstance(value, float):
        return {"float64"}
    if isinstance(value, complex):
        return {"complex128"}
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        return {value.dtype.name} & set(TOLERANCES)
    if pd is not None and isinstance(value, pd.DataFrame):
        return {str(getattr(d, "numpy_dtype", d)).lower() for d in value.dtypes} & set(TOLERANCES)
    if pd is not None and isinstance(value, pd.Series):
        return {str(getattr(value.dtype, "numpy_dtype", value.dtype)).lower()} & set(TOLERANCES)
    if isinstance(value, (list, tuple)):
        return set().union(*(float_dtypes(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(float_dtypes(v) for v in value.values())) if value else set()
    return set()


def tolerance_for(a: Any, b: Any) -> tuple[float, float, str]:
    """(rtol, atol, the dtype that decided) for comparing a with b: the looser of the two sides."""
    found = float_dtypes(a) | float_dtypes(b)
    if not found:
        return (*EXACT, "exact")
    loosest = min(found, key=_ORDER.index)
    return (*TOLERANCES[loosest], loosest)


def compare_values(a: Any, b: Any):
    """compare.compare with the per-dtype tolerance; (Comparison, dtype label)."""
    from workbench.verification.compare import compare

    rtol, atol, label = tolerance_for(a, b)
    return compare(a, b, rtol=rtol, atol=atol), label


@dataclass
class Row:
    variable: str
    task: str
    dtype: str
    status: str
    detail: str = ""


@dataclass
class DeviceReport:
    devices: tuple[str, str]
    rows: list[Row] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return agree(self.rows)

    def table(self) -> str:
        headers = ("variable", "task", "tolerance", "result", "detail")
        rows = [(r.variable, r.task, _tol_text(r.dtype), r.status, r.detail) for r in self.rows]
        return text_table(headers, rows, max_width=70)

    def events(self) -> list:
        """One VerifyRow per compared product (its whole detail and tolerance), then VerifyFinished."""
        from workbench.core.events import VerifyFinished, VerifyRow

        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        rows = [VerifyRow(r.task, r.variable, r.status, r.detail, dtype=_tol_text(r.dtype)) for r in self.rows]
        return rows + [VerifyFinished(self.ok, self.summary(), counts)]

    def summary(self) -> str:
        a, b = self.devices
        n_diff = sum(r.status == "different" for r in self.rows)
        n_volatile = sum(r.status == "volatile" for r in self.rows)
        verdict = (f"{a} and {b} agree" if self.ok else f"{a} and {b} DIFFER ({n_diff} product(s))")
        times = ", ".join(f"{d} run {s:.1f}s" for d, s in self.seconds.items())
        skipped = f", {n_volatile} volatile not compared" if n_volatile else ""
        return f"{verdict}: {len(self.rows) - n_volatile} product(s) compared{skipped} ({times})"


def _tol_text(dtype: str) -> str:
    if dtype in ("exact", "-"):
        return dtype
    rtol, atol = TOLERANCES[dtype]
    return f"{dtype} rtol={rtol:g} atol={atol:g}"


def parse_devices(text: str) -> tuple[str, str]:
    parts = tuple(p.strip().lower() for p in text.split(","))
    if len(parts) != 2 or any(p not in DEVICES for p in parts):
        raise WorkbenchError(f"--devices {text!r}: expected two of cpu, gpu separated by a comma",
                             hint="e.g. --devices cpu,gpu (or cpu,cpu to check that two CPU runs agree)")
    return parts  # type: ignore[return-value]


def verify_devices(pipeline: Path, plan: Plan, pairs: list[str], devices: str, on_event=None,
                   ignore: frozenset[str] = frozenset()) -> DeviceReport:
    """Run the pipeline on both devices (fresh copies, fresh processes) and compare every product;
    `on_event` gets a Message per run, a VerifyRow per product and the VerifyFinished verdict."""
    from workbench.core.events import Message
    from workbench.execute.scheduling import GpuRequiredError, discover

    chosen = parse_devices(devices)
    if "gpu" in chosen:
        found = discover()
        if not found.gpus:
            raise GpuRequiredError(
                f"verify --devices {devices}: no usable GPU ({found.reason})",
                hint="run it on a machine with a CUDA GPU (check `nvidia-smi`), or use --devices cpu,cpu "
                "to check that two CPU runs agree")
    emit = on_event or (lambda event: None)
    report = DeviceReport(chosen)
    with tempfile.TemporaryDirectory(prefix="workbench-devices-") as tmp:
        copies = []
        for i, device in enumerate(chosen):
            dest = Path(tmp) / f"{i}-{device}" / pipeline.name
            _copy(pipeline, dest, plan)
            emit(Message(f"running {plan.name} on {device}"))
            report.seconds[f"{device}#{i + 1}" if chosen[0] == chosen[1] else device] = _run(dest, pairs, device)
            copies.append(dest)
        for task in plan.tasks:
            for var in task.outputs:
                report.rows.append(_compare_product(copies, task.name, var, not_compared(task, var, ignore)))
    for event in report.events():
        emit(event)
    return report


def _copy(pipeline: Path, dest: Path, plan: Plan) -> None:
    from workbench.execute.copies import copy_pipeline

    dest.parent.mkdir(parents=True)
    copy_pipeline(pipeline, dest, plan, swept=set())
    shutil.rmtree(dest / "products", ignore_errors=True)
    shutil.rmtree(dest / ".workbench", ignore_errors=True)


def _run(dest: Path, pairs: list[str], device: str) -> float:
    import time

    env = {**os.environ, "WORKBENCH_TRACKING": "off"}
    args = [sys.executable, "-c", "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))",
            "run", str(dest), "--force", "--no-version", "--no-track"]
    for pair in pairs:
        args += ["-p", pair]
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # even `import cupy` in a task finds no device
    else:
        args.append("--require-gpu")
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkbenchError(f"the {device} run of the pipeline failed (exit {proc.returncode})",
                             detail=(proc.stderr or proc.stdout).strip()[-2000:],
                             hint="run it alone with `workbench run` to see the failing task")
    return time.perf_counter() - started


def _compare_product(copies: list[Path], task: str, var: str, volatile: str = "") -> Row:
    """`volatile` (why it is not compared): the value only has to exist in both runs."""
    from workbench.runtime import load
    from workbench.runtime.products import ProductError

    values = []
    for copy in copies:
        try:
            values.append(load(copy / "products" / task / var))
        except ProductError as exc:
            return Row(var, task, "exact", "not comparable", str(exc))
    if volatile:
        return Row(var, task, "-", "volatile", volatile)
    result, dtype = compare_values(*values)
    return Row(var, task, dtype, result.status, result.detail)
