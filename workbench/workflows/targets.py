"""What a command is given: a notebook (planned, exported when needed) or a pipeline folder.

Light on purpose: `workbench plan` goes through `plan_notebook` and must stay fast (nothing here
imports more than the planner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.plan import Plan


def project_path(path: Path) -> str:
    """A notebook's path relative to its git repository, so that generated files say the same
    whichever folder the command ran from; else as the user would type it."""
    from workbench.core.project import git_top

    top = git_top(path.resolve().parent)
    return path.resolve().relative_to(top).as_posix() if top is not None else display(path)


def display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def plan_notebook(notebook: str | Path, traced: bool = True) -> Plan:
    """The Plan of a notebook file (PlanError names the cell and line of what cannot be split),
    with the edges of its stored trace (`workbench trace`) while the notebook is unchanged."""
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan

    plan = build_plan(read_notebook(str(notebook), project_path(Path(notebook))))
    return with_trace(plan, notebook) if traced else plan


def with_trace(plan: Plan, notebook: str | Path) -> Plan:
    """The plan with the edges of the notebook's stored trace, if there is one for these bytes
    (the panel's plans, made from the editor's content, go through here too)."""
    project = trace_project(notebook)
    if not trace_file(notebook, plan.notebook_sha256, project).is_file():
        return plan
    from workbench.execute.trace import load_trace
    from workbench.refactor.traced import apply_trace

    return apply_trace(plan, load_trace(project, plan.notebook_sha256))


def trace_file(notebook: str | Path, sha256: str, project: Path | None = None) -> Path:
    """Where the trace of the notebook with these bytes is (or would be) stored (`project`: its
    trace_project, when the caller has it already)."""
    return (project or trace_project(notebook)) / ".workbench" / "traces" / f"{sha256}.json"


def trace_project(notebook: str | Path) -> Path:
    """Where a notebook's traces are stored (.workbench/traces/): its git top, else its folder."""
    from workbench.core.project import git_top

    return git_top(Path(notebook)) or Path(notebook).resolve().parent


def default_pipeline_dir(notebook: str | Path) -> Path:
    """pipelines/<notebook name>/ (relative to the working directory), or, where that holds the
    pipeline of another notebook of the same name, one of its own (refactor.export.pipeline_dir_for)."""
    from workbench.refactor.export import pipeline_dir_for

    return pipeline_dir_for(notebook, Path("pipelines"))


def pipeline_folder(target: str | Path) -> Path:
    """A pipeline folder, or the default folder of a notebook's pipeline."""
    return default_pipeline_dir(target) if str(target).endswith(".ipynb") else Path(target)


@dataclass
class Exported:
    """What `export` wrote: the folder, the plan, and the files written, unchanged, backed up."""

    directory: Path
    plan: Plan
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def export_notebook(notebook: str | Path, output: str | Path | None = None, force: bool = False,
                    plan: Plan | None = None) -> Exported:
    """Write the Ploomber project of a notebook (only the files that changed); ExportConflict when
    a hand-edited file would be overwritten without `force`."""
    from workbench.refactor.export import export, named_after

    out = Path(output) if output else default_pipeline_dir(notebook)
    plan = named_after(plan or plan_notebook(notebook), out)  # as plan.json names it
    result = export(plan, out, str(notebook), force=force)
    return Exported(out, plan, list(result.written), list(result.unchanged), list(result.backups),
                    list(result.removed))


def resolve_target(target: str | Path, output: str | Path | None = None,
                   pairs: list[str] | None = None) -> tuple[Plan, Path, dict]:
    """(plan, pipeline folder, typed overrides). A notebook is exported first (only changed files
    are written), after its parameters were checked; a folder is used as it is."""
    from workbench.execute.build import load_plan
    from workbench.refactor.params import parse_overrides

    path = Path(target)
    pairs = list(pairs or [])
    if path.suffix == ".ipynb":
        plan = plan_notebook(path)
        overrides = parse_overrides(pairs, plan.parameters, plan.notebook, {c.index: c.id for c in plan.cells})
        exported = export_notebook(path, output, False, plan=plan)
        return exported.plan, exported.directory.resolve(), overrides
    plan = load_plan(path)
    overrides = parse_overrides(pairs, plan.parameters, plan.notebook, {c.index: c.id for c in plan.cells})
    return plan, path.resolve(), overrides


def param_pairs(params: dict | list | None) -> list[str]:
    """NAME=VALUE strings from a mapping (values as Python literals, str as is) or a list of them."""
    if not params:
        return []
    if isinstance(params, dict):
        return [f"{k}={v}" if isinstance(v, str) else f"{k}={v!r}" for k, v in params.items()]
    return list(params)
