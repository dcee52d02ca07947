"""Faults lose nothing: a task killed mid-run, a product write that fails (disk full), a DVC remote
that is gone. Each through the real CLI, in a scratch project.

Disk full is simulated per process with RLIMIT_FSIZE (no root, no loop device needed): a write past
the limit fails with EFBIG exactly where ENOSPC would, inside the product writer.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

pytestmark = pytest.mark.slow

SLOW_TASK = [
    ("n = 200_000\npause = 0.0", "parameters"),
    ("import time\nimport numpy as np", "imports"),
    ("a = np.arange(n)", "task:a"),
    ("time.sleep(pause)\nb = a * 2", "task:b"),
    ("c = int(b.sum())", "task:c"),
]


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    return {line.split()[0] for line in proc.stdout.splitlines() if " ran in " in line}


def test_a_task_killed_mid_run_is_redone_with_what_follows(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", SLOW_TASK)
    assert workbench("run", "nb.ipynb", "--no-version", cwd=tmp_path).returncode == 0
    products = tmp_path / "pipelines" / "nb" / "products"
    # b sleeps, then writes; kill the whole run (SIGKILL: no cleanup of any kind) while it sleeps
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "nb.ipynb", "--no-version",
                             "-p", "pause=30.0", "-p", "n=300000"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    seen = ""
    while "b" not in seen.split():  # progress lines on stderr: "running b (...)"
        line = proc.stderr.readline()
        assert line or proc.poll() is None, f"run ended early: {proc.stdout.read()}"
        if line.startswith("running "):
            seen += " " + line.split()[1]
        assert time.monotonic() < deadline, "task b never started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # a ran with n=300000 and wrote its product; b was killed before writing. Nothing half-written:
    assert not [p for p in products.rglob("*.tmp")], list(products.rglob("*"))
    # The next run with the same parameters trusts a (its product is complete and keyed) but redoes
    # b and c: b's product on disk is the old run's, made from other inputs.
    again = workbench("run", "nb.ipynb", "--no-version", "-p", "n=300000", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ran(again) == {"b", "c"}, again.stdout
    from workbench.runtime.products import load

    assert len(load(products / "a" / "a")) == 300_000  # written, complete, by the killed run

    assert load(products / "c" / "c") == sum(range(300_000)) * 2


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write(), not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_while_writing_a_product_fails_clearly_and_leaves_nothing(tmp_path: Path):
    cells = [("n = 10", "parameters"), ("import numpy as np", "imports"),
             ("small = np.arange(n)", "task:a"), ("big = np.zeros((n, 2_000_000))", "task:b"),
             ("total = float(big.sum() + small.sum())", "task:c")]
    write_notebook(tmp_path / "nb.ipynb", cells)
    env = {**os.environ, "WORKBENCH_TRACKING": "off"}
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "nb.ipynb", "--no-version"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, preexec_fn=_limit_file_size(20_000_000),
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "task 'b' failed" in proc.stderr and "big" in proc.stderr, proc.stderr
    assert "cannot save variable 'big'" in proc.stderr and "no room to write it" in proc.stderr, proc.stderr
    assert re.search(r"fix: free disk space", proc.stderr), proc.stderr
    assert re.search(r"cell 3\b", proc.stderr), proc.stderr  # where the notebook defines `big`
    products = tmp_path / "pipelines" / "nb" / "products"
    assert not [p for p in products.rglob("*") if p.name.endswith(".tmp")], list(products.rglob("*"))
    assert not (products / "b" / "big").exists() or not any((products / "b" / "big").iterdir())
    # room again: the rerun redoes b (and c), not a
    again = workbench("run", "nb.ipynb", "--no-version", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ran(again) == {"b", "c"}, again.stdout


def test_a_missing_dvc_remote_warns_and_keeps_the_record(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", [("x = [1, 2, 3]", "task:a"), ("y = sum(x)", ["task:b", "metrics"])])
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    first = workbench("run", "nb.ipynb", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    remote = tmp_path / ".workbench" / "dvc-remote"
    assert remote.is_dir()
    remote.rename(tmp_path / "remote-moved")
    (tmp_path / ".workbench" / "dvc-remote").write_text("not a folder")  # the remote is unusable
    second = workbench("run", "nb.ipynb", "--force", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "warning" in second.stderr.lower() and "Traceback" not in second.stderr, second.stderr
    runs = workbench("runs", "--json", cwd=tmp_path, check=True)
    import json

    records = json.loads(runs.stdout)
    assert len(records) == 2 and records[0]["status"] == "FINISHED", records
    assert records[0]["metrics"]["y"] == 6


def _start_run(folder: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "nb.ipynb", "--no-version", *args],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.strip().startswith(prefix):
            return
        assert line or proc.poll() is None, "the run ended before it got there"
    raise AssertionError(f"no line starting {prefix!r}")


def test_two_runs_of_one_pipeline_at_once_the_second_waits(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", SLOW_TASK)
    first = _start_run(tmp_path, "-p", "pause=4.0")
    _wait_for_line(first, "running b")  # the first run holds the pipeline
    second = _start_run(tmp_path, "-p", "pause=4.0")
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "waiting: pid" in err2 and "is building" in err2, err2
    # the second found the first one's products complete and current: nothing left to do
    assert "nothing to do" in out2, out2 + err2
    from workbench.runtime.products import load

    assert load(tmp_path / "pipelines" / "nb" / "products" / "c" / "c") == sum(range(200_000)) * 2
    # and one that cannot wait long enough says who holds the pipeline
    holder = _start_run(tmp_path, "--force", "-p", "pause=6.0")
    _wait_for_line(holder, "running b")
    impatient = _start_run(tmp_path, "--force", env={"WORKBENCH_LOCK_TIMEOUT": "1"})
    out3, err3 = impatient.communicate(timeout=120)
    holder.communicate(timeout=300)
    assert impatient.returncode == 2 and "gave up after 1s" in err3 and "Traceback" not in err3, err3
    assert re.search(r"fix: wait for that run", err3), err3
