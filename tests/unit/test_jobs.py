"""A job's state as the panel reads it (workbench.lab.server.jobs.Job), without a server."""

from __future__ import annotations

from pathlib import Path

from workbench.lab.server.jobs import Job


def job() -> Job:
    return Job("j1", "run", "nb.ipynb", {}, False, Path("."), None,
               tasks={"a": "pending", "b": "pending", "c": "pending"})


def test_a_cancel_shows_at_once_on_the_job_and_its_unfinished_tasks():
    """The panel stops polling once the job is no longer running: the tasks must say cancelled
    from that moment, not only when the job's processes are gone (seconds later on a busy machine,
    when nobody looks any more: CI saw 'running', 'pending' under a cancelled job)."""
    j = job()
    j.on_event({"event": "task_finished", "task": "a", "seconds": 1.0})
    j.on_event({"event": "task_started", "task": "b", "why": "never ran"})
    j.request_cancel()
    assert j.status == "cancelled"
    assert j.tasks == {"a": "done", "b": "cancelled", "c": "cancelled"}
    j.on_event({"event": "task_started", "task": "c", "why": "never ran"})  # raced the signal
    assert j.tasks["c"] == "cancelled"
    j.finish(-15)
    assert j.status == "cancelled" and j.tasks == {"a": "done", "b": "cancelled", "c": "cancelled"}
