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
    metrics: dict[str, float]
    made_by: str | None  # the run that made the products of a skipped task
    key: str | None  # its content key
    products: dict[str, Any]


class DataVersion(TypedDict, total=False):
    """One versioned path (`record["data"][path]`)."""

    md5: str
    size: int
    tracked_by: str


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
    data: dict[str, Any]
    tasks: list[TaskRecord]
    executed_notebook: str
    mlflow_run_id: str
    sweep_id: str


class RecordError(WorkbenchError):
    """A file where a run record should be that is not one Workbench can read."""


# key -> the JSON types it may have (None allowed where a value may be absent)
REQUIRED: dict[str, tuple[type, ...]] = {
    "id": (str,), "kind": (str,), "pipeline": (str,), "notebook": (str,), "started": (int, float),
    "status": (str,), "params": (dict,), "metrics": (dict,), "tasks": (list,),
}


def check_record(data: Any, where: str = "run record") -> RunRecord:
    """The record, checked; RecordError naming `where` and the first thing wrong otherwise."""
    if not isinstance(data, dict):
        raise RecordError(f"{where} is not a run record (a JSON object was expected)",
                          hint="remove the file, or restore it from the MLflow run")
    schema = data.get("schema", RECORD_SCHEMA)
    if schema != RECORD_SCHEMA:
        raise RecordError(f"{where} is a run record of another version ({schema!r}; this Workbench reads "
                          f"{RECORD_SCHEMA!r})", hint="read it with the Workbench version that wrote it")
    for key, types in REQUIRED.items():
        if key not in data:
            raise RecordError(f"{where} lacks {key!r}", hint="remove the file, or restore it from the MLflow run")
        if not isinstance(data[key], types) or isinstance(data[key], bool):
            raise RecordError(f"{where}: {key!r} is a {type(data[key]).__name__}, not a "
                              f"{' or '.join(t.__name__ for t in types)}",
                              hint="remove the file, or restore it from the MLflow run")
    for i, task in enumerate(data["tasks"]):
        if not isinstance(task, dict) or not isinstance(task.get("name"), str):
            raise RecordError(f"{where}: task {i} has no name", hint="remove the file, or restore it from the MLflow run")
    return data  # type: ignore[return-value]
