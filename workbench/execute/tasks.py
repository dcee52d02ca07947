"""Executing one task of a pipeline through Ploomber, in this process or in worker processes.

What every runner shares: the local runner (in-process, or `--jobs N` worker processes), the
isolated runner (a fresh process per task, isolated.py) and the Dask worker (worker.py) all run a
task with `execute_task` and report a failure as `TaskFailed`; `execute/build.py` decides what
runs and in which order, and never needs to know how.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from pathlib import Path


def quiet_imports() -> None:
    """Environment for a fast, offline Ploomber: no telemetry, no slow unused format checker."""
    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "true")
    # jsonschema only loads this IRI grammar (over a second of import) for a format nbformat's
    # notebook schema never uses; marking it unavailable makes jsonschema skip that checker.
    sys.modules.setdefault("rfc3987_syntax", None)


class LocalRunner:
    """Executes single tasks through Ploomber (imported only when something must run)."""

    def __init__(self, pipeline: Path, params: dict, jobs: int) -> None:
        self.pipeline, self.params, self.jobs = pipeline, params, jobs
        self.dag = None
        self.pool = None

    def built_dag(self):
        if self.dag is None:
            quiet_imports()
            from ploomber.spec import DAGSpec

            with _in_dir(self.pipeline), warnings.catch_warnings():
                # "placeholders declared but unused": env.yaml holds every parameter, tasks take some
                warnings.filterwarnings("ignore", category=UserWarning)
                spec = DAGSpec(str(self.pipeline / "pipeline.yaml"), env=self.params, lazy_import=False)
                self.dag = spec.to_dag()
                self.dag.render(force=True, show_progress=False)
        return self.dag

    def submit(self, name: str, env: dict | None = None):
        global _FORKED_DAG
        dag = self.built_dag()
        limits = limits_of(env)
        if limits:  # a process of its own, watched and killed when over a limit (limited.py)
            import multiprocessing

            from workbench.execute.limited import submit_limited

            _FORKED_DAG = dag
            return submit_limited(name, limits, multiprocessing.get_context("fork"), _execute_in_worker,
                                  (name, str(self.pipeline), env))
        if self.jobs <= 1:
            return execute_task(dag, name, self.pipeline, env)
        if env and env.get("WORKBENCH_DEVICE") == "gpu":
            # a fresh fork per GPU task: CUDA reads CUDA_VISIBLE_DEVICES once per process, so a
            # reused worker would keep the device of the first GPU task it ran
            return self._one_shot_pool().submit(_execute_in_worker, name, str(self.pipeline), env)
        if self.pool is None:
            import concurrent.futures
            import multiprocessing

            _FORKED_DAG = dag  # inherited by the forked workers
            self.pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("fork"))
        return self.pool.submit(_execute_in_worker, name, str(self.pipeline), env)

    def _one_shot_pool(self):
        import concurrent.futures
        import multiprocessing

        global _FORKED_DAG
        _FORKED_DAG = self.built_dag()
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
        self.one_shot = getattr(self, "one_shot", []) + [pool]
        return pool

    def wait(self, running: dict):
        import concurrent.futures

        if self.jobs <= 1:
            name, outcome = next(iter(running.items()))
            if isinstance(outcome, concurrent.futures.Future):  # a limited task's process
                return first_finished({name: outcome}, concurrent.futures.wait)
            return name, outcome

        return first_finished(running, concurrent.futures.wait)

    def close(self) -> None:
        for pool in [self.pool, *getattr(self, "one_shot", [])]:
            if pool is not None:
                pool.shutdown(wait=True)


_FORKED_DAG = None
LIMITS_VARIABLE = "WORKBENCH_LIMITS"  # the task's limits (JSON), in the env a runner gets for it


def limits_of(env: dict | None) -> dict:
    """The limits build put in a task's env ({memory_mb, timeout_s, cpus}; {} when it has none)."""
    import json

    text = (env or {}).get(LIMITS_VARIABLE)
    return json.loads(text) if text else {}


def first_finished(running: dict, wait) -> tuple[str, object]:
    """(task, result or the exception it raised) of the first of `running` (task -> future) to
    finish; `wait` is concurrent.futures.wait or distributed.wait (same signature)."""
    finished, _ = wait(list(running.values()), return_when="FIRST_COMPLETED")
    future = next(iter(finished))
    name = next(n for n, f in running.items() if f is future)
    try:
        return name, future.result()
    except BaseException as exc:  # noqa: BLE001 - reported as the task's failure
        return name, exc


def _execute_in_worker(name: str, pipeline: str, env: dict | None = None):
    outcome = execute_task(_FORKED_DAG, name, Path(pipeline), env)
    if isinstance(outcome, BaseException):
        raise TaskFailed(name, describe_failure(outcome))
    return outcome


class TaskFailed(Exception):
    """A task's failure, carried back from a worker process as text."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name, self.text = name, text

    def __reduce__(self):  # pickled back from a Dask worker
        return type(self), (self.name, self.text)


def describe_failure(exc: BaseException) -> str:
    cause = root_cause(exc) or exc
    return f"{type(cause).__name__}: {cause}"


_SHELLS: list = []


def _track_shells() -> None:
    """Remember the IPython shell ploomber-engine starts for each task, to release it after."""
    from ploomber_engine.ipython import PloomberShell

    if getattr(PloomberShell, "_workbench_tracked", False):
        return
    original = PloomberShell.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _SHELLS.append(self)

    PloomberShell.__init__ = init
    PloomberShell._workbench_tracked = True


def _release_shells() -> None:
    """Each shell registers exit handlers that run a full garbage collection over the whole heap
    (~0.2 s each at interpreter exit) and keeps a history thread: unregister and stop them once
    the task is done, so a run's cost does not grow at exit with its number of tasks."""
    import atexit

    while _SHELLS:
        shell = _SHELLS.pop()
        atexit.unregister(shell.atexit_operations)
        history = getattr(shell, "history_manager", None)
        thread = getattr(history, "save_thread", None)
        if thread is not None:
            atexit.unregister(thread.stop)
            thread.stop()


def execute_task(dag, name: str, pipeline: Path, env: dict | None = None):
    """(seconds, peak RSS MB, {gpu_memory_peak_mb, cpu_seconds}) or the exception the task raised.

    `env` (WORKBENCH_DEVICE, CUDA_VISIBLE_DEVICES: the task's device) is set while it runs."""
    import resource

    from workbench.runtime import devices

    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    on_gpu = (env or {}).get("WORKBENCH_DEVICE") == "gpu"
    if on_gpu:
        devices.reset_gpu_memory_peak()

    _track_shells()

    metrics = pipeline / ".workbench" / "metrics" / f"{name}.jsonl"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.unlink(missing_ok=True)
    os.environ["WORKBENCH_METRICS_FILE"] = str(metrics)
    started = time.perf_counter()
    cpu_started = cpu_seconds_now()
    exact_peak = _reset_peak_rss()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="ploomber")
            dag[name]._build(catch_exceptions=False)
    except Exception as exc:  # noqa: BLE001 - the task's own error, reported with its cell
        return exc
    finally:
        os.environ.pop("WORKBENCH_METRICS_FILE", None)
        _release_shells()
        capture = sys.modules.get("workbench.runtime.fit_capture")
        if capture is not None:  # a model task that failed mid-way leaves its fit watcher patched
            capture.stop_watching()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - started
    cpu = cpu_seconds_now() - cpu_started
    peak_mb = (_peak_rss_mb() if exact_peak else None) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = devices.gpu_memory_peak_mb() if on_gpu else None
    return seconds, round(peak_mb, 1), {"gpu_memory_peak_mb": gpu_peak, "cpu_seconds": round(cpu, 3)}


def cpu_seconds_now() -> float:
    """User + system CPU seconds of this process and of the children it waited for: the difference
    over a task is the CPU time it used (with the process's other threads, little beside a task)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process, so the peak read after a task is
    that task's even in a reused worker (ru_maxrss is the process's lifetime peak); False where
    Linux's /proc/self/clear_refs is not writable."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def _in_dir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def root_cause(exc: BaseException | None) -> BaseException | None:
    seen = set()
    last = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        last = exc
        exc = exc.__cause__ or exc.__context__
    if last is not None and type(last).__module__.startswith("ploomber"):
        return None
    return last
