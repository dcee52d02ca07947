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


def _project_path(path: Path) -> str:
    """A notebook's path relative to its git repository, so that generated files say the same
    whichever folder the command ran from; else as the user would type it."""
    resolved = path.resolve()
    for parent in resolved.parents:
        if (parent / ".git").exists():
            return resolved.relative_to(parent).as_posix()
    return _display(path)


def _plan(notebook: str):
    from workbench.notebook import read_notebook
    from workbench.plan import build_plan

    return build_plan(read_notebook(notebook, _project_path(Path(notebook))))


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


def _export(notebook: str, output: str | None, force: bool, quiet: bool = False, plan=None):
    from workbench.export import export

    plan = plan or _plan(notebook)
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
        plan, out = _export(target, output, False, quiet=True, plan=plan)
        return plan, out.resolve(), overrides
    plan = load_plan(path)
    overrides = parse_overrides(pairs, plan.parameters, plan.notebook, {c.index: c.id for c in plan.cells})
    return plan, path.resolve(), overrides


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    import warnings

    from workbench import record as rec
    from workbench.errors import RunError
    from workbench.params import effective
    from workbench.run import build

    plan, pipeline, overrides = _resolve_target(args.target, args.output, args.param)
    params = effective(plan.parameters, overrides)
    notebook = Path(args.target) if args.target.endswith(".ipynb") else None
    run_id, started = rec.new_run_id(), time.time()
    failure = None
    try:
        result = build(pipeline, plan, params, force=args.force, jobs=args.jobs, progress=_progress, run_id=run_id)
    except RunError as exc:
        failure, result = exc, getattr(exc, "result", None)
        if result is None:
            raise
    if failure is None and not result.ran:
        print(f"nothing to do: every task of {_display(pipeline)} is up to date ({result.seconds:.2f}s)")
        return 0
    root = rec.project_root(pipeline, notebook)
    status = "FAILED" if failure else "FINISHED"
    record = rec.assemble(plan, pipeline, root, result, params, run_id, started, status)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not args.no_version:
            try:
                rec.version_data(record, plan, pipeline, root, params, progress=_progress)
            except WorkbenchError as exc:
                print(f"warning: data not versioned: {exc}", file=sys.stderr)
        rec.save_record(record, root)
        mode = "off" if args.no_track else (args.tracking or os.environ.get("WORKBENCH_TRACKING") or "background")
        if mode != "off":
            rec.track_run(record, root, mode)
            rec.save_record(record, root)
    for w in caught:
        if not issubclass(w.category, ResourceWarning):  # the detached sync outlives its Popen
            print(f"warning: {w.message}", file=sys.stderr)
    if failure is not None:
        print(f"run {run_id} recorded as FAILED", file=sys.stderr)
        raise failure
    for t in result.tasks:
        mark = f"ran in {t.seconds:.2f}s" if t.status == "ran" else "up to date"
        print(f"  {t.name:<20} {mark}")
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in record["metrics"].items())
    print(f"ran {len(result.ran)} of {len(result.tasks)} task(s) in {result.seconds:.1f}s; "
          f"products in {_display(pipeline / 'products')}/")
    print(f"run {run_id}" + (f": {metrics}" if metrics else "")
          + (f" (MLflow run {record['mlflow_run_id']})" if record.get("mlflow_run_id") else ""))
    return 0


def _root_for(target: str | None) -> Path:
    from workbench import record as rec

    if target:
        path = Path(target)
        return rec.project_root(path if path.is_dir() else path.parent)
    return rec.project_root(Path.cwd())


def cmd_init(args) -> int:
    from workbench.versioning import ensure_project

    root = Path(args.path).resolve()
    done = ensure_project(root)
    for line in done:
        print(line)
    print(f"{root} is a Workbench project" + (" (nothing to do)" if not done else ""))
    return 0


def cmd_runs(args) -> int:
    from workbench import record as rec

    records = rec.load_records(_root_for(None), args.pipeline)
    if args.json:
        keys = ("id", "pipeline", "status", "started", "ended", "params", "metrics", "data", "git",
                "mlflow_run_id", "user", "device")
        json.dump([{k: r.get(k) for k in keys} for r in records], sys.stdout, indent=1, default=str)
        print()
        return 0
    if not records:
        print("no runs yet: `workbench run NOTEBOOK` makes one")
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        metrics = " ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items())
        data = (r.get("data") or {}).get(f"{r.get('pipeline_dir')}/products", "")[:8]
        print(f"{r['id']}  {when}  {r['pipeline']:<12} {r['status']:<8} data {data or '-':<8}  {metrics}")
        print(f"{'':<22}params {params}")
    return 0


def cmd_diff(args) -> int:
    from workbench import record as rec

    root = _root_for(None)
    a, b = rec.find_record(root, args.run_a), rec.find_record(root, args.run_b)
    d = rec.diff_records(a, b)
    print(f"{a['id']} -> {b['id']}")
    if d["commit"][0] != d["commit"][1]:
        print(f"commit: {d['commit'][0]} -> {d['commit'][1]}")
    sections = [
        ("code and inputs", [f"{name}: {what}" for name, what in d["code"]]),
        ("parameters", [f"{k}: {x!r} -> {y!r}" for k, x, y in d["params"]]),
        ("data", [f"{path}: {what}" for path, what in d["data"]]),
        ("products", d["products"]),
        ("metrics", [f"{k}: {x} -> {y}" for k, x, y in d["metrics"]]),
    ]
    for title, lines in sections:
        print(f"{title}: " + ("no change" if not lines else ""))
        for line in lines:
            print(f"  {line}")
    return 0


def cmd_checkout(args) -> int:
    from workbench import record as rec
    from workbench.versioning import restore

    root = _root_for(None)
    record = rec.find_record(root, args.run_id)
    if not record.get("dvc"):
        raise WorkbenchError(f"run {record['id']} has no versioned data (it ran with --no-version)")
    changed = restore(root, record["dvc"])
    if not changed:
        print(f"the working tree already holds the data of run {record['id']}")
    for path in changed:
        print(f"restored {path} to run {record['id']}")
    return 0


def cmd_lineage(args) -> int:
    from workbench import record as rec
    from workbench.run import load_plan

    root = _root_for(None)
    records = [r for r in rec.load_records(root) if r["status"] == "FINISHED"]
    if args.run:
        records = [rec.find_record(root, args.run)]
    pipelines = {r["pipeline"]: r for r in reversed(records)}
    target = args.product
    for _name, record in sorted(pipelines.items(), key=lambda kv: -kv[1]["started"]):
        plan = load_plan(root / record["pipeline_dir"])
        try:
            lines = rec.lineage(plan, record, target)
        except WorkbenchError:
            continue
        print("\n".join(lines))
        return 0
    raise WorkbenchError(f"no finished run produced {target!r}",
                         hint="name a product as TASK/VARIABLE (see `workbench plan`), after a `workbench run`")


def cmd_sync(args) -> int:
    from workbench import record as rec
    from workbench.tracking import sync

    root = _root_for(None)
    for run_id in rec.push_pending(root):
        print(f"pushed the data of run {run_id} to the DVC remote")
    delivered = sync(root)
    for run_id, mlflow_id in delivered:
        print(f"sent run {run_id} to MLflow (run {mlflow_id})")
        for record in rec.load_records(root):
            if record["id"] == run_id:
                record["mlflow_run_id"] = mlflow_id
                rec.save_record(record, root)
    if not delivered:
        print("nothing to send: every run is in MLflow")
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
                       "Only tasks whose code, local modules, parameters, input files or upstream\n"
                       "products changed (by content, not timestamps) run again. Each run is recorded:\n"
                       "data versioned with DVC, the run logged to MLflow (see `workbench runs`).\n\n"
                       "examples:\n  workbench run notebooks/churn.ipynb\n"
                       "  workbench run pipelines/churn -p n_estimators=200 --jobs 2")
    s.add_argument("target", metavar="PIPELINE_OR_NOTEBOOK")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter of the notebook's parameters cell (type-checked)")
    s.add_argument("--force", action="store_true", help="run every task, even those up to date")
    s.add_argument("-j", "--jobs", type=int, default=1, help="run up to N independent tasks at once")
    s.add_argument("-o", "--output", help="pipeline folder when exporting a notebook")
    s.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    s.add_argument("--tracking", choices=["background", "now", "off"], default=None,
                   help="log to MLflow in a background process (default), before returning, or not at "
                   "all (env WORKBENCH_TRACKING)")
    s.add_argument("--no-version", action="store_true", help="do not version inputs and products with DVC")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("verify", formatter_class=fmt, help="prove the pipeline reproduces the notebook",
                       description="Run the notebook through papermill and the pipeline with the same "
                       "parameters, then compare every product and every value the last tasks define.\n"
                       "Exits 1 on any difference.\n\nexample:\n  workbench verify notebooks/churn.ipynb -p seed=3")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("-o", "--output", help="pipeline folder (default: pipelines/<notebook name>/)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("init", formatter_class=fmt, help="make this folder a versioned Workbench project",
                       description="git init (if needed), dvc init, and a local DVC remote under "
                       ".workbench/dvc-remote/ unless you configured one. `workbench run` does this on "
                       "first use.")
    s.add_argument("path", nargs="?", default=".")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("runs", help="list past runs, newest first")
    s.add_argument("--pipeline", help="only the runs of this pipeline")
    s.add_argument("--json", action="store_true", help="a list of objects (id, status, params, metrics, data...)")
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("diff", help="what differs between two runs: code, parameters, data, metrics")
    s.add_argument("run_a", metavar="RUN_A")
    s.add_argument("run_b", metavar="RUN_B")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("checkout", help="restore the exact inputs and products of a past run")
    s.add_argument("run_id", metavar="RUN_ID")
    s.set_defaults(func=cmd_checkout)

    s = sub.add_parser("lineage", help="where a product or model came from, back to the raw data")
    s.add_argument("product", metavar="PRODUCT_OR_MODEL", help="TASK/VARIABLE, VARIABLE or a products/ path")
    s.add_argument("--run", help="in this run (default: the latest finished run that made it)")
    s.set_defaults(func=cmd_lineage)

    s = sub.add_parser("sync", help="send runs recorded while MLflow was unreachable")
    s.set_defaults(func=cmd_sync)

    s = sub.add_parser("params", help="list a notebook's parameters and their types")
    s.add_argument("notebook")
    s.set_defaults(func=cmd_params)

    # --- subcommands: rerun / sweeps ---
    # --- subcommands: ci / validate / gate ---
    # --- subcommands: package / promote ---
    # --- subcommands: serve ---
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
