"""Per-task limits and cost in real runs: the `workbench` CLI in a fresh process, real task processes
stopped over their limits, the record's CPU-seconds/peak memory/cost read back by `workbench runs`,
and a real `dask scheduler` with `dask worker` processes, one of them SIGKILLed while it runs a task
(a preempted spot machine): the run finishes and its products equal a clean local run."""

from __future__ import annotations

import contextlib
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
from helpers import write_notebook

from workbench.runtime import load
from workbench.verification.compare import compare

DASK = Path(sys.executable).parent / "dask"
PRICES = '[tool.workbench.cost]\ncpu_hour = 0.05\ngpu_hour = 2.5\ngb_hour = 0.01\ncurrency = "EUR"\n'


def _record(root: Path) -> dict:
    return json.loads(sorted((root / ".workbench" / "runs").glob("*.json"))[-1].read_text())


def test_usage_cost_and_cpus_in_the_record_and_runs(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", [
        ("s = 0\nfor i in range(4_000_000):\n    s += i", ["task:burn"]),
        ("import os\nblob = bytearray(200 * 2**20)\nfor i in range(0, len(blob), 4096):\n    blob[i] = 1\n"
         "size = len(blob)\nblob = None\ncpus = len(os.sched_getaffinity(0))\nthreads = os.environ['OMP_NUM_THREADS']\n"
         "total = s", ["task:big", "memory:2G", "cpus:1", "timeout:5m"]),
    ])
    (tmp_path / "pyproject.toml").write_text(PRICES)
    workbench("run", "nb.ipynb", "--no-version", cwd=tmp_path, check=True)
    record = _record(tmp_path)
    tasks = {t["name"]: t for t in record["tasks"]}
    burn, big = tasks["burn"], tasks["big"]
    assert burn["cpu_seconds"] > 0.1 and burn["gpu_seconds"] == 0
    assert burn["cpu_seconds"] <= burn["seconds"] * 1.5 + 0.1  # one thread: not the whole process's life
    assert big["peak_rss_mb"] >= 200  # its own peak (the 200 MB it touched)
    products = tmp_path / "pipelines" / "nb" / "products" / "big"
    assert load(products / "cpus") == 1 and load(products / "threads") == "1"
    for t in (burn, big):
        expected = (t["cpu_seconds"] / 3600 * 0.05 + t["peak_rss_mb"] / 1024 * t["seconds"] / 3600 * 0.01)
        assert t["cost"] == pytest.approx(expected, rel=1e-3, abs=1e-8)
    usage = record["usage"]
    assert usage["currency"] == "EUR" and usage["cost"] == pytest.approx(burn["cost"] + big["cost"], abs=1e-8)
    assert usage["cpu_seconds"] == pytest.approx(burn["cpu_seconds"] + big["cpu_seconds"], abs=1e-3)

    table = workbench("runs", cwd=tmp_path, check=True).stdout
    assert "cost" in table.splitlines()[0] and "EUR" in table and "cpu-s" in table
    listed = json.loads(workbench("runs", "--json", cwd=tmp_path, check=True).stdout)[0]
    assert listed["usage"]["cost"] == usage["cost"]
    assert {t["name"]: t["cpu_seconds"] for t in listed["tasks"]} == {"burn": burn["cpu_seconds"],
                                                                       "big": big["cpu_seconds"]}


def test_limited_tasks_run_no_more_at_once_than_jobs(tmp_path):
    """A limited task has a process of its own, outside the runner's pool of --jobs processes: the
    scheduler started every ready one at once (4 independent `memory:` tasks under --jobs 2 ran 4
    at a time). Each task here leaves a file while it runs and counts the files it sees."""
    running = tmp_path / "running"
    running.mkdir()
    body = ("import os, time\nmine = os.path.join({dir!r}, {name!r})\nopen(mine, 'w').close()\n"
            "seen = []\nfor _ in range(15):\n    seen.append(len(os.listdir({dir!r})))\n    time.sleep(0.1)\n"
            "os.remove(mine)\n{name} = max(seen)")
    write_notebook(tmp_path / "nb.ipynb", [
        (body.format(dir=str(running), name=f"t{i}"), [f"task:t{i}", "memory:1G"]) for i in range(4)])
    workbench("run", "nb.ipynb", "--no-version", "--jobs", "2", cwd=tmp_path, check=True)
    products = tmp_path / "pipelines" / "nb" / "products"
    most = {f"t{i}": load(products / f"t{i}" / f"t{i}") for i in range(4)}
    assert max(most.values()) <= 2, most  # never more than --jobs at once ...
    assert max(most.values()) == 2, most  # ... and two at once: the limit is a cap, not a serialisation


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_task_over_its_memory_limit_is_stopped_and_named(tmp_path, jobs):
    write_notebook(tmp_path / "nb.ipynb", [
        ("x = 1", ["task:load"]),
        ("import time\nheld = []\nfor _ in range(80):\n    chunk = bytearray(25 * 2**20)\n"
         "    chunk[::4096] = b'\\x01' * len(chunk[::4096])\n    held.append(chunk)\n    time.sleep(0.05)\ny = x",
         ["task:hog", "memory:300M"]),
    ])
    started = time.monotonic()
    proc = workbench("run", "nb.ipynb", "--no-version", "--jobs", jobs, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 60
    out = proc.stdout + proc.stderr
    assert "task 'hog' failed" in out and "MemoryLimitExceeded" in out and "over its limit memory:300M" in out
    used = int(out.split("task 'hog' used ")[1].split(" MB")[0])
    assert 300 < used < 1000, out
    assert "raise the task's `memory:` tag" in out
    record = _record(tmp_path)
    assert record["status"] == "FAILED"
    assert {t["name"]: t["status"] for t in record["tasks"]} == {"load": "ran", "hog": "failed"}


def test_a_task_over_its_timeout_is_stopped_and_named(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", [("import time\ntime.sleep(120)\nx = 1", ["task:slow", "timeout:2s"])])
    started = time.monotonic()
    proc = workbench("run", "nb.ipynb", "--no-version", "--isolated", cwd=tmp_path)
    elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "TimeoutExceeded: task 'slow' ran for" in out and "timeout:2s" in out, out
    assert elapsed < 40


# --- Dask: resources, and a worker killed mid-task ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _cluster(logs: Path, n_workers: int):
    """A `dask scheduler` and `n_workers` `dask worker --no-nanny` processes (a killed worker stays
    dead, as a preempted machine does); yields (address, {worker address: pid})."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []

    def start(name: str, argv: list[str]) -> None:
        log = (logs / f"{name}.log").open("w")
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=logs, start_new_session=True))

    try:
        start("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                            "--dashboard-address", ":0"])
        for i in range(n_workers):
            start(f"worker{i}", [str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--host", "127.0.0.1"])
        deadline = time.time() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(n_workers, timeout=max(1, deadline - time.time()))
                    pids = client.run(os.getpid)
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise AssertionError("the Dask cluster did not start:\n" + "\n".join(
                        p.read_text()[-2000:] for p in logs.glob("*.log"))) from None
                time.sleep(1)
        yield address, pids
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


SLOW = [
    ("import numpy as np\nrng = np.random.default_rng(0)\ndata = rng.normal(size=(2000, 5))", ["task:load"]),
    ("import time\nwith open('partial.txt', 'w') as f:\n    f.write('half')\ntime.sleep(6)\n"
     "scores = (data ** 2).sum(axis=1)\nmean = float(scores.mean())", ["task:slow", "memory:1G", "cpus:1"]),
    ("top = np.sort(scores)[-10:]", ["task:report"]),
]


@pytest.mark.slow
def test_a_dask_worker_killed_mid_task_does_not_fail_the_run(tmp_path):
    """The worker running `slow` is SIGKILLed 2 s into it: the scheduler reruns it on the other
    worker, the run finishes, and every product equals a clean local run's. The cluster declares
    no `memory`/`cpus` resources: the run warns and does not wait for them."""
    from distributed import Client

    project = tmp_path / "project"
    project.mkdir()
    write_notebook(project / "nb.ipynb", SLOW)
    workbench("run", "nb.ipynb", "--no-version", "-o", "pipelines/local", cwd=project, check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    with _cluster(logs, 2) as (address, pids):
        run = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "nb.ipynb", "--no-version", "-o",
                                "pipelines/dask", "--executor", "dask", "--scheduler", address],
                               cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killed = None
        with Client(address, timeout=10) as client:
            deadline = time.time() + 60
            while killed is None and time.time() < deadline and run.poll() is None:
                for worker, keys in client.processing().items():
                    if any(str(k).startswith("workbench-slow-") for k in keys):
                        time.sleep(2)  # well inside its 6 s
                        os.kill(pids[worker], signal.SIGKILL)
                        killed = worker
                        break
                time.sleep(0.2)
        out, _ = run.communicate(timeout=180)
    assert killed, f"the slow task was never seen running:\n{out}"
    assert run.returncode == 0, out
    assert "no Dask worker declares a `memory` resource" in out and "no Dask worker declares a `cpus` resource" in out
    record = _record(project)
    tasks = {t["name"]: t for t in record["tasks"]}
    assert record["status"] == "FINISHED" and all(t["status"] == "ran" for t in tasks.values())
    assert tasks["slow"]["worker"] != killed  # rerun on the surviving worker
    compared = []
    for product in sorted(p for p in (project / "pipelines" / "local" / "products").glob("*/*") if p.is_dir()):
        rel = product.relative_to(project / "pipelines" / "local" / "products")
        result = compare(load(product), load(project / "pipelines" / "dask" / "products" / rel))
        assert result.equal, f"{rel}: {result.detail}"
        compared.append(rel.as_posix())
    assert {"slow/scores", "report/top"} <= set(compared)
    print(out)  # shown with -rP: what the run said while it lost a worker
