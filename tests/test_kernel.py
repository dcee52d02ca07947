"""`%load_ext workbench` in a real IPython kernel: `%workbench plan` and `%workbench check`.

A kernel is started with jupyter_client (the venv's python3 kernelspec) in a scratch project, and
code is sent to it as a frontend would; the outputs it publishes are what is asserted. No mocks.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from harness import ROOT
from helpers import write_notebook

pytestmark = pytest.mark.slow


class Kernel:
    def __init__(self, cwd, env=None) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env={**os.environ, **(env or {})})
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 240) -> dict:
        """Execute code; {"stdout", "stderr", "text" (text/plain of displays and results), "bundles",
        "error"}."""
        out = {"stdout": "", "stderr": "", "text": "", "bundles": [], "error": None}

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind in ("display_data", "execute_result"):
                out["bundles"].append(content["data"])
                out["text"] += content["data"].get("text/plain", "") + "\n"
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}"

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        assert reply["content"]["status"] == "ok" or out["error"], reply
        return out

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    project = tmp_path_factory.mktemp("kernel-project")
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("output"))
    k = Kernel(project)
    try:
        out = k.run("import sys; print(sys.executable)")
        assert out["stdout"].strip() == sys.executable, "the python3 kernelspec is not this venv's python"
        out = k.run("%load_ext workbench")
        assert out["error"] is None and not out["stderr"], out
        yield k, project
    finally:
        k.stop()


def test_plan_text_fallback(kernel):
    k, _ = kernel
    out = k.run("%workbench plan notebooks/churn.ipynb --text")
    assert out["error"] is None, out
    text = out["stdout"]
    assert "notebooks/churn.ipynb: 5 task(s), 5 parameter(s)" in text
    for task in ("load", "features", "split", "train", "evaluate"):
        assert f"\n{task} " in text
    assert "load -> features: raw" in text  # an edge with its variable
    assert "train: clf" in text  # evaluate takes clf from train
    assert "n_estimators=100 (int)" in text


def test_plan_display_carries_widget_and_text(kernel):
    """Without --text a kernel displays the widget; the same bundle carries the text table and HTML
    for frontends without widgets."""
    k, _ = kernel
    out = k.run("%workbench plan notebooks/churn.ipynb")
    assert out["error"] is None, out
    (bundle,) = out["bundles"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "load -> features: raw" in bundle["text/plain"]
    assert "<table>" in bundle["text/html"]


def test_plan_finds_the_notebook_of_the_session(kernel):
    """Jupyter starts a notebook's kernel in the notebook's folder with JPY_SESSION_NAME set to its
    path; `%workbench plan` without a path plans that notebook."""
    _, project = kernel
    k = Kernel(project / "notebooks", {"JPY_SESSION_NAME": "notebooks/churn.ipynb"})
    try:
        k.run("%load_ext workbench")
        out = k.run("%workbench plan --text")
        assert "churn.ipynb: 5 task(s), 5 parameter(s)" in out["stdout"], out
        out = k.run("%workbench run -p n_estimators=x")  # the CLI's own parameter check, streamed
        assert "n_estimators" in out["stdout"] and "int" in out["stdout"], out
        assert "workbench run failed (exit status 2)" in out["stderr"], out
    finally:
        k.stop()


def test_plan_of_a_broken_notebook_is_an_error_line(kernel):
    k, project = kernel
    write_notebook(project / "broken.ipynb", [("x = 1", "taks:a")])
    out = k.run("%workbench plan broken.ipynb --text")
    assert out["error"] is None
    assert "error: broken.ipynb, cell 0 (id c000)" in out["stderr"] and "task:" in out["stderr"]


def test_check_reports_hidden_state(kernel):
    """A cell run twice (`x += 1`), a variable whose cell was deleted, and a cell never run here."""
    k, project = kernel
    nb = write_notebook(project / "state.ipynb", [
        ("import numpy as np\nx = 1\narr = np.arange(3)", "task:a"),
        "x += 1\narr = arr * 2",
        "total = int(arr.sum()) + x",
        "later = 'never run live'",
    ])
    assert nb.exists()
    k.run("import numpy as np\nx = 1\narr = np.arange(3)")
    k.run("x += 1\narr = arr * 2")
    k.run("x += 1\narr = arr * 2")  # executed twice: x is 3 and arr doubled twice in the kernel
    k.run("total = int(arr.sum()) + x")
    k.run("scratch = 42")  # a variable from a cell that is no longer in the notebook
    out = k.run("report = %workbench check state.ipynb\nreport")
    assert out["error"] is None, out
    text = out["text"]
    rows = {line.split()[0]: line for line in text.splitlines() if line and line.split()[0] in
            ("x", "arr", "total", "scratch", "later")}
    assert "different" in rows["x"] and "2 vs 3" in rows["x"], text
    assert "different" in rows["arr"], text
    assert "different" in rows["total"], text
    assert "only in the live kernel" in rows["scratch"], text
    assert "not in the live kernel" in rows["later"], text
    assert "HIDDEN STATE" in text
    out = k.run("print(report.ok, sorted(r.variable for r in report.problems))")
    assert out["stdout"].strip() == "False ['arr', 'later', 'scratch', 'total', 'x']", out


def test_panel_check_answers_a_silent_user_expression(kernel):
    """What the panel's Check button sends: a silent request whose reply carries the report as JSON,
    with nothing published to any cell and nothing added to the kernel's history."""
    k, project = kernel
    write_notebook(project / "panel.ipynb", [("a = 1", "task:a"), "b = a + 1"])
    k.run("a = 1\nb = a + 1\nleftover = 'from a deleted cell'")
    msg_id = k.kc.execute("", silent=True, store_history=False, user_expressions={
        "check": "__import__('workbench.lab.kernel', fromlist=['panel_check']).panel_check('panel.ipynb')"})
    reply = k.kc.get_shell_msg(timeout=240)
    assert reply["parent_header"]["msg_id"] == msg_id
    result = reply["content"]["user_expressions"]["check"]
    assert result["status"] == "ok", result
    data = result["data"]["application/vnd.workbench.check+json"]
    assert data["ok"] is False and "HIDDEN STATE" in data["summary"], data
    rows = {r["variable"]: r["status"] for r in data["rows"]}
    assert rows["leftover"] == "only in the live kernel" and rows["a"] == rows["b"] == "equal", rows
    # a notebook that does not exist comes back as an error the panel can show
    msg_id = k.kc.execute("", silent=True, store_history=False, user_expressions={
        "check": "__import__('workbench.lab.kernel', fromlist=['panel_check']).panel_check('missing.ipynb')"})
    reply = k.kc.get_shell_msg(timeout=60)
    data = reply["content"]["user_expressions"]["check"]["data"]["application/vnd.workbench.check+json"]
    assert "no such notebook" in data["error"]["message"], data


def test_check_clean_kernel_has_no_hidden_state(tmp_path):
    write_notebook(tmp_path / "clean.ipynb", [
        ("data = {'a': [1, 2]}\nn = len(data['a'])", "task:a"),
        ("def f(v):\n    return v * 2", "functions"),
        "y = f(n)",
    ])
    k = Kernel(tmp_path)
    try:
        k.run("%load_ext workbench")
        k.run("data = {'a': [1, 2]}\nn = len(data['a'])")
        k.run("def f(v):\n    return v * 2")
        k.run("y = f(n)")
        out = k.run("%workbench check clean.ipynb --all")
        assert out["error"] is None, out
        assert "no hidden state" in out["text"], out
        assert "f" in out["text"] and "equal" in out["text"]
        # the function is redefined in the kernel only: its code differs from the saved cell
        k.run("def f(v):\n    return v * 3")
        out = k.run("%workbench check clean.ipynb")
        assert "function: its code differs" in out["text"], out
    finally:
        k.stop()


def test_check_reports_cells_failing_in_a_fresh_kernel(tmp_path):
    write_notebook(tmp_path / "order.ipynb", [("a = b + 1", "task:a"), "b = 1"])
    k = Kernel(tmp_path)
    try:
        k.run("%load_ext workbench")
        k.run("b = 1")
        k.run("a = b + 1")
        out = k.run("%workbench check order.ipynb")
        assert "does not run top to bottom" in out["text"], out
        assert "cell 0: NameError: name 'b' is not defined" in out["text"], out
    finally:
        k.stop()


def test_the_run_magic_reads_the_clis_events_not_its_text(make_notebook, tmp_path):
    """`%workbench run` starts the CLI with --events jsonl and shows the events as the CLI's lines:
    the cell shows progress and the result, never the JSON it was sent."""
    import io

    from workbench.lab.kernel.magic import run_cli

    make_notebook([("n = 2", "parameters"), ("x = list(range(n))", "task:a"), ("total = sum(x)", "task:b")])
    shown = io.StringIO()
    code = run_cli("run", "nb.ipynb", ["n=3"], tmp_path, out=shown)
    text = shown.getvalue()
    assert code == 0, text
    assert "running a (" in text and "  b done in " in text, text
    assert "ran 2 of 2 task(s)" in text, text
    assert '"event"' not in text, text
    shown = io.StringIO()
    assert run_cli("run", "nb.ipynb", ["n=x"], tmp_path, out=shown) == 2
    assert "error:" in shown.getvalue() and "n" in shown.getvalue() and '"event"' not in shown.getvalue()
