"""GPU tasks in real runs: placement on devices, CPU fallback, --require-gpu, the run record's
device fields and `verify --devices`. Without a GPU the placement is checked with `WORKBENCH_GPUS`
(a device list that overrides discovery): the tasks then really run with that device's
CUDA_VISIBLE_DEVICES (and fall back to NumPy in their own code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

pytestmark = pytest.mark.slow


def _record(root: Path) -> dict:
    runs = sorted((root / ".workbench" / "runs").glob("*.json"))
    return json.loads(runs[-1].read_text())


def _sleeper(name: str) -> str:
    return (f"started = time.time()\ntime.sleep(pause)\n"
            f"Path('{name}.json').write_text(json.dumps({{'start': started, 'end': time.time(), "
            f"'cuda': os.environ.get('CUDA_VISIBLE_DEVICES'), 'device': os.environ.get('WORKBENCH_DEVICE')}}))\n"
            f"{name}_done = 1")


def test_gpu_tasks_never_share_a_device_while_cpu_tasks_run_beside_them(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_GPUS", "0")  # one (pretend) device
    nb = write_notebook(tmp_path / "nb.ipynb", [
        ("pause = 2.0", "parameters"),
        ("import json\nimport os\nimport time\nfrom pathlib import Path", "imports"),
        (_sleeper("a"), ["task:a", "gpu"]),
        (_sleeper("b"), ["task:b", "gpu"]),
        (_sleeper("c"), ["task:c"]),
    ])
    proc = workbench("run", nb, "--jobs", "3", "--no-version", cwd=tmp_path, check=True)
    seen = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in "abc"}
    a, b, c = seen["a"], seen["b"], seen["c"]
    assert a["end"] <= b["start"] or b["end"] <= a["start"], "two GPU tasks shared the only device"
    assert c["start"] < max(a["end"], b["end"]) and c["end"] > min(a["start"], b["start"]), \
        "the CPU task did not run beside the GPU tasks"
    assert (a["cuda"], a["device"]) == ("0", "gpu") and (b["cuda"], b["device"]) == ("0", "gpu")
    assert c["device"] == "cpu"
    tasks = {t["name"]: t for t in _record(tmp_path)["tasks"]}
    assert tasks["a"]["device"] == "cuda:0 (WORKBENCH_GPUS)" and tasks["c"]["device"] == "cpu"
    assert "no usable GPU" not in proc.stderr


def test_without_a_gpu_gpu_tasks_run_on_the_cpu_or_fail_fast_with_require_gpu(project, monkeypatch):
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # hides any device this machine might have
    proc = workbench("run", "notebooks/gpu_features.ipynb", "--require-gpu", "-p", "n_points=2000",
                     "--no-version", cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--require-gpu" in proc.stderr and "assign" in proc.stderr and "fix:" in proc.stderr
    assert not (project / "pipelines" / "gpu_features" / "products").exists(), "a task ran before the error"

    proc = workbench("run", "notebooks/gpu_features.ipynb", "-p", "n_points=2000", "--no-version",
                     cwd=project, check=True)
    assert "no usable GPU" in proc.stderr and "assign run on the CPU" in proc.stderr
    tasks = {t["name"]: t for t in _record(project)["tasks"]}
    assert {t["device"] for t in tasks.values()} == {"cpu"}
    assert "gpu_memory_peak_mb" not in tasks["assign"]


def test_verify_devices_compares_two_runs_and_refuses_gpu_without_one(project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    proc = workbench("verify", "notebooks/gpu_features.ipynb", "--devices", "cpu,gpu", cwd=project)
    assert proc.returncode == 2 and "no usable GPU" in proc.stderr and "cpu,cpu" in proc.stderr
    proc = workbench("verify", "notebooks/gpu_features.ipynb", "--devices", "cpu,cpu", "-p", "n_points=3000",
                     cwd=project, check=True)
    assert "cpu and cpu agree: 5 product(s)" in proc.stdout
    assert "float32 rtol=0.0001" in proc.stdout and "labels" in proc.stdout


@pytest.mark.gpu
def test_on_a_gpu_the_task_runs_on_cupy_and_the_record_says_where(project, monkeypatch):
    from workbench.runtime.devices import usable_gpu

    if not usable_gpu()[0]:
        pytest.skip("needs a usable CUDA GPU (CuPy cannot allocate on this machine)")
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    workbench("run", "notebooks/gpu_heavy.ipynb", "--require-gpu", "--no-version", cwd=project, check=True)
    kernel = {t["name"]: t for t in _record(project)["tasks"]}["kernel"]
    assert kernel["device"].startswith("cuda:") and kernel["gpu_memory_peak_mb"] > 0
    head = project / "pipelines" / "gpu_heavy" / "products" / "kernel" / "head"
    assert (head / "head.cupy.npy").is_file()  # a CuPy array, saved from the host
    proc = workbench("verify", "notebooks/gpu_heavy.ipynb", "--devices", "cpu,gpu", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gpu_heavy_sample_reproduces_its_notebook_timings_aside(project):
    """Its kernel's timing and bandwidth are tagged `volatile:`: verify checks they exist and
    compares the rest (they once made this sample's verify fail on every machine)."""
    proc = workbench("verify", "notebooks/gpu_heavy.ipynb", "-p", "n=65536", "-p", "iterations=3", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 equal, 2 volatile" in proc.stdout


# --- the GPU path without a GPU: a NumPy-backed stand-in for CuPy (tests/fake_cupy) ---

FAKE_CUPY = {"PYTHONPATH": str(Path(__file__).parent / "fake_cupy")}


def test_the_gpu_path_runs_end_to_end_with_a_cupy_stand_in(project, monkeypatch):
    """Not CUDA (the test above is, and skips here): with the stand-in first on PYTHONPATH,
    discovery finds its device, the `gpu` task computes on "CuPy", its CuPy product is saved from
    the host and read back as NumPy by the CPU task after it, the record holds the device and the
    memory-pool peak, and the result equals the CPU run's."""
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    small = ["-p", "n=65536", "-p", "iterations=3"]
    workbench("run", "notebooks/gpu_heavy.ipynb", *small, "--no-version", "-o", "pipelines/on_cpu", cwd=project, check=True)
    on_cpu = _record(project)
    proc = workbench("run", "notebooks/gpu_heavy.ipynb", *small, "--require-gpu", "--no-version", cwd=project,
                     env=FAKE_CUPY, check=True)
    assert "no usable GPU" not in proc.stderr
    record = _record(project)
    tasks = {t["name"]: t for t in record["tasks"]}
    assert tasks["kernel"]["device"] == "cuda:0 (Fake CUDA device)"
    assert tasks["kernel"]["gpu_memory_peak_mb"] > 0
    assert tasks["summary"]["device"] in (None, "cpu") and tasks["summary"].get("gpu_memory_peak_mb") is None
    head = project / "pipelines" / "gpu_heavy" / "products" / "kernel" / "head"
    assert [p.name for p in head.iterdir() if not p.name.startswith(".")] == ["head.cupy.npy"]
    assert record["metrics"]["checksum"] == on_cpu["metrics"]["checksum"]
    proc = workbench("verify", "notebooks/gpu_heavy.ipynb", *small, "--devices", "cpu,gpu", cwd=project, env=FAKE_CUPY)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_local_dask_cluster_gives_its_workers_the_gpus(project, monkeypatch):
    """--executor dask with no scheduler on a machine with a (stand-in) GPU: the LocalCluster's
    workers declare GPU=1 and the `gpu` task runs on one of them, on the device."""
    monkeypatch.delenv("WORKBENCH_GPUS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    proc = workbench("run", "notebooks/gpu_features.ipynb", "-p", "n_points=3000", "--no-version", "--require-gpu",
                     "--executor", "dask", cwd=project, env=FAKE_CUPY, check=True)
    assert "GPU=1 each" in proc.stderr
    tasks = {t["name"]: t for t in _record(project)["tasks"]}
    assert tasks["assign"]["device"] == "cuda:0 (Fake CUDA device)" and tasks["assign"]["worker"]
    assert tasks["generate"]["device"] in (None, "cpu")
