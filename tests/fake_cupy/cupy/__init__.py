"""A NumPy-backed stand-in for CuPy, for tests on machines without a GPU (put its parent folder
first on PYTHONPATH). It is not CUDA: it lets Workbench's GPU path run end to end (discovery,
placement, `workbench.xp()`, the device label, the memory-pool peak, CuPy array products saved from
the host and loaded back onto the "device") so that a broken GPU path fails on any machine. Arrays
are an `ndarray` subclass with CuPy's `.get()`; every NumPy function is forwarded and its arrays
"allocated" in a pool that counts bytes. `FAKE_CUPY_DEVICES` sets the device count (default 1)."""

from __future__ import annotations

import os
import types

import numpy as _np


class ndarray(_np.ndarray):  # noqa: N801 - CuPy's name
    def get(self) -> _np.ndarray:
        return _np.array(self).view(_np.ndarray)


class _Pool:
    def __init__(self) -> None:
        self.bytes = 0

    def total_bytes(self) -> int:
        return self.bytes

    def free_all_blocks(self) -> None:
        self.bytes = 0


_pool = _Pool()


def get_default_memory_pool() -> _Pool:
    return _pool


def _device(value):
    if isinstance(value, _np.ndarray) and not isinstance(value, ndarray):
        value = value.view(ndarray)
    if isinstance(value, ndarray):
        _pool.bytes += value.nbytes
    return value


def asarray(a, dtype=None) -> ndarray:
    return _device(_np.array(a, dtype=dtype).view(_np.ndarray))  # a copy, as a host-to-device transfer is


def asnumpy(a) -> _np.ndarray:
    return _np.array(a).view(_np.ndarray)


def __getattr__(name: str):
    attr = getattr(_np, name)
    if callable(attr) and not isinstance(attr, type) and not isinstance(attr, _np.ufunc):
        def forwarded(*args, **kwargs):
            return _device(attr(*args, **kwargs))
        forwarded.__name__ = name
        return forwarded
    return attr


class Device:
    def __init__(self, device: int = 0) -> None:
        self.id = device

    def synchronize(self) -> None:
        pass


def _count() -> int:
    return int(os.environ.get("FAKE_CUPY_DEVICES", "1"))


def _properties(device: int) -> dict:
    if device >= _count():
        raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device}")
    return {"name": b"Fake CUDA device"}


cuda = types.SimpleNamespace(
    Device=Device,
    runtime=types.SimpleNamespace(getDeviceCount=_count, getDeviceProperties=_properties),
)
