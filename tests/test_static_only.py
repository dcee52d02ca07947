"""Plan and export read code; they never run it. Only run, verify and rerun execute a notebook.

A notebook whose every cell would leave a mark on disk if executed (in its body, its parameters,
its imports and functions cells, a class body, a default argument, a decorator, a `%%writefile`)
is planned and exported through the CLI and through the server's API: no mark appears. Then
`workbench run` does execute it, which proves the marks would have shown.
"""

from __future__ import annotations

from pathlib import Path

from harness import workbench
from helpers import write_notebook

CELLS = [
    ("from pathlib import Path\ndef touch(name):\n    Path(name).write_text('executed')\n    return 1", "imports"),
    ("n = touch('PARAMETERS_RAN') and 3", "parameters"),
    ("@(lambda f: touch('DECORATOR_RAN') and f)\ndef helper(x=touch('DEFAULT_RAN')):\n    return x", "functions"),
    ("class Model:\n    flag = touch('CLASS_BODY_RAN')\na = [touch('TASK_A_RAN'), n, helper()]", "task:a"),
    ("__import__('os').system('touch SHELL_RAN')\nb = len(a)", "task:b"),
]
MARKS = ["PARAMETERS_RAN", "DECORATOR_RAN", "DEFAULT_RAN", "CLASS_BODY_RAN", "TASK_A_RAN", "SHELL_RAN"]


def marks(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*_RAN"))


def test_plan_and_export_execute_nothing_run_executes_everything(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", CELLS)
    assert workbench("plan", "nb.ipynb", cwd=tmp_path, check=True).returncode == 0
    assert workbench("plan", "--json", "nb.ipynb", cwd=tmp_path, check=True).returncode == 0
    assert workbench("params", "nb.ipynb", cwd=tmp_path).returncode in (0, 2)
    assert workbench("export", "nb.ipynb", cwd=tmp_path, check=True).returncode == 0
    assert marks(tmp_path) == [], "plan/export executed notebook code"
    assert (tmp_path / "pipelines" / "nb" / "tasks" / "a.py").exists()
    run = workbench("run", "nb.ipynb", "--no-version", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(MARKS) <= set(marks(tmp_path)), marks(tmp_path)
