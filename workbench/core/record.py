"""The run record: what one run was, as a typed, versioned value.

A record is written once per run (`.workbench/runs/<id>.json`) and read by `runs`, `diff`,
`checkout`, `lineage`, the gate, packaging, sweeps, the panel's history and MLflow logging. It stays
a plain JSON object (so old records, MLflow and the panel read it without Workbench's classes);
these TypedDicts say what it holds, and `check_record` is the one gate every record passes on its
way in from disk, so that a reader never meets a half-written or foreign file as a KeyError deep in
a command.

`schema` is `workbench.run/1`. Records written before it existed have the same shape and no
`schema`; they are read as version 1.
"""

from __future__ import annotations

from typing import Any, TypedDict

from workbench.core.errors import WorkbenchError

__all__ = ["RECORD_SCHEMA", "DataVersion", "RecordError", "RunRecord", "TaskRecord", "check_record"]

RECORD_SCHEMA = "workbench.run/1"


class TaskRecord(TypedDict, total=False):
    name: str
    status: str  # ran | skipped | failed | ...
    seconds: float
    peak_rss_mb: float | None
    notebook: str  # the executed task notebook
    device: str
    gpu_memory_peak_mb: float
    worker: str
    cpu_seconds: float  # user + system CPU time of the task's process while it ran
    gpu_seconds: float  # wall seconds x GPUs held (0 on the CPU)
    cost: float  # estimated from [tool.workbench.cost] (core/limits.py); absent without prices
    metrics: dict[str, float]
    made_by: str | None  # the run that made the products of a skipped task
    key: str | None  # its content key
    products: dict[str, Any]


class DataVersion(TypedDict, total=False):
    """How one path of the run was versioned (`record["versions"][path]`; provenance.data_versions).

    `via` says by what: "dvc" (DVC's `outs` entry fields: md5, size, nfiles, hash; `stage` for a
    dvc.yaml output), "git" (blob, commit, git_path, dirty), "lfs" (oid, lfs_size, and the pointer's
    blob and commit when git tracks it) or "hash" (sha256 of a file outside the project, which
    cannot be restored). `error` is set when that path could not be versioned.
    """

    via: str
    md5: str
    size: int
    nfiles: int
    hash: str
    stage: str
    blob: str | None
    commit: str | None
    git_path: str
    dirty: bool
    oid: str
    lfs_size: int
    sha256: str
    restorable: bool
    error: str


class RunRecord(TypedDict, total=False):
    schema: str
    id: str
    kind: str  # pipeline | notebook
    pipeline: str
    pipeline_dir: str | None
    notebook: str
    notebook_sha256: str
    started: float
    ended: float
    seconds: float
    status: str  # FINISHED | FAILED
    user: str
    params: dict[str, Any]
    metrics: dict[str, float]
    git: dict[str, Any]
    device: str
    workbench_version: str
    data: dict[str, Any]  # {path: its version's name (md5, git blob, LFS oid or sha256)}
    versions: dict[str, DataVersion]  # per path, how it was versioned (since the git/LFS layouts)
    dvc: dict[str, dict[str, Any]]  # DVC's entries of the paths DVC versions (what checkout restores)
    dvc_pushed: bool
    inputs: list[str]
    tasks: list[TaskRecord]
    usage: dict[str, Any]  # cpu_seconds, gpu_seconds, peak_rss_mb over the tasks; cost, currency, prices
    executed_notebook: str
    mlflow_run_id: str
    sweep_id: str


class RecordError(WorkbenchError):
    """A file where a run record should be that is not one Workbench can read."""


# What every record has had since the first release, and the JSON types of what records may hold.
REQUIRED = ("id", "pipeline", "status")
TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "kind": (str,), "pipeline": (str,), "notebook": (str,), "started": (int, float),
    "status": (str,), "params": (dict,), "metrics": (dict,), "tasks": (list,), "data": (dict,),
    "versions": (dict,),
}
# Filled in where older records lack them (kind and tasks came with reruns and per-task records).
DEFAULTS: dict[str, Any] = {"kind": "pipeline", "params": {}, "metrics": {}, "tasks": [], "data": {}}


def check_record(data: Any, where: str = "run record") -> RunRecord:
    """The record, checked (and an older one completed); RecordError naming `where` and the first
    thing wrong otherwise."""
    fix = "remove the file, or restore it from the MLflow run"
    if not isinstance(data, dict):
        raise RecordError(f"{where} is not a run record (a JSON object was expected)", hint=fix)
    schema = data.get("schema", RECORD_SCHEMA)
    if schema != RECORD_SCHEMA:
        raise RecordError(f"{where} is a run record of another version ({schema!r}; this Workbench reads "
                          f"{RECORD_SCHEMA!r})", hint="read it with the Workbench version that wrote it")
    for key in REQUIRED:
        if key not in data:
            raise RecordError(f"{where} lacks {key!r}", hint=fix)
    for key, value in DEFAULTS.items():
        data.setdefault(key, value if isinstance(value, str) else type(value)())
    for key, types in TYPES.items():
        if key in data and (not isinstance(data[key], types) or isinstance(data[key], bool)):
            raise RecordError(f"{where}: {key!r} is a {type(data[key]).__name__}, not a "
                              f"{' or '.join(t.__name__ for t in types)}", hint=fix)
    if "versions" not in data:  # records from before per-path versions: all their data went through DVC
        data["versions"] = {path: {"via": "dvc", **entry} for path, entry in (data.get("dvc") or {}).items()
                            if isinstance(entry, dict)}
    for i, task in enumerate(data["tasks"]):
        if not isinstance(task, dict) or not isinstance(task.get("name"), str):
            raise RecordError(f"{where}: task {i} has no name", hint=fix)
    return data  # type: ignore[return-value]
