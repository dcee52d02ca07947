"""The traced check: static analysis checked against one real run (real kernels)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from harness import workbench
from helpers import write_notebook

from workbench.core import trace as fp

CELLS = [
    ("import pandas as pd\nimport operator", "imports"),
    ("n = 5", "parameters"),
    ("df = pd.DataFrame({'a': range(n), 'x': range(n)})\nd = {'k': 0}", "task:load"),
    # mutations the static analysis cannot follow: a getattr-dispatched method, operator.setitem
    ("getattr(df, 'drop')(columns=['x'], inplace=True)\noperator.setitem(d, 'k', 1)\ncleaned = True", "task:clean"),
    ("cols = list(df.columns)\nk = d['k']", "task:report"),
]


@pytest.fixture
def notebook(tmp_path):
    return write_notebook(tmp_path / "nb.ipynb", CELLS)


def plan_json(nb):
    return json.loads(workbench("plan", nb.name, "--json", cwd=nb.parent, check=True).stdout)


def test_trace_finds_what_static_analysis_misses_then_export_run_verify(notebook):
    static = plan_json(notebook)
    report = next(t for t in static["tasks"] if t["name"] == "report")
    assert report["inputs"] == {"df": "load", "d": "load"}  # what reading the code says

    out = workbench("trace", notebook.name, cwd=notebook.parent, check=True).stdout
    assert "found by trace: task `clean` changed `df`, cell 3" in out
    assert "found by trace: task `clean` changed `d`, cell 3" in out

    traced = plan_json(notebook)
    report = next(t for t in traced["tasks"] if t["name"] == "report")
    assert report["inputs"] == {"df": "clean", "d": "clean"}
    edge = report["upstream"]["clean"]
    assert edge["traced"] is True and sorted(edge["variables"]) == ["d", "df"]
    assert "found by trace: task `clean` changed `df`, cell 3" in edge["evidence"]
    # the static edge is kept, saying where its variables went
    static_edge = report["upstream"]["load"]
    assert static_edge["traced"] is False and static_edge["after"] is True
    assert any("now comes from `clean`" in why for why in static_edge["evidence"])
    text = workbench("plan", notebook.name, cwd=notebook.parent, check=True).stdout
    assert "[traced]" in text and "traced   found by trace" in text

    workbench("export", notebook.name, "--force", cwd=notebook.parent, check=True)
    workbench("run", notebook.name, "--no-version", cwd=notebook.parent, check=True)
    result = workbench("verify", notebook.name, cwd=notebook.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reproduces the notebook" in result.stdout


def test_verify_without_trace_differs_and_names_the_missed_dependency(notebook):
    result = workbench("verify", notebook.name, cwd=notebook.parent)
    assert result.returncode == 1
    assert "DIFFERS" in result.stdout
    assert "missed dependency: task `report` must come after `clean`" in result.stdout
    assert "task `clean` changed `df`, cell 3" in result.stdout
    assert f"workbench export {notebook.name} --force" in result.stdout
    assert "fix the cell" not in result.stdout
    # verify's run was the trace: the export alone now brings the edges in, and verify agrees
    assert list((notebook.parent / ".workbench" / "traces").glob("*.json"))
    workbench("export", notebook.name, "--force", cwd=notebook.parent, check=True)
    again = workbench("verify", notebook.name, cwd=notebook.parent)
    assert again.returncode == 0, again.stdout + again.stderr


def test_stale_trace_is_ignored_after_an_edit(notebook):
    import workbench as api

    result = api.trace(notebook)
    assert result.added and result.path.is_file()
    assert api.plan(notebook).task("report").inputs["df"] == "clean"
    cells = list(CELLS)
    cells[4] = ("cols = list(df.columns)\nk = d['k']\nm = 1", "task:report")  # edit a cell
    write_notebook(notebook, cells)
    assert api.plan(notebook).task("report").inputs["df"] == "load"  # the stale trace is ignored
    assert result.path.is_file()  # and kept: it is the previous content's trace


def test_a_trace_never_removes_a_static_edge(notebook):
    from workbench.core.trace import Trace
    from workbench.refactor.traced import apply_trace
    from workbench.workflows.targets import plan_notebook

    static = plan_notebook(notebook, traced=False)
    # a trace in which nothing changed anywhere contradicts every static edge
    nothing = Trace(fp.SCHEMA, static.notebook, static.notebook_sha256, {},
                    [fp.Boundary(t.name, max(t.code_cells), {"df": "x", "d": "y"}, {}) for t in static.tasks],
                    {}, {"df": "x", "d": "y"})
    traced = apply_trace(static, nothing)
    for task in static.tasks:
        for up, edge in task.upstream.items():
            assert traced.task(task.name).upstream[up].variables == edge.variables
    # a real trace moves variables but keeps every static edge
    import workbench as api

    real = api.trace(notebook).plan
    for task in static.tasks:
        assert set(task.upstream) <= set(real.task(task.name).upstream)


def test_unfingerprintable_values_do_not_crash_the_trace(tmp_path):
    nb = write_notebook(tmp_path / "odd.ipynb", [
        ("import threading", "imports"),
        ("lock = threading.Lock()\ngen = (i for i in range(3))\nxs = [1]", "task:a"),
        ("ys = xs + [2]", "task:b"),
    ])
    import workbench as api

    result = api.trace(nb)
    first = result.trace.boundaries[0]
    assert first.unfingerprintable.keys() >= {"lock", "gen"}
    assert not result.added


# --- fingerprints ---------------------------------------------------------------------------


def test_small_values_are_exact():
    assert fp.fingerprint([1, 2, 3]).startswith("exact:")
    assert fp.fingerprint([1, 2, 3]) != fp.fingerprint([1, 2, 4])
    assert fp.fingerprint({"k": 0}) != fp.fingerprint({"k": 1})
    a = np.arange(1000.0)
    b = a.copy()
    b[517] += 1e-12
    assert fp.fingerprint(a).startswith("exact:") and fp.fingerprint(a) != fp.fingerprint(b)
    df = pd.DataFrame({"a": range(10), "x": range(10)})
    assert fp.fingerprint(df) != fp.fingerprint(df.drop(columns=["x"]))
    changed = df.copy()
    changed.loc[3, "a"] = 99
    assert fp.fingerprint(df) != fp.fingerprint(changed)


def test_large_arrays_are_sampled_with_the_stated_guarantee():
    a = np.zeros(4_000_000)  # 32 MB: sampled
    base = fp.fingerprint(a)
    assert base.startswith("sampled:")
    # a change inside a sampled block is always detected: the first block, the last, one in the middle
    n, per = a.size, fp.BLOCK_BYTES // a.itemsize
    starts = [s for s, _ in fp._blocks(n, per)]
    for index in (0, n - 1, starts[fp.BLOCKS // 2] + 3):
        b = a.copy()
        b[index] = 1.0
        assert fp.fingerprint(b) != base, index
    # so is a change at a strided sample position, and of shape or dtype
    b = a.copy()
    b[(n // fp.SAMPLES) * 1234] = 1.0
    assert fp.fingerprint(b) != base
    assert fp.fingerprint(a.reshape(2000, 2000)) != base
    assert fp.fingerprint(a.astype(np.float32)) != base
    # a non-contiguous view is sampled without a copy of the whole array
    view = a.reshape(2000, 2000)[:, ::2]
    assert fp.fingerprint(view).startswith("sampled:")


def test_large_frames_are_sampled_by_rows():
    df = pd.DataFrame({"a": np.arange(300_000), "b": np.zeros(300_000)})
    base = fp.fingerprint(df)
    assert base.startswith("sampled:")
    changed = df.copy()
    changed.loc[0, "b"] = 1.0  # the first row is in the first sampled block
    assert fp.fingerprint(changed) != base
    assert fp.fingerprint(df.drop(columns=["b"])) != base


def test_unpicklable_is_marked_not_raised():
    import threading

    assert fp.fingerprint(threading.Lock()).startswith(fp.UNFINGERPRINTABLE)


def test_the_panels_plans_carry_the_stored_trace(notebook):
    """The server plans the editor's bytes in its own workers: once the notebook is traced, the
    same bytes give the traced plan (a new cache key), so the panel draws the traced edges."""
    from workbench.lab.server.plans import PlanCache, plan_outcome

    raw = notebook.read_bytes()
    before = PlanCache.key("nb.ipynb", raw, str(notebook))
    plan = json.loads(plan_outcome(raw, "nb.ipynb", str(notebook)).body)["plan"]
    assert not any(e["traced"] for t in plan["tasks"] for e in t["upstream"].values())
    workbench("trace", notebook.name, cwd=notebook.parent, check=True)
    assert PlanCache.key("nb.ipynb", raw, str(notebook)) != before
    plan = json.loads(plan_outcome(raw, "nb.ipynb", str(notebook)).body)["plan"]
    report = next(t for t in plan["tasks"] if t["name"] == "report")
    assert report["upstream"]["clean"]["traced"] is True
