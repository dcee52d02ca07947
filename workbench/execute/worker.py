"""What runs on a Dask worker: one task of a pipeline, and the probe the client sends first.

Kept apart from the client side (dask_runner.py) and the product store (product_store.py), which
both submit these functions, so that neither imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.execute.tasks import LocalRunner, TaskFailed, describe_failure, execute_task


def sees_pipeline(pipeline: str):
    """On a worker: True, or why it cannot run tasks of the pipeline at this path."""
    try:
        import workbench.execute.build  # noqa: F401 - the worker must be able to run tasks
    except ImportError as exc:
        return f"cannot import workbench ({exc})"
    return True if os.path.isfile(os.path.join(pipeline, "pipeline.yaml")) else "the folder is not there"


_DAGS: dict = {}


def run_task(pipeline: str, name: str, params: dict, env: dict):
    """On a worker: run one task; (seconds, peak RSS MB, {device, worker, gpu_memory_peak_mb})."""
    import json

    from distributed import get_worker

    from workbench.execute.scheduling import discover

    path = Path(pipeline)
    worker = get_worker().address
    device = "cpu"
    if env.get("WORKBENCH_DEVICE") == "gpu":
        found = discover()
        if found.gpus:
            device = found.gpus[0].label
        else:  # the worker declared a GPU it cannot use: the task falls back to NumPy
            env = {**env, "WORKBENCH_DEVICE": "cpu"}
    key = (pipeline, json.dumps(params, sort_keys=True, default=str), _sources_stamp(path))
    if key not in _DAGS:
        _DAGS.clear()
        _DAGS[key] = LocalRunner(path, params, 1).built_dag()
    outcome = execute_task(_DAGS[key], name, path, env)
    if isinstance(outcome, BaseException):
        raise TaskFailed(name, describe_failure(outcome))
    seconds, peak, info = outcome
    return seconds, peak, {**info, "device": device, "worker": worker}


def _sources_stamp(pipeline: Path) -> tuple:
    """Changes when the pipeline is re-exported: a cached DAG would run old task code."""
    files = [pipeline / "pipeline.yaml", pipeline / "env.yaml", *sorted((pipeline / "tasks").glob("*.py"))]
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
