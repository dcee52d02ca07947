"""End to end: notebooks export, run through Ploomber and verify equal, through the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT, SHARED, workbench
from helpers import write_notebook

pytestmark = pytest.mark.slow

SAMPLES = [ROOT / "notebooks" / "churn.ipynb", ROOT / "notebooks" / "hard_cases.ipynb"] + sorted(
    SHARED.glob("*.ipynb")
)


@pytest.mark.parametrize("notebook", SAMPLES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_sample_exports_runs_and_verifies_equal(notebook: Path, tmp_path: Path):
    out = tmp_path / "pipe"
    proc = workbench("verify", notebook, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the pipeline reproduces the notebook" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()[2:] if line and not line.startswith("the ")]
    assert rows, proc.stdout
    assert all(r[2] in ("equal", "not") for r in rows), proc.stdout
    assert sum(r[2] == "equal" for r in rows) >= len(rows) - 1
    # the executed task notebooks stay as readable reports
    plan = json.loads((out / "plan.json").read_text())
    for task in plan["tasks"]:
        assert (out / "products" / f"{task['name']}.ipynb").exists()


def test_verify_detects_a_difference(tmp_path: Path):
    """A pipeline whose task was changed by hand no longer matches: verify must say so and fail."""
    nb = tmp_path / "nb.ipynb"
    write_notebook(nb, [("n = 3", "parameters"), ("x = list(range(n))", "task:a"), ("total = sum(x)", "task:b")])
    workbench("export", nb, "-o", tmp_path / "pipe", check=True)
    task = tmp_path / "pipe" / "tasks" / "b.py"
    task.write_text(task.read_text().replace("total = sum(x)", "total = sum(x) + 1"))
    proc = workbench("verify", nb, "-o", tmp_path / "pipe")
    # export refuses to overwrite the hand edit, so verify stops before running anything
    assert proc.returncode == 2
    assert "edited by hand" in proc.stderr and "tasks/b.py" in proc.stderr
    # run the edited pipeline directly and compare with the notebook's snapshot
    from workbench.execute.build import build
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan
    from workbench.verification.pipeline import compare_products, run_notebook

    plan = build_plan(read_notebook(nb))
    build(tmp_path / "pipe", plan, {"n": 3})
    work = tmp_path / "work"
    work.mkdir()
    run_notebook(nb, plan, {}, work)
    rows = {r.variable: r for r in compare_products(plan, tmp_path / "pipe", work / "notebook")}
    assert rows["x"].status == "equal"
    assert rows["total"].status == "different" and "3" in rows["total"].detail and "4" in rows["total"].detail


def _ran(proc) -> set[str]:
    return {line.split()[0] for line in proc.stdout.splitlines() if "ran in" in line}


def _edit_cell(nb: Path, tag: str, edit) -> None:
    data = json.loads(nb.read_text())
    cell = next(c for c in data["cells"] if tag in c["metadata"].get("tags", []))
    cell["source"] = edit("".join(cell["source"]))
    nb.write_text(json.dumps(data))


def test_second_run_runs_nothing_and_a_change_reruns_only_its_task_and_dependents(project: Path):
    nb = project / "notebooks" / "churn.ipynb"
    first = workbench("run", nb, cwd=project, check=True)
    assert "ran 5 of 5" in first.stdout
    again = workbench("run", "pipelines/churn", cwd=project, check=True)
    assert "nothing to do" in again.stdout

    # a change to `load` that changes its data reruns it and everything that depends on it
    _edit_cell(nb, "task:load", lambda src: src + "\nraw = raw.head(4000)")
    changed = workbench("run", nb, cwd=project, check=True)
    assert _ran(changed) == {"load", "features", "split", "train", "evaluate"}, changed.stdout

    # a change to `train` reruns train and evaluate, nothing upstream
    _edit_cell(nb, "task:train", lambda src: src.replace("random_state=seed", "random_state=seed + 1"))
    changed = workbench("run", nb, cwd=project, check=True)
    assert _ran(changed) == {"train", "evaluate"}, changed.stdout

    # a parameter only `train` takes reruns train and what depends on it
    param = workbench("run", "pipelines/churn", "-p", "n_estimators=20", cwd=project, check=True)
    assert _ran(param) == {"train", "evaluate"}, param.stdout

    forced = workbench("run", "pipelines/churn", "-p", "n_estimators=20", "--force", cwd=project, check=True)
    assert "ran 5 of 5" in forced.stdout


def test_reruns_are_keyed_on_content_not_timestamps(tmp_path: Path):
    """Touching files reruns nothing; a comment is no change; an edited helper module reruns its
    users only; a rerun task that produces the same content does not rerun what follows."""
    (tmp_path / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "data.csv").write_text("v\n1\n2\n")
    nb = tmp_path / "nb.ipynb"
    write_notebook(nb, [
        ("import pandas as pd\nfrom helpers import double", "imports"),
        ("df = pd.read_csv('data.csv')", "task:load"),
        ("total = int(df['v'].sum())", "task:plain"),
        ("doubled = double(total)", "task:uses_helper"),
        ("report = f'{total} {doubled}'", "task:report"),
    ])
    pipe = tmp_path / "pipe"
    assert _ran(workbench("run", nb, "-o", pipe, check=True)) == {"load", "plain", "uses_helper", "report"}

    for path in [tmp_path / "helpers.py", tmp_path / "data.csv", *pipe.rglob("*")]:
        path.touch()
    assert "nothing to do" in workbench("run", pipe, check=True).stdout

    task = pipe / "tasks" / "plain.py"
    task.write_text(task.read_text() + "\n# a comment\n\n")
    assert "nothing to do" in workbench("run", pipe, check=True).stdout

    (tmp_path / "helpers.py").write_text("def double(x):\n    return x + x  # same result\n")
    proc = workbench("run", pipe, check=True)
    # uses_helper reruns (its module changed) but makes the same `doubled`: report is not rerun
    assert _ran(proc) == {"uses_helper"}, proc.stdout

    (tmp_path / "helpers.py").write_text("def double(x):\n    return 3 * x\n")
    assert _ran(workbench("run", pipe, check=True)) == {"uses_helper", "report"}

    (tmp_path / "data.csv").write_text("v\n1\n5\n")
    assert _ran(workbench("run", pipe, check=True)) == {"load", "plain", "uses_helper", "report"}

    # a product changed by hand is not trusted
    from workbench.runtime import load, save

    save(0, pipe / "products" / "plain" / "total")
    assert _ran(workbench("run", pipe, check=True)) == {"plain"}
    assert load(pipe / "products" / "plain" / "total") == 6


def test_parameters_reach_the_tasks_typed(project: Path):
    workbench("run", "notebooks/churn.ipynb", "-p", "n_customers=300", "-p", "test_size=0.5", cwd=project, check=True)
    import pandas as pd

    raw = pd.read_parquet(next((project / "pipelines/churn/products/load/raw").glob("*.parquet")))
    assert len(raw) == 300
    x_test = pd.read_parquet(next((project / "pipelines/churn/products/split/X_test").glob("*.parquet")))
    assert len(x_test) == 150


def test_products_have_formats_fit_for_their_types(project: Path):
    workbench("run", "notebooks/churn.ipynb", cwd=project, check=True)
    products = project / "pipelines" / "churn" / "products"
    assert list((products / "load" / "raw").glob("*.parquet"))
    assert list((products / "split" / "y_train").glob("*.series.parquet"))
    assert list((products / "evaluate" / "proba").glob("*.npy"))
    assert list((products / "train" / "clf").glob("*.pkl"))


def test_ploomber_build_works_in_the_exported_folder(project: Path):
    workbench("export", "notebooks/churn.ipynb", cwd=project, check=True)
    pipeline = project / "pipelines" / "churn"
    env = {"PLOOMBER_STATS_ENABLED": "false", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build"], cwd=pipeline,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (pipeline / "products" / "evaluate" / "auc").is_dir()
    # and a parameter through Ploomber's own CLI
    proc = subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build", "--env--n_customers", "200"],
                          cwd=pipeline, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_independent_tasks_run_in_parallel_with_jobs(tmp_path: Path):
    nb = tmp_path / "wide.ipynb"
    write_notebook(nb, [
        ("import time", "imports"),
        ("a = 1", "task:root"),
        ("time.sleep(1)\nb1 = a + 1", "task:left"),
        ("time.sleep(1)\nb2 = a + 2", "task:right"),
        ("total = b1 + b2", "task:join"),
    ])
    proc = workbench("run", nb, "-o", tmp_path / "pipe", "--jobs", "2", check=True)
    assert "ran 4 of 4" in proc.stdout
    from workbench.runtime import load

    assert load(tmp_path / "pipe" / "products" / "join" / "total") == 5


def test_tasks_run_in_the_notebook_folder(tmp_path: Path):
    """Relative paths mean what they meant in the notebook, wherever the pipeline was exported."""
    (tmp_path / "analysis" / "data").mkdir(parents=True)
    (tmp_path / "analysis" / "data" / "sales.csv").write_text("amount\n1\n2\n3\n")
    nb = tmp_path / "analysis" / "sales.ipynb"
    write_notebook(nb, [
        ("import pandas as pd", "imports"),
        ("sales = pd.read_csv('data/sales.csv')", "task:load"),
        ("total = int(sales['amount'].sum())\nsales.to_csv('data/copy.csv')", "task:report"),
    ])
    workbench("run", nb, "-o", tmp_path / "elsewhere" / "pipe", check=True)
    from workbench.runtime import load

    assert load(tmp_path / "elsewhere" / "pipe" / "products" / "report" / "total") == 6
    assert (tmp_path / "analysis" / "data" / "copy.csv").exists()


def test_failing_task_names_the_cell_and_rerun_redoes_only_it(tmp_path: Path):
    nb = tmp_path / "nb.ipynb"
    write_notebook(nb, [("x = 2", "task:a"), ("y = x / 0", "task:b")])
    proc = workbench("run", nb, "-o", tmp_path / "pipe")
    assert proc.returncode == 1
    assert "task 'b' failed" in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert "cell 1" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "pipe" / "products" / "b" / "y").exists()
    write_notebook(nb, [("x = 2", "task:a"), ("y = x / 1", "task:b")])
    proc = workbench("run", nb, "-o", tmp_path / "pipe", check=True)
    assert _ran(proc) == {"b"}


def test_committed_pipelines_are_what_export_writes(tmp_path: Path):
    """pipelines/ holds the exports of notebooks/: exporting again must change nothing."""
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        name = notebook.stem
        committed = ROOT / "pipelines" / name
        assert committed.is_dir(), f"pipelines/{name} is missing: run `workbench export {notebook}`"
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        (tmp_path / "notebooks" / notebook.name).write_bytes(notebook.read_bytes())
        workbench("export", f"notebooks/{notebook.name}", cwd=tmp_path, check=True)
        fresh = tmp_path / "pipelines" / name
        for path in sorted(fresh.rglob("*")):
            if path.is_file() and "products" not in path.parts and ".workbench" not in path.parts:
                rel = path.relative_to(fresh)
                if rel.name == "requirements.txt":
                    continue  # pins follow the installed versions
                assert (committed / rel).read_text() == path.read_text(), f"pipelines/{name}/{rel} is stale"


def test_a_value_that_cannot_be_saved_is_a_run_error_naming_variable_task_and_cell(tmp_path: Path):
    """Statically invisible (a generator returned by a function): caught when the task saves it."""
    nb = tmp_path / "nb.ipynb"
    write_notebook(nb, [
        ("def numbers():\n    return (i for i in range(3))", "functions"),
        ("x = 1\nstream = numbers()", "task:a"),
        ("first = next(stream)", "task:b"),
    ])
    proc = workbench("run", nb, "-o", tmp_path / "pipe")
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "task 'a' failed" in err and "'stream'" in err and "generator" in err
    assert "cell 1 (id c001), line 2" in err and "Traceback" not in err
    # nothing half-written that a later run would trust
    assert not list((tmp_path / "pipe" / "products" / "a").glob("stream/*"))


def test_the_shared_sample_notebooks_are_present():
    """The suite must run on ../shared/notebooks; a missing folder must fail, not skip."""
    assert len(list(SHARED.glob("*.ipynb"))) >= 4, f"expected the shared samples in {SHARED}"
    assert len(list((SHARED / "bad").glob("*.ipynb"))) >= 6


def test_a_state_file_of_another_format_means_rerun_not_crash(tmp_path: Path):
    """Regression: a state.json written by an earlier version crashed `run` and `verify`."""
    nb = tmp_path / "nb.ipynb"
    write_notebook(nb, [("x = 1", "task:a")])
    workbench("run", nb, "-o", tmp_path / "pipe", check=True)
    state = tmp_path / "pipe" / ".workbench" / "state.json"
    state.write_text(json.dumps({"tasks": {"a": "old-style-fingerprint"}, "products": {}}))
    proc = workbench("run", tmp_path / "pipe", check=True)
    assert _ran(proc) == {"a"}


def test_values_that_differ_on_every_run_are_named_volatile_and_not_compared(tmp_path: Path):
    """A timing can never reproduce: verify fails on it until it is tagged `volatile:` (or passed to
    --ignore), and then checks only that it exists, still comparing everything else."""
    cells = [("n = 3", "parameters"), ("import time", "imports"),
             ("started = time.perf_counter()\nx = list(range(n))\nseconds = time.perf_counter() - started + 1e-9", "task:a"),
             ("total = sum(x)\nrate = n / seconds\nstamp = time.perf_counter_ns()", "task:b")]
    nb = write_notebook(tmp_path / "nb.ipynb", cells)
    pipe = ["-o", tmp_path / "pipe"]
    proc = workbench("verify", nb, *pipe)
    assert proc.returncode == 1 and "DIFFERS" in proc.stdout
    assert {line.split()[0] for line in proc.stdout.splitlines()[2:-1] if " different " in line} == {"seconds", "rate", "stamp"}
    proc = workbench("verify", nb, *pipe, "--ignore", "seconds", "--ignore", "b.rate", "--ignore", "stamp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 equal, 3 volatile" in proc.stdout and re.search(r"^total\s+b\s+equal", proc.stdout, re.M)
    proc = workbench("verify", nb, *pipe, "--ignore", "secs")
    assert proc.returncode == 2 and "--ignore secs" in proc.stderr and "seconds" in proc.stderr
    cells[2] = (cells[2][0], ["task:a", "volatile:seconds"])
    cells[3] = (cells[3][0], ["task:b", "volatile:rate,stamp"])
    write_notebook(nb, cells)
    proc = workbench("verify", nb, *pipe)
    assert proc.returncode == 0 and "tagged volatile in the notebook" in proc.stdout, proc.stdout + proc.stderr
    assert "volatile (not compared by verify): rate, stamp" in workbench("plan", nb, check=True).stdout
    # a volatile value is still a value: the one the pipeline stops producing is reported
    cells[3] = ("total = sum(x)\nstamp = time.perf_counter_ns()", ["task:b", "volatile:rate,stamp"])
    write_notebook(nb, cells)
    proc = workbench("plan", nb)
    assert "volatile:rate" in proc.stdout + proc.stderr and "check the name" in proc.stdout + proc.stderr


def test_verify_output_carries_no_kernel_start_up_noise(tmp_path: Path):
    """ipykernel warned on every start that it talks 'over TCP without encryption' (on 127.0.0.1):
    read by users as a problem with their run. The kernel's own log is kept to errors."""
    nb = write_notebook(tmp_path / "nb.ipynb", [("n = 2", "parameters"), ("x = n * 2", "task:a")])
    proc = workbench("verify", nb, "-o", tmp_path / "pipe")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IPKernelApp" not in proc.stderr and "without encryption" not in proc.stderr
