"""Run an exported pipeline: Workbench decides what is outdated, Ploomber executes it.

Ploomber's own rule (timestamps and the task's source text) reruns after a `touch` and misses an
edited helper module, so the decision is made here, on content (see fingerprint.py): walking the
tasks in dependency order, a task runs when its key (code, local modules, parameters, input files,
upstream products' content) differs from the one recorded when its products were made, or when
those products are missing or were changed on disk. A rerun upstream task that produced the same
content does not rerun what follows. Execution goes through Ploomber's task objects (so the
executed task notebooks and Ploomber's metadata are exactly what `ploomber build` makes), and
Ploomber is imported only when something has to run: a no-op run costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import Location, RunError, WorkbenchError
from workbench.core.events import EventHandler, TaskFinished, TaskSkipped, TaskStarted, say
from workbench.core.events import TaskFailed as TaskFailedEvent
from workbench.core.plan import RANDOM_STATE_PRODUCT, Plan
from workbench.execute.fingerprint import HashCache, local_module_files, normalised_code, task_key
from workbench.execute.limited import LimitExceeded
from workbench.execute.tasks import LIMITS_VARIABLE, LocalRunner, TaskFailed, root_cause

STATE = Path(".workbench") / "state.json"


@dataclass
class TaskResult:
    name: str
    status: str  # ran | skipped | failed | not run
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    made_by: str | None = None  # the run whose products this task's are
    device: str | None = None  # cpu | cuda:N (name) (see scheduling.py)
    gpu_memory_peak_mb: float | None = None
    worker: str | None = None  # the Dask worker's address (dask_executor.py)
    cpu_seconds: float | None = None  # user + system CPU time of the task's process while it ran
    gpu_seconds: float | None = None  # seconds x GPUs held, when it ran on GPUs (0 on the CPU)


@dataclass
class RunResult:
    pipeline: Path
    params: dict
    tasks: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ran(self) -> list[str]:
        return [t.name for t in self.tasks if t.status == "ran"]


def load_plan(pipeline: Path) -> Plan:
    path = pipeline / "plan.json"
    try:
        return Plan.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise WorkbenchError(
            f"{pipeline}: not a Workbench pipeline (no plan.json)",
            hint="export one with `workbench export NOTEBOOK`, or pass the notebook itself to `workbench run`",
        ) from None
    except ValueError as exc:  # not JSON, or not a Plan of this version (core.plan.PlanSchemaError)
        raise WorkbenchError(
            f"{path}: {exc}",
            hint="export the pipeline again with this Workbench: `workbench export NOTEBOOK --force`",
        ) from None


STATE_FORMAT = 2


def load_state(pipeline: Path) -> dict:
    """The pipeline's recorded task keys; a state of another format counts as none (all rerun)."""
    try:
        state = json.loads((pipeline / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return {"format": STATE_FORMAT}
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        return {"format": STATE_FORMAT}
    return state


def _save_state(pipeline: Path, state: dict) -> None:
    path = pipeline / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


class _Keys:
    """Computes each task's content key from what is on disk now."""

    def __init__(self, pipeline: Path, plan: Plan, params: dict, hashes: HashCache) -> None:
        self.pipeline, self.plan, self.params, self.hashes = pipeline, plan, params, hashes
        self.notebook_dir = notebook_dir_of(pipeline)
        self.search = [self.notebook_dir, pipeline]

    def products(self, task: str) -> dict[str, str | None]:
        outputs = self.plan.task(task).outputs
        return {o: self.hashes.tree(self.pipeline / "products" / task / o) for o in outputs}

    def key(self, name: str) -> str:
        task = self.plan.task(name)
        code = (self.pipeline / "tasks" / f"{name}.py").read_text(encoding="utf-8")
        modules = {
            self._module_name(p): hashlib.sha256(normalised_code(p.read_text(errors="replace")).encode()).hexdigest()
            for p in local_module_files(code, self.search)
        }
        inputs = {}
        for key in task.file_reads:
            if "{" in key:
                key = fill_template(key, {p: self.params.get(p) for p in self.plan.parameters})
            if key is not None and key not in task.file_writes:
                inputs[key] = self.hashes.tree(self.notebook_dir / key)
        upstream = {}
        for up, edge in sorted(task.upstream.items()):
            hashes = self.products(up)
            upstream[up] = {v: hashes.get(v) for v in sorted(set(edge.variables) | _state_products(edge))}
            if edge.files or edge.after:
                upstream[up]["*"] = json.dumps(hashes, sort_keys=True)
        params = {p: self.params.get(p) for p in task.parameters}
        return task_key(code, modules, params, inputs, upstream)

    def _module_name(self, path: Path) -> str:
        """Relative to the folder it was found in: stable when the project moves."""
        for base in self.search:
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return path.as_posix()


def _state_products(edge) -> set[str]:
    return {RANDOM_STATE_PRODUCT[k] for k in edge.random_state}


def fill_template(template: str, values: dict) -> str | None:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


def notebook_dir_of(pipeline: Path) -> Path:
    """The tasks' working directory, as pipeline.yaml says (`cwd: "{{here}}/..."`)."""
    text = (pipeline / "pipeline.yaml").read_text(encoding="utf-8")
    m = re.search(r'cwd: ("\{\{here\}\}(?:[^"\\]|\\.)*")', text)
    if not m:
        return pipeline.resolve()
    # export writes the value as JSON (a YAML double-quoted string): a folder named `Análisis` is
    # `An\u00e1lisis` there, and must be decoded, not taken as written
    return (pipeline / json.loads(m.group(1))[len("{{here}}"):].lstrip("/")).resolve()


def _why_run(name: str, key: str, keys: _Keys, recorded: dict | None, force: bool) -> str:
    """Why the task must run ('' when it need not)."""
    if force:
        return "forced"
    if not recorded:
        return "never ran"
    if key != recorded.get("key"):
        return "inputs changed"
    if not (keys.pipeline / "products" / f"{name}.ipynb").exists():
        return "executed notebook missing"
    now = keys.products(name)
    if any(h is None for h in now.values()):
        return "product missing"
    if now != recorded.get("products"):
        return "product changed on disk"
    return ""


def build(pipeline: Path, plan: Plan, params: dict, *, on_event: EventHandler | None = None,
          **options) -> RunResult:
    """Run what is outdated, task by task in dependency order; returns what ran.

    `on_event` receives typed events (core/events.py): TaskStarted and TaskFinished for each task
    that runs, TaskSkipped for each up to date one, TaskFailed for the one that failed, Messages
    (a waiting lock, a GPU warning). Raises RunError naming the failing task and notebook cell.
    Tasks that finished before a failure keep their (complete) products and are not rerun next
    time; the failed one is. GPU tasks get devices from `placement` (scheduling.py;
    `device="cpu"` runs everything on the CPU); `runner` replaces local execution
    (dask_executor.py); `isolated=True` (or WORKBENCH_ISOLATED=1) runs each task in a fresh Python
    process of its own (isolated.py), as an incremental rerun of that task alone would, so that
    no state one task leaves in the process (os.environ, sys.path, pyplot, imports) can hide a
    dependency the plan lacks. One build of a pipeline at a time: a second one waits for the first
    (locking.py)."""
    from workbench.execute.locking import pipeline_lock

    with pipeline_lock(pipeline, on_event):
        return _build(pipeline, plan, params, on_event=on_event, **options)


def _build(pipeline: Path, plan: Plan, params: dict, *, force: bool = False, jobs: int = 1,
           on_event: EventHandler | None = None, run_id: str | None = None, require_gpu: bool = False,
           device: str | None = None, runner=None, placement=None, isolated: bool | None = None) -> RunResult:
    from workbench.execute.scheduling import place

    emit = on_event or (lambda event: None)
    if placement is None:
        requested = {t.name: t.gpu for t in plan.tasks}
        placement = place(requested, require=require_gpu or device == "gpu", force_cpu=device == "cpu",
                          progress=say(on_event))
    started = time.perf_counter()
    result = RunResult(pipeline, params)
    state = load_state(pipeline)
    recorded = state.setdefault("tasks", {})
    hashes = HashCache(state.get("hashes"))
    keys = _Keys(pipeline, plan, params, hashes)
    if isolated is None:  # `workbench run --isolated` sets it for the whole command
        isolated = os.environ.get("WORKBENCH_ISOLATED", "") not in ("", "0")
    if runner is None and isolated:
        from workbench.execute.isolated import IsolatedRunner

        runner = IsolatedRunner(pipeline, params, jobs)
    runner = runner or LocalRunner(pipeline, params, jobs)
    done: dict[str, TaskResult] = {}
    running: dict[str, object] = {}
    task_keys: dict[str, str] = {}  # a task's key cannot change while it runs: computed once
    failure: tuple[str, BaseException] | None = None

    def finished(name: str, outcome) -> None:
        nonlocal failure
        placement.release(name)
        if isinstance(outcome, BaseException):
            failure = failure or (name, outcome)
            done[name] = TaskResult(name, "failed")
            return
        seconds, peak, *extra = outcome
        recorded[name] = {"key": task_keys[name], "products": keys.products(name), "run": run_id}
        info = {"device": placement.labels.get(name), **(extra[0] if extra else {})}
        on_gpu = bool(info.get("device")) and info["device"] != "cpu"
        info["gpu_seconds"] = round(seconds * max(1, placement.need(name)), 3) if on_gpu else 0.0
        done[name] = TaskResult(name, "ran", seconds, peak, run_id, **info)
        emit(TaskFinished(name, seconds, peak_memory_mb=peak, device=info.get("device")))

    try:
        while len(done) < len(plan.order) and failure is None:
            progressed = False
            for name in plan.order:
                if name in done or name in running:
                    continue
                if any(up not in done or done[up].status == "failed" for up in plan.task(name).upstream):
                    continue
                if name not in task_keys:
                    task_keys[name] = keys.key(name)
                why = _why_run(name, task_keys[name], keys, recorded.get(name), force)
                if not why:
                    progressed = True
                    done[name] = TaskResult(name, "skipped", made_by=recorded[name].get("run"))
                    emit(TaskSkipped(name))
                    continue
                if len(running) >= jobs > 1:
                    # --jobs is the number of tasks at once: a limited task runs in a process of its
                    # own (limited.py), outside the runner's pool, which alone would not cap it
                    continue
                env = placement.claim(name)
                if env is None:  # its GPUs are all taken: it starts when a GPU task ends
                    continue
                if limits := plan.task(name).limits():  # the runner enforces them (limited.py)
                    env = {**env, LIMITS_VARIABLE: json.dumps(limits)}
                progressed = True
                emit(TaskStarted(name, why))
                recorded.pop(name, None)  # until it succeeds, nothing of it is trusted
                _save_state(pipeline, {**state, "hashes": hashes.entries})
                running[name] = runner.submit(name, env)
                if jobs <= 1:
                    break
            if running:
                name, outcome = runner.wait(running)
                del running[name]
                finished(name, outcome)
            elif not progressed:
                break
        for name, future in list(running.items()):  # after a failure, let the others finish
            finished(*runner.wait({name: future}))
    finally:
        runner.close()
        state["hashes"] = hashes.entries
        _save_state(pipeline, state)
    result.tasks = [done.get(n, TaskResult(n, "not run")) for n in plan.order]
    result.seconds = time.perf_counter() - started
    if failure is not None:
        error = _task_error(pipeline, plan, [failure[0]], failure[1], result)
        where = error.location
        emit(TaskFailedEvent(failure[0], error.detail.splitlines()[0] if error.detail else error.message,
                        cell=where.cell if where else None, line=where.line if where else None,
                        message=str(error)))
        raise error from None
    return result



def _task_error(pipeline: Path, plan: Plan, failed: list[str], exc: BaseException,
                result: RunResult | None = None) -> RunError:
    """The failing task, the notebook cell that raised and the exception, without Ploomber's noise."""
    name = failed[0] if failed else "?"
    cause = root_cause(exc)
    executed = pipeline / "products" / f"{name}.ipynb"
    cell_text, error = _failing_cell(executed)
    location = None
    if isinstance(exc, LimitExceeded):  # limited.py: stopped, not raised
        return _limit_error(name, exc, result)
    if error:
        detail = error
    elif isinstance(exc, TaskFailed):
        detail = exc.text
    elif cause:
        detail = f"{type(cause).__name__}: {cause}"
    else:
        found = re.findall(r"^(\w+(?:Error|Exception|Interrupt)\b.*)$", str(exc), re.M)
        detail = found[-1] if found else str(exc).strip().splitlines()[0]
    saving = re.search(r"variable '(\w+)'", detail) if detail.startswith("ProductError") else None
    if saving and name in {t.name for t in plan.tasks} and saving.group(1) in plan.task(name).outputs:
        # the value could not be saved: point at where the notebook defines it
        out = plan.task(name).outputs[saving.group(1)]
        location = Location(plan.notebook, out.cell, plan.cells[out.cell].id, out.line)
    elif cell_text and name != "?":
        m = re.search(r"notebook cell (\d+)", cell_text)
        if m:
            index = int(m.group(1))
            location = Location(plan.notebook, index, plan.cells[index].id)
    hint = "fix the cell in the notebook and run again; tasks that succeeded are not rerun"
    if "no room to write it" in detail:  # runtime/products.py: disk full, not the cell's fault
        hint = "free disk space (df -h) or give the products a larger disk, then run again; tasks that succeeded are not rerun"
    error = RunError(
        f"task {name!r} failed",
        detail=detail + (f"\nexecuted notebook with the traceback: {executed}" if executed.exists() else ""),
        hint=hint,
        location=location,
        exit_code=1,
    )
    error.result = result  # what ran before the failure, for the run's record
    return error


def _limit_error(name: str, exc: TaskFailed, result: RunResult | None) -> RunError:
    """A task stopped over a limit: its executed notebook (if any) is not what stopped it."""
    kind = exc.text.split(":", 1)[0]
    tag = {"MemoryLimitExceeded": "memory:", "TimeoutExceeded": "timeout:"}.get(kind, "limit")
    error = RunError(f"task {name!r} failed", detail=exc.text, exit_code=1,
                     hint=f"raise the task's `{tag}` tag in its cell's tags, or make the task use less; tasks "
                     "that succeeded are not rerun")
    error.result = result
    return error


def _failing_cell(executed: Path) -> tuple[str | None, str | None]:
    """(the failing cell's title or source, 'Error: message') from the executed task notebook."""
    try:
        nb = json.loads(executed.read_text())
    except (OSError, ValueError):
        return None, None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                meta = cell.get("metadata", {})
                text = meta.get("title") or "".join(cell.get("source", ""))
                return text, f"{output.get('ename')}: {output.get('evalue')}"
    return None, None
