"""Jobs: `workbench run` / `workbench verify` as subprocesses of the Jupyter server, with progress.

A job runs the real CLI (`python -m workbench.cli ACTION --events=jsonl PATH --param k=v ...`)
with the server's root as working directory, in a process group of its own so that cancelling
stops the pipeline's worker processes too. With `--events jsonl` the CLI writes one JSON object per
line on stdout, the typed events of workbench.core.events (`Event.to_dict()`); each is kept in
`job.events` with `"time"` (seconds since the job started) added, and moves its task in
`job.tasks`:

    task_started  -> running        task_finished -> done          task_skipped -> up to date
    task_failed   -> failed         (at the end: pending -> up to date, or cancelled)

A verify job's verify_row and verify_finished events make `job.verify`: {"ok", "summary", "rows":
[{"task", "name", "verdict", "detail", "compared"}]} (None until the verdict came). Nothing parses text: a line
that is not JSON is kept in stdout and otherwise ignored.

Nothing here blocks the server's event loop: the process is an asyncio subprocess and its pipes are
read by coroutines.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TASK_STATES = {"task_started": "running", "task_finished": "done", "task_skipped": "up to date",
               "task_failed": "failed"}
KEEP_CHARS = 1_000_000  # of stdout and of stderr per job: the tail is kept
KEEP_JOBS = 200  # finished jobs remembered (oldest forgotten first)
KILL_AFTER = 5.0  # seconds between SIGTERM and SIGKILL when cancelling


def product_sizes(pipeline: Path, tasks: list[str] | None = None) -> dict[str, dict[str, int]]:
    """{task: {variable: bytes}} of a pipeline's `products/<task>/<variable>/` folders."""
    products = pipeline / "products"
    sizes: dict[str, dict[str, int]] = {}
    if not products.is_dir():
        return sizes
    for task_dir in sorted(products.iterdir()):
        if not task_dir.is_dir() or (tasks is not None and task_dir.name not in tasks):
            continue
        for var_dir in sorted(task_dir.iterdir()):
            if var_dir.is_dir():
                total = sum(f.stat().st_size for f in var_dir.rglob("*") if f.is_file() and not f.name.endswith(".tmp"))
                sizes.setdefault(task_dir.name, {})[var_dir.name] = total
    return sizes


@dataclass
class Job:
    id: str
    action: str
    path: str
    params: dict[str, str]
    force: bool
    cwd: Path
    pipeline: Path | None  # where its products land
    tasks: dict[str, str] = field(default_factory=dict)  # task -> pending|running|done|up to date|failed|cancelled
    status: str = "running"
    events: list[dict] = field(default_factory=list)
    verify: dict | None = None  # a verify job's verdict: {"ok", "summary", "rows": [...]}
    products: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    returncode: int | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    argv: list[str] = field(default_factory=list)
    _stdout: list[str] = field(default_factory=list, repr=False)
    _stderr: list[str] = field(default_factory=list, repr=False)
    _rows: list[dict] = field(default_factory=list, repr=False)  # verify_row events so far
    _failure: str | None = field(default=None, repr=False)  # from a task_failed or an error message
    _process: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _cancelled: bool = field(default=False, repr=False)

    @property
    def stdout(self) -> str:
        return "".join(self._stdout)[-KEEP_CHARS:]

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)[-KEEP_CHARS:]

    def to_dict(self, brief: bool = False) -> dict:
        data = {
            "id": self.id, "action": self.action, "path": self.path, "params": self.params,
            "force": self.force, "status": self.status, "started": self.started, "ended": self.ended,
            "returncode": self.returncode, "error": self.error, "tasks": dict(self.tasks),
        }
        if not brief:
            data.update(events=list(self.events), verify=self.verify, stdout=self.stdout, stderr=self.stderr,
                        products=self.products, argv=self.argv,
                        pid=self._process.pid if self._process is not None else None)
        return data

    # -- output ---------------------------------------------------------------------------------

    def _keep(self, chunks: list[str], text: str) -> None:
        chunks.append(text)
        if len(chunks) > 2000:  # fold, keeping the tail
            joined = "".join(chunks)[-KEEP_CHARS:]
            chunks[:] = [joined]

    def on_stdout(self, line: str) -> None:
        self._keep(self._stdout, line)
        try:
            data = json.loads(line)
        except ValueError:
            return  # not an event (only events should be there; kept in stdout all the same)
        if isinstance(data, dict) and isinstance(data.get("event"), str):
            self.on_event(data)

    def on_stderr(self, line: str) -> None:
        self._keep(self._stderr, line)

    def on_event(self, data: dict) -> None:
        """One event of the CLI (an `Event.to_dict()`): kept, and applied to tasks and verdicts."""
        kind = data["event"]
        self.events.append({**data, "time": self._elapsed()})
        task = data.get("task")
        if kind in TASK_STATES and isinstance(task, str) and task:
            state = TASK_STATES[kind]
            if not (self._cancelled and state == "running"):  # started as the cancel arrived: cancelled
                self.tasks[task] = state
        if kind == "task_failed":
            self._failure = data.get("message") or data.get("error") or self._failure
        elif kind == "message" and data.get("level") == "error":
            self._failure = data.get("text") or self._failure
        elif kind == "verify_row":
            self._rows.append({k: data.get(k) for k in ("task", "name", "verdict", "detail", "compared")})
        elif kind == "verify_finished":
            self.verify = {"ok": bool(data.get("ok")), "summary": data.get("summary") or "",
                           "rows": list(self._rows)}

    def _elapsed(self) -> float:
        return round(time.time() - self.started, 3)

    # -- exit -----------------------------------------------------------------------------------

    def request_cancel(self) -> None:
        """Cancelled, at once: the job and every task not finished (stopped, or never started), so
        that a client reading the job while its processes are still being stopped (they may take
        seconds to go) already sees what the job will end as, and can stop polling."""
        self._cancelled = True
        self.status = "cancelled"
        for task, state in self.tasks.items():
            if state in ("running", "pending"):
                self.tasks[task] = "cancelled"

    def finish(self, returncode: int) -> None:
        self.returncode, self.ended = returncode, time.time()
        if self._cancelled:
            self.request_cancel()
        elif returncode == 0:
            self.status = "succeeded"
            for task, state in self.tasks.items():
                if state == "pending":
                    self.tasks[task] = "up to date"
            if self.pipeline is not None:
                try:
                    self.products = product_sizes(self.pipeline, list(self.tasks) or None)
                except OSError:
                    self.products = {}
        else:
            self.status = "failed"
            self.error = self._error_text(returncode)
            for task, state in self.tasks.items():
                if state == "running":
                    self.tasks[task] = "failed"
        self._done.set()

    def _error_text(self, returncode: int) -> str:
        if self._failure:
            return self._failure.strip()
        lines = self.stderr.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("error: "):
                return "\n".join([line[len("error: "):], *lines[i + 1:]]).strip()
        if self.verify is not None:  # exit 1: the pipeline differs; the verdict says how
            return self.verify["summary"]
        tail = "\n".join(lines[-20:]).strip()
        return tail or f"{self.action} exited with status {returncode}"


class JobManager:
    """The jobs of one server: started, listed, cancelled; running ones are killed at exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task] = set()
        atexit.register(self.kill_all)

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def list(self) -> list[Job]:
        return list(self.jobs.values())

    async def start(self, action: str, path: str, params: dict[str, str], force: bool,
                    tasks: list[str], pipeline: Path | None) -> Job:
        argv = [sys.executable, "-m", "workbench.cli", action, "--events=jsonl", path]
        argv += [f"--param={name}={value}" for name, value in params.items()]
        if force and action == "run":
            argv.append("--force")
        job = Job(secrets.token_hex(8), action, path, dict(params), force, self.root, pipeline,
                  tasks={t: "pending" for t in tasks}, argv=argv)
        # tracking in a background `workbench sync` unless the server's environment says otherwise
        env = {"WORKBENCH_TRACKING": "background", "PLOOMBER_STATS_ENABLED": "false",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1", **os.environ, "PYTHONUNBUFFERED": "1"}
        job._process = await asyncio.create_subprocess_exec(
            *argv, cwd=str(self.root), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self.jobs[job.id] = job
        self._forget_old()
        task = asyncio.ensure_future(self._watch(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _watch(self, job: Job) -> None:
        process = job._process
        assert process is not None and process.stdout is not None and process.stderr is not None
        try:
            await asyncio.gather(_pump(process.stdout, job.on_stdout), _pump(process.stderr, job.on_stderr))
            returncode = await process.wait()
        except Exception as exc:  # never leave a job "running" forever
            job.on_stderr(f"error: the job's output could not be read: {exc}\n")
            returncode = await process.wait()
        job.finish(returncode)

    async def cancel(self, job: Job, wait: float = KILL_AFTER + 2) -> Job:
        if job.status != "running" or job._process is None:
            return job
        job.request_cancel()
        _signal_group(job._process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(job._done.wait(), KILL_AFTER)
        except TimeoutError:
            _signal_group(job._process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job._done.wait(), max(wait - KILL_AFTER, 0.1))
        return job

    def kill_all(self) -> None:
        for job in self.jobs.values():
            if job.status == "running" and job._process is not None and job._process.returncode is None:
                _signal_group(job._process.pid, signal.SIGTERM)

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.status != "running"]
        for job in finished[: max(0, len(finished) - KEEP_JOBS)]:
            del self.jobs[job.id]


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the job is its own session: its pid is its group id


async def _pump(stream: asyncio.StreamReader, on_line) -> None:
    """Call on_line for each line (newline kept; a last partial line too), however long."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace") + "\n")
    if pending:
        on_line(pending.decode("utf-8", "replace"))
