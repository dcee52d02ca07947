"""verify compares what each task cell displays, finds nondeterminism by running the notebook again,
and writes an HTML report (real kernels, small notebooks)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

from workbench.core.errors import RunError

pytestmark = pytest.mark.slow


def _edited_pipeline(tmp_path: Path, edit):
    """A notebook whose task `b` prints and makes a frame, exported, with tasks/b.py edited."""
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan

    nb = write_notebook(tmp_path / "nb.ipynb", [
        ("n = 3", "parameters"), ("import pandas as pd", "imports"),
        ("x = list(range(n))", "task:a"),
        ("total = sum(x) + 0.8123\nframe = pd.DataFrame({'v': x, 'w': [7, 8, 9]})\nprint(total)", "task:b")])
    workbench("export", nb, "-o", tmp_path / "pipe", check=True)
    task = tmp_path / "pipe" / "tasks" / "b.py"
    task.write_text(edit(task.read_text()))
    return nb, build_plan(read_notebook(nb))


def test_a_printed_value_that_differs_names_the_cell_and_the_html_holds_both_frames(tmp_path: Path):
    from workbench.verification.html_report import write_html
    from workbench.verification.pipeline import verify

    nb, plan = _edited_pipeline(tmp_path, lambda s: s.replace("sum(x) + 0.8123", "sum(x) + 0.8131")
                                .replace("[7, 8, 9]", "[7, 8008, 9]"))
    report = verify(nb, tmp_path / "pipe", plan, {"n": 3}, {}, repeat=0)
    rows = {r.variable: r for r in report.rows}
    out = rows["cell3:output"]
    assert out.kind == "output" and out.status == "different" and out.task == "b"
    assert out.detail == "cell 3 output differs: 3.8123 vs 3.8131", out.detail
    assert rows["frame"].status == "different" and rows["x"].status == "equal"
    assert report.exit_code == 1 and not report.ok and "cell3:output" in report.table()
    assert report.repeats == 0  # --repeat 0: no second notebook run
    page = write_html(report, plan, tmp_path / "report.html").read_text()
    assert "8008" in page and "<td class='changed'>8</td>" in page  # both sides, the changed cell marked
    assert "3.8123" in page and "3.8131" in page and "cell 3 output differs" in page


def test_a_failing_pipeline_exits_3_and_the_default_rerun_tells_a_real_difference(tmp_path: Path):
    from workbench.verification.pipeline import verify

    nb, plan = _edited_pipeline(tmp_path, lambda s: s.replace("print(total)", "print(total + 1)"))
    report = verify(nb, tmp_path / "pipe", plan, {"n": 3}, {})
    rows = {r.variable: r for r in report.rows}
    assert rows["cell3:output"].status == "different" and "3.8123 vs 4.8123" in rows["cell3:output"].detail
    assert report.repeats == 1 and "ran once more" in report.summary()  # the cheap default, said so
    task = tmp_path / "pipe" / "tasks" / "b.py"
    task.write_text(task.read_text().replace("print(total + 1)", "print(total / 0)"))
    with pytest.raises(RunError) as failed:
        verify(nb, tmp_path / "pipe", plan, {"n": 3}, {}, repeat=0)
    assert failed.value.exit_code == 3


def test_an_unseeded_forest_is_nondeterministic_with_the_fix_and_exit_5(tmp_path: Path):
    nb = write_notebook(tmp_path / "rf.ipynb", [
        ("n = 60", "parameters"),
        ("import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier", "imports"),
        ("rng = np.random.default_rng(0)\nX = rng.normal(size=(n, 4))\ny = (X[:, 0] + rng.normal(size=n) > 0).astype(int)",
         "task:data"),
        ("clf = RandomForestClassifier(n_estimators=5, max_features=1)\nclf.fit(X, y)\n"
         "proba = clf.predict_proba(X)[:, 1]\nprint(round(float(proba.mean()), 6))", "task:train")])
    html = tmp_path / "report.html"
    proc = workbench("verify", nb, "-o", tmp_path / "pipe", "--repeat", "1", "--html", html)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert lines["X"].split()[2] == "equal"
    assert lines["proba"].split()[2] == "nondeterministic", proc.stdout
    assert "RandomForestClassifier() built without random_state (cell 3)" in lines["proba"]
    assert "random_state=0" in lines["proba"]
    assert "nondeterministic" in lines["cell3:output"]
    assert "(--repeat 1)" in proc.stdout and html.exists() and "nondeterministic" in html.read_text()


def test_images_are_compared_perceptually():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.verification.outputs import compare_images

    def png(ys) -> str:
        fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
        ax.plot(ys)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode()

    assert compare_images(png([1, 2, 3]), png([1, 2, 3])) == ""
    assert "pixels differ" in compare_images(png([1, 2, 3]), png([1, 3, 2]))


def test_a_feature_moved_by_one_pixel_is_the_same_picture_and_two_pixels_is_not():
    """matplotlib's axes_scales example: constrained layout put one spine a pixel to the right in
    the pipeline's run (0.21% of pixels, all on that line): the old rule called the plot different."""
    import numpy as np

    from workbench.verification.images import difference

    def picture(spine_x: int, curve_y: int = 40):
        image = np.ones((120, 160, 3))
        image[10:110, spine_x] = 0.0  # a black vertical spine
        image[curve_y, 20:140] = [0.1, 0.4, 0.8]  # a blue horizontal curve
        return image

    assert difference(picture(60), picture(61)) is None
    assert difference(picture(60), picture(60, curve_y=41)) is None
    moved = difference(picture(60), picture(63))
    assert moved and "beyond a 1-pixel shift" in moved and "in x 60-63" in moved, moved
    assert difference(picture(60), picture(60, curve_y=45))


def test_outputs_map_notebook_cells_by_metadata_and_task_cells_by_title():
    from workbench.verification.outputs import normalise, notebook_index, tag_cells, task_index

    nb = tag_cells({"cells": [{"cell_type": "code", "metadata": {}}, {"cell_type": "code"}]})
    assert [notebook_index(c) for c in nb["cells"]] == [0, 1]
    assert task_index({"metadata": {"title": "notebook cell 7 (c007)"}}) == 7
    assert task_index({"metadata": {}}) is None
    assert normalise("<obj at 0x7f3a2b1c9d10>\n  a   b ") == normalise("<obj at 0x7f00aa11bb22> a b")
    assert json.dumps(nb)


def test_a_sets_order_reproduces_under_the_pinned_hash_seed_and_repeat_names_the_seed(tmp_path: Path):
    """A set's iteration order follows the per-process string-hash seed. The pipeline and the
    notebook run with the same pinned seed, so verify says equal (before, a task that ran in
    another process than the notebook's kernel "differed" by luck); --repeat runs the notebook with
    other seeds and names the hash seed as the source of what changes."""
    fruit = ", ".join(repr(f"fruit{i}") for i in range(12))
    nb = write_notebook(tmp_path / "sets.ipynb", [
        (f"basket = {{{fruit}}}\norder = list(basket)\nprint(order[:3])", "task:pick"),
        ("first = order[0]", "task:use")])
    proc = workbench("verify", nb, "-o", tmp_path / "pipe", "--repeat", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = workbench("verify", nb, "-o", tmp_path / "pipe", "--repeat", "2")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert lines["order"].split()[2] == "nondeterministic", proc.stdout
    assert "PYTHONHASHSEED 0, 1, 2" in lines["order"] and "sorted(" in lines["order"]


def test_a_statsmodels_fit_verifies_equal_through_its_results(tmp_path: Path):
    """statsmodels results crossing a task boundary: compared by what they estimated (params,
    standard errors, the data), never by their private caches and scratch buffers."""
    nb = write_notebook(tmp_path / "ols.ipynb", [
        ("import numpy as np\nimport pandas as pd\nimport statsmodels.formula.api as smf", "imports"),
        ("rng = np.random.default_rng(1)\nframe = pd.DataFrame({'x': rng.normal(size=80)})\n"
         "frame['y'] = 1.5 * frame['x'] + rng.normal(size=80)", "task:data"),
        ("fit = smf.ols('y ~ x', frame).fit()\nprint(fit.params.round(4).to_dict())", "task:model"),
        ("summary = fit.summary2().tables[1]", "task:report")])
    proc = workbench("verify", nb, "-o", tmp_path / "pipe", "--repeat", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert lines["fit"].split()[2] == "equal" and lines["summary"].split()[2] == "equal", proc.stdout


def test_a_last_value_that_cannot_be_stored_does_not_fail_run_or_verify(tmp_path: Path):
    """networkx's plot_four_grids ends its cell with `ax = axs.flat`, an iterator: `run` failed
    ("cannot be passed between tasks") over a value no later task reads, and verify's notebook run
    would have failed inside the user's notebook."""
    nb = write_notebook(tmp_path / "grid.ipynb", [
        ("import numpy as np", "imports"),
        ("grid = np.arange(6).reshape(2, 3)", "task:make"),
        ("total = int(grid.sum())\ncells = grid.flat", "task:use")])
    run = workbench("run", nb, "-o", tmp_path / "pipe", "--no-track", "--no-version")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "variable 'cells' of task 'use' is not kept" in (tmp_path / "pipe" / "products" / "use.ipynb").read_text()
    proc = workbench("verify", nb, "-o", tmp_path / "pipe", "--repeat", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "not comparable" in lines["cells"] and "numpy.flatiter" in lines["cells"], proc.stdout
    assert lines["total"].split()[2] == "equal"
