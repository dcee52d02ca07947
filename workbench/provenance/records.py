"""Every run's record: who ran what, with which code, data and parameters, and what came out.

After a build the record is assembled from the run's results, the data is versioned with DVC
(inputs and products, pushed to the remote) and the record is sent to MLflow. The record is also
kept as JSON under `<project>/.workbench/runs/`, which is what `runs`, `diff`, `lineage` and
`checkout` read: they answer offline and instantly, and MLflow remains the place to browse and
compare. A tracking server that is down costs a warning, never the run: the record waits in
`.workbench/unsynced/` for `workbench sync`.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.limits import LimitError, load_prices, task_cost
from workbench.core.plan import Plan
from workbench.core.project import RUNS
from workbench.core.project import project_root as project_root  # the one rule; `rec.project_root` for callers
from workbench.core.record import RECORD_SCHEMA, RecordError, RunRecord, check_record
from workbench.core.secrets import masked
from workbench.core.version import __version__


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def git_state(root: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def device() -> str:
    """CPU, or the GPU's name, without importing a GPU library."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
            if out.returncode == 0 and names:
                return names[0] + (f" x{len(names)}" if len(names) > 1 else "")
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "CPU"


def input_files(plan: Plan, pipeline: Path | None, params: dict, base: Path | None = None) -> list[Path]:
    """Files the notebook reads that no task writes: the raw data (paths relative to `base`, by
    default the folder the pipeline's tasks run in)."""
    from workbench.execute.build import fill_template, notebook_dir_of

    base = base if base is not None else notebook_dir_of(pipeline)
    written = {k for t in plan.tasks for k in t.file_writes}
    found = []
    for task in plan.tasks:
        for key in task.file_reads:
            if key in written:
                continue
            if "{" in key:
                key = fill_template(key, params)
            path = (base / key).resolve() if key else None
            if path is not None and path.is_file() and path not in found:
                found.append(path)
    return found


def _metrics(plan: Plan, pipeline: Path) -> dict[str, float]:
    from workbench.runtime import load
    from workbench.runtime.metrics import read_metrics
    from workbench.runtime.products import ProductError

    values: dict[str, float] = {}
    for task in plan.tasks:
        for name in task.metrics:
            if name not in task.outputs:
                continue
            try:
                value = load(pipeline / "products" / task.name / name)
            except ProductError:
                continue
            scalar = isinstance(value, (int, float)) or (
                type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0)
            if scalar:
                try:
                    values[name] = float(value)
                except (TypeError, ValueError):
                    pass
        values.update(read_metrics(pipeline / ".workbench" / "metrics" / f"{task.name}.jsonl"))
    return values


def assemble(plan: Plan, pipeline: Path, root: Path, result, params: dict, run_id: str,
             started: float, status: str) -> RunRecord:
    from workbench.core.secrets import scrub_notebook, secret_values
    from workbench.execute.build import load_state

    state = load_state(pipeline).get("tasks", {})
    hidden = secret_values(params)
    try:  # [tool.workbench.cost] of pyproject.toml; None: no cost is estimated
        prices = load_prices(root)
    except LimitError as exc:  # the run is recorded all the same, without a cost
        warnings.warn(f"no cost estimated: {exc}", stacklevel=2)
        prices = None
    tasks = []
    for t in result.tasks:
        entry = {"name": t.name, "status": t.status}
        if t.status == "ran":
            executed = pipeline / "products" / f"{t.name}.ipynb"
            scrub_notebook(executed, hidden)  # before it is logged anywhere
            entry.update(seconds=round(t.seconds, 4), peak_rss_mb=t.peak_rss_mb, notebook=str(executed))
            # where it ran (scheduling.py, dask_executor.py); older results lack these fields
            entry.update({k: v for k in ("device", "gpu_memory_peak_mb", "worker", "cpu_seconds", "gpu_seconds")
                          if (v := getattr(t, k, None)) is not None})
            if prices is not None:
                entry["cost"] = round(task_cost(prices, seconds=t.seconds, cpu_seconds=t.cpu_seconds,
                                                gpu_seconds=t.gpu_seconds, peak_mb=t.peak_rss_mb), 8)
            from workbench.runtime.metrics import read_metrics

            entry["metrics"] = read_metrics(pipeline / ".workbench" / "metrics" / f"{t.name}.jsonl")
        elif t.status == "skipped":
            entry["made_by"] = t.made_by
        recorded = state.get(t.name, {})
        entry["key"] = recorded.get("key")
        entry["products"] = recorded.get("products", {})
        tasks.append(entry)
    return {
        "schema": RECORD_SCHEMA,
        "id": run_id,
        "kind": "pipeline",
        "pipeline": plan.name,
        "pipeline_dir": project_relative(pipeline, root),
        "notebook": plan.notebook,
        "notebook_sha256": plan.notebook_sha256,
        "started": started,
        "ended": time.time(),
        "status": status,
        "user": current_user(),
        "params": masked(params),  # workbench/secrets.py: secret-looking values never stored
        "metrics": _metrics(plan, pipeline) if status == "FINISHED" else {},
        "git": git_state(root),
        "device": device(),
        "workbench_version": __version__,
        "data": {},
        "tasks": tasks,
        "usage": run_usage(tasks, prices),
    }


def run_usage(tasks: list, prices) -> dict:
    """The run's totals over the tasks that ran: CPU-seconds, GPU-seconds, the largest peak memory,
    and with prices the estimated cost (`cost`, `currency`, `prices`: what it was computed from)."""
    ran = [t for t in tasks if t.get("status") == "ran"]
    usage: dict = {
        "cpu_seconds": round(sum(t.get("cpu_seconds") or 0 for t in ran), 3),
        "gpu_seconds": round(sum(t.get("gpu_seconds") or 0 for t in ran), 3),
        "peak_rss_mb": max((t.get("peak_rss_mb") or 0 for t in ran), default=0),
    }
    if prices is not None:
        usage.update(cost=round(sum(t.get("cost") or 0 for t in ran), 8), currency=prices.get("currency", "USD"),
                     prices={k: v for k, v in prices.items() if k != "currency"})
    return usage


def notebook_record(plan: Plan, root: Path, params: dict, metrics: dict, run_id: str, started: float,
                    status: str, executed: Path, seconds: float) -> RunRecord:
    """The record of a `workbench rerun`: the shape of `assemble`'s, `kind` "notebook", no tasks.

    `executed_notebook` (the kept papermill output) is logged to MLflow as the run's artifact."""
    from workbench.core.secrets import scrub_notebook, secret_values

    scrub_notebook(executed, secret_values(params))
    return {
        "schema": RECORD_SCHEMA,
        "id": run_id,
        "kind": "notebook",
        "pipeline": plan.name,
        "pipeline_dir": None,
        "notebook": plan.notebook,
        "notebook_sha256": plan.notebook_sha256,
        "started": started,
        "ended": time.time(),
        "seconds": round(seconds, 4),
        "status": status,
        "user": current_user(),
        "params": masked(params),
        "metrics": metrics if status == "FINISHED" else {},
        "git": git_state(root),
        "device": device(),
        "workbench_version": __version__,
        "data": {},
        "tasks": [],
        "executed_notebook": str(executed.resolve()),
    }


def version_inputs(records: list[dict], plan: Plan, base: Path, root: Path, params: dict) -> None:
    """Version the raw input files only (a notebook run, a sweep) and put their versions in records.

    Products of a sweep's combinations live under a git-ignored `.workbench/` folder, where DVC
    keeps no pointer files: their content hashes are in each record's tasks instead."""
    from workbench.provenance.data_versions import version_paths
    from workbench.provenance.versioning import ensure_project

    paths = input_files(plan, None, params, base=base)
    if not paths:
        return
    if not (root / ".dvc").is_dir():
        ensure_project(root)
    versions = version_paths(root, paths)
    for record in records:
        put_versions(record, versions, [project_relative(p, root) for p in paths])


def put_versions(record: dict, versions, inputs: list[str]) -> None:
    """Write what `data_versions.version_paths` found into the record: per path how (`versions`), DVC's
    entries for restore and push (`dvc`, `dvc_pushed`), each path's version name (`data`), `inputs`."""
    record["versions"] = {path: dict(entry) for path, entry in versions.versions.items()}
    record["dvc"] = dict(versions.dvc)
    record["dvc_pushed"] = versions.pushed
    record["data"] = versions.data()
    record["inputs"] = inputs


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not worth failing a run
        return "unknown"


def project_relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def version_data(record: dict, plan: Plan, pipeline: Path, root: Path, params: dict, progress=None) -> list[str]:
    """Version the inputs and products, each by what owns it (git, DVC, or a hash for a path outside
    the project: see data_versions), recording per path how in the record."""
    from workbench.provenance.data_versions import version_paths
    from workbench.provenance.versioning import ensure_project

    # a project that has DVC already is left as its owner configured it (and this saves ~0.5 s)
    done = [] if (root / ".dvc").is_dir() else ensure_project(root)
    for line in done:
        if progress:
            progress(line)
    inputs = input_files(plan, pipeline, params)
    versions = version_paths(root, [*inputs, pipeline / "products"])
    put_versions(record, versions, [project_relative(p, root) for p in inputs])
    return done


def save_record(record: RunRecord, root: Path) -> Path:
    folder = root / RUNS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    os.replace(tmp, path)
    return path


def keep_record(record: RunRecord, root: Path, tracking: str) -> None:
    """Save the record, then (unless `tracking` is off) send it to MLflow and save it again with
    its MLflow run id: a run that cannot reach MLflow is kept either way."""
    save_record(record, root)
    if tracking != "off":
        track_run(record, root, tracking)
        save_record(record, root)


def track_run(record: dict, root: Path, mode: str = "background") -> str | None:
    """Send the record to MLflow; when it cannot be reached, keep it for `workbench sync`.

    `background` (the default) spools the record and hands it to a detached `workbench sync`:
    importing MLflow, opening its store and rendering the task notebooks to HTML cost seconds that
    a finished run should not wait for. `now` logs before returning (for scripts and tests)."""
    from workbench.provenance.tracking import TrackingError, default_tracking_uri, log_run, spool

    uri = default_tracking_uri(root)
    if not tracking_reachable(uri):
        path = spool(record, root)
        warnings.warn(
            f"MLflow could not be reached at {uri}; the run's record is kept in {path} and "
            "`workbench sync` will send it", stacklevel=2)
        return None
    if mode == "background":
        spool(record, root)
        log = root / ".workbench" / "sync.log"
        with open(log, "a") as err:
            subprocess.Popen(
                [sys.executable, "-m", "workbench.cli", "sync"], cwd=root, stdin=subprocess.DEVNULL,
                stdout=err, stderr=err, start_new_session=True)
        return None
    try:
        run = log_run(record, root)
    except TrackingError as exc:  # unreachable, or refused: either way the run is not lost
        path = spool(record, root)
        warnings.warn(
            f"MLflow could not be reached ({exc.message}); the run's record is kept in "
            f"{path} and `workbench sync` will send it", stacklevel=2)
        return None
    record["mlflow_run_id"] = run
    return run


def tracking_reachable(uri: str) -> bool:
    """A quick TCP check for server URIs, so that a stopped server costs milliseconds."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return True
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=2):
            return True
    except OSError:
        return False


def load_records(root: Path, pipeline: str | None = None) -> list[RunRecord]:
    """The project's run records, newest first; a file that is not one is skipped with a warning."""
    records = []
    for path in sorted((root / RUNS).glob("*.json"), reverse=True):
        try:
            record = check_record(json.loads(path.read_text()), str(path))
        except ValueError:
            continue  # half-written by a run killed mid-write (records are replaced atomically since)
        except RecordError as exc:
            warnings.warn(f"{exc.message}; skipped", stacklevel=2)
            continue
        if pipeline is None or record.get("pipeline") == pipeline:
            records.append(record)
    records.sort(key=lambda r: r.get("started", 0), reverse=True)
    return records


def find_record(root: Path, run_id: str) -> RunRecord:
    matches = [r for r in load_records(root) if r["id"] == run_id or r["id"].startswith(run_id)
               or r.get("mlflow_run_id") == run_id]
    if not matches:
        raise WorkbenchError(f"no run {run_id!r} in {root / RUNS}", hint="list the runs with `workbench runs`")
    if len(matches) > 1:
        raise WorkbenchError(f"{run_id!r} matches {len(matches)} runs",
                             hint="give more characters of the run id: " + ", ".join(r["id"] for r in matches[:5]))
    return matches[0]


def diff_records(a: dict, b: dict) -> dict:
    """What differs between two runs: code (per task), parameters, data and metrics."""
    from workbench.provenance.data_versions import diff_versions, record_versions

    code = []
    tasks_a = {t["name"]: t for t in a.get("tasks", [])}
    tasks_b = {t["name"]: t for t in b.get("tasks", [])}
    for name in sorted(set(tasks_a) | set(tasks_b)):
        if name not in tasks_a or name not in tasks_b:
            code.append((name, "added" if name in tasks_b else "removed"))
        elif tasks_a[name].get("key") != tasks_b[name].get("key"):
            code.append((name, "inputs or code changed"))
    params = [(k, a["params"].get(k), b["params"].get(k)) for k in sorted(set(a["params"]) | set(b["params"]))
              if a["params"].get(k) != b["params"].get(k)]
    metrics = [(k, a["metrics"].get(k), b["metrics"].get(k)) for k in sorted(set(a["metrics"]) | set(b["metrics"]))
               if a["metrics"].get(k) != b["metrics"].get(k)]
    products = []
    for name in sorted(set(tasks_a) & set(tasks_b)):
        pa, pb = tasks_a[name].get("products", {}), tasks_b[name].get("products", {})
        for var in sorted(set(pa) | set(pb)):
            if pa.get(var) != pb.get(var):
                products.append(f"{name}/{var}")
    return {
        "code": code,
        "params": params,
        "data": diff_versions(record_versions(a), record_versions(b)),
        "products": products,
        "metrics": metrics,
        "commit": (a.get("git", {}).get("commit"), b.get("git", {}).get("commit")),
    }


def lineage(plan: Plan, record: dict, target: str) -> list[str]:
    """Where a product came from: the run, commit, parameters, upstream products, raw data."""
    from workbench.provenance.data_versions import describe, record_versions

    task_of = {}
    for t in plan.tasks:
        for var in t.outputs:
            task_of.setdefault(var, t.name)
            task_of[f"{t.name}/{var}"] = t.name
    target = target.rstrip("/").split("products/")[-1]
    if target not in task_of:
        model = next((t for t in plan.tasks if t.model == target), None)
        if model is None:
            raise WorkbenchError(f"{target!r} is not a product of pipeline {plan.name!r}",
                                 hint="name a product as TASK/VARIABLE or VARIABLE, e.g. " +
                                 ", ".join(f"{t.name}/{v}" for t in plan.tasks[:2] for v in list(t.outputs)[:1]))
    var = target.split("/")[-1]
    task_name = task_of[target]
    tasks = {t["name"]: t for t in record.get("tasks", [])}
    git = record.get("git", {})
    lines = [
        f"{task_name}/{var}  (pipeline {record['pipeline']}, run {record['id']}, status {record['status']})",
        f"  commit {git.get('commit') or '(not a git commit)'}{' + uncommitted changes' if git.get('dirty') else ''}"
        f", notebook {record['notebook']} sha256 {record['notebook_sha256'][:12]}",
    ]
    seen: set[str] = set()
    versions = record_versions(record)

    def walk(name: str, var: str | None, depth: int) -> None:
        task = plan.task(name)
        entry = tasks.get(name, {})
        made_by = record["id"] if entry.get("status") == "ran" else entry.get("made_by")
        pad = "  " * depth
        product = f"{name}/{var}" if var else name
        digest = entry.get("products", {}).get(var, "") if var else ""
        used = ", ".join(f"{p}={record['params'].get(p)!r}" for p in task.parameters)
        lines.append(f"{pad}<- {product} {digest[:12]} made by task {name!r} in run {made_by}"
                     + (f" with {used}" if used else ""))
        if name in seen:
            return
        seen.add(name)
        for up, edge in task.upstream.items():
            for v in edge.variables or [None]:
                walk(up, v, depth + 1)
            for f in edge.files:
                lines.append(f"{pad}  <- file {f} (written by task {up!r})")
        for key in task.file_reads:
            matches = [p for p in record.get("inputs", []) if p.endswith(key.lstrip("./"))]
            for path in matches:
                version = versions.get(path)
                what = describe(version) if version else f"md5 {record.get('data', {}).get(path, '?')}"
                lines.append(f"{pad}  <- raw data {path} {what}")
    walk(task_name, var, 1)
    return lines


def push_pending(root: Path) -> list[str]:
    """Push the data of runs whose push failed (the DVC remote was unreachable then)."""
    from workbench.provenance.versioning import push

    sent = []
    for record in load_records(root):
        if record.get("dvc") and record.get("dvc_pushed") is False:
            push(root, record["dvc"])
            record["dvc_pushed"] = True
            save_record(record, root)
            sent.append(record["id"])
    return sent
