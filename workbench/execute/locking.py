"""One build of a pipeline at a time.

Two `workbench run` of the same pipeline at once (two terminals, a double click in the panel, a CI
job beside a person) would write the same products and the same state. The second one waits for
the first, saying so, then finds the products the first one made (and usually has nothing left to
do); after `WORKBENCH_LOCK_TIMEOUT` seconds (default 600) it gives up with a clear error.

The lock is an `flock` on `<pipeline>/.workbench/lock`: the kernel releases it when the holder
exits, however it exits (SIGKILL included), so a crashed run never leaves a stale lock behind. The
file says who holds it, for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from workbench.core.errors import RunError
from workbench.core.events import EventHandler, Message

DEFAULT_TIMEOUT = 600.0


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("started", 0)))
    return f"pid {info.get('pid', '?')} ({info.get('command', 'workbench')}, since {since})"


@contextlib.contextmanager
def pipeline_lock(pipeline: Path, on_event: EventHandler | None = None,
                  timeout: float | None = None) -> Iterator[None]:
    """Hold the pipeline's build lock; while another process holds it, wait (a Message says so)."""
    if timeout is None:
        timeout = float(os.environ.get("WORKBENCH_LOCK_TIMEOUT", DEFAULT_TIMEOUT))
    folder = pipeline / ".workbench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_event:
                on_event(Message(f"waiting: {_holder(path)} is building {pipeline} (at most {timeout:.0f}s)"))
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(0.2)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunError(
                            f"{pipeline} is being built by {_holder(path)}; gave up after {timeout:.0f}s",
                            hint="wait for that run to finish (or stop it), then run again; "
                                 "WORKBENCH_LOCK_TIMEOUT sets how long to wait",
                        ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": time.time(),
                                  "command": "workbench run"}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
