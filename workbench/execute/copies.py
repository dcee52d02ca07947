"""A pipeline's copy beside it, seeded with the products a change cannot reach.

Sweeps run each combination in such a copy, and `verify --devices` runs each device in one, so
that what no swept parameter (or device) touches is not built again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from workbench.core.plan import Plan
from workbench.execute.build import STATE, load_state, notebook_dir_of


def affected_tasks(plan: Plan, names: set[str]) -> set[str]:
    """The tasks a change of these parameters reaches: those using one, and all downstream."""
    hit: set[str] = set()
    for name in plan.order:
        task = plan.task(name)
        if set(task.parameters) & names or any(up in hit for up in task.upstream):
            hit.add(name)
    return hit


def copy_pipeline(pipeline: Path, dest: Path, plan: Plan, swept: set[str]) -> None:
    """The pipeline's code in `dest`, with the products of the tasks no swept parameter reaches.

    The tasks keep running in the notebook's folder: pipeline.yaml's `cwd` is rewritten for the new
    place. Copied products come with their recorded keys, so the build checks them by content like
    any other and reruns them if they are not current for these parameters."""
    notebook_dir = notebook_dir_of(pipeline)
    top = {".workbench", "products"}
    shutil.copytree(pipeline, dest, ignore=lambda d, names: [n for n in names if Path(d) == pipeline and n in top])
    yaml_path = dest / "pipeline.yaml"
    rel = os.path.relpath(notebook_dir, dest.resolve())
    cwd = "{{here}}" if rel == "." else "{{here}}/" + Path(rel).as_posix()
    yaml_path.write_text(re.sub(r'cwd: "\{\{here\}\}[^"]*"', lambda _m: f'cwd: "{cwd}"', yaml_path.read_text()))
    state = load_state(pipeline)
    kept = {}
    (dest / "products").mkdir(parents=True, exist_ok=True)
    for name, entry in state.get("tasks", {}).items():
        if name in affected_tasks(plan, swept) or name not in {t.name for t in plan.tasks}:
            continue
        source = pipeline / "products"
        if not (source / f"{name}.ipynb").is_file():
            continue
        for item in (name, f"{name}.ipynb", f".{name}.ipynb.metadata"):
            if (source / item).is_dir():
                shutil.copytree(source / item, dest / "products" / item)
            elif (source / item).is_file():
                shutil.copy2(source / item, dest / "products" / item)
        kept[name] = entry
    if kept:
        target = dest / STATE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"format": state["format"], "tasks": kept}, indent=1, sort_keys=True))
