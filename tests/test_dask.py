"""`workbench run --executor dask` against a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1, one declaring `--resources GPU=1`. The samples must give the
products of a local run, and the GPU task must run on the GPU worker (the run record names it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import workbench

from workbench.compare import compare
from workbench.runtime import load

pytestmark = pytest.mark.slow
DASK = Path(sys.executable).parent / "dask"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the GPU worker's address); every process is stopped afterwards."""
    logs = tmp_path_factory.mktemp("dask")
    port, gpu_port = _free_port(), _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []

    def start(name: str, *args: str) -> None:
        log = (logs / f"{name}.log").open("w")
        procs.append(subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT,
                                      cwd=logs, start_new_session=True))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0")
        common = ["--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"]
        start("cpu-worker", "worker", address, *common)
        start("gpu-worker", "worker", address, *common, "--worker-port", str(gpu_port), "--resources", "GPU=1")
        from distributed import Client

        deadline = time.time() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.time()))
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise AssertionError("the Dask cluster did not start:\n" + "\n".join(
                        p.read_text()[-2000:] for p in logs.glob("*.log"))) from None
                time.sleep(1)
        yield address, f"tcp://127.0.0.1:{gpu_port}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _record(root: Path) -> dict:
    return json.loads(sorted((root / ".workbench" / "runs").glob("*.json"))[-1].read_text())


def _same_products(local: Path, remote: Path) -> list[str]:
    compared = []
    for product in sorted(p for p in (local / "products").glob("*/*") if p.is_dir()):
        rel = product.relative_to(local / "products")
        result = compare(load(product), load(remote / "products" / rel))
        assert result.equal, f"{rel}: {result.detail}"
        compared.append(rel.as_posix())
    return compared


def test_the_samples_on_a_dask_cluster_equal_a_local_run(cluster, project):
    address, gpu_worker = cluster
    for notebook, params in [("churn", ["n_customers=500", "n_estimators=10"]), ("gpu_features", ["n_points=3000"])]:
        pairs = [x for p in params for x in ("-p", p)]
        workbench("run", f"notebooks/{notebook}.ipynb", *pairs, "--no-version", cwd=project, check=True)
        proc = workbench("run", f"notebooks/{notebook}.ipynb", *pairs, "--no-version", "-o", f"pipelines/{notebook}_dask",
                         "--executor", "dask", "--scheduler", address, cwd=project, check=True)
        record = _record(project)
        assert record["status"] == "FINISHED" and record["pipeline_dir"] == f"pipelines/{notebook}_dask"
        tasks = {t["name"]: t for t in record["tasks"]}
        assert all(t["status"] == "ran" and t["worker"].startswith("tcp://127.0.0.1:") for t in tasks.values())
        compared = _same_products(project / "pipelines" / notebook, project / "pipelines" / f"{notebook}_dask")
        assert compared, "no products compared"
        if notebook == "churn":
            assert "train/clf" in compared and record["metrics"]["auc"] > 0.5
            assert len({t["worker"] for t in tasks.values()}) >= 1
        else:
            assert tasks["assign"]["worker"] == gpu_worker, "the GPU task ran on a worker without a GPU"
            assert "no usable GPU" not in proc.stderr  # the cluster has a GPU worker: no fallback at placement


def test_an_unreachable_scheduler_is_a_clear_error(project):
    proc = workbench("run", "notebooks/gpu_features.ipynb", "--executor", "dask",
                     "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--no-version", cwd=project)
    assert proc.returncode == 2 and "cannot reach the Dask scheduler" in proc.stderr and "fix:" in proc.stderr
