"""Past runs: the records of a project, and where a product came from."""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import WorkbenchError


def project_of(target: str | Path | None = None) -> Path:
    """The project root of a path (a folder, or a file's folder), else of the working directory."""
    from workbench.provenance import records as rec

    if target:
        path = Path(target)
        return rec.project_root(path if path.is_dir() else path.parent)
    return rec.project_root(Path.cwd())


def run_records(pipeline: str | None = None, root: Path | None = None) -> list[dict]:
    """The run records of the project, newest first (only `pipeline`'s when given)."""
    from workbench.provenance import records as rec

    return rec.load_records(root or project_of(None), pipeline)


def lineage_of(product: str, run: str | None = None, root: Path | None = None) -> list[str]:
    """The lines of `workbench lineage`: where `product` (TASK/VARIABLE, VARIABLE, a products/ path)
    came from in `run`, by default the latest finished pipeline run that made it."""
    from workbench.execute.build import load_plan
    from workbench.provenance import records as rec

    root = root or project_of(None)
    records = [r for r in rec.load_records(root)
               if r["status"] == "FINISHED" and r.get("kind", "pipeline") == "pipeline"]
    if run:
        records = [rec.find_record(root, run)]
        if records[0].get("kind", "pipeline") != "pipeline":
            raise WorkbenchError(f"run {records[0]['id']} ran the notebook itself: it has no products",
                                 hint="give a pipeline run (`workbench runs` shows each run's kind)")
    pipelines = {r["pipeline"]: r for r in reversed(records)}
    for _name, record in sorted(pipelines.items(), key=lambda kv: -kv[1]["started"]):
        plan = load_plan(root / record["pipeline_dir"])
        try:
            return rec.lineage(plan, record, product)
        except WorkbenchError:
            continue
    raise WorkbenchError(f"no finished run produced {product!r}",
                         hint="name a product as TASK/VARIABLE (see `workbench plan`), after a `workbench run`")
