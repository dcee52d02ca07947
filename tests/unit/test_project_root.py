"""Which folder is the project: every command must agree, inside git or not."""

from pathlib import Path

from workbench.lineage.records import project_root


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
