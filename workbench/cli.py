"""The `workbench` command.

argparse rather than a richer toolkit: `workbench plan` must answer in well under half a second,
and every import on this path is paid on every call. Errors a user can fix are printed as
`error: WHERE: WHAT` plus a `fix:` line, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError

DESCRIPTION = """\
Promote a tagged Jupyter notebook into a Ploomber pipeline that reproduces it.

Tag cells in JupyterLab (task:NAME starts a task; parameters, imports, functions, metrics,
gpu, model:VAR, skip; Kale's step:/block:/prev: work too). Untagged notebooks are split on
their level-2 headings.

Typical session:
  workbench plan notebooks/churn.ipynb        what the pipeline would be, and why
  workbench export notebooks/churn.ipynb      write pipelines/churn/ (a Ploomber project)
  workbench run notebooks/churn.ipynb -p seed=8
  workbench verify notebooks/churn.ipynb      prove the pipeline reproduces the notebook
"""


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def _plan(notebook: str):
    from workbench.notebook import read_notebook
    from workbench.plan import build_plan

    return build_plan(read_notebook(notebook, _display(Path(notebook))))


def _default_pipeline_dir(notebook: str) -> Path:
    from workbench.plan import slug

    return Path("pipelines") / slug(Path(notebook).stem)


def _print_warnings(plan, stream=sys.stderr) -> None:
    for w in plan.warnings:
        where = ", ".join(f"cell {c['cell']} line {c['line']} ({c['text']})" for c in w.cells)
        print(f"warning: {plan.notebook}: {w.message}: {where}", file=stream)


def cmd_plan(args) -> int:
    plan = _plan(args.notebook)
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, indent=1, default=str)
        print()
        return 0
    print(f"{plan.notebook}: {len(plan.tasks)} task(s), {len(plan.parameters)} parameter(s)")
    if plan.parameters:
        print("parameters: " + ", ".join(f"{p.name}={p.source} ({p.type})" for p in plan.parameters.values()))
    width = max((len(t.name) for t in plan.tasks), default=4)
    for name in plan.order:
        t = plan.task(name)
        cells = ",".join(str(i) for i in t.code_cells)
        takes = "; ".join(f"{', '.join(e.variables or e.files or e.random_state or ['(after)'])} <- {u}"
                          for u, e in t.upstream.items())
        flags = []
        if t.gpu:
            flags.append(f"gpu:{t.gpu}")
        if t.model:
            flags.append(f"model:{t.model}")
        if t.parameters:
            flags.append("params: " + ", ".join(t.parameters))
        print(f"  {name:<{width}}  cells {cells}")
        if takes:
            print(f"  {'':<{width}}    takes    {takes}")
        if t.outputs:
            print(f"  {'':<{width}}    produces {', '.join(t.outputs)}")
        if flags:
            print(f"  {'':<{width}}    {'  '.join(flags)}")
    if plan.requirements:
        print("requirements (from %pip/!pip lines): " + " ".join(plan.requirements))
    _print_warnings(plan)
    return 0


def _export(notebook: str, output: str | None, force: bool, quiet: bool = False):
    from workbench.export import export

    plan = _plan(notebook)
    out = Path(output) if output else _default_pipeline_dir(notebook)
    result = export(plan, out, notebook, force=force)
    if not quiet:
        _print_warnings(plan)
        changed = ", ".join(result.written) or "nothing changed"
        print(f"exported {plan.notebook} -> {_display(out)}/ ({len(plan.tasks)} tasks; written: {changed})")
        for backup in result.backups:
            print(f"kept your edited file as {backup}")
    return plan, out


def cmd_export(args) -> int:
    _export(args.notebook, args.output, args.force)
    return 0


def _resolve_target(target: str, output: str | None, pairs: list[str]):
    """(plan, pipeline folder, typed overrides). A notebook is exported first (only changed files
    are written), after its parameters were checked; a folder is used as it is."""
    from workbench.params import parse_overrides
    from workbench.run import load_plan

    path = Path(target)
    if path.suffix == ".ipynb":
        plan = _plan(target)
        overrides = parse_overrides(pairs, plan.parameters, plan.notebook, {c.index: c.id for c in plan.cells})
        plan, out = _export(target, output, False, quiet=True)
        return plan, out.resolve(), overrides
    plan = load_plan(path)
    overrides = parse_overrides(pairs, plan.parameters, plan.notebook, {c.index: c.id for c in plan.cells})
    return plan, path.resolve(), overrides


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    from workbench.params import effective
    from workbench.run import build

    plan, pipeline, overrides = _resolve_target(args.target, args.output, args.param)
    result = build(pipeline, plan, effective(plan.parameters, overrides), force=args.force,
                   jobs=args.jobs, progress=_progress)
    ran = result.ran
    if not ran:
        print(f"nothing to do: every task of {_display(pipeline)} is up to date ({result.seconds:.2f}s)")
        return 0
    for t in result.tasks:
        mark = f"ran in {t.seconds:.2f}s" if t.status == "ran" else "up to date"
        print(f"  {t.name:<20} {mark}")
    print(f"ran {len(ran)} of {len(result.tasks)} task(s) in {result.seconds:.1f}s; "
          f"products in {_display(pipeline / 'products')}/")
    return 0


def cmd_verify(args) -> int:
    from workbench.params import effective
    from workbench.verify import verify

    plan, pipeline, overrides = _resolve_target(args.notebook, args.output, args.param)
    report = verify(Path(args.notebook), pipeline, plan, effective(plan.parameters, overrides),
                    overrides, progress=_progress)
    print(report.table())
    print(report.summary())
    return 0 if report.ok else 1


def cmd_params(args) -> int:
    plan = _plan(args.notebook)
    if not plan.parameters:
        print(f"{plan.notebook} has no parameters cell")
        return 0
    for p in plan.parameters.values():
        print(f"{p.name:<20} {p.type:<10} {p.source}")
    return 0


def parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="workbench", description=DESCRIPTION, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("plan", formatter_class=fmt, help="show the pipeline a notebook becomes",
                       description="Show the tasks a notebook becomes: their cells, what each takes "
                       "from which task, what it produces, its parameters.\nNothing is executed: "
                       "this reads the code only.\n\nexample:\n  workbench plan notebooks/churn.ipynb --json")
    s.add_argument("notebook")
    s.add_argument("--json", action="store_true", help="print the Plan as JSON (the API's data model)")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("export", formatter_class=fmt, help="write the Ploomber project for a notebook",
                       description="Write pipeline.yaml, env.yaml and tasks/*.py for a notebook.\n"
                       "Files you edited since the last export are never overwritten without --force "
                       "(which keeps a backup).\n\nexample:\n  workbench export notebooks/churn.ipynb -o pipelines/churn")
    s.add_argument("notebook")
    s.add_argument("-o", "--output", help="folder to write (default: pipelines/<notebook name>/)")
    s.add_argument("--force", action="store_true", help="overwrite hand-edited files, keeping backups")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("run", formatter_class=fmt, help="build the pipeline (only what changed)",
                       description="Build a pipeline with Ploomber. Given a notebook, export it first.\n"
                       "Only tasks whose code, parameters or upstream products changed run again.\n\n"
                       "examples:\n  workbench run notebooks/churn.ipynb\n"
                       "  workbench run pipelines/churn -p n_estimators=200 --jobs 2")
    s.add_argument("target", metavar="PIPELINE_OR_NOTEBOOK")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter of the notebook's parameters cell (type-checked)")
    s.add_argument("--force", action="store_true", help="run every task, even those up to date")
    s.add_argument("-j", "--jobs", type=int, default=1, help="run up to N independent tasks at once")
    s.add_argument("-o", "--output", help="pipeline folder when exporting a notebook")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("verify", formatter_class=fmt, help="prove the pipeline reproduces the notebook",
                       description="Run the notebook through papermill and the pipeline with the same "
                       "parameters, then compare every product and every value the last tasks define.\n"
                       "Exits 1 on any difference.\n\nexample:\n  workbench verify notebooks/churn.ipynb -p seed=3")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("-o", "--output", help="pipeline folder (default: pipelines/<notebook name>/)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("params", help="list a notebook's parameters and their types")
    s.add_argument("notebook")
    s.set_defaults(func=cmd_params)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    started = time.perf_counter()
    try:
        return args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
