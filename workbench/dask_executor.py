"""`workbench run --executor dask`: the same build, with each task executed on a Dask worker.

What runs, and when, is still decided by `run.build` (content keys, dependency order, the state
file, the result the CLI records, versions and tracks): this module only replaces the local runner.
A task is submitted when its upstream tasks have finished; a GPU task is submitted with
`resources={"GPU": n}`, so the Dask scheduler only places it on a worker started with
`--resources GPU=n`. Workers read and write the products in the pipeline's own folder, so that
folder must be on storage every worker reaches at the same path (a shared filesystem): this is
checked before anything runs. Each worker builds the Ploomber DAG once per pipeline and parameters
and runs the task in its own process, as the local runner does.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.plan import Plan
from workbench.run import RunResult, build, first_finished

NO_GPU_WORKER = ("no Dask worker declares a GPU resource (start one with "
                 "`dask worker ADDRESS --resources GPU=1`)")


class DaskError(WorkbenchError):
    """The Dask cluster cannot run this pipeline (unreachable, workers that cannot see it)."""


def build_on_dask(pipeline: Path, plan: Plan, params: dict, *, scheduler: str | None = None,
                  force: bool = False, progress=None, run_id: str | None = None,
                  require_gpu: bool = False) -> RunResult:
    """`run.build` on a Dask cluster: the one at `scheduler`, or a LocalCluster started for the run."""
    from workbench.scheduling import Placement, discover, effective_needs

    say = progress or (lambda line: None)
    client, cluster = _connect(scheduler, plan, say)
    try:
        workers = client.scheduler_info()["workers"]
        _check_workers(client, pipeline, workers)
        most = max((w.get("resources", {}).get("GPU", 0) for w in workers.values()), default=0)
        reason = NO_GPU_WORKER if cluster is None else discover().reason or NO_GPU_WORKER
        needs, warnings = effective_needs({t.name: t.gpu for t in plan.tasks}, int(most),
                                          require=require_gpu, reason=reason)
        for line in warnings:
            say(line)
        placement = Placement(needs, [], limit=False)
        slots = sum(w.get("nthreads", 1) for w in workers.values())
        runner = DaskRunner(client, pipeline, params, placement)
        return build(pipeline, plan, params, force=force, jobs=max(2, slots), progress=progress,
                     run_id=run_id, runner=runner, placement=placement)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(scheduler: str | None, plan: Plan, say):
    """(client, the LocalCluster this run started or None)."""
    import logging

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        try:
            return Client(scheduler, timeout=15), None
        except (OSError, TimeoutError) as exc:
            raise DaskError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                            hint="start one with `dask scheduler` (it prints its address) and workers with "
                            "`dask worker ADDRESS`, or leave out --scheduler to use a local cluster") from None
    from workbench.scheduling import discover

    gpus = discover().gpus if any(t.gpu for t in plan.tasks) else []
    # one worker per GPU, each declaring it; without GPUs two single-threaded workers
    n = len(gpus) or 2
    say(f"starting a local Dask cluster ({n} worker(s){', GPU=1 each' if gpus else ''})")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           resources={"GPU": 1} if gpus else None)
    return Client(cluster), cluster


def _check_workers(client, pipeline: Path, workers: dict) -> None:
    """Every worker must import Workbench and see the pipeline folder at the same path."""
    if not workers:
        raise DaskError("the Dask cluster has no workers",
                        hint="start workers with `dask worker SCHEDULER_ADDRESS` (add --resources GPU=1 on GPU machines)")
    seen = client.run(_worker_sees, str(pipeline.resolve()))
    blind = sorted(addr for addr, ok in seen.items() if ok is not True)
    if blind:
        raise DaskError(
            f"Dask worker(s) {', '.join(blind)} cannot use {pipeline}: {seen[blind[0]]}",
            hint="products live in the pipeline's folder: put the project on a filesystem every worker "
            "mounts at the same path, and start the workers from an environment with Workbench installed")


def _worker_sees(pipeline: str):
    try:
        import workbench.run  # noqa: F401 - the worker must be able to run tasks
    except ImportError as exc:
        return f"cannot import workbench ({exc})"
    return True if os.path.isfile(os.path.join(pipeline, "pipeline.yaml")) else "the folder is not there"


class DaskRunner:
    """run.build's runner interface (submit, wait, close) over a Dask client."""

    def __init__(self, client, pipeline: Path, params: dict, placement) -> None:
        self.client, self.pipeline, self.params, self.placement = client, pipeline.resolve(), params, placement

    def submit(self, name: str, env: dict | None = None):
        n = self.placement.need(name)
        return self.client.submit(run_task, str(self.pipeline), name, self.params, env or {},
                                  key=f"workbench-{name}-{uuid.uuid4().hex[:8]}", pure=False,
                                  resources={"GPU": n} if n else None)

    def wait(self, running: dict):
        from distributed import wait

        return first_finished(running, wait)

    def close(self) -> None:
        pass


_DAGS: dict = {}


def run_task(pipeline: str, name: str, params: dict, env: dict):
    """On a worker: run one task; (seconds, peak RSS MB, {device, worker, gpu_memory_peak_mb})."""
    import json

    from distributed import get_worker

    from workbench import run
    from workbench.scheduling import discover

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
        _DAGS[key] = run._Runner(path, params, 1)._dag()
    outcome = run._execute(_DAGS[key], name, path, env)
    if isinstance(outcome, BaseException):
        raise run._Failed(name, run._describe(outcome))
    seconds, peak, info = outcome
    return seconds, peak, {**info, "device": device, "worker": worker}


def _sources_stamp(pipeline: Path) -> tuple:
    """Changes when the pipeline is re-exported: a cached DAG would run old task code."""
    files = [pipeline / "pipeline.yaml", pipeline / "env.yaml", *sorted((pipeline / "tasks").glob("*.py"))]
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
