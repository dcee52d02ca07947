"""Parameter sweeps: every combination of a grid as its own tracked run, ranked by a metric.

`-p lr=0.01,0.1 -p depth=3,5` (or `--grid sweep.yaml`, a mapping NAME -> list of values) is a 2x2
grid. Every value is type-checked against the `parameters` cell before anything starts. Each
combination runs in its own process (up to `--jobs` at once):

- a pipeline combination in its own copy of the pipeline folder,
  `<pipeline>/.workbench/sweeps/<sweep id>/<k>/`, so that combinations never overwrite each other's
  products. The copy starts with the products (and recorded keys) of the tasks that no swept
  parameter reaches, taken from the pipeline folder: when those are current, only the tasks the
  swept parameters reach run again;
- a notebook combination through papermill (`workbench rerun`), its executed notebook kept under
  `.workbench/reruns/<run id>/`.

Each combination is a run record like any other (`workbench runs`), with `sweep_id`; the sweep
itself is one more record (`kind: "sweep"`, kept in `.workbench/sweeps/<sweep id>.json`, not among
the runs) which MLflow shows as the parent of the combinations' runs.

Writing values: commas separate values; a comma inside brackets or quotes does not (so a list
parameter can be swept: `-p layers=[64,64],[128]`); `\\,` is a literal comma in a str value
(`-p sep=a\\,b,c` is the two values "a,b" and "c").
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.events import Event, EventHandler, Message, say
from workbench.core.events import text as event_text
from workbench.core.plan import Plan
from workbench.core.tables import text_table
from workbench.execute.copies import copy_pipeline

SWEEPS = Path(".workbench") / "sweeps"


class SweepError(WorkbenchError):
    """A sweep cannot be set up as asked (grid file, rank metric, options)."""


# --------------------------------------------------------------------------------------------------
# reading the grid


def split_values(text: str) -> list[str]:
    """`0.01,0.1` -> ["0.01", "0.1"]; commas in brackets or quotes and `\\,` do not split."""
    values, current, depth, quote, i = [], [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1:i + 2] == ",":
            current.append(",")
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            values.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    values.append("".join(current))
    return values


def has_lists(pairs: list[str]) -> bool:
    """Whether any `-p NAME=VALUE` gives several values (a sweep rather than a single run)."""
    return any(len(split_values(pair.partition("=")[2])) > 1 for pair in pairs or [] if "=" in pair)


def unescape(pairs: list[str]) -> list[str]:
    """Single-value pairs with `\\,` made a plain comma, for an ordinary run."""
    return [name + sep + ",".join(split_values(value)) for name, sep, value in
            (pair.partition("=") for pair in pairs or [])]


def _grid_file(path: str) -> dict[str, list[str]]:
    """A YAML mapping NAME -> list of values (a single value is a list of one), as text to check."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"grid file {path} not found", hint="--grid names a YAML file such as "
                         "`learning_rate: [0.01, 0.1]`") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{path}: not valid YAML", detail=str(exc),
                         hint="write one line per parameter: `NAME: [VALUE, VALUE]`") from None
    if not isinstance(data, dict) or not data:
        raise SweepError(f"{path}: expected a mapping of parameter names to lists of values",
                         hint="e.g.\n  learning_rate: [0.01, 0.1]\n  n_estimators: [50, 100]")
    axes = {}
    for name, values in data.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise SweepError(f"{path}: {name} has no values", hint="give at least one value")
        axes[str(name)] = [v if isinstance(v, str) else repr(v) for v in values]
    return axes


def read_grid(pairs: list[str], grid: str | None, plan: Plan) -> dict[str, list]:
    """NAME -> typed values from `--grid` then `-p` (which wins), each value checked like `-p`.

    Raises ParameterError (listing the valid parameters and their types) on the first value that
    does not fit: nothing has started yet."""
    from workbench.refactor.params import parse_overrides

    texts: dict[str, list[str]] = _grid_file(grid) if grid else {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            parse_overrides([pair], plan.parameters, plan.notebook)  # raises its "cannot read" error
        texts[name.strip()] = split_values(value)
    cell_ids = {c.index: c.id for c in plan.cells}
    typed: dict[str, list] = {}
    for name, values in texts.items():
        typed[name] = []
        for text in values:
            value = parse_overrides([f"{name}={text}"], plan.parameters, plan.notebook, cell_ids)[name]
            if value not in typed[name]:
                typed[name].append(value)
    return typed


def combinations(grid: dict[str, list]) -> list[dict]:
    """Every combination, the last parameter varying fastest."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def parse_rank(text: str | None) -> tuple[str | None, str | None]:
    """(metric, "higher"|"lower"): `auc`, `log_loss:lower`, `auc:max`; (None, None) without --rank.

    Without a direction the metric's name decides (workbench.quality.gate's rule: loss, error, rmse... are
    lower-is-better). Checked before the sweep starts; whether a run reports the metric (it may be
    a workbench.log_metric value) is known only after."""
    from workbench.quality.gate import default_direction

    if not text:
        return None, None
    name, _, direction = text.partition(":")
    aliases = {"higher": "higher", "max": "higher", "lower": "lower", "min": "lower", "": default_direction(name)}
    if direction not in aliases or not name:
        raise SweepError(f"cannot read --rank {text!r}",
                         hint="write --rank METRIC or METRIC:lower / METRIC:higher, e.g. --rank log_loss:lower")
    return name, aliases[direction]


# --------------------------------------------------------------------------------------------------
# running the combinations


@dataclass
class Member:
    index: int
    overrides: dict
    run_id: str
    record: dict = field(default_factory=dict)

    def label(self) -> str:
        return " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in self.overrides.items())


def _worker(spec_path: str) -> int:
    """One combination, in its own process (`python -m workbench.workflows.sweep SPEC`): writes its record."""
    from workbench.core.errors import RunError
    from workbench.provenance import records as rec

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    plan = Plan.from_dict(spec["plan"])
    root = Path(spec["root"])
    if spec["kind"] == "notebook":
        from workbench.workflows.rerun import rerun

        record, _failure = rerun(Path(spec["notebook"]), plan, spec["params"], spec["overrides"], root,
                                 spec["run_id"], on_event=_stderr, sweep_id=spec["sweep_id"])
    else:
        from workbench.execute.build import RunResult, build

        pipeline = Path(spec["pipeline"])
        started, failure = time.time(), None
        try:
            result = build(pipeline, plan, spec["params"], on_event=_stderr, run_id=spec["run_id"])
        except RunError as exc:
            failure, result = exc, getattr(exc, "result", None) or RunResult(pipeline, spec["params"])
        record = rec.assemble(plan, pipeline, root, result, spec["params"], spec["run_id"], started,
                              "FAILED" if failure else "FINISHED")
        record["sweep_id"] = spec["sweep_id"]
        if failure is not None:
            record["error"] = str(failure)
    Path(spec["result"]).write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    return 0


def _stderr(event: Event) -> None:
    """A combination's events as the CLI's text lines, into its log."""
    line = event_text(event)
    if line is not None:
        print(line, file=sys.stderr, flush=True)


def _run_member(spec: dict, folder: Path) -> dict:
    spec_path = folder / f"{spec['run_id']}.spec.json"
    spec_path.write_text(json.dumps(spec, default=str), encoding="utf-8")
    log = folder / f"{spec['run_id']}.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.run([sys.executable, "-m", "workbench.workflows.sweep", str(spec_path)], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd())
    try:
        return json.loads(Path(spec["result"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        return {"status": "FAILED", "error": f"the combination's process exited {proc.returncode}:\n{tail}"}


@dataclass
class SweepResult:
    record: dict
    members: list[Member]
    metric: str
    direction: str
    swept: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> list[Member]:
        """Finished runs with the metric, best first; then the others in grid order."""
        scored = [m for m in self.members if m.record.get("status") == "FINISHED" and self.metric in m.record.get("metrics", {})]
        scored.sort(key=lambda m: m.record["metrics"][self.metric], reverse=self.direction == "higher")
        return scored + [m for m in self.members if m not in scored]

    @property
    def failed(self) -> list[Member]:
        return [m for m in self.members if m.record.get("status") != "FINISHED"]

    def table(self) -> str:
        names = self.swept or list(self.record["params"])
        metrics = [self.metric] + sorted({k for m in self.members for k in m.record.get("metrics", {})} - {self.metric})
        head = ["rank", "run", *names, *metrics, "status"]
        rows = []
        for place, m in enumerate(self.ranked, 1):
            values = m.record.get("metrics", {})
            scored = m.record.get("status") == "FINISHED" and self.metric in values
            rows.append([str(place) if scored else "-", m.record.get("id", m.run_id),
                         *(str(m.overrides.get(n)) for n in names),
                         *(f"{values[k]:.4g}" if k in values else "-" for k in metrics),
                         m.record.get("status", "FAILED")])
        arrow = "higher" if self.direction == "higher" else "lower"
        return f"ranked by {self.metric} ({arrow} is better)\n" + text_table(head, rows)


def _default_metric(plan: Plan, members: list[Member]) -> str | None:
    """The first `metrics` value (notebook order) the runs report, else the first any reports."""
    from workbench.workflows.rerun import metric_names

    reported = [k for m in members for k in m.record.get("metrics", {})]
    return next((n for n in metric_names(plan) if n in reported), reported[0] if reported else None)


def run_sweep(kind: str, plan: Plan, grid: dict[str, list], *, root: Path, metric: str | None, direction: str | None,
              pipeline: Path | None = None, notebook: Path | None = None, jobs: int = 1,
              version: bool = True, tracking: str = "off", on_event: EventHandler | None = None) -> SweepResult:
    """Run every combination of `grid` (kind "pipeline" or "notebook"), record and track each.

    `on_event` gets a Message when the sweep starts, one per finished combination and warnings;
    each combination's own task events go to its log (`<sweep folder>/<run id>.log`)."""
    progress = say(on_event)
    from workbench.provenance import records as rec
    from workbench.refactor.params import effective

    sweep_id = "sweep-" + rec.new_run_id()
    started = time.time()
    combos = combinations(grid)
    swept = [n for n, values in grid.items() if len(values) > 1]
    members = [Member(k, combo, rec.new_run_id() + f"-{k}") for k, combo in enumerate(combos, 1)]
    folder = (pipeline / SWEEPS / sweep_id) if kind == "pipeline" else (root / SWEEPS / sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for m in members:
        spec = {"kind": kind, "plan": plan.to_dict(), "root": str(root), "run_id": m.run_id, "sweep_id": sweep_id,
                "overrides": m.overrides, "params": effective(plan.parameters, m.overrides),
                "result": str(folder / f"{m.run_id}.record.json")}
        if kind == "pipeline":
            copy = folder / str(m.index)
            copy_pipeline(pipeline, copy, plan, set(swept))
            spec["pipeline"] = str(copy)
        else:
            spec["notebook"] = str(notebook.resolve())
        specs.append(spec)
    if progress:
        progress(f"sweep {sweep_id}: {len(members)} combination(s) of {', '.join(swept) or 'one value each'}, "
                 f"{min(jobs, len(members))} at a time ({_display(folder)})")
    lock, done = threading.Lock(), [0]

    def one(member: Member, spec: dict) -> None:
        t0 = time.perf_counter()
        member.record = _run_member(spec, folder)
        with lock:
            done[0] += 1
            if progress:
                name = metric or _default_metric(plan, [member])
                value = member.record.get("metrics", {}).get(name) if name else None
                shown = f"{name}={value:.4g}" if value is not None else member.record.get("status", "FAILED")
                label = " ".join(f"{k}={member.overrides[k]!r}" for k in swept) or member.label()
                progress(f"[{done[0]}/{len(members)}] {label}: {shown} ({time.perf_counter() - t0:.1f}s)")

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(one, m, s) for m, s in zip(members, specs)]:
            future.result()

    for m in members:  # a combination whose process died still gets a record
        if "id" not in m.record:
            m.record = {**_stub(plan, m, sweep_id, root), **m.record}
    if metric is None:
        from workbench.quality.gate import default_direction

        metric = _default_metric(plan, members) or "-"
        direction = default_direction(metric)
    result = SweepResult({}, members, metric, direction, swept)
    best = next((m for m in result.ranked if m.record.get("status") == "FINISHED"
                 and metric in m.record.get("metrics", {})), None)
    result.record = {
        "id": sweep_id, "kind": "sweep", "pipeline": plan.name,
        "pipeline_dir": rec.project_relative(pipeline, root) if pipeline else None,
        "notebook": plan.notebook, "notebook_sha256": plan.notebook_sha256,
        "started": started, "ended": time.time(),
        "status": "FAILED" if result.failed else "FINISHED",
        "user": rec.current_user(), "params": rec.masked(grid),
        "metrics": dict(best.record["metrics"]) if best else {},
        "git": rec.git_state(root), "device": rec.device(), "workbench_version": rec.__version__,
        "data": {}, "tasks": [],
        "sweep": {"target": kind, "rank": metric, "direction": direction, "folder": str(folder),
                  "swept": swept, "runs": [m.record["id"] for m in members], "ranked": [m.record["id"] for m in result.ranked],
                  "best": best.record["id"] if best else None},
    }
    if version:
        try:
            base = notebook.resolve().parent if kind == "notebook" else None
            if base is None:
                from workbench.execute.build import notebook_dir_of

                base = notebook_dir_of(pipeline)
            rec.version_inputs([m.record for m in members] + [result.record], plan, base, root,
                               effective(plan.parameters, {}))
        except WorkbenchError as exc:
            if on_event:
                on_event(Message(f"data not versioned: {exc}", level="warning"))
    save_sweep(result.record, root)
    for m in members:
        rec.save_record(m.record, root)
    if tracking != "off":
        track(result, root, tracking)
    return result


def sweep_target(kind: str, target: str | Path, pairs: list[str] | None = None, grid: str | None = None, *,
                 rank: str | None = None, output: str | Path | None = None, jobs: int = 1, version: bool = True,
                 tracking: str = "off", on_event: EventHandler | None = None) -> SweepResult:
    """A sweep of the pipeline (kind "pipeline": `workbench run` with lists) or of the notebook
    ("notebook": `workbench rerun` with lists) given as the CLI gets it: a notebook or pipeline
    folder, NAME=V1,V2 pairs, a grid file, a rank METRIC[:lower|higher]; every value checked first."""
    import warnings

    from workbench.execute.build import load_plan
    from workbench.provenance import records as rec
    from workbench.workflows.targets import default_pipeline_dir, export_notebook, plan_notebook

    target = str(target)
    is_notebook = target.endswith(".ipynb")
    if kind == "notebook" and output:
        raise SweepError("-o names one executed notebook; a sweep keeps each combination's",
                         hint="drop -o: each run's notebook is kept in .workbench/reruns/<run id>/")
    plan = plan_notebook(target) if is_notebook else load_plan(Path(target))
    values = read_grid(list(pairs or []), grid, plan)
    metric, direction = parse_rank(rank)
    pipeline = notebook = None
    if kind == "pipeline":
        if is_notebook:
            exported = export_notebook(target, output, False, plan=plan)
            plan, pipeline = exported.plan, exported.directory.resolve()  # named after its folder
        else:
            pipeline = Path(target).resolve()
        root = rec.project_root(pipeline, Path(target) if is_notebook else None)
    else:
        notebook = Path(target)
        folder = default_pipeline_dir(target)
        plan = replace(plan, name=folder.name)  # the runs of its pipeline's name, as api.rerun
        root = rec.project_root(folder, notebook)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_sweep(kind, plan, values, root=root, metric=metric, direction=direction, pipeline=pipeline,
                           notebook=notebook, jobs=jobs, version=version, tracking=tracking, on_event=on_event)
    if on_event is not None:
        for w in caught:
            if not issubclass(w.category, (ResourceWarning, DeprecationWarning)):
                on_event(Message(str(w.message), level="warning"))
    return result


def _stub(plan: Plan, member: Member, sweep_id: str, root: Path) -> dict:
    from workbench.provenance import records as rec
    from workbench.refactor.params import effective

    now = time.time()
    return {"id": member.run_id, "kind": "pipeline", "pipeline": plan.name, "pipeline_dir": None,
            "notebook": plan.notebook, "notebook_sha256": plan.notebook_sha256, "started": now, "ended": now,
            "status": "FAILED", "user": rec.current_user(), "params": rec.masked(effective(plan.parameters, member.overrides)),
            "metrics": {}, "git": rec.git_state(root), "device": rec.device(),
            "workbench_version": rec.__version__, "data": {}, "tasks": [], "sweep_id": sweep_id}


def save_sweep(record: dict, root: Path) -> Path:
    folder = root / SWEEPS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['id']}.json"
    path.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    return path


def track(result: SweepResult, root: Path, mode: str) -> None:
    """The sweep's run first (the parent), then its combinations, nested under it in MLflow.

    `background` spools them all and starts one `workbench sync`, which logs oldest first: the
    sweep started before any of its runs, so the parent is there when they arrive."""
    from workbench.provenance import records as rec
    from workbench.provenance.tracking import spool

    records = [result.record] + [m.record for m in result.members]
    if mode == "background":
        for record in records[:-1]:
            spool(record, root)
        rec.track_run(records[-1], root, "background")
        return
    for record in records:
        rec.track_run(record, root, mode)
    save_sweep(result.record, root)
    for m in result.members:
        rec.save_record(m.record, root)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
