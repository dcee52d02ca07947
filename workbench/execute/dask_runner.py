"""`workbench run --executor dask`: the same build, with each task executed on a Dask worker.

What runs, and when, is still decided by `run.build` (content keys, dependency order, the state
file, the result the CLI records, versions and tracks): this module only replaces the local runner.
A task is submitted when its upstream tasks have finished; a GPU task is submitted with
`resources={"GPU": n}`, so the Dask scheduler only places it on a worker started with
`--resources GPU=n`. Products are exchanged in one of two ways, both checked before anything runs:
- by default workers read and write the pipeline's own folder, which must be on a filesystem every
  worker mounts at the same path;
- with `products=URL` (an fsspec URL or a path) workers need no shared folder: each task runs in a
  scratch copy of the project on its worker and its inputs and products go through the store
  (product_store.py), the client bringing every finished task's products home.
Each worker builds the Ploomber DAG once per pipeline and parameters and runs the task in its own
process, as the local runner does.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.plan import Plan
from workbench.execute import worker
from workbench.execute.build import RunResult, build
from workbench.execute.tasks import TaskFailed, first_finished

NO_GPU_WORKER = ("no Dask worker declares a GPU resource (start one with "
                 "`dask worker ADDRESS --resources GPU=1`)")


class DaskError(WorkbenchError):
    """The Dask cluster cannot run this pipeline (unreachable, workers that cannot see it)."""


def build_on_dask(pipeline: Path, plan: Plan, params: dict, *, scheduler: str | None = None,
                  force: bool = False, on_event=None, run_id: str | None = None,
                  require_gpu: bool = False, products: str | None = None) -> RunResult:
    """`run.build` on a Dask cluster: the one at `scheduler`, or a LocalCluster started for the run;
    products exchanged through the pipeline folder, or through the store at `products`."""
    from workbench.core.events import say as messages
    from workbench.execute.scheduling import Placement, discover, effective_needs

    say = messages(on_event) or (lambda line: None)
    store = None
    if products:
        from workbench.execute.product_store import ProductStore

        store = ProductStore(products, pipeline, plan, params, run_id)
    client, cluster = _connect(scheduler, plan, say)
    try:
        workers = client.scheduler_info()["workers"]
        if not workers:
            raise DaskError("the Dask cluster has no workers", hint="start workers with `dask worker "
                            "SCHEDULER_ADDRESS` (add --resources GPU=1 on GPU machines)")
        if store is None:
            _check_workers(client, pipeline)
        else:
            _check_store(client, store)
        most = max((w.get("resources", {}).get("GPU", 0) for w in workers.values()), default=0)
        reason = NO_GPU_WORKER if cluster is None else discover().reason or NO_GPU_WORKER
        needs, warnings = effective_needs({t.name: t.gpu for t in plan.tasks}, int(most),
                                          require=require_gpu, reason=reason)
        for line in warnings:
            say(line)
        placement = Placement(needs, [], limit=False)
        slots = sum(w.get("nthreads", 1) for w in workers.values())
        reserve, warnings = limit_resources(plan, [w.get("resources", {}) for w in workers.values()])
        for line in warnings:
            say(line)
        runner = DaskRunner(client, pipeline, params, placement, store, reserve)
        return build(pipeline, plan, params, force=force, jobs=max(2, slots), on_event=on_event,
                     run_id=run_id, runner=runner, placement=placement)
    finally:
        if store is not None:
            from workbench.execute.product_store import forget_scratch

            store.discard()
            try:
                client.run(forget_scratch, store.scope)
            except Exception:  # noqa: BLE001 - a worker that left takes its scratch folder along
                pass
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
    from workbench.execute.scheduling import discover

    gpus = discover().gpus if any(t.gpu for t in plan.tasks) else []
    # one worker per GPU, each declaring it; without GPUs two single-threaded workers
    n = len(gpus) or 2
    say(f"starting a local Dask cluster ({n} worker(s){', GPU=1 each' if gpus else ''})")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL,  # a failing task is reported once, by the run
                           resources={"GPU": 1} if gpus else None)
    return Client(cluster), cluster


def _check_workers(client, pipeline: Path) -> None:
    """Every worker must import Workbench and see the pipeline folder at the same path."""
    seen = client.run(worker.sees_pipeline, str(pipeline.resolve()))
    blind = sorted(addr for addr, ok in seen.items() if ok is not True)
    if blind:
        raise DaskError(
            f"Dask worker(s) {', '.join(blind)} cannot use {pipeline}: {seen[blind[0]]}",
            hint="products live in the pipeline's folder: put the project on a filesystem every worker "
            "mounts at the same path, and start the workers from an environment with Workbench installed")


def _check_store(client, store) -> None:
    """Every worker must import Workbench and read what this machine writes to the store."""
    from workbench.execute.product_store import worker_reads

    path, token = store.probe()
    seen = client.run(worker_reads, store.url, path, token)
    blind = sorted(addr for addr, ok in seen.items() if ok is not True)
    if blind:  # the probe goes with the run's folder in the store (build_on_dask's finally)
        raise DaskError(
            f"Dask worker(s) {', '.join(blind)} cannot use the product store {store.url}: {seen[blind[0]]}",
            hint="give every worker the store's fsspec backend (e.g. s3fs) and its credentials, and "
            "Workbench itself; a path must be one every worker mounts")


# A task's limit tag -> the Dask worker resource it reserves, and that resource's amount.
RESOURCES = {"memory_mb": ("memory", lambda mb: mb * 2**20), "cpus": ("cpus", lambda n: n)}


def limit_resources(plan: Plan, declared: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """({task: {resource: amount}}, warnings): the `memory` (bytes) and `cpus` resources each
    limited task reserves on the cluster. Dask holds a task that asks for a resource no worker has
    forever, so a limit the workers do not declare (or no worker has enough of) is not asked for,
    and the run says so; `timeout:` is not enforced on Dask (a worker's thread cannot be stopped)."""
    reserve: dict[str, dict] = {}
    warnings = []
    for task in plan.tasks:
        limits = task.limits()
        for limit, (resource, amount) in RESOURCES.items():
            if limit not in limits:
                continue
            need = amount(limits[limit])
            most = max((float(r.get(resource, 0)) for r in declared), default=0.0)
            if most <= 0:
                warnings.append(f"task {task.name!r}: no Dask worker declares a `{resource}` resource, so its "
                                f"{limit.split('_')[0]} limit is not reserved (start workers with `dask worker "
                                f"ADDRESS --resources {resource}=N`)")
            elif most < need:
                warnings.append(f"task {task.name!r}: asks {resource}={need:g} but the largest worker declares "
                                f"{resource}={most:g}; it runs without the reservation")
            else:
                reserve.setdefault(task.name, {})[resource] = need
        if "timeout_s" in limits:
            warnings.append(f"task {task.name!r}: its timeout is not enforced on Dask (it is in local runs)")
    return reserve, warnings


class DaskRunner:
    """run.build's runner interface (submit, wait, close) over a Dask client."""

    def __init__(self, client, pipeline: Path, params: dict, placement, store=None,
                 reserve: dict[str, dict] | None = None) -> None:
        self.client, self.pipeline, self.params, self.placement = client, pipeline.resolve(), params, placement
        self.store = store
        self.reserve = reserve or {}

    def submit(self, name: str, env: dict | None = None):
        n = self.placement.need(name)
        resources = {**({"GPU": n} if n else {}), **self.reserve.get(name, {})}
        options = dict(key=f"workbench-{name}-{uuid.uuid4().hex[:8]}", pure=False,
                       resources=resources or None)
        if self.store is None:
            return self.client.submit(worker.run_task, str(self.pipeline), name, self.params, env or {}, **options)
        from workbench.execute.product_store import run_task_from_store

        store = self.store
        try:
            needs = store.publish(name)
        except Exception as exc:  # noqa: BLE001 - reported as the task's failure
            return _failed_future(self.client, name, f"cannot upload its inputs to {store.url}: {exc}")
        return self.client.submit(run_task_from_store, store.url, store.scope, store.sources,
                                  (store.pipeline_rel, store.notebook_rel),
                                  name, self.params, env or {}, needs, store.outputs(name), **options)

    def wait(self, running: dict):
        from distributed import wait

        name, outcome = first_finished(running, wait)
        if self.store is not None:
            if isinstance(outcome, BaseException):
                self.store.fetch_failure(name)
            else:
                seconds, peak, info = outcome
                info = dict(info)
                try:
                    self.store.fetch(name, info.pop("stored", []))
                except Exception as exc:  # noqa: BLE001 - its products did not arrive: the task failed
                    return name, TaskFailed(name, f"cannot download its products from {self.store.url}: {exc}")
                outcome = seconds, peak, info
        return name, outcome

    def close(self) -> None:
        pass


def _failed_future(client, name: str, text: str):
    return client.submit(_raise_failed, name, text, key=f"workbench-{name}-{uuid.uuid4().hex[:8]}", pure=False)


def _raise_failed(name: str, text: str):
    raise TaskFailed(name, text)
