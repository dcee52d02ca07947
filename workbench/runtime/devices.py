"""The array module a task should compute with: CuPy on a usable GPU, NumPy everywhere else.

`workbench.xp()` is the one call task code needs: it returns `cupy` when the task was given a GPU
and CuPy can really use it, `numpy` otherwise. A run tells each task which it was given through
`WORKBENCH_DEVICE` (`gpu` or `cpu`, set per task by `workbench run`); outside a run (a notebook)
the GPU is used when one works. CuPy imports fine on a machine without a driver or device and
only fails on the first allocation, so usability is checked by asking the CUDA runtime for its
device count; any failure means NumPy, reported once as a warning naming the reason, never a crash.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import Any

__all__ = ["device_name", "gpu_memory_peak_mb", "reset_gpu_memory_peak", "to_host", "usable_gpu", "xp"]

DEVICE_ENV = "WORKBENCH_DEVICE"


class NoGpuWarning(UserWarning):
    """A GPU task runs on NumPy because no GPU is usable."""


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[Any, str]:
    """(the cupy module or None, why not)."""
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken CUDA install
        return None, f"{type(exc).__name__}: {exc}" if not isinstance(exc, ImportError) else "CuPy is not installed"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return None, "the CUDA runtime reports 0 devices"
        cupy.zeros(1)  # a driver can list a device it then cannot allocate on
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError, CUDADriverError...
        return None, f"{type(exc).__name__}: {exc}"
    return cupy, ""


def usable_gpu() -> tuple[bool, str]:
    """(whether CuPy can compute on a GPU in this process, why not)."""
    module, reason = _probe()
    return module is not None, reason


_warned = False


def xp() -> Any:
    """`cupy` where this task was given a usable GPU, else `numpy` (with one warning saying why)."""
    global _warned
    import numpy

    if os.environ.get(DEVICE_ENV) == "cpu":
        return numpy
    module, reason = _probe()
    if module is not None:
        return module
    if not _warned:
        _warned = True
        warnings.warn(f"workbench: no usable GPU ({reason}); gpu tasks run on NumPy", NoGpuWarning, stacklevel=2)
    return numpy


def to_host(value: Any) -> Any:
    """A CuPy array (or scalar) as NumPy; anything else unchanged."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(value, cupy.ndarray):
        return value.get()
    return value


def device_name() -> str:
    """`cuda:N (name)` of the device this process computes on, or `cpu`."""
    if os.environ.get(DEVICE_ENV) == "cpu":
        return "cpu"
    cupy, _ = _probe()
    if cupy is None:
        return "cpu"
    device = cupy.cuda.Device()
    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    visible = [t for t in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if t.strip()]
    physical = visible[device.id] if device.id < len(visible) else str(device.id)
    return f"cuda:{physical} ({name})"


def reset_gpu_memory_peak() -> None:
    """Start a task's GPU memory count from zero (frees the pool's cached blocks)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and _probe()[0] is not None:
        cupy.get_default_memory_pool().free_all_blocks()


def gpu_memory_peak_mb() -> float | None:
    """MB the CuPy memory pool holds: it caches freed blocks, so this is the task's high-water
    mark (since `reset_gpu_memory_peak`); None where the task never used CuPy on a GPU."""
    cupy = sys.modules.get("cupy")
    if cupy is None or _probe()[0] is None:
        return None
    return round(cupy.get_default_memory_pool().total_bytes() / 2**20, 1)
