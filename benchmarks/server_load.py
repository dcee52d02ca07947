"""The server extension under load: 50 concurrent plan requests for a 1,000-cell notebook.

Starts `jupyter lab` on 127.0.0.1 (the venv's, with Workbench's server extension) in a scratch
folder and measures, in the same run:

  baseline      one plan request at a time (each for new content: the planner's own cost)
  same content  50 at once for the same notebook (the panel of many tabs/users: planned once,
                the others wait on that computation or read the cached reply)
  distinct      50 at once, each notebook different (no two alike: the worst case, every request
                planned; the planner holds the GIL, so these queue)
  status        /api/status answered while the distinct burst is in flight

Aim (issue 8): every request of a burst answered correctly in under 2 s, the server responsive.

    .venv/bin/python benchmarks/server_load.py [--cells 1000] [--requests 50]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

TOKEN = "bench-token"
JUPYTER = Path(sys.executable).parent / "jupyter"


def notebook(cells: int, variant: int) -> dict:
    source = []
    for t in range(cells // 5):
        source.append(({"tags": [f"task:t{t}"]}, f"v{t} = {f'v{t - 1}' if t else variant} + 1"))
        source += [({}, f"w{t}_{k} = v{t} * {k}") for k in range(4)]
    return {
        "cells": [{"cell_type": "code", "id": f"c{i:05d}", "metadata": meta, "source": src, "outputs": [],
                   "execution_count": None} for i, (meta, src) in enumerate(source)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def start(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".cfg"), "JUPYTER_RUNTIME_DIR": str(root / ".rt")}
    proc = subprocess.Popen([str(JUPYTER), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
                             "--ServerApp.port_retries=0"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status", headers=HEADERS, timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.25)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("jupyter lab did not start in 90 s")


HEADERS = {"Authorization": f"token {TOKEN}"}


def plan(url: str, content: dict, tasks: int) -> float:
    started = time.perf_counter()
    r = requests.post(f"{url}/workbench/api/plan", headers=HEADERS, timeout=120,
                      data=json.dumps({"path": "big.ipynb", "content": content}))
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and len(r.json()["plan"]["tasks"]) == tasks, r.text[:300]
    return elapsed


def burst(url: str, contents: list[dict], tasks: int, probe: bool = False) -> tuple[list[float], float | None]:
    with ThreadPoolExecutor(len(contents)) as pool:
        futures = [pool.submit(plan, url, c, tasks) for c in contents]
        status = None
        if probe:
            t = time.perf_counter()
            requests.get(f"{url}/api/status", headers=HEADERS, timeout=60).raise_for_status()
            status = time.perf_counter() - t
        return [f.result() for f in futures], status


def row(name: str, times: list[float], base: float) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return (f"{name:<28} {len(times):>4} {statistics.median(times):>8.3f} {p99:>8.3f} {times[-1]:>8.3f} "
            f"{times[-1] / base:>8.1f}x {'yes' if times[-1] < 2 else 'NO':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    tasks = args.cells // 5
    with tempfile.TemporaryDirectory(prefix="wb-bench-load-") as tmp:
        root = Path(tmp)
        (root / "big.ipynb").write_text(json.dumps(notebook(args.cells, 0)))
        proc, url = start(root)
        try:
            plan(url, notebook(args.cells, -1), tasks)  # warm-up: imports in the server
            baseline = [plan(url, notebook(args.cells, 1000 + i), tasks) for i in range(5)]
            base = statistics.median(baseline)
            same, _ = burst(url, [notebook(args.cells, 7)] * args.requests, tasks)
            distinct, status = burst(url, [notebook(args.cells, 2000 + i) for i in range(args.requests)], tasks,
                                     probe=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    print(f"plan requests for a {args.cells}-cell notebook ({tasks} tasks), {os.cpu_count()} CPU(s); seconds")
    print(f"{'':<28} {'n':>4} {'p50':>8} {'p99':>8} {'max':>8} {'max/base':>9} {'<2 s':>6}")
    print(row("baseline: one at a time", baseline, base))
    print(row(f"{args.requests} at once, same content", same, base))
    print(row(f"{args.requests} at once, all distinct", distinct, base))
    print(f"/api/status during the distinct burst: {status:.3f} s")


if __name__ == "__main__":
    main()
