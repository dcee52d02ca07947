"""Typed events for long work: what `run`, `verify`, `rerun` and `package` report while they work.

The Python API takes an `on_event` callback (`Callable[[Event], None]`, as nbclient takes hooks);
the CLI prints events as text, or with `--events jsonl` writes one JSON object per line to stdout
(`event.to_dict()`), which is what the server's jobs and the panel read. Nobody parses text back.

Every event's dict has `"event"` (its kind, below) and its fields; `from_dict` is the inverse, and
an unknown kind (a newer Workbench) becomes a `Message`, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "EVENTS_SCHEMA", "Event", "EventHandler", "Message", "PackageFinished", "RunFinished", "TaskFailed",
    "TaskFinished", "TaskSkipped", "TaskStarted", "VerifyFinished", "VerifyRow", "from_dict",
]

EVENTS_SCHEMA = "workbench.events/1"


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Message(Event):
    """Progress in words: 'running the notebook through papermill', a warning, a waiting lock."""

    kind: ClassVar[str] = "message"
    text: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class TaskStarted(Event):
    kind: ClassVar[str] = "task_started"
    task: str
    why: str = ""  # why it runs: "never run", "code changed", "upstream load changed", ...


@dataclass(frozen=True)
class TaskFinished(Event):
    kind: ClassVar[str] = "task_finished"
    task: str
    seconds: float
    peak_memory_mb: float | None = None
    device: str | None = None


@dataclass(frozen=True)
class TaskSkipped(Event):
    kind: ClassVar[str] = "task_skipped"
    task: str
    reason: str = "up to date"


@dataclass(frozen=True)
class TaskFailed(Event):
    kind: ClassVar[str] = "task_failed"
    task: str
    error: str
    cell: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    run_id: str | None
    status: str  # FINISHED | FAILED | UP_TO_DATE
    ran: list[str] = field(default_factory=list)
    tasks: int = 0
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    products: str | None = None  # the products folder
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class VerifyRow(Event):
    """One compared value: full detail, never cut (the panel and the HTML report show it whole)."""

    kind: ClassVar[str] = "verify_row"
    task: str
    name: str
    verdict: str  # equal | DIFFERENT | missing | not comparable | volatile | ...
    detail: str = ""


@dataclass(frozen=True)
class VerifyFinished(Event):
    kind: ClassVar[str] = "verify_finished"
    ok: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)  # verdict -> number of values


@dataclass(frozen=True)
class PackageFinished(Event):
    kind: ClassVar[str] = "package_finished"
    model: str
    folder: str
    version: str | None = None  # the registered version
    flavor: str | None = None
    files: list[str] = field(default_factory=list)


EventHandler = Callable[[Event], None]

KINDS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    Message, TaskStarted, TaskFinished, TaskSkipped, TaskFailed, RunFinished, VerifyRow, VerifyFinished,
    PackageFinished)}


def from_dict(data: dict[str, Any]) -> Event:
    cls = KINDS.get(data.get("event", ""))
    if cls is None:
        return Message(text=str(data), level="info")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
