"""GPU placement, discovery fallbacks, the NumPy fallback of `workbench.xp()` and per-dtype
tolerances: pure logic with fake device lists (no GPU needed)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from workbench.core.errors import WorkbenchError
from workbench.execute import scheduling
from workbench.execute.scheduling import Gpu, GpuRequiredError, GpuSlots, Placement, effective_needs, select
from workbench.verification.devices import compare_values, parse_devices, tolerance_for


def test_slots_never_hand_out_more_devices_than_exist():
    slots = GpuSlots(["0", "1"])
    assert slots.take("a", 1) == ["0"]
    assert slots.take("b", 2) is None  # only one left
    assert slots.take("c", 1) == ["1"]
    assert slots.take("d", 1) is None
    slots.give_back("a")
    assert slots.take("b", 2) is None
    slots.give_back("c")
    assert slots.take("b", 2) == ["0", "1"]


def test_released_devices_keep_discovery_order():
    slots = GpuSlots(["0", "1", "2"])
    slots.take("a", 1), slots.take("b", 1)
    slots.give_back("b")
    slots.give_back("a")
    assert slots.free == ["0", "1", "2"]


def test_placement_sets_the_task_device_and_labels_it():
    p = Placement({"train": 1, "big": 2}, [Gpu("0", "H100"), Gpu("1", "H100")])
    assert p.claim("load") == {"WORKBENCH_DEVICE": "cpu"}
    assert p.claim("train") == {"WORKBENCH_DEVICE": "gpu", "CUDA_VISIBLE_DEVICES": "0"}
    assert p.labels["train"] == "cuda:0 (H100)" and p.labels["load"] == "cpu"
    assert p.claim("big") is None  # needs both: waits for train
    p.release("train")
    assert p.claim("big") == {"WORKBENCH_DEVICE": "gpu", "CUDA_VISIBLE_DEVICES": "0,1"}
    assert p.labels["big"] == "cuda:0 (H100), cuda:1 (H100)"


def test_unlimited_placement_leaves_limits_to_dask():
    p = Placement({"train": 1}, [], limit=False)
    assert p.claim("train") == {"WORKBENCH_DEVICE": "gpu"}
    assert p.claim("train") == {"WORKBENCH_DEVICE": "gpu"}


def test_no_gpu_runs_gpu_tasks_on_the_cpu_with_a_warning():
    needs, warns = effective_needs({"a": 1, "b": 0, "c": 2}, 0, require=False, reason="no driver")
    assert needs == {}
    assert warns == ["workbench: no usable GPU (no driver); GPU task(s) a, c run on the CPU"]


def test_require_gpu_fails_naming_the_gpu_tasks_and_the_fix():
    with pytest.raises(GpuRequiredError) as err:
        effective_needs({"a": 1, "b": 0}, 0, require=True, reason="no driver")
    assert "a" in err.value.message and "no driver" in err.value.message
    assert "nvidia-smi" in err.value.hint and "--require-gpu" in err.value.hint


def test_a_task_asking_for_more_gpus_than_exist_gets_all_or_fails_with_require():
    needs, warns = effective_needs({"a": 4}, 2, require=False)
    assert needs == {"a": 2} and "asks for 4 GPUs, 2 usable" in warns[0]
    with pytest.raises(GpuRequiredError, match="a asks for 4"):
        effective_needs({"a": 4}, 2, require=True)
    assert effective_needs({"a": 0}, 0, require=True) == ({}, [])  # no GPU task: nothing to require


def test_cuda_visible_devices_selects_and_orders_listed_devices():
    listed = [Gpu("0", "A"), Gpu("1", "B"), Gpu("2", "C")]
    assert select(listed, None) == listed
    assert [g.id for g in select(listed, "2,0")] == ["2", "0"]
    assert [g.id for g in select(listed, "1,7,2")] == ["1"]  # CUDA stops at an unknown id


def test_discovery_respects_hidden_devices_and_the_override(monkeypatch):
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    found = scheduling.discover()
    assert found.gpus == [] and "hides every device" in found.reason
    monkeypatch.setenv("WORKBENCH_GPUS", "0,1")
    assert [g.id for g in scheduling.discover().gpus] == ["0", "1"]


def test_discovery_without_a_gpu_does_not_crash(monkeypatch):
    """This machine has CuPy but no usable device: discovery reports why, never raises."""
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    found = scheduling.discover()
    if found.gpus:
        pytest.skip("this machine has a GPU")
    assert found.reason


def test_xp_falls_back_to_numpy_and_says_why_once(monkeypatch):
    from workbench.runtime import devices

    usable, reason = devices.usable_gpu()
    if usable:
        pytest.skip("this machine has a GPU")
    monkeypatch.delenv("WORKBENCH_DEVICE", raising=False)
    monkeypatch.setattr(devices, "_warned", False)
    import workbench

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert workbench.xp() is np
        assert workbench.xp() is np
    messages = [str(w.message) for w in caught]
    assert messages == [f"workbench: no usable GPU ({reason}); gpu tasks run on NumPy"]
    assert workbench.device_name() == "cpu"
    assert workbench.to_host([1]) == [1]
    monkeypatch.setenv("WORKBENCH_DEVICE", "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert workbench.xp() is np  # a CPU task: no warning, the run already said so


def test_a_saved_cupy_product_loads_as_numpy_for_a_cpu_task(tmp_path, monkeypatch):
    """The .cupy.npy format (what save writes for a CuPy array) reads back as NumPy off the GPU."""
    from workbench.runtime import load

    product = tmp_path / "products" / "assign" / "labels"
    product.mkdir(parents=True)
    np.save(product / "labels.cupy.npy", np.arange(5))
    monkeypatch.setenv("WORKBENCH_DEVICE", "cpu")
    value = load(product)
    assert type(value) is np.ndarray and value.tolist() == [0, 1, 2, 3, 4]
    monkeypatch.setenv("WORKBENCH_DEVICE", "gpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = load(product)  # on the device where one works; NumPy here
    assert value.tolist() == [0, 1, 2, 3, 4]


def test_tolerance_follows_the_least_precise_float_dtype():
    f32, f64 = np.ones(3, np.float32), np.ones(3)
    assert tolerance_for(f32, f32)[2] == "float32"
    assert tolerance_for(f64, f64)[2] == "float64"
    assert tolerance_for({"a": f64, "b": [f32]}, {"a": f64, "b": [f32]})[2] == "float32"
    assert tolerance_for(np.arange(3), np.arange(3))[:2] == (0.0, 0.0)
    assert tolerance_for(1.5, 1.5)[2] == "float64"


def test_float32_is_compared_more_loosely_than_float64():
    a = np.array([1.0, 2.0, 3.0])
    b = a * (1 + 1e-6)  # a GPU-sized summation difference
    assert compare_values(a.astype(np.float32), b.astype(np.float32))[0].equal
    result, dtype = compare_values(a, b)
    assert dtype == "float64" and result.status == "different"
    assert compare_values(a.astype(np.float32), (a * 1.01).astype(np.float32))[0].status == "different"
    assert compare_values(np.array([1, 2]), np.array([1, 3]))[0].status == "different"  # ints exact


def test_devices_option_is_checked():
    assert parse_devices("cpu,GPU") == ("cpu", "gpu")
    for bad in ("cpu", "cpu,tpu", "cpu,gpu,gpu"):
        with pytest.raises(WorkbenchError):
            parse_devices(bad)


def test_a_cupy_product_goes_back_onto_the_device_for_a_gpu_task(tmp_path, monkeypatch):
    """With the NumPy-backed CuPy stand-in (tests/fake_cupy) as `cupy`: save writes a CuPy array
    from the host as .cupy.npy, a GPU task loads it as a CuPy array, a CPU task as NumPy."""
    import importlib.util
    import sys
    from pathlib import Path

    from workbench.runtime import devices, load, save

    spec = importlib.util.spec_from_file_location(
        "cupy", Path(__file__).parents[1] / "fake_cupy" / "cupy" / "__init__.py")
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    devices._probe.cache_clear()
    try:
        monkeypatch.setenv("WORKBENCH_DEVICE", "gpu")
        assert devices.xp() is fake and devices.device_name() == "cuda:0 (Fake CUDA device)"
        product = tmp_path / "products" / "kernel" / "head"
        devices.reset_gpu_memory_peak()
        save(fake.arange(6, dtype=fake.float32), product)
        assert [p.name for p in product.iterdir() if not p.name.startswith(".")] == ["head.cupy.npy"]
        assert devices.gpu_memory_peak_mb() is not None
        on_gpu = load(product)
        assert type(on_gpu) is fake.ndarray and on_gpu.get().tolist() == [0, 1, 2, 3, 4, 5]
        assert type(devices.to_host(on_gpu)) is np.ndarray
        monkeypatch.setenv("WORKBENCH_DEVICE", "cpu")
        assert type(load(product)) is np.ndarray and devices.xp() is np
    finally:
        devices._probe.cache_clear()
