"""Which folder is the project: every command must agree, inside git or not."""

from pathlib import Path

from workbench.provenance.records import project_root


def test_outside_git_the_folder_holding_run_records_is_the_project(tmp_path: Path):
    """Regression: outside git, `workbench gate pipelines/x` looked for runs in pipelines/.workbench
    while `workbench run` had recorded them in the folder above."""
    project = tmp_path / "proj"
    (project / ".workbench" / "runs").mkdir(parents=True)
    pipeline = project / "pipelines" / "churn"
    (pipeline / ".workbench").mkdir(parents=True)  # the pipeline's own state folder is not a project
    assert project_root(pipeline) == project
    assert project_root(project) == project
    assert project_root(pipeline, project / "notebooks" / "churn.ipynb") == project


def test_inside_git_the_repository_is_the_project(tmp_path: Path):
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert project_root(tmp_path / "a" / "b") == tmp_path.resolve()


def _three_answers(monkeypatch, jupyter_root: Path, notebook: Path) -> tuple[Path, Path, Path]:
    """The project the CLI, the server and the kernel resolve for `notebook`, the way each asks:
    `workbench run NOTEBOOK` from the notebook's folder, the panel's runs listing (its jobs run from
    the Jupyter root into pipelines/NAME there, exported first) and `%workbench run`."""
    from workbench.cli.main import _default_pipeline_dir
    from workbench.lab.kernel.magic import project_dir
    from workbench.lab.server.handlers import runs_root
    from workbench.refactor.export import export
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan

    plan = build_plan(read_notebook(str(notebook)))
    export(plan, jupyter_root / "pipelines" / plan.name, notebook)
    monkeypatch.chdir(notebook.parent)
    cli = project_root(_default_pipeline_dir(notebook.name), Path(notebook.name))
    return cli, runs_root(jupyter_root, plan.name), project_dir(notebook)


def test_outside_git_the_cli_the_server_and_the_kernel_agree(tmp_path: Path, monkeypatch):
    """Regression: outside git the panel listed the runs of the Jupyter root and the kernel ran the
    CLI from the notebook's folder, whichever folder the CLI had recorded the runs in."""
    from helpers import write_notebook

    cells = [("x = 1", "task:a"), ("y = x + 1", "task:b")]
    fresh = tmp_path / "fresh"
    notebook = write_notebook(fresh / "churn.ipynb", cells)
    assert _three_answers(monkeypatch, fresh, notebook) == (fresh, fresh, fresh)  # nothing marks a project

    for marker in (".workbench/runs", ".dvc"):  # runs recorded above, or DVC there
        project = tmp_path / marker.replace("/", "_")
        (project / marker).mkdir(parents=True)
        notebook = write_notebook(project / "notebooks" / "churn.ipynb", cells)
        answers = _three_answers(monkeypatch, project / "notebooks", notebook)
        assert answers == (project, project, project), marker
