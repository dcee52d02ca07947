"""Which folder is the project: the one rule every command, the Jupyter panel and the kernel use.

A project is where run records (`.workbench/runs/`), DVC and MLflow's local store live. For a
pipeline folder (or any file or folder of the project) it is, first match wins:

1. the top of the git work tree holding it;
2. outside git, the nearest folder, its own included, that holds run records (`.workbench/runs/`)
   or a DVC repository (`.dvc/`): where earlier runs were recorded, the same project;
3. else, given the notebook the pipeline comes from, the folder holding both (unless that is the
   file system's root or the home folder);
4. else the folder holding the pipeline.

The CLI passes the pipeline folder (and the notebook when it has one); the server its jobs'
pipeline folder under the Jupyter root; the kernel the pipeline folder `workbench run NOTEBOOK`
would use from the notebook's folder. So outside git all three name the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS = Path(".workbench") / "runs"  # a project's run records, one JSON file per run


def git_top(start: Path) -> Path | None:
    """The top of the git work tree containing `start` (a file or a folder), or None outside any.

    Walks up looking for `.git` (a folder, or the file a worktree or submodule has) rather than
    running `git rev-parse`: this is asked on every run and a process costs more than the walk.
    """
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def project_root(pipeline: Path, notebook: Path | None = None) -> Path:
    """The project folder of `pipeline` (a pipeline folder, or any file or folder of the project),
    by the module's rule: git's top; else the nearest folder with run records or `.dvc/`; else the
    folder holding `notebook` and `pipeline`; else the folder holding `pipeline`."""
    start = Path(pipeline).resolve()
    root = git_top(start)
    if root is not None:
        return root
    for folder in (start, *start.parents):
        if (folder / RUNS).is_dir() or (folder / ".dvc").is_dir():
            return folder
    if notebook is not None:
        common = Path(os.path.commonpath([start, Path(notebook).resolve().parent]))
        if common != Path(common.anchor) and common != Path.home():
            return common
    return start.parent
