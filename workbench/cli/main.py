"""The `workbench` command.

argparse rather than a richer toolkit: `workbench plan` must answer in well under half a second,
and every import on this path is paid on every call. Errors a user can fix are printed as
`error: WHERE: WHAT` plus a `fix:` line, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.version import __version__

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
  workbench run pipelines/churn -p n_estimators=50,100 --rank auc     a sweep, ranked
  workbench ci pipelines/churn                CI script + workflow: validate, run, gate, register
  workbench package pipelines/churn           MLflow model, Dockerfile, model card; registered
  workbench promote churn --alias champion    only if it passes the gate
  workbench serve churn@champion              HTTP scoring, /metrics; then: workbench monitor churn
"""


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    from workbench.workflows.targets import display

    return display(path)


def _plan(notebook: str):
    from workbench import api

    return api.plan(notebook)


def _default_pipeline_dir(notebook: str) -> Path:
    from workbench.workflows.targets import default_pipeline_dir

    return default_pipeline_dir(notebook)


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
                          + (" [traced]" if e.traced else "") for u, e in t.upstream.items())
        evidence = list(dict.fromkeys(why for e in t.upstream.values() for why in e.evidence
                                      if why.startswith("found by trace")))
        flags = []
        if t.gpu:
            flags.append(f"gpu:{t.gpu}")
        if t.model:
            flags.append(f"model:{t.model}")
        if t.parameters:
            flags.append("params: " + ", ".join(t.parameters))
        if t.volatile:
            flags.append("volatile (not compared by verify): " + ", ".join(t.volatile))
        print(f"  {name:<{width}}  cells {cells}")
        if takes:
            print(f"  {'':<{width}}    takes    {takes}")
        for why in evidence:
            print(f"  {'':<{width}}    traced   {why}")
        if t.outputs:
            print(f"  {'':<{width}}    produces {', '.join(t.outputs)}")
        if flags:
            print(f"  {'':<{width}}    {'  '.join(flags)}")
    if plan.requirements:
        print("requirements (from %pip/!pip lines): " + " ".join(plan.requirements))
    _print_warnings(plan)
    return 0


def cmd_trace(args) -> int:
    from workbench import api

    result = api.trace(args.notebook, args.param)
    print(result.summary())
    if result.added:
        print(f"`workbench plan {args.notebook}`, `export` and `run` now use these edges (until the notebook "
              f"changes); re-export: workbench export {args.notebook} --force")
    return 0


def cmd_export(args) -> int:
    from workbench import api

    exported = api.export(args.notebook, args.output, args.force)
    plan = exported.plan
    _print_warnings(plan)
    changed = ", ".join(exported.written) or "nothing changed"
    print(f"exported {plan.notebook} -> {_display(exported.directory)}/ ({len(plan.tasks)} tasks; written: {changed})")
    for backup in exported.backups:
        print(f"kept your edited file as {backup}")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Events:
    """Where a command's events go: as text lines on stderr (the lines `workbench run` always
    printed), or with `--events jsonl` as one JSON object per line (`Event.to_dict()`) on stdout,
    where the lines the command prints on stdout otherwise become Message events (level output)."""

    def __init__(self, jsonl: bool = False, stream=None) -> None:
        self.jsonl, self.stream = jsonl, stream

    def __call__(self, event) -> None:
        if self.jsonl:
            self.stream.write(json.dumps(event.to_dict(), default=str) + "\n")
            self.stream.flush()
            return
        from workbench.core.events import text

        line = text(event)
        if line is not None:
            print(line, file=sys.stderr, flush=True)

    def out(self, text: str = "") -> None:
        """A line of the command's output: stdout, or an output Message with --events jsonl."""
        if not self.jsonl:
            print(text)
            return
        from workbench.core.events import Message

        for line in str(text).splitlines() or [""]:
            self(Message(line, level="output"))

    def warn(self, text: str) -> None:
        from workbench.core.events import Message

        self(Message(text, level="warning"))


_EVENTS = _Events()


def _events(args) -> _Events:
    """The event sink of this command (main sets it up for --events jsonl)."""
    return _EVENTS


def cmd_run(args) -> int:
    from workbench import api
    from workbench.workflows.sweep import has_lists, unescape

    if args.grid or has_lists(args.param):
        return _cmd_sweep(args, "pipeline")
    if getattr(args, "isolated", False):
        import os

        os.environ["WORKBENCH_ISOLATED"] = "1"  # execute.build reads it: each task in a fresh process
    events = _events(args)
    outcome = api.run(args.target, unescape(args.param), force=args.force, jobs=args.jobs, executor=args.executor,
                      scheduler=args.scheduler, products=args.products, require_gpu=args.require_gpu,
                      output=args.output, version=not args.no_version, tracking=_tracking_mode(args),
                      on_event=events)
    result, pipeline = outcome.result, outcome.pipeline
    if outcome.status == "UP_TO_DATE":
        events.out(f"nothing to do: every task of {_display(pipeline)} is up to date ({result.seconds:.2f}s)")
        return 0
    if outcome.error is not None:
        raise outcome.error
    if outcome.fairness:
        events.out(outcome.fairness)
    for t in result.tasks:
        mark = f"ran in {t.seconds:.2f}s" if t.status == "ran" else "up to date"
        events.out(f"  {t.name:<20} {mark}")
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in outcome.metrics.items())
    events.out(f"ran {len(result.ran)} of {len(result.tasks)} task(s) in {result.seconds:.1f}s; "
               f"products in {_display(pipeline / 'products')}/")
    events.out(f"run {outcome.run_id}" + (f": {metrics}" if metrics else "")
               + (f" (MLflow run {outcome.mlflow_run_id})" if outcome.mlflow_run_id else ""))
    return 0


def _root_for(target: str | None) -> Path:
    from workbench.provenance import records as rec

    if target:
        path = Path(target)
        return rec.project_root(path if path.is_dir() else path.parent)
    return rec.project_root(Path.cwd())


def cmd_init(args) -> int:
    from workbench.provenance.versioning import ensure_project

    root = Path(args.path).resolve()
    done = ensure_project(root)
    for line in done:
        print(line)
    print(f"{root} is a Workbench project" + (" (nothing to do)" if not done else ""))
    return 0


def cmd_runs(args) -> int:
    from workbench import api
    from workbench.core.tables import text_table

    records = api.runs(args.pipeline)
    if args.json:
        keys = ("id", "kind", "sweep_id", "pipeline", "status", "started", "ended", "params", "metrics", "data",
                "versions", "git", "mlflow_run_id", "user", "device", "usage")
        task_keys = ("name", "status", "seconds", "cpu_seconds", "gpu_seconds", "peak_rss_mb", "device", "cost")
        json.dump([{**{k: r.get(k) for k in keys},
                    "tasks": [{k: t.get(k) for k in task_keys if k in t} for t in r.get("tasks", [])]}
                   for r in records], sys.stdout, indent=1, default=str)
        print()
        return 0
    if not records:
        print("no runs yet: `workbench run NOTEBOOK` makes one")
        return 0
    rows = []
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        metrics = " ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items())
        data = _data_column(r)
        rows.append((r["id"], when, r["pipeline"], r.get("kind") or "pipeline", r["status"], data or "-",
                     metrics or "-", params or "-", _cost_column(r)))
    print(text_table(("run", "started", "pipeline", "kind", "status", "data", "metrics", "params", "cost"), rows))
    return 0


def _cost_column(record: dict) -> str:
    """`0.0012 USD (41.3 cpu-s)`: the estimated cost from [tool.workbench.cost] and what it priced;
    only the CPU-seconds when the project sets no prices; `-` for records from before usage."""
    usage = record.get("usage")
    if not isinstance(usage, dict):
        return "-"
    used = f"{usage.get('cpu_seconds', 0):.1f} cpu-s"
    if usage.get("gpu_seconds"):
        used += f", {usage['gpu_seconds']:.1f} gpu-s"
    if usage.get("cost") is None:
        return used
    cost = usage["cost"]
    shown = f"{cost:,.4f}" if cost >= 0.0001 or cost == 0 else "<0.0001"
    return f"{shown} {usage.get('currency', 'USD')} ({used})"


def _data_column(record: dict) -> str:
    """The products' version first (as before), then each other path's as NAME@VIA:HASH, e.g.
    `1a2b3c4d sales.csv@git:5e6f7a8b`; a path that could not be versioned shows as NAME@-."""
    products = f"{record.get('pipeline_dir')}/products"
    data = record.get("data") or {}
    parts = [str(data[products])[:8]] if data.get(products) else []
    for path, entry in (record.get("versions") or {}).items():
        if path == products or not isinstance(entry, dict):
            continue
        name = path.rstrip("/").rsplit("/", 1)[-1]
        ident = data.get(path)
        parts.append(f"{name}@{entry.get('via', 'dvc')}:{str(ident)[:8]}" if ident and not entry.get("error")
                     else f"{name}@-")
    return " ".join(parts)


def cmd_diff(args) -> int:
    from workbench.provenance import records as rec

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
    from workbench.provenance import records as rec
    from workbench.provenance.data_versions import record_versions, restore_run

    root = _root_for(None)
    record = rec.find_record(root, args.run_id)
    if not record.get("dvc") and not record_versions(record):
        raise WorkbenchError(f"run {record['id']} has no versioned data (it ran with --no-version)")
    restored = restore_run(root, record, force=args.force)
    versions = record_versions(record)
    if not restored.changed:
        print(f"the working tree already holds the data of run {record['id']}")
    for path in restored.changed:
        via = (versions.get(path) or {}).get("via", "dvc")
        print(f"restored {path} to run {record['id']}" + (f" (from {via})" if via != "dvc" else ""))
    for note in restored.notes:
        print(note)
    return 0


def cmd_lineage(args) -> int:
    from workbench import api

    print("\n".join(api.lineage(args.product, run=args.run)))
    return 0


def cmd_sync(args) -> int:
    from workbench.provenance import records as rec
    from workbench.provenance.tracking import sync

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
    from workbench import api

    events = _events(args)
    devices = getattr(args, "devices", None)
    report = api.verify(args.notebook, args.param, ignore=args.ignore, devices=devices,
                        output=args.output, on_event=events, repeat=None if devices else args.repeat,
                        html=None if devices else args.html)
    events.out(report.table())
    events.out(report.summary())
    if getattr(report, "html_report", None):
        events.out(f"HTML report: {report.html_report}")
    return getattr(report, "exit_code", 0 if report.ok else 1)


def cmd_params(args) -> int:
    from workbench.core.tables import text_table

    plan = _plan(args.notebook)
    if not plan.parameters:
        print(f"{plan.notebook} has no parameters cell")
        return 0
    print(text_table(None, [(p.name, p.type, p.source) for p in plan.parameters.values()]))
    return 0


def _tracking_options(s) -> None:
    """--no-track and --tracking, for the commands that record a run (read by _tracking_mode)."""
    s.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    s.add_argument("--tracking", choices=["background", "now", "off"], default=None,
                   help="log to MLflow in a background process (default), before returning, or not at "
                   "all (env WORKBENCH_TRACKING)")


def _events_option(s) -> None:
    s.add_argument("--events", choices=["text", "jsonl"], default="text",
                   help="how progress is reported: text lines on stderr (default), or jsonl: one JSON "
                   "object per event on stdout (task_started, task_finished, task_skipped, task_failed, "
                   "run_finished, verify_row, verify_finished, package_finished, score_progress, score_finished, "
                   "message) and nothing "
                   "else there; what the command prints otherwise comes as message events of level "
                   "output, an error as a message of level error (exit status as without it)")


def _tracking_mode(args) -> str:
    from workbench.workflows.run import tracking_mode

    return tracking_mode(args.tracking, track=not args.no_track)


def _cmd_sweep(args, kind: str) -> int:
    """A sweep of the pipeline (`run`) or of the notebook (`rerun`): every value checked first."""
    from workbench import api

    events = _events(args)
    target = args.target if kind == "pipeline" else args.notebook
    result = api.sweep(target, args.grid, params=args.param, notebook=kind == "notebook", rank=args.rank,
                       jobs=args.jobs, output=args.output, version=not args.no_version,
                       tracking=_tracking_mode(args), on_event=events)
    events.out(result.table())
    parent = result.record.get("mlflow_run_id")
    events.out(f"sweep {result.record['id']}: {len(result.members)} run(s)"
               + (f", best {result.record['sweep']['best']}" if result.record["sweep"]["best"] else "")
               + (f" (MLflow parent run {parent})" if parent else ""))
    for m in result.failed:
        first = (m.record.get("error") or "failed").splitlines()[0]
        print(f"run {m.record['id']} ({m.label()}) FAILED: {first}", file=sys.stderr)
    return 1 if result.failed else 0


def cmd_rerun(args) -> int:
    from workbench import api
    from workbench.workflows.sweep import has_lists, unescape

    if args.grid or has_lists(args.param):
        return _cmd_sweep(args, "notebook")
    events = _events(args)
    outcome = api.rerun(args.notebook, unescape(args.param), output=args.output, version=not args.no_version,
                        tracking=_tracking_mode(args), on_event=events)
    if outcome.error is not None:
        raise outcome.error
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in outcome.metrics.items())
    events.out(f"executed notebook: {_display(outcome.executed_notebook)}")
    events.out(f"run {outcome.run_id} (notebook)" + (f": {metrics}" if metrics else "")
               + (f" (MLflow run {outcome.mlflow_run_id})" if outcome.mlflow_run_id else ""))
    return 0


def cmd_monitor(args) -> int:
    from workbench.monitor.report import monitor
    from workbench.provenance.records import project_root

    retrain = None
    if args.retrain:
        from workbench.workflows.retrain import retrain as retrain_workflow

        def retrain(pipeline, root, name):
            return retrain_workflow(pipeline, root, name, on_event=_events(args))

    result = monitor(args.model, project_root(Path.cwd()), since=args.since,
                     rules_file=Path(args.rules) if args.rules else None, webhook=args.webhook,
                     retrain=retrain, track=not args.no_track, progress=_progress)
    s = result.service
    rate = "-" if s.error_rate is None else f"{s.error_rate:.2%}"
    latency = ", ".join(f"{k} {v:.1f} ms" for k, v in s.latency_ms.items())
    print(f"{result.name}: {s.requests} request(s), {s.rows} row(s), error rate {rate}"
          + (f", latency {latency}" if latency else ""))
    if result.drift is not None:
        print(result.drift.table())
    if result.outcomes is not None:
        print(f"outcomes: {result.outcomes.joined} row(s) joined from {result.outcomes.feedback} feedback line(s)"
              " (95% confidence intervals)")
        for model, estimates in result.outcomes.per_model.items():
            print(f"  {model}: " + ", ".join(str(e) for e in estimates))
    if result.ab is not None:
        print(result.ab.summary())
    for note in result.notes:
        print(f"note: {note}")
    print(f"report: {_display(result.report)}" + (f" (MLflow run {result.mlflow_run_id})" if result.mlflow_run_id else ""))
    if result.retrain:
        print(f"retrain: {result.retrain.get('outcome')}")
    if result.alerts:
        for alert in result.alerts:
            print(f"ALERT: {alert}", file=sys.stderr)
        return 1
    print("no alert")
    return 0


def cmd_feedback(args) -> int:
    from workbench.monitor.labels import import_labels
    from workbench.provenance.records import project_root

    done = import_labels(args.model, project_root(Path.cwd()), Path(args.labels), args.id_column,
                         args.label_column, row_column=args.row_column, name=args.name)
    print(f"{done.written} outcome(s) stored in {_display(done.path)}; {done.matched} of them match a logged "
          "request (`workbench monitor` joins them)")
    return 0


def cmd_alerts(args) -> int:
    import yaml

    from workbench.monitor.alerts import parse_rules
    from workbench.monitor.prometheus import grafana_dashboard, prometheus_rules
    from workbench.quality.checks import read_checks

    source = Path(args.target)
    path = source / "checks.yaml" if source.is_dir() else source
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such file",
                             hint="give a pipeline folder with a checks.yaml, or a YAML file with an `alerts:` section")
    model = args.model or (source.resolve().name if source.is_dir() else path.resolve().parent.name)
    rules, _hook = parse_rules(read_checks(path).get("alerts"), str(path))
    document, skipped = prometheus_rules(rules, model, selector=args.selector or "", for_=args.for_)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Prometheus alerting rules from the alerts: of {path} (workbench alerts export)\n"
                   + yaml.safe_dump(document, sort_keys=False, width=200))
    print(f"{len(document['groups'][0]['rules'])} Prometheus alerting rule(s) in {_display(out)} "
          f"(check: promtool check rules {_display(out)})")
    for why in skipped:
        print(f"note: skipped {why}")
    if args.grafana:
        dash = Path(args.grafana)
        dash.parent.mkdir(parents=True, exist_ok=True)
        dash.write_text(json.dumps(grafana_dashboard(rules, model, args.selector or ""), indent=1) + "\n")
        print(f"Grafana dashboard in {_display(dash)} (Dashboards > New > Import)")
    return 0


def cmd_serve(args) -> int:
    from workbench.deploy.serving.server import ServeOptions, serve

    return serve(ServeOptions(model=args.model, port=args.port, host=args.host, shadow=args.shadow,
                              canary=args.canary, ab=args.ab, ramp=args.ramp, step=args.step, promote=args.promote,
                              follow_every=None if args.no_follow else args.follow_every, seed=args.seed, name=args.name,
                              report_every=args.report_every, track=not args.no_track,
                              log_sample=args.log_sample), progress=_progress)


class _ProgressBar:
    """`workbench score`'s progress on stderr: a redrawn bar on a terminal, a line every few seconds
    otherwise (a CI log); other events go on to the command's event sink."""

    def __init__(self, events: _Events, width: int = 30) -> None:
        self.events, self.width = events, width
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._drawn = False

    def __call__(self, event) -> None:
        from workbench.core.events import ScoreFinished, ScoreProgress

        if self.events.jsonl or not isinstance(event, ScoreProgress | ScoreFinished):
            self.events(event)
            return
        if isinstance(event, ScoreFinished):
            if self._drawn and self.tty:
                print(file=sys.stderr, flush=True)
            return
        now = time.monotonic()
        if not self.tty and now - self._last < 5:
            return
        self._last = now
        rate = event.rows / event.seconds if event.seconds else 0.0
        if event.total_rows:
            done = min(1.0, event.rows / event.total_rows)
            bar = "#" * int(done * self.width)
            text = (f"[{bar:<{self.width}}] {done:6.1%} {event.rows:,}/{event.total_rows:,} rows, "
                    f"{rate:,.0f} rows/s")
        else:
            text = f"{event.rows:,} rows in {event.chunks} chunk(s), {rate:,.0f} rows/s"
        print(("\r" + text) if self.tty else text, end="" if self.tty else "\n", file=sys.stderr, flush=True)
        self._drawn = True


def cmd_score(args) -> int:
    from workbench import api

    events = _events(args)
    result = api.score(args.model, args.input, args.output, executor=args.executor, scheduler=args.scheduler,
                       chunk_rows=args.chunk_rows, log=not args.no_log, log_sample=args.log_sample,
                       name=args.name, on_event=_ProgressBar(events))
    events.out(result.summary())
    return 0


def _pipeline_folder(target: str) -> Path:
    """A pipeline folder, or the default folder of a notebook's pipeline."""
    from workbench.workflows.targets import pipeline_folder

    return pipeline_folder(target)


def cmd_ci(args) -> int:
    from workbench.deploy.ci_files import ci_export

    result = ci_export(_pipeline_folder(args.pipeline), args.name, force=args.force,
                       recapture=args.recapture, progress=_progress)
    for path in result.written:
        print(f"wrote {path}")
    for path in result.unchanged:
        print(f"unchanged {path}")
    for path in result.kept:
        print(f"kept {path} (yours; `--recapture` rewrites it from the last run)")
    for path in result.backups:
        print(f"kept your edited file as {path}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_validate(args) -> int:
    from workbench.provenance.records import project_root
    from workbench.quality.validation import load_checks, validate_pipeline

    pipeline = _pipeline_folder(args.pipeline).resolve()
    checks = load_checks(pipeline / "checks.yaml")
    if not checks:
        print(f"{_display(pipeline / 'checks.yaml')} lists no data to validate")
        return 0
    report = validate_pipeline(checks, project_root(pipeline), pipeline)
    print(report.text())
    if report.ok:
        print(f"data valid: {len(report.checked)} table(s) pass {_display(pipeline / 'checks.yaml')}")
        return 0
    print(f"data INVALID: {len(report.failures)} problem(s); the rules are in {_display(pipeline / 'checks.yaml')}",
          file=sys.stderr)
    return 1


def cmd_gate(args) -> int:
    from workbench.deploy.ci_files import gate

    result, record, notes = gate(_pipeline_folder(args.pipeline), args.run)
    for note in notes:
        print(note)
    print(result.table())
    if result.passed:
        print(f"gate passed: run {record['id']} may replace the registered model")
        return 0
    print(f"gate FAILED: {', '.join(r.metric for r in result.failures)}", file=sys.stderr)
    return 1


def cmd_package(args) -> int:
    from workbench import api
    from workbench.deploy.package import result_json, summary

    events = _events(args)
    result = api.package(args.target, run_id=args.run, output=args.output, register=not args.no_register,
                         name=args.name, on_event=events)
    events.out(result_json(result) if args.json else summary(result))
    return 0


def cmd_promote(args) -> int:
    from workbench import api

    result = api.promote(args.name, args.alias, version=args.version, force=args.force, reason=args.reason,
                         rollback=args.rollback)
    for note in result.notes:
        print(note)
    if result.gate is not None and result.gate.rows:
        print(result.gate.table())
    if result.rollback:
        print(f"rolled back {args.name}@{args.alias}: version {result.previous} -> {result.version}")
        return 0
    if not result.moved:
        if result.notes:
            return 0
        print(f"refused: version {result.version} does not pass the gate against {args.name}@{args.alias} "
              f"(version {result.previous}); see the table above", file=sys.stderr)
        print(f"  fix: improve the model, or override with --force --reason TEXT "
              f"(the reason is kept on version {result.version})", file=sys.stderr)
        return 1
    how = " (forced: the gate failed)" if result.forced and not result.gate.passed else ""
    before = f" (was version {result.previous})" if result.previous else " (no version held it before)"
    print(f"{args.name}@{args.alias} -> version {result.version}{before}{how}")
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

    s = sub.add_parser("trace", formatter_class=fmt, help="run the notebook once and add the dependencies "
                       "static analysis missed",
                       description="Run the notebook once in a real kernel (papermill, in its folder, `skip` "
                       "cells left out) and fingerprint every global and the process state (os.environ, "
                       "sys.path, the working directory, options, global random state...) after each task. "
                       "A change the static plan did not predict (a mutation through getattr, exec, "
                       "operator.setitem, an object reachable from another) becomes an edge to the later "
                       "tasks that read the value, with its evidence. The trace is stored under "
                       ".workbench/traces/<notebook sha256>.json and used by plan, export and run until the "
                       "notebook changes; `verify` makes one too. A trace never removes a static edge.\n\n"
                       "example:\n  workbench trace notebooks/churn.ipynb && workbench export notebooks/churn.ipynb "
                       "--force")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter for the traced run (type-checked)")
    s.set_defaults(func=cmd_trace)

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
    s.add_argument("--isolated", action="store_true",
                   help="run each task in a fresh Python process of its own, as an incremental rerun of "
                   "that task alone would (slower: a process per task); state one task leaves in the "
                   "process (os.environ, sys.path, pyplot, options) can then not hide a dependency "
                   "the plan lacks")
    s.add_argument("-o", "--output", help="pipeline folder when exporting a notebook")
    _tracking_options(s)
    s.add_argument("--no-version", action="store_true", help="do not version inputs and products with DVC")
    s.add_argument("--grid", metavar="SWEEP.yaml", help="sweep a grid: a YAML mapping NAME -> list of values "
                   "(see `workbench rerun --help`); -p NAME=V1,V2 sweeps too, and --jobs then runs N "
                   "combinations at once, each in its own copy of the pipeline")
    s.add_argument("--rank", metavar="METRIC[:lower|higher]",
                   help="rank a sweep's combinations by this metric (default: the first `metrics` value)")
    # --- options: GPUs / Dask ---
    s.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="where tasks run: this machine (default) or a Dask cluster (each task submitted "
                   "when its upstream tasks finished; GPU tasks only on workers started with "
                   "`--resources GPU=N`). e.g. --executor dask --scheduler tcp://10.0.0.5:8786")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="the Dask scheduler to use (default: a local cluster started for the run); its "
                   "workers must see the pipeline folder at the same path, unless --products is given")
    s.add_argument("--products", metavar="URL",
                   help="with --executor dask: exchange inputs and products through this store instead of "
                   "the pipeline folder, for workers that share no filesystem with this machine: an "
                   "fsspec URL (s3://bucket/prefix needs s3fs, gcs://... gcsfs, here and on every worker) "
                   "or a path they all mount. Finished products still come back to the pipeline folder, "
                   "versioned and tracked as in a local run; the run's folder in the store is removed "
                   "at the end. e.g. --products s3://team-bucket/workbench")
    s.add_argument("--require-gpu", action="store_true",
                   help="stop before any task runs if the `gpu` tasks cannot get a GPU (by default they "
                   "run on the CPU with a warning)")
    _events_option(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("verify", formatter_class=fmt, help="prove the pipeline reproduces the notebook",
                       description="Run the notebook through papermill and the pipeline with the same "
                       "parameters, then compare every product and every value the last tasks define, and "
                       "what each task cell displays (printed text, results, HTML tables, images).\n"
                       "When something differs the notebook runs once more: a value that changes between "
                       "two runs of the notebook itself is nondeterministic (listed with where its "
                       "randomness comes from and the fix; it does not fail).\n\n"
                       "exit status:\n  0  the pipeline reproduces the notebook\n"
                       "  1  a value or output differs\n"
                       "  2  a usage or input error (nothing ran)\n  3  the pipeline failed\n"
                       "  4  the notebook itself failed under papermill (fix the notebook first)\n"
                       "  5  equal but for nondeterministic values\n\n"
                       "example:\n  workbench verify notebooks/churn.ipynb -p seed=3 --repeat 2 --html report.html")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("-o", "--output", help="pipeline folder (default: pipelines/<notebook name>/)")
    s.add_argument("--devices", metavar="A,B",
                   help="instead: run the pipeline on device A and on device B (cpu or gpu) and compare "
                   "every product within a tolerance per dtype (float32 looser than float64; ints "
                   "exact). cpu,cpu checks that two runs agree. Without a GPU, any gpu is an error "
                   "(exit 2). e.g. --devices cpu,gpu")
    s.add_argument("--ignore", action="append", default=[], metavar="NAME",
                   help="check that value NAME (or TASK.NAME) exists in both runs but do not compare it: "
                   "for values that differ on every run, such as timings. To say it once for good, tag "
                   "the cell that computes it `volatile:NAME` (or `volatile:A,B`)")
    s.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="run the notebook N more times and report what changes between its runs as "
                   "nondeterministic (default: once more, only when something differs; 0: never)")
    s.add_argument("--html", metavar="FILE",
                   help="also write an HTML report: each difference side by side (frames as tables with "
                   "the changed cells marked, images next to each other, text as a diff) and the full table")
    _events_option(s)
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("init", formatter_class=fmt, help="make this folder a versioned Workbench project",
                       description="git init (if needed), dvc init, and a local DVC remote under "
                       ".workbench/dvc-remote/ unless you configured one. `workbench run` does this on "
                       "first use.")
    s.add_argument("path", nargs="?", default=".")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("runs", help="list past runs, newest first")
    s.add_argument("--pipeline", help="only the runs of this pipeline")
    s.add_argument("--json", action="store_true", help="a list of objects (id, status, params, metrics, data, usage and cost, "
                   "per-task seconds/CPU-seconds/GPU-seconds/peak memory/cost...)")
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("diff", help="what differs between two runs: code, parameters, data, metrics")
    s.add_argument("run_a", metavar="RUN_A")
    s.add_argument("run_b", metavar="RUN_B")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("checkout", help="restore the exact inputs and products of a past run")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--force", action="store_true",
                   help="overwrite git-tracked data with uncommitted edits (the edits are first kept as git blobs)")
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
    s = sub.add_parser("rerun", formatter_class=fmt, help="run the notebook itself with other parameters, tracked",
                       description="Run the notebook top to bottom through papermill with parameters injected\n"
                       "after its `parameters` cell, keep the executed notebook, and record and track the run\n"
                       "like a pipeline run (same MLflow experiment, parameter and metric names; `workbench\n"
                       "runs` shows its kind). Metrics: the scalars of the `metrics` cells and\n"
                       "workbench.log_metric values. `skip` cells are not run. Parameters are checked\n"
                       "against the parameters cell before any kernel starts.\n\n"
                       "Sweeps (here and in `workbench run`): several values make a grid, each combination\n"
                       "its own tracked run under one MLflow parent run, ranked by a metric at the end.\n"
                       "Values are separated by commas; commas inside [..], (..), {..} or quotes do not\n"
                       "separate, and \\, is a literal comma in a str value.\n\n"
                       "examples:\n"
                       "  workbench rerun notebooks/churn.ipynb -p n_estimators=200 -o /tmp/churn-200.ipynb\n"
                       "  workbench rerun notebooks/churn.ipynb -p learning_rate=0.05,0.1 -p n_estimators=50,100 -j 2\n"
                       "  workbench run notebooks/churn.ipynb --grid sweep.yaml --rank auc --jobs 2\n"
                       "      (sweep.yaml:  learning_rate: [0.05, 0.1]\n"
                       "                    n_estimators: [50, 100])\n"
                       "  workbench run pipelines/churn -p seed=1,2,3 --rank log_loss:lower")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE[,VALUE...]",
                   help="set a parameter (type-checked); several values sweep it")
    s.add_argument("-o", "--output", metavar="OUTPUT.ipynb",
                   help="where to keep the executed notebook (default .workbench/reruns/<run id>/)")
    s.add_argument("--grid", metavar="SWEEP.yaml", help="sweep a grid: a YAML mapping NAME -> list of values")
    s.add_argument("--rank", metavar="METRIC[:lower|higher]",
                   help="rank a sweep's runs by this metric (default: the first `metrics` value; direction "
                   "from the name: loss/error/rmse... are lower-is-better)")
    s.add_argument("-j", "--jobs", type=int, default=1, help="run up to N combinations of a sweep at once")
    _tracking_options(s)
    s.add_argument("--no-version", action="store_true", help="do not version the input files with DVC")
    _events_option(s)
    s.set_defaults(func=cmd_rerun)

    # --- subcommands: ci / validate / gate ---
    s = sub.add_parser("ci", formatter_class=fmt, help="export the pipeline to run in CI (validate, run, gate, register)",
                       description="Write, at the git root, ci/<name>.sh (a bash script any CI can run: environment,\n"
                       "dvc pull, workbench validate, workbench run, workbench gate, workbench package) and\n"
                       ".github/workflows/<name>.yml (GitHub Actions running it; secrets from ${{ secrets.* }}),\n"
                       "plus PIPELINE/checks.yaml when absent: `data:` rules captured from the data the last run\n"
                       "read (columns, types, nulls, ranges, categories) and `gate:` rules for its metrics.\n"
                       "checks.yaml is yours to edit; an edited script or workflow is not overwritten without\n"
                       "--force (which keeps a backup). Needs a finished `workbench run` of the pipeline.\n\n"
                       "examples:\n  workbench ci pipelines/churn\n  workbench ci notebooks/churn.ipynb --name churn-nightly\n"
                       "  bash ci/churn.sh            # what CI runs, on your machine")
    s.add_argument("pipeline", metavar="PIPELINE_OR_NOTEBOOK")
    s.add_argument("--name", help="names the files ci/NAME.sh and .github/workflows/NAME.yml (default: the pipeline's name)")
    s.add_argument("--force", action="store_true", help="overwrite a hand-edited script or workflow, keeping backups")
    s.add_argument("--recapture", action="store_true",
                   help="rewrite checks.yaml from the last run (your edited one is kept as a backup)")
    s.set_defaults(func=cmd_ci)

    s = sub.add_parser("validate", formatter_class=fmt, help="check the pipeline's input data against checks.yaml",
                       description="Validate the tables listed in the `data:` section of PIPELINE/checks.yaml (with\n"
                       "pandera, every rule at once): missing columns, wrong types, nulls above the allowed\n"
                       "fraction, values out of range, unknown categories. Exits 1 naming the file, the column\n"
                       "and the rule broken.\n\nexample:\n  workbench validate pipelines/churn")
    s.add_argument("pipeline", metavar="PIPELINE_OR_NOTEBOOK")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("gate", formatter_class=fmt, help="may the last run's model replace the registered one?",
                       description="Compare the metrics of the pipeline's latest finished run with the latest version\n"
                       "of the model registered under the pipeline's name in the MLflow Model Registry (its\n"
                       "metric.* tags; MLFLOW_TRACKING_URI, else the project's store), using the `gate:` rules\n"
                       "of PIPELINE/checks.yaml: no worse than it by more than the tolerance, and within the\n"
                       "absolute bounds. With no registered version yet only the bounds apply. Prints the\n"
                       "comparison table; exits 1 when a rule fails.\n\nexamples:\n"
                       "  workbench gate pipelines/churn\n  workbench gate pipelines/churn --run 20250101-120000-abc123")
    s.add_argument("pipeline", metavar="PIPELINE_OR_NOTEBOOK")
    s.add_argument("--run", metavar="RUN_ID", help="judge this run instead of the latest finished one")
    s.set_defaults(func=cmd_gate)
    # --- subcommands: package / promote ---
    s = sub.add_parser(
        "package", formatter_class=fmt, help="package a run's model: MLflow model, Dockerfile, model card, ONNX",
        description="Build a deployable folder from the `model:VAR` product of a run and register it in the "
        "MLflow Model Registry.\n\n"
        "  model/         MLflow model (sklearn/xgboost/lightgbm/pytorch flavor, else pyfunc) with signature,\n"
        "                 input example (from the rows the run saw passed to the model's fit) and\n"
        "                 pinned requirements; needs no Workbench to load\n"
        "  Dockerfile     MLflow's scoring server (--build-arg BASE_IMAGE, default python:3.11-slim)\n"
        "  MODEL_CARD.md  intended use, data versions, parameters, metrics, limitations, lineage\n"
        "  model.onnx     scikit-learn models, with a parity check against the model\n\n"
        "With `features:FUNC` on the model's cell, FUNC's source ships with the model and the package\n"
        "scores RAW rows (FUNC, then the model). Classifiers answer with class probabilities.\n"
        "The model version gets the tags workbench.run_id, workbench.pipeline, git.commit, notebook,\n"
        "notebook.sha256, data.<path> and metric.<name> (what `workbench promote` judges).\n\n"
        "examples:\n"
        "  workbench package notebooks/churn.ipynb            latest finished run -> pipelines/churn/package/\n"
        "  workbench package pipelines/churn --run 20261123-1 a given run (its products are restored)\n"
        "  workbench package notebooks/churn.ipynb --no-register -o /tmp/churn-model\n"
        "  mlflow models serve -m pipelines/churn/package/model --env-manager local")
    s.add_argument("target", metavar="PIPELINE_OR_NOTEBOOK")
    s.add_argument("--run", metavar="RUN_ID", help="package this run (default: the latest finished run)")
    s.add_argument("-o", "--output", metavar="DIR", help="folder to write (default: pipelines/<name>/package/)")
    s.add_argument("--name", help="registered model name (default: the pipeline's name)")
    s.add_argument("--no-register", action="store_true", help="build the folder only; do not register")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    _events_option(s)
    s.set_defaults(func=cmd_package)

    s = sub.add_parser(
        "promote", formatter_class=fmt, help="move an alias (champion) to a model version if it passes the gate",
        description="Point NAME@ALIAS at a registered version, but only when its metrics (metric.* tags) pass\n"
        "the gate of the pipeline's checks.yaml against the version holding the alias now (the same\n"
        "rules as `workbench gate`). Refused: exit 1 and the comparison table. With no holder yet,\n"
        "only the absolute bounds (min/max) apply.\n\n"
        "Rollback: --rollback moves the alias back to the version that held it before, without the\n"
        "gate (it passed when it was promoted). Promoting an older version with --version is judged\n"
        "against the current holder like any other, so it usually needs --force --reason.\n\n"
        "examples:\n"
        "  workbench promote churn --alias champion                newest version, if it passes\n"
        "  workbench promote churn --alias champion --version 3\n"
        "  workbench promote churn --alias champion --version 4 --force --reason \"approved by risk\"\n"
        "  workbench promote churn --alias champion --rollback      back to the previous champion")
    s.add_argument("name", metavar="NAME", help="registered model name (the pipeline's, by default)")
    s.add_argument("--alias", default="champion", help="the alias to move (default: champion)")
    s.add_argument("--version", help="the version to promote (default: the newest)")
    s.add_argument("--force", action="store_true", help="promote even if the gate fails (needs --reason)")
    s.add_argument("--reason", help="why it is forced; kept as the tag workbench.promoted_by_force")
    s.add_argument("--rollback", action="store_true", help="move the alias back to its previous version")
    s.set_defaults(func=cmd_promote)
    # --- subcommands: serve ---
    s = sub.add_parser("monitor", formatter_class=fmt, help="drift, errors and latency of a served model; alerts",
                       description="Compare what `workbench serve` scored with the training data profile packaged\n"
                       "with the model (PSI, Kolmogorov-Smirnov, chi-square per feature and for the\n"
                       "predictions), measure errors and latency, check the alert rules (the `alerts:`\n"
                       "section of the pipeline's checks.yaml, or --rules), write an HTML report with a\n"
                       "plot per drifted feature and log it all to MLflow. Exits 1 when a rule fires.\n\n"
                       "rules (plain words, one per line):\n"
                       "  alerts:\n    - drift > 0.2 on any feature\n    - error rate > 1%\n    - p99 > 200 ms\n\n"
                       "examples:\n  workbench monitor churn@champion --since 1h\n"
                       "  workbench monitor churn --retrain     # on an alert: retrain, gate, package, propose")
    s.add_argument("model", metavar="MODEL", help="NAME[@ALIAS], NAME/VERSION or a model folder, as served")
    s.add_argument("--since", help="only requests since: 30m, 2h, 7d, an ISO time or epoch seconds (default: all)")
    s.add_argument("--rules", help="a YAML file with the `alerts:` rules (default: the pipeline's checks.yaml)")
    s.add_argument("--webhook", help="POST fired alerts here as JSON (default: `webhook:` of the rules file)")
    s.add_argument("--retrain", action="store_true",
                   help="when a rule fires: run the pipeline on the newest data, gate, package, register "
                   "the new version and point the `challenger` alias at it")
    s.add_argument("--no-track", action="store_true", help="do not log the check to MLflow")
    s.set_defaults(func=cmd_monitor)
    s = sub.add_parser("feedback", formatter_class=fmt, help="store observed outcomes of served requests (labels)",
                       description="Append observed outcomes from a CSV or Parquet table to the served model's\n"
                       "feedback log, joined later by `workbench monitor` with the request log by request id\n"
                       "(the X-Workbench-Request-Id header the server returned). A running server takes them\n"
                       "one by one too: POST /feedback {\"id\": ..., \"outcome\": ...}.\n\n"
                       "example:\n  workbench feedback churn labels.csv --id-column request_id --label-column churned")
    s.add_argument("model", metavar="MODEL", help="NAME[@ALIAS], NAME/VERSION or a model folder, as served")
    s.add_argument("labels", metavar="TABLE", help="CSV or Parquet file with the outcomes")
    s.add_argument("--id-column", required=True, help="the column holding request ids")
    s.add_argument("--label-column", required=True, help="the column holding the observed outcome")
    s.add_argument("--row-column", help="the row of the request (for requests of several rows)")
    s.add_argument("--name", help="the serving name, when served with --name")
    s.set_defaults(func=cmd_feedback)
    s = sub.add_parser("alerts", formatter_class=fmt, help="export the alert rules to Prometheus and Grafana",
                       description="Turn the `alerts:` of checks.yaml into Prometheus alerting rules (PromQL over\n"
                       "the /metrics of `workbench serve`) and a Grafana dashboard of the same metrics.\n\n"
                       "example:\n  workbench alerts export pipelines/churn -o prometheus/churn.rules.yml "
                       "--grafana grafana/churn.json")
    alerts_sub = s.add_subparsers(dest="alerts_command", required=True, metavar="COMMAND")
    e = alerts_sub.add_parser("export", formatter_class=fmt, help="write Prometheus rules (and a Grafana dashboard)")
    e.add_argument("target", metavar="PIPELINE|RULES", help="a pipeline folder (its checks.yaml) or a rules YAML file")
    e.add_argument("-o", "--output", required=True, help="the Prometheus rule file to write (YAML)")
    e.add_argument("--grafana", metavar="FILE", help="also write a Grafana dashboard JSON here")
    e.add_argument("--model", help="the model's name in alert labels (default: the pipeline folder's name)")
    e.add_argument("--selector", help='label matchers added to every series, e.g. \'job="churn"\'')
    e.add_argument("--for", dest="for_", default="5m", help="how long a condition holds before it fires (default 5m)")
    e.set_defaults(func=cmd_alerts)
    s = sub.add_parser("score", formatter_class=fmt, help="batch-score CSV/Parquet files with a model",
                       description="Score every row of INPUT (a .csv or .parquet file, or a folder of them) with\n"
                       "MODEL, resolved as `workbench serve` resolves it, in chunks (bounded memory). The\n"
                       "packaged model's predict applies its feature function, as when served. OUTPUT is the\n"
                       "input columns plus `prediction` (or prediction_<name> per output column): one .csv\n"
                       "or .parquet file, or any other name: a folder of part-NNNNN.parquet files. The rows\n"
                       "are logged to .workbench/serving/<name>/batch-*.jsonl, which `workbench monitor`\n"
                       "reads with the served requests (batch drift).\n\n"
                       "examples:\n  workbench score churn@champion data/customers.parquet -o scores.parquet\n"
                       "  workbench score churn/3 data/daily/ -o scores/ --executor dask --scheduler tcp://host:8786")
    s.add_argument("model", metavar="MODEL", help="NAME[@ALIAS], NAME/VERSION, models:/... or a model folder")
    s.add_argument("input", metavar="INPUT", help="a .csv/.parquet file or a folder of them")
    s.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="OUT.csv, OUT.parquet, or a folder (one Parquet part per chunk)")
    s.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local: in this process (default); dask: chunks scored on Dask workers")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --executor dask: the scheduler (default: a local cluster of 2 workers)")
    s.add_argument("--chunk-rows", type=int, default=50_000, metavar="N",
                   help="rows per chunk (default 50000; memory grows with it)")
    s.add_argument("--log-sample", type=float, default=1.0, metavar="FRACTION",
                   help="fraction of the rows written to the request log (default 1: all)")
    s.add_argument("--no-log", action="store_true", help="do not log the scored rows for monitoring")
    s.add_argument("--name", help="the request log folder (default: the model's name, as `serve`)")
    _events_option(s)
    s.set_defaults(func=cmd_score)
    s = sub.add_parser("serve", formatter_class=fmt, help="serve a model over HTTP (MLflow scoring server)",
                       description="Serve a model over HTTP with MLflow's scoring server: POST /invocations "
                       "with\ndataframe_split, dataframe_records, instances or inputs JSON (or CSV); GET /ping.\n"
                       "MODEL is NAME@ALIAS, NAME/VERSION or NAME (newest version) from the project's MLflow\n"
                       "registry (MLFLOW_TRACKING_URI overrides), models:/..., or an MLflow model folder.\n"
                       "A second model can run beside it: --shadow scores every request with it too (its\n"
                       "answers are logged, never returned); --canary sends a share of requests to it (the\n"
                       "X-Workbench-Model reply header names the model that answered).\n"
                       "Every scored request is logged to .workbench/serving/<name>/*.jsonl and the session\n"
                       "to MLflow (experiment workbench/serve/<name>). Ctrl-C stops.\n\n"
                       "examples:\n  workbench serve churn@champion\n"
                       "  workbench serve churn/3 --shadow churn/4\n"
                       "  workbench serve churn@champion --canary churn@challenger:10 --port 8080\n"
                       "  workbench serve churn@champion --canary churn@challenger --ramp 5,25,50,100 --step 10m\n"
                       "  workbench serve pipelines/churn/package/model --port 0")
    s.add_argument("model", metavar="MODEL", help="NAME[@ALIAS], NAME/VERSION, models:/... or a model folder")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free port)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    second = s.add_mutually_exclusive_group()
    second.add_argument("--shadow", metavar="MODEL2", help="also score every request with MODEL2, log both")
    second.add_argument("--canary", metavar="MODEL2:PERCENT",
                        help="let MODEL2 answer about PERCENT%% of requests (seeded random draw, or a hash of "
                        "the X-Workbench-Route-Key request header when sent); with --ramp: MODEL2 only")
    s.add_argument("--ramp", metavar="P1,P2,...",
                   help="canary analysis: widen MODEL2's share step by step (e.g. 5,25,50,100) while its errors, "
                   "p95 latency and predictions stay within the `canary:` rules of checks.yaml; a breach sends it "
                   "to 0%% at once. Each decision is an MLflow run (experiment workbench/serve/<name>/canary)")
    s.add_argument("--step", metavar="DURATION",
                   help="how long each ramp step lasts: 30s, 10m, 1h (default: checks.yaml canary.step, else 10m)")
    s.add_argument("--promote", action="store_true",
                   help="with --ramp: when the canary stays healthy through its last step, move MODEL's alias "
                        "to it (through the promotion gate of checks.yaml, like `workbench promote`) and let "
                        "it serve every request; MODEL must be NAME@ALIAS")
    s.add_argument("--follow-every", type=float, default=10.0, metavar="SECONDS",
                   help="MODEL as NAME@ALIAS: check the alias this often; when `workbench promote` moves it, the "
                   "new version is loaded beside the old and takes over once it answers (default 10)")
    s.add_argument("--no-follow", action="store_true", help="MODEL as NAME@ALIAS: keep the version it named at start")
    second.add_argument("--ab", metavar="MODEL2:PERCENT",
                        help="A/B test: MODEL2 (arm B) answers PERCENT%% of requests, chosen by a hash of the "
                        "X-Workbench-Route-Key header or the request id; `workbench monitor` compares the arms")
    s.add_argument("--seed", type=int, default=0, help="seed of the canary draw (default 0)")
    s.add_argument("--name", help="name of the request log folder and MLflow experiment (default: the model's)")
    s.add_argument("--report-every", type=float, default=60.0, metavar="SECONDS",
                   help="log metrics to the MLflow run this often (default 60; also at shutdown)")
    s.add_argument("--no-track", action="store_true", help="no MLflow serving run (the request log is kept)")
    s.add_argument("--log-sample", type=float, default=1.0, metavar="FRACTION",
                   help="fraction of requests written to the request log that `workbench monitor` reads "
                   "(default 1: all); /metrics counts every request")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    global _EVENTS
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    started = time.perf_counter()
    with _event_stream(getattr(args, "events", "text") == "jsonl") as events:
        _EVENTS = events
        try:
            return args.func(args)
        except WorkbenchError as exc:
            if events.jsonl:
                from workbench.core.events import Message

                events(Message(str(exc), level="error"))
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"interrupted after {time.perf_counter() - started:.1f}s", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return _reader_went_away()
        finally:
            _EVENTS = _Events()


def _reader_went_away() -> int:
    """`workbench plan --json | head`: the reader closed the pipe, which is the reader's right, not
    an error to report with a traceback. Like a shell tool killed by SIGPIPE, exit 141 quietly; stdout
    points at /dev/null so that the interpreter's last flush does not raise again at exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13  # SIGPIPE


@contextlib.contextmanager
def _event_stream(jsonl: bool):
    """With --events jsonl, stdout carries the events only: whatever else writes to file
    descriptor 1 (a library's print, a subprocess) goes to stderr while the command runs."""
    if not jsonl:
        yield _Events()
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    stream = os.fdopen(os.dup(saved), "w", encoding="utf-8", buffering=1)
    try:
        yield _Events(jsonl=True, stream=stream)
    finally:
        sys.stdout.flush()
        with contextlib.suppress(BrokenPipeError):  # the events' reader left (see _reader_went_away)
            stream.close()
        os.dup2(saved, 1)
        os.close(saved)
