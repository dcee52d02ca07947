"""Bad input gets a clear error, through the real CLI.

The contract: an error a user can fix names the notebook, the cell (index and id) and the line
where they apply, says what is wrong, ends with a `fix:` line, and the CLI exits with status 2
without a traceback. A task that fails at run time exits 1, naming the task, the exception and the
notebook cell.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import workbench
from helpers import notebook_dict, write_notebook

BAD = Path(__file__).resolve().parents[2] / "shared" / "notebooks" / "bad"
CHURN = BAD.parent / "churn.ipynb"


# -- checking an error report -------------------------------------------------------------------

def assert_user_error(
    proc: subprocess.CompletedProcess,
    notebook: str | Path | None,
    *,
    cell: int | None = None,
    cell_id: str | None = None,
    line: int | None = None,
    says: tuple[str, ...] = (),
    fix_says: tuple[str, ...] = (),
    status: int = 2,
) -> None:
    """`says` and `fix_says` are regular expressions, matched case-insensitively."""
    err = proc.stderr
    report = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{err}"
    assert proc.returncode == status, report
    assert "Traceback" not in err and "Traceback" not in proc.stdout, report
    assert re.search(r"^error: ", err, re.M), report
    if notebook is not None:
        given = str(notebook)
        assert given in err or str(Path(notebook).resolve()) in err, f"notebook {given} not named\n{report}"
    if cell is not None:
        assert re.search(rf"\bcell {cell}\b", err), f"cell {cell} not named\n{report}"
    if cell_id is not None:
        assert re.search(rf"\b{re.escape(cell_id)}\b", err), f"cell id {cell_id} not named\n{report}"
    if line is not None:
        assert re.search(rf"\bline {line}\b", err), f"line {line} not named\n{report}"
    for pattern in says:
        assert re.search(pattern, err, re.I), f"{pattern!r} not in the message\n{report}"
    fix = re.search(r"^\s*fix: (.+)$", err, re.M)
    assert fix and fix.group(1).strip(), f"no `fix:` line\n{report}"
    for pattern in fix_says:
        assert re.search(pattern, fix.group(1), re.I), f"{pattern!r} not in the fix line\n{report}"


def tasks_planned(proc: subprocess.CompletedProcess) -> int:
    m = re.search(r": (\d+) task\(s\)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return int(m.group(1))


# -- the shared bad notebooks -------------------------------------------------------------------

@dataclass
class Expected:
    cell: int | None = None
    cell_id: str | None = None
    line: int | None = None
    says: tuple[str, ...] = ()
    fix_says: tuple[str, ...] = ()


SHARED_BAD = {
    "cycle": Expected(0, "c000", 1, (r"cycle", r"\ba -> b -> a\b|\bb -> a -> b\b"), (r"after:",)),
    "duplicate_task": Expected(1, "c001", 1, (r"duplicate task", r"'a'", r"cell 0"), (r"rename",)),
    "not_json": Expected(None, None, 2, (r"not valid JSON",), ()),
    "syntax_error": Expected(1, "c001", 1, (r"syntax error", re.escape("y = (x +")), ()),
    "undefined_name": Expected(1, "c001", 1, (r"'not_defined_anywhere'", r"not defined"), ()),
    "unknown_tag": Expected(1, "c001", None, (r"unknown tag", r"taks:b"), (r"did you mean 'task:b'",)),
}


def test_every_shared_bad_notebook_is_covered():
    assert sorted(p.stem for p in BAD.glob("*.ipynb")) == sorted(SHARED_BAD)


@pytest.mark.parametrize("name", sorted(SHARED_BAD))
def test_shared_bad_notebook_plan(name: str, tmp_path: Path):
    expected = SHARED_BAD[name]
    notebook = BAD / f"{name}.ipynb"
    proc = workbench("plan", notebook, cwd=tmp_path)
    assert_user_error(proc, notebook, cell=expected.cell, cell_id=expected.cell_id, line=expected.line,
                      says=expected.says, fix_says=expected.fix_says)
    if expected.cell is None:
        assert not re.search(r"\bcell \d", proc.stderr), proc.stderr


@pytest.mark.parametrize("command", ["export", "run"])
@pytest.mark.parametrize("name", sorted(SHARED_BAD))
def test_shared_bad_notebook_export_and_run_stop_before_writing(name: str, command: str, tmp_path: Path):
    """Export and run plan first: the same error, and no pipeline folder is written."""
    notebook = BAD / f"{name}.ipynb"
    proc = workbench(command, notebook, "-o", tmp_path / "pipe", cwd=tmp_path)
    expected = SHARED_BAD[name]
    assert_user_error(proc, notebook, cell=expected.cell, cell_id=expected.cell_id, line=expected.line,
                      says=expected.says)
    assert not (tmp_path / "pipe").exists()


def test_plan_json_on_a_bad_notebook_prints_no_json(tmp_path: Path):
    proc = workbench("plan", "--json", BAD / "syntax_error.ipynb", cwd=tmp_path)
    assert_user_error(proc, BAD / "syntax_error.ipynb", cell=1, cell_id="c001", line=1, says=(r"syntax error",))
    assert proc.stdout == ""


# -- generated bad notebooks --------------------------------------------------------------------

@dataclass
class Case:
    """A notebook (cells for write_notebook, or raw bytes) and the error it must produce."""

    content: list | bytes
    expected: Expected


def _nbformat3() -> bytes:
    return json.dumps({
        "nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "language": "python",
                                   "outputs": [], "metadata": {}}], "metadata": {}}],
    }).encode()


def _edited(cells: list, edit) -> bytes:
    data = notebook_dict(cells)
    edit(data)
    return json.dumps(data).encode()



CASES = {
    # reading the file
    "nbformat_3": Case(_nbformat3(), Expected(says=(r"nbformat 3",), fix_says=(r"nbconvert|upgrade",))),
    "not_utf8": Case(b'{"cells": [], "metadata": {"author": "Jos\xe9"}, "nbformat": 4, "nbformat_minor": 5}',
                     Expected(says=(r"UTF-8",), fix_says=(r"UTF-8|encoding",))),
    "empty_file": Case(b"", Expected(says=(r"the file is empty",), fix_says=(r"version control",))),
    "json_but_not_a_notebook": Case(b'{"name": "x"}', Expected(says=(r"not a Jupyter notebook",))),
    "cells_not_a_list": Case(_edited([], lambda d: d.update(cells={})), Expected(says=(r"'cells'",))),
    "malformed_cell_type": pytest.param(
        Case(_edited(["x = 1"], lambda d: d["cells"][0].update(cell_type="python")),
             Expected(0, "c000", None, (r"malformed cell|cell_type",)))),
    "cell_source_not_text": pytest.param(
        Case(_edited(["x = 1"], lambda d: d["cells"][0].update(source=5)),
             Expected(0, "c000", None, (r"source",)))),
    # tags
    "gpu_count_not_a_number": Case([("x = 1", ["task:a", "gpu:x"])],
                                   Expected(0, "c000", None, (r"gpu:x", r"GPU count"), (r"gpu:2|positive",))),
    "misspelt_bare_tag": Case([("n = 1", "paramters"), ("x = n", "task:a")],
                              Expected(0, "c000", None, (r"unknown tag", r"paramters"), (r"did you mean 'parameters'",))),
    "after_names_no_task": Case([("x = 1", "task:load"), ("y = x", ["task:train", "after:nosuch"])],
                                Expected(1, "c001", None, (r"after:nosuch", r"names no task"),
                                         (r"\bload\b", r"\btrain\b"))),
    "after_misspelt_task": Case([("x = 1", "task:load"), ("y = x", ["task:train", "after:lod"])],
                                Expected(1, "c001", None, (r"after:lod",), (r"did you mean 'after:load'",))),
    "invalid_task_name": Case([("x = 1", "task:1st")], Expected(0, "c000", None, (r"invalid task name", r"1st"))),
    "two_task_tags": Case([("x = 1", ["task:a", "task:b"])], Expected(0, "c000", None, (r"two task tags",))),
    "cycle_through_a_later_cell": pytest.param(
        Case([("x = 1", "task:a"), ("w = 2", "after:b"), ("y = x", "task:b")],
             Expected(1, "c001", None, (r"cycle", r"\ba -> b -> a\b|\bb -> a -> b\b"), (r"after:b",)))),
    # the parameters cell
    "for_loop_in_parameters": Case([("n = 1\nfor i in range(3):\n    n += i", "parameters"), ("x = n", "task:a")],
                                   Expected(0, "c000", 2, (r"parameters cell", re.escape("for i in range(3)")),
                                            (r"name = value",))),
    # names
    "name_defined_in_a_later_cell": Case([("x = 1", "task:a"), ("y = z + x", "task:b"), ("z = 2", "task:c")],
                                         Expected(1, "c001", 1, (r"'z'", r"before it is defined", r"cell 2"))),
    "name_defined_later_in_the_same_cell": pytest.param(
        Case([("x = 1", "task:a"), ("y = x\nw = z + y\nz = 2", "task:b")],
             Expected(1, "c001", 2, (r"'z'", r"before it is defined|defined later", r"line 3")))),
    "name_used_after_del": Case([("x = 1", "task:a"), ("del x\ny = 2", "task:b"), ("z = x", "task:c")],
                                Expected(2, "c002", 1, (r"'x'", r"del x", r"cell 1"))),
    "undefined_name_on_line_3": Case([("x = 1", "task:a"), ("a = 1\nb = a + x\nc = b + missing_name", "task:b")],
                                     Expected(1, "c001", 3, (r"'missing_name'", r"not defined"))),
    # syntax
    "syntax_error_on_line_3": Case([("x = 1", "task:a"), ("a = 1\nb = 2\nc = (a +\n", "task:b")],
                                   Expected(1, "c001", 3, (r"syntax error", re.escape("c = (a +")))),
    "syntax_error_in_a_time_cell": Case([("x = 1", "task:a"), ("%%time\na = 1\nb = a +* 2", "task:b")],
                                        Expected(1, "c001", 3, (r"syntax error", re.escape("b = a +* 2")))),
    "syntax_error_after_line_magics": Case([("x = 1", "task:a"), ("%matplotlib inline\n!ls\nb = (", "task:b")],
                                           Expected(1, "c001", 3, (r"syntax error", re.escape("b = (")))),
    "syntax_error_in_a_capture_cell": Case([("x = 1", "task:a"), ("%%capture out\na = 1\nb = a +* 2", "task:b")],
                                           Expected(1, "c001", 3, (r"syntax error", re.escape("b = a +* 2")))),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_generated_bad_notebook(case: Case, tmp_path: Path):
    path = tmp_path / "nb.ipynb"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        write_notebook(path, case.content)
    proc = workbench("plan", "nb.ipynb", cwd=tmp_path)
    e = case.expected
    assert_user_error(proc, "nb.ipynb", cell=e.cell, cell_id=e.cell_id, line=e.line, says=e.says,
                      fix_says=e.fix_says)


def test_nbformat_3_hint_names_the_notebook_in_the_command(tmp_path: Path):
    (tmp_path / "old.ipynb").write_bytes(_nbformat3())
    proc = workbench("plan", "old.ipynb", cwd=tmp_path)
    assert_user_error(proc, "old.ipynb", says=(r"nbformat 4",), fix_says=(r"jupyter nbconvert",))


@pytest.mark.parametrize("command", ["plan", "export", "run", "params", "verify"])
def test_missing_notebook(command: str, tmp_path: Path):
    proc = workbench(command, "nosuch.ipynb", cwd=tmp_path)
    assert_user_error(proc, "nosuch.ipynb", says=(r"no such notebook",), fix_says=(r"path",))
    assert sorted(tmp_path.iterdir()) == []


def test_missing_pipeline_folder(tmp_path: Path):
    proc = workbench("run", "pipelines/nosuch", cwd=tmp_path)
    assert_user_error(proc, "pipelines/nosuch", says=(r"not a Workbench pipeline",), fix_says=(r"workbench export",))


def test_directory_given_as_notebook(tmp_path: Path):
    (tmp_path / "folder.ipynb").mkdir()
    proc = workbench("plan", "folder.ipynb", cwd=tmp_path)
    assert_user_error(proc, "folder.ipynb", says=(r"directory",))


# -- input that is NOT an error -----------------------------------------------------------------

def test_zero_cells_plans_zero_tasks(tmp_path: Path):
    write_notebook(tmp_path / "empty.ipynb", [])
    proc = workbench("plan", "empty.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert tasks_planned(proc) == 0
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr
    as_json = workbench("plan", "--json", "empty.ipynb", cwd=tmp_path, check=True)
    assert json.loads(as_json.stdout)["tasks"] == []


def test_ten_thousand_cells_plan_correctly(tmp_path: Path):
    """A 10,000-cell notebook (2,000 tasks of 5 cells, each task reading the one before) plans with
    every edge, and the error in its last cell is still located exactly."""
    cells = []
    for t in range(2000):
        prev = f"v{t - 1}" if t else "0"
        cells.append((f"v{t} = {prev} + 1", f"task:t{t}"))
        cells += [f"w{t}_{k} = v{t} * {k}" for k in range(4)]
    write_notebook(tmp_path / "big.ipynb", cells)
    proc = workbench("plan", "--json", "big.ipynb", cwd=tmp_path, check=True)
    plan = json.loads(proc.stdout)
    assert len(plan["tasks"]) == 2000 and len(plan["cells"]) == 10_000
    assert plan["tasks"][1999]["upstream"] == {"t1998": {"variables": ["v1998"], "files": [], "random_state": [],
                                                         "after": False, "traced": False, "evidence": []}}
    cells[-1] = "w = v1999 + missing_at_the_end"
    write_notebook(tmp_path / "big.ipynb", cells)
    proc = workbench("plan", "big.ipynb", cwd=tmp_path)
    assert_user_error(proc, "big.ipynb", cell=9999, cell_id="c9999", line=1, says=(r"'missing_at_the_end'",))


def test_huge_outputs_are_read_but_never_copied(tmp_path: Path):
    """Outputs are the notebook's business, not the pipeline's: 60 MB of saved output plans fast
    and nothing of it reaches the exported code."""
    blob = "x" * (20 * 1024 * 1024)
    cells = [("n = 3", "parameters"),
             {"source": "data = list(range(n))", "tags": ["task:make"],
              "outputs": [{"output_type": "stream", "name": "stdout", "text": blob}]},
             {"source": "total = sum(data)", "tags": ["task:sum"],
              "outputs": [{"output_type": "display_data", "metadata": {},
                           "data": {"text/plain": blob, "image/png": blob}}]}]
    write_notebook(tmp_path / "huge.ipynb", cells)
    assert (tmp_path / "huge.ipynb").stat().st_size > 60_000_000
    proc = workbench("export", "huge.ipynb", cwd=tmp_path, check=True)
    assert "Traceback" not in proc.stderr
    exported = sum(p.stat().st_size for p in (tmp_path / "pipelines" / "huge").rglob("*") if p.is_file())
    assert exported < 100_000, exported


@pytest.mark.parametrize("tag", ["hide-input", "injected-parameters", "remove-cell", "hide-output",
                                 "remove-output", "raises-exception"])
def test_foreign_tags_are_not_errors(tag: str, tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", [("x = 1", ["task:a", tag]), ("y = x + 1", ["task:b", tag])])
    proc = workbench("plan", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert tasks_planned(proc) == 2
    assert "error" not in proc.stderr


PAPERMILL_OUTPUT = [("n = 1", "parameters"), ("n = 5", "injected-parameters"), ("x = n * 2", "task:a")]


def test_a_papermill_injected_parameters_cell_is_not_an_error(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", PAPERMILL_OUTPUT)
    proc = workbench("plan", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr


def test_a_papermill_injected_parameters_cell_keeps_the_parameter_a_parameter(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", PAPERMILL_OUTPUT)
    plan = json.loads(workbench("plan", "--json", "nb.ipynb", cwd=tmp_path, check=True).stdout)
    assert [t["name"] for t in plan["tasks"]] == ["a"]
    (task,) = plan["tasks"]
    assert task["parameters"] == ["n"] and "n" not in task["inputs"]


# -- parameters given on the command line -------------------------------------------------------

PARAMS_CELL = 'n = 3\nrate = 0.5\nflag = True\nnames = ["a"]'
VALID = (r"\bn \(int", r"\brate \(float", r"\bflag \(bool", r"\bnames \(list")


@pytest.fixture
def param_notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "nb.ipynb", [
        (PARAMS_CELL, "parameters"),
        ("x = n * rate if flag else len(names)", "task:a"),
    ])


@pytest.mark.parametrize("command", ["run", "verify"])
@pytest.mark.parametrize("pair, says, fix_says", [
    ("nosuch=1", (r"unknown parameter", r"'nosuch'"), VALID),
    ("n=abc", (r"'n'", r"expects int", r"'abc'"), VALID),
    ("n=1.5", (r"'n'", r"expects int"), ()),
    ("rate=fast", (r"'rate'", r"expects float"), ()),
    ("flag=maybe", (r"'flag'", r"expects bool"), ()),
    ("names=3", (r"'names'", r"expects list"), ()),
    ("foo", (r"cannot read parameter", r"'foo'"), (r"NAME=VALUE",) + VALID),
    ("=3", (r"cannot read parameter",), (r"NAME=VALUE",)),
], ids=["unknown", "int", "int-given-float", "float", "bool", "list", "no-equals", "no-name"])
def test_bad_parameter_fails_before_anything_runs(command, pair, says, fix_says, param_notebook, tmp_path):
    proc = workbench(command, "nb.ipynb", "-o", tmp_path / "pipe", "-p", pair, cwd=tmp_path)
    assert_user_error(proc, None, says=says, fix_says=fix_says)
    assert not (tmp_path / "pipe" / "products").exists()
    assert not (tmp_path / "pipe" / ".workbench").exists()


def test_bad_parameter_names_the_notebook_and_the_parameters_cell(param_notebook, tmp_path):
    proc = workbench("run", "nb.ipynb", "-o", tmp_path / "pipe", "-p", "n=abc", cwd=tmp_path)
    assert_user_error(proc, "nb.ipynb", cell=0, cell_id="c000", line=1, says=(r"expects int",))


def test_params_lists_names_types_and_defaults(param_notebook, tmp_path):
    proc = workbench("params", "nb.ipynb", cwd=tmp_path, check=True)
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in proc.stdout.splitlines()}
    assert rows == {"n": ["int", "3"], "rate": ["float", "0.5"], "flag": ["bool", "True"], "names": ["list", '["a"]']}


@pytest.mark.parametrize("command", ["plan", "params"])
def test_bad_parameters_cell(command: str, tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", [("n = 1\nprint(n)\nimport os", "parameters"), ("x = n", "task:a")])
    proc = workbench(command, "nb.ipynb", cwd=tmp_path)
    assert_user_error(proc, "nb.ipynb", cell=0, cell_id="c000", line=3, says=(r"parameters cell", r"import os"),
                      fix_says=(r"move",))


# -- a task that fails at run time --------------------------------------------------------------

FAILING = [(PARAMS_CELL, "parameters"), ("x = n * rate", "task:a"), ("z = 2\ny = 1 / 0", "task:b")]
FIXED = FAILING[:2] + [("z = 2\ny = 1 / z", "task:b")]


@pytest.fixture(scope="module")
def failed_then_fixed(tmp_path_factory) -> dict:
    """Run a notebook whose task `b` raises, fix the cell, run again, and run a third time."""
    work = tmp_path_factory.mktemp("failing")
    write_notebook(work / "nb.ipynb", FAILING)
    failed = workbench("run", "nb.ipynb", "-o", "pipe", cwd=work)
    a_product = work / "pipe" / "products" / "a" / "x"
    a_stat = a_product.stat().st_mtime_ns if a_product.exists() else None
    b_saved = (work / "pipe" / "products" / "b" / "y").exists()
    write_notebook(work / "nb.ipynb", FIXED)
    fixed = workbench("run", "nb.ipynb", "-o", "pipe", cwd=work)
    again = workbench("run", "nb.ipynb", "-o", "pipe", cwd=work)
    return {"work": work, "failed": failed, "fixed": fixed, "again": again, "a_stat": a_stat, "b_saved": b_saved}


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    return {line.split()[0] for line in proc.stdout.splitlines() if " ran in " in line}


@pytest.mark.slow
def test_failing_task_exits_1_naming_the_task_and_cell(failed_then_fixed):
    proc = failed_then_fixed["failed"]
    assert_user_error(proc, "nb.ipynb", cell=2, cell_id="c002", says=(r"task 'b' failed",),
                      fix_says=(r"fix the cell",), status=1)
    assert failed_then_fixed["a_stat"] is not None, "task a, upstream of the failure, should have run"
    assert not failed_then_fixed["b_saved"], "the failed task must not leave its product behind"


@pytest.mark.slow
def test_failing_task_names_the_exception(failed_then_fixed):
    err = failed_then_fixed["failed"].stderr
    assert "ZeroDivisionError" in err and "division by zero" in err, err
    assert "ploomber.io/community" not in err, err


@pytest.mark.slow
def test_rerun_after_fixing_the_cell_reruns_only_the_failed_task(failed_then_fixed):
    fixed = failed_then_fixed["fixed"]
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert ran(fixed) == {"b"}, fixed.stdout
    a_product = failed_then_fixed["work"] / "pipe" / "products" / "a" / "x"
    assert a_product.stat().st_mtime_ns == failed_then_fixed["a_stat"]
    again = failed_then_fixed["again"]
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr


# -- the plan as JSON ---------------------------------------------------------------------------

def test_plan_json_shape(tmp_path: Path):
    proc = workbench("plan", "--json", CHURN, cwd=tmp_path, check=True)
    plan = json.loads(proc.stdout)
    assert {"schema", "notebook", "tasks", "parameters"} <= set(plan)
    assert plan["schema"].startswith("workbench.plan/")
    assert plan["notebook"].endswith("churn.ipynb")
    assert plan["tasks"], "churn has tasks"
    names = {t["name"] for t in plan["tasks"]}
    for task in plan["tasks"]:
        assert {"name", "cells", "upstream", "inputs", "outputs", "parameters", "gpu", "model"} <= set(task)
        assert task["cells"] and all(isinstance(i, int) for i in task["cells"])
        assert set(task["upstream"]) <= names - {task["name"]}
        assert set(task["parameters"]) <= set(plan["parameters"])
        assert isinstance(task["gpu"], int)
    for name, param in plan["parameters"].items():
        assert param["name"] == name and param["type"]
    # at least one data edge: some task takes a value another produces
    assert any(task["inputs"] for task in plan["tasks"])


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(tmp_path: Path):
    """`workbench plan --json nb | head -c 100` printed a BrokenPipeError traceback: the reader
    leaving is not an error of Workbench's nor of the notebook's."""
    cells = [(f"v{t} = {f'v{t - 1}' if t else 0} + 1", f"task:t{t}") for t in range(300)]
    write_notebook(tmp_path / "wide.ipynb", cells)  # a plan larger than a pipe's buffer
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "plan", "--json", "wide.ipynb"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10)  # then the reader goes away with most of the plan unread
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
