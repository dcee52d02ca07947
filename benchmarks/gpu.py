"""GPU tasks on the GPU against the same tasks on NumPy, and the GPU kernel's memory bandwidth.

The samples notebooks/gpu_features.ipynb (task `assign`: distances to centres, argmin) and
notebooks/gpu_heavy.ipynb (task `kernel`: `y += a * x`, a memory-bound loop that reports its
effective bandwidth as a metric) are run with `workbench run --force` in a temporary copy: once with
every device hidden (CUDA_VISIBLE_DEVICES="": the tasks compute on NumPy) and, where a usable GPU
exists, once with `--require-gpu`. The GPU task's time comes from the run record. The kernel's
bandwidth is compared with the device's peak, 2 (DDR) x memoryClockRate x memoryBusWidth / 8 from
CuPy's device attributes.

Without a GPU it says so and runs the NumPy baseline only. Default sizes finish in well under a
minute on a laptop CPU; --full uses the sizes meant for a GPU (minutes on a CPU).

Run: .venv/bin/python benchmarks/gpu.py [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"gpu_features": ["n_points=200000"], "gpu_heavy": ["n=4194304", "iterations=20"]}
FULL = {"gpu_features": ["n_points=4000000", "n_centers=256"], "gpu_heavy": ["n=134217728", "iterations=2000"]}
GPU_TASK = {"gpu_features": "assign", "gpu_heavy": "kernel"}


def run(project: Path, name: str, params: list[str], gpu: bool) -> dict:
    env = {**os.environ, "WORKBENCH_TRACKING": "off"}
    args = [sys.executable, "-m", "workbench.cli", "run", f"notebooks/{name}.ipynb", "--force", "--no-version"]
    for p in params:
        args += ["-p", p]
    if gpu:
        args.append("--require-gpu")
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
    print(f"running {name} on {'GPU' if gpu else 'NumPy'} ({' '.join(params)})", file=sys.stderr, flush=True)
    subprocess.run(args, cwd=project, env=env, check=True, capture_output=True, text=True)
    record = json.loads(sorted((project / ".workbench" / "runs").glob("*.json"))[-1].read_text())
    task = next(t for t in record["tasks"] if t["name"] == GPU_TASK[name])
    return {"seconds": task["seconds"], "device": task.get("device"), "gpu_mb": task.get("gpu_memory_peak_mb"),
            "bandwidth_gbs": record["metrics"].get("bandwidth_gbs")}


def peak_bandwidth_gbs() -> float | None:
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        return 2 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] / 8 / 1e9
    except Exception:  # noqa: BLE001 - no device
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="GPU-sized inputs (minutes on a CPU)")
    sizes = FULL if ap.parse_args().full else SMALL
    from workbench.runtime.devices import usable_gpu

    has_gpu, reason = usable_gpu()
    if not has_gpu:
        print(f"this benchmark needs a CUDA GPU for its GPU half ({reason}); running the NumPy baseline only")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "notebooks").mkdir()
        for name in sizes:
            shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", project / "notebooks")
        for name, params in sizes.items():
            cpu = run(project, name, params, gpu=False)
            gpu = run(project, name, params, gpu=True) if has_gpu else None
            rows.append((name, params, cpu, gpu))
    peak = peak_bandwidth_gbs() if has_gpu else None
    print(f"\n{'task':<22} {'NumPy s':>8} {'GPU s':>8} {'speed-up':>8} {'GPU MB':>7} {'GB/s':>7} {'of peak':>8}  device")
    for name, _params, cpu, gpu in rows:
        label = f"{name}/{GPU_TASK[name]}"
        if gpu is None:
            bw = f"{cpu['bandwidth_gbs']:.1f}" if cpu["bandwidth_gbs"] else "-"
            print(f"{label:<22} {cpu['seconds']:8.3f} {'-':>8} {'-':>8} {'-':>7} {bw:>7} {'-':>8}  (NumPy: {bw} GB/s)")
            continue
        bw = gpu["bandwidth_gbs"]
        frac = f"{bw / peak:.0%}" if bw and peak else "-"
        print(f"{label:<22} {cpu['seconds']:8.3f} {gpu['seconds']:8.3f} {cpu['seconds'] / gpu['seconds']:8.1f} "
              f"{gpu['gpu_mb'] or 0:7.0f} {bw or 0:7.1f} {frac:>8}  {gpu['device']}")
    if peak:
        print(f"device peak memory bandwidth: {peak:.0f} GB/s")
    print("sizes: " + "; ".join(f"{n}: {' '.join(p)}" for n, p in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
