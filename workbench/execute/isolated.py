"""Each task in a fresh process of its own (`workbench run --isolated`, `build(isolated=True)`).

In-process runs share one interpreter between tasks: what a task leaves behind (os.environ,
sys.path, the working directory, pyplot's figures and backend, library options) is still there
for the next one, and can hide a dependency the plan lacks, one that fails only when a task runs
alone, as an incremental rerun runs it. Here every task runs in a new process that builds
Ploomber's DAG and runs that one task through ploomber-engine exactly as the in-process runner
does (build.execute_task); the process ends with the task (`max_tasks_per_child=1`), so nothing
of one task survives into the next.

The processes come from a forkserver whose server only imports libraries (Ploomber,
ploomber-engine, IPython: seconds of import each time otherwise) and never runs notebook code:
a task's process starts with no state of any task. `--jobs N` runs N such processes at once.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
from pathlib import Path

PRELOAD = ["workbench.execute.isolated", "workbench.execute.build", "ploomber.spec", "ploomber_engine.ipython"]


class IsolatedRunner:
    """The runner interface of build.LocalRunner (submit, wait, close), a fresh process per task."""

    def __init__(self, pipeline: Path, params: dict, jobs: int) -> None:
        self.pipeline, self.params = Path(pipeline), params
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # ignored when this process already started one
        self.context = context
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=max(1, jobs), mp_context=context, max_tasks_per_child=1)

    def submit(self, name: str, env: dict | None = None):
        from workbench.execute.tasks import limits_of

        limits = limits_of(env)
        if limits:  # its own process from the same forkserver, watched (limited.py)
            from workbench.execute.limited import submit_limited

            return submit_limited(name, limits, self.context, run_task,
                                  (str(self.pipeline), name, self.params, env))
        return self.pool.submit(run_task, str(self.pipeline), name, self.params, env)

    def wait(self, running: dict):
        from workbench.execute.tasks import first_finished

        return first_finished(running, concurrent.futures.wait)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def dag_of(pipeline: Path, params: dict):
    """Ploomber's DAG of the pipeline, rendered, as build.LocalRunner makes it."""
    import warnings

    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "true")
    sys.modules.setdefault("rfc3987_syntax", None)  # see build.py: a slow import nothing here uses
    from ploomber.spec import DAGSpec

    old = os.getcwd()
    os.chdir(pipeline)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            dag = DAGSpec(str(pipeline / "pipeline.yaml"), env=params, lazy_import=False).to_dag()
            dag.render(force=True, show_progress=False)
    finally:
        os.chdir(old)
    return dag


def run_task(pipeline: str, name: str, params: dict, env: dict | None = None):
    """In the task's own process: (seconds, peak RSS MB, extra), or raises build.TaskFailed."""
    from workbench.execute.tasks import TaskFailed, describe_failure, execute_task

    try:
        outcome = execute_task(dag_of(Path(pipeline), params), name, Path(pipeline), env)
    except Exception as exc:  # noqa: BLE001 - the DAG did not load: reported as the task's failure
        outcome = exc
    if isinstance(outcome, BaseException):
        raise TaskFailed(name, describe_failure(outcome))
    return outcome
