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
