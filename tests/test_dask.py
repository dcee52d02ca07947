"""`workbench run --executor dask` against a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1, one declaring `--resources GPU=1`. The samples must give the
products of a local run, and the GPU task must run on the GPU worker (the run record names it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import workbench

from workbench.runtime import load
from workbench.verification.compare import compare

pytestmark = pytest.mark.slow
DASK = Path(sys.executable).parent / "dask"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _dask_cluster(logs: Path, workers: dict[str, list[str]]):
    """A `dask scheduler` and one process per entry of `workers` (name -> command prefix before
    `dask worker ...` and the worker's extra options); yields the scheduler's address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []

    def start(name: str, argv: list[str]) -> None:
        log = (logs / f"{name}.log").open("w")
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=logs, start_new_session=True))

    try:
        start("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--dashboard-address", ":0"])
        common = ["--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"]
        for name, (prefix, extra) in workers.items():
            start(name, [*prefix, str(DASK), "worker", address, *common, *extra])
        from distributed import Client

        deadline = time.time() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(len(workers), timeout=max(1, deadline - time.time()))
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise AssertionError("the Dask cluster did not start:\n" + "\n".join(
                        p.read_text()[-2000:] for p in logs.glob("*.log"))) from None
                time.sleep(1)
        yield address
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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the GPU worker's address); every process is stopped afterwards."""
    gpu_port = _free_port()
    workers = {"cpu-worker": ([], []), "gpu-worker": ([], ["--worker-port", str(gpu_port), "--resources", "GPU=1"])}
    with _dask_cluster(tmp_path_factory.mktemp("dask"), workers) as address:
        yield address, f"tcp://127.0.0.1:{gpu_port}"


def _record(root: Path) -> dict:
    return json.loads(sorted((root / ".workbench" / "runs").glob("*.json"))[-1].read_text())


def _record_of(root: Path, pipeline: str) -> dict:
    records = [json.loads(p.read_text()) for p in sorted((root / ".workbench" / "runs").glob("*.json"))]
    return [r for r in records if r["pipeline_dir"] == f"pipelines/{pipeline}"][-1]


def _same_products(local: Path, remote: Path) -> list[str]:
    compared = []
    for product in sorted(p for p in (local / "products").glob("*/*") if p.is_dir()):
        rel = product.relative_to(local / "products")
        if product.name.endswith(".fit"):  # the model's fit capture (runtime/fit_capture.py), not a product
            local_fit = json.loads((product / "fit.json").read_text())
            remote_fit = json.loads((remote / "products" / rel / "fit.json").read_text())
            assert local_fit["columns"] == remote_fit["columns"], rel
            continue
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


def test_workers_exchange_products_through_a_store_instead_of_the_pipeline_folder(cluster, project, tmp_path_factory):
    """--products URL: tasks run in scratch copies on the workers; inputs, files written by one task
    for another (hard_cases) and products go through a file:// store, and come home equal to a
    local run's; the run's folder in the store is removed afterwards."""
    address, _ = cluster
    store = tmp_path_factory.mktemp("store")
    for notebook, params in [("churn", ["-p", "n_customers=500", "-p", "n_estimators=10"]), ("hard_cases", [])]:
        workbench("run", f"notebooks/{notebook}.ipynb", *params, "--no-version", cwd=project, check=True)
        local_files = {p.name: p.read_bytes() for p in (project / "notebooks" / "output").glob("*")}
        shutil.rmtree(project / "notebooks" / "output", ignore_errors=True)
        workbench("run", f"notebooks/{notebook}.ipynb", *params, "--no-version", "-o", f"pipelines/{notebook}_store",
                  "--executor", "dask", "--scheduler", address, "--products", f"file://{store}", cwd=project, check=True)
        record = _record(project)
        assert record["status"] == "FINISHED" and record["pipeline_dir"] == f"pipelines/{notebook}_store"
        assert all(t["status"] == "ran" and t["worker"].startswith("tcp://") for t in record["tasks"])
        if notebook == "churn":
            assert "train/clf" in _same_products(project / "pipelines" / "churn", project / "pipelines" / "churn_store")
        else:  # files one task writes for another, in the notebook's folder
            assert local_files and {p.name: p.read_bytes() for p in (project / "notebooks" / "output").glob("*")} == local_files
            assert record["metrics"] == json.loads(json.dumps(_record_of(project, "hard_cases")["metrics"]))
        assert list(store.iterdir()) == [], "the run's folder stayed in the store"
        assert not (project / "pipelines" / f"{notebook}_store" / ".workbench" / "incoming").exists()
    # a second run over the store: nothing to do, decided locally from the products that came home
    proc = workbench("run", "pipelines/churn_store", "-p", "n_customers=500", "-p", "n_estimators=10", "--no-version",
                     "--executor", "dask", "--scheduler", address, "--products", f"file://{store}", cwd=project, check=True)
    assert "nothing to do" in proc.stderr + proc.stdout


def test_a_failing_task_on_a_store_worker_names_its_cell(cluster, project, make_notebook):
    address, _ = cluster
    make_notebook([("n = 2", "parameters"), ("values = list(range(n))", "task:make"),
                   ("total = sum(values)\nratio = total / 0", "task:divide")], name="notebooks/fails.ipynb")
    proc = workbench("run", "notebooks/fails.ipynb", "--no-version", "--executor", "dask", "--scheduler", address,
                     "--products", str(project / "store"), cwd=project)
    assert proc.returncode == 1, proc.stderr
    assert "task 'divide' failed" in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert "notebooks/fails.ipynb" in proc.stderr and "cell 2" in proc.stderr
    products = project / "pipelines" / "fails" / "products"
    assert (products / "make" / "values").is_dir() and not (products / "divide").exists()
    assert (products / "divide.ipynb").is_file(), "the executed notebook with the traceback did not come back"


def _can_hide_folders() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _can_hide_folders(), reason="hiding the project from a worker needs a mount namespace "
                    "(`unshare --mount`, root); the store itself is tested above with workers that could see it")
def test_a_worker_that_cannot_see_the_project_runs_it_through_the_store(project, tmp_path_factory):
    """The worker runs in its own mount namespace with an empty tmpfs over the project folder: the
    shared-folder mode refuses it, and so does a store inside the hidden folder, naming the worker;
    --products on a store it reaches runs the pipeline to the local result."""
    logs, store = tmp_path_factory.mktemp("dask-hidden"), tmp_path_factory.mktemp("store")
    hide = ["unshare", "--mount", "sh", "-c", f'mount -t tmpfs none "{project}" && exec "$0" "$@"']
    params = ["-p", "n_customers=500", "-p", "n_estimators=10", "--no-version"]
    workbench("run", "notebooks/churn.ipynb", *params, cwd=project, check=True)
    local = _record(project)
    with _dask_cluster(logs, {"blind-worker": (hide, [])}) as address:
        dask = ["--executor", "dask", "--scheduler", address, "-o", "pipelines/churn_remote"]
        proc = workbench("run", "notebooks/churn.ipynb", *params, *dask, cwd=project)
        assert proc.returncode == 2 and "the folder is not there" in proc.stderr, proc.stderr
        proc = workbench("run", "notebooks/churn.ipynb", *params, *dask, "--products", str(project / "store"),
                         cwd=project)  # a store the worker cannot see either
        assert proc.returncode == 2 and "cannot use the product store" in proc.stderr and "fix:" in proc.stderr
        assert not list((project / "store").rglob("probe")), "the probe stayed in the store"
        workbench("run", "notebooks/churn.ipynb", *params, *dask, "--products", f"file://{store}",
                  cwd=project, check=True)
    remote = _record(project)
    assert remote["status"] == "FINISHED" and remote["metrics"] == local["metrics"]
    assert "train/clf" in _same_products(project / "pipelines" / "churn", project / "pipelines" / "churn_remote")
