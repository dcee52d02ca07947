"""Typed events for long work: what `run`, `verify`, `rerun` and `package` report while they work.

The Python API takes an `on_event` callback (`Callable[[Event], None]`, as nbclient takes hooks);
the CLI prints events as text, or with `--events jsonl` writes one JSON object per line to stdout
(`event.to_dict()`), which is what the server's jobs and the panel read. Nobody parses text back.

Every event's dict has `"event"` (its kind, below), `"status"` and its fields; `from_dict` is the
inverse, and an unknown kind (a newer Workbench) becomes a `Message`, never an error. `"status"` is
the state a task event puts its task in (task_started: running, task_finished: done, task_skipped:
up to date, task_failed: failed: the words of the server's `job.tasks`), the run's status for
run_finished, the verdict for verify_row, and null for the others.

`text(event)` is the line the CLI prints on stderr for an event (None: nothing), `say(on_event)`
adapts an `on_event` callback to the older `progress(str)` callbacks (each line a Message).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "EVENTS_SCHEMA", "Event", "EventHandler", "Message", "PackageFinished", "RunFinished", "ScoreFinished",
    "ScoreProgress", "TaskFailed", "TaskFinished", "TaskSkipped", "TaskStarted", "VerifyFinished", "VerifyRow",
    "from_dict", "say", "text",
]

EVENTS_SCHEMA = "workbench.events/1"


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    state: ClassVar[str | None] = None  # the dict's "status" (a field named status wins)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "status": self.state, **asdict(self)}


@dataclass(frozen=True)
class Message(Event):
    """Progress in words: 'running the notebook through papermill', a warning, a waiting lock."""

    kind: ClassVar[str] = "message"
    text: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True)
class TaskStarted(Event):
    kind: ClassVar[str] = "task_started"
    state: ClassVar[str | None] = "running"
    task: str
    why: str = ""  # why it runs: "never run", "code changed", "upstream load changed", ...


@dataclass(frozen=True)
class TaskFinished(Event):
    kind: ClassVar[str] = "task_finished"
    state: ClassVar[str | None] = "done"
    task: str
    seconds: float
    peak_memory_mb: float | None = None
    device: str | None = None


@dataclass(frozen=True)
class TaskSkipped(Event):
    kind: ClassVar[str] = "task_skipped"
    state: ClassVar[str | None] = "up to date"
    task: str
    reason: str = "up to date"


@dataclass(frozen=True)
class TaskFailed(Event):
    kind: ClassVar[str] = "task_failed"
    state: ClassVar[str | None] = "failed"
    task: str
    error: str  # the exception, "ZeroDivisionError: division by zero"
    cell: int | None = None  # the notebook cell (index) that raised, when known
    line: int | None = None
    message: str = ""  # the whole error as the CLI prints it after `error: `


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
    verdict: str  # equal | different | not comparable | volatile | ... (verify's result column)
    detail: str = ""
    dtype: str | None = None  # verify --devices: the tolerance the value was compared with
    compared: str = "value"  # value: a product, value by value; output: what a cell displayed

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "status": self.verdict}


@dataclass(frozen=True)
class VerifyFinished(Event):
    kind: ClassVar[str] = "verify_finished"
    ok: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)  # verdict -> number of values
    executed_notebook: str | None = None


@dataclass(frozen=True)
class PackageFinished(Event):
    kind: ClassVar[str] = "package_finished"
    model: str
    folder: str
    version: str | None = None  # the registered version
    flavor: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScoreProgress(Event):
    """`workbench score`: a chunk was scored and written (the CLI draws its progress bar from these)."""

    kind: ClassVar[str] = "score_progress"
    rows: int                      # rows scored so far
    chunks: int
    seconds: float
    total_rows: int | None = None  # known up front for Parquet inputs only


@dataclass(frozen=True)
class ScoreFinished(Event):
    kind: ClassVar[str] = "score_finished"
    model: str
    output: str
    rows: int
    chunks: int
    seconds: float
    rows_per_s: float
    log: str | None = None         # the request log the rows went to (None: not logged)


EventHandler = Callable[[Event], None]

KINDS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    Message, TaskStarted, TaskFinished, TaskSkipped, TaskFailed, RunFinished, VerifyRow, VerifyFinished,
    PackageFinished, ScoreProgress, ScoreFinished)}


def from_dict(data: dict[str, Any]) -> Event:
    cls = KINDS.get(data.get("event", ""))
    if cls is None:
        return Message(text=str(data), level="info")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def text(event: Event) -> str | None:
    """The line the CLI prints on stderr for `event` (None: it prints nothing for it): the same lines
    `workbench run` printed before events existed."""
    if isinstance(event, Message):
        return event.text if event.level == "info" else f"{event.level}: {event.text}"
    if isinstance(event, TaskStarted):
        return f"running {event.task} ({event.why})"
    if isinstance(event, TaskFinished):
        return f"  {event.task} done in {event.seconds:.2f}s"
    return None


def say(on_event: EventHandler | None, level: str = "info") -> Callable[[str], None] | None:
    """A `progress(str)` callback (as lower layers take) that sends each line on as a Message."""
    if on_event is None:
        return None
    return lambda line: on_event(Message(text=line, level=level))
