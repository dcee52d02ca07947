"""Plans the API has already made, by notebook content.

The panel asks for a plan after every edit, from every open tab, and a server may have many users:
the same notebook content is planned again and again. Planning a 1,000-cell notebook is a fraction
of a second of pure-Python work that holds the GIL, so fifty such requests at once would queue for
seconds. The cache keys a plan by the notebook's path and the SHA-256 of its bytes (what the planner
reads, nothing else), keeps the reply already serialised, and lets concurrent requests for the same
key wait on one computation (single flight) instead of repeating it.

Plans that must be computed run in a small pool of worker processes (`PlanWorkers`), not in threads
of the server: a thread planning holds the server's GIL, and a burst of distinct notebooks would
stall every other request (file listings, kernels' messages) for seconds. In processes, the server
keeps answering and the plans use every core.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from workbench.core.errors import WorkbenchError


@dataclass(frozen=True)
class Outcome:
    """A plan as the reply body (JSON text), or the planning error as the API reports it."""

    body: str | None = None
    error: dict | None = None
    export_conflict: bool = False


class PlanCache:
    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._done: OrderedDict[tuple[str, str], Outcome] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Future] = {}
        self.hits = self.misses = 0

    @staticmethod
    def key(shown: str, raw: bytes, path: str | None = None) -> tuple[str, ...]:
        """The same bytes at the same path plan alike, until a trace of them is stored."""
        sha = hashlib.sha256(raw).hexdigest()
        if path is None:
            return shown, sha
        from workbench.workflows.targets import trace_file

        trace = trace_file(path, sha)
        return shown, sha, str(trace.stat().st_mtime_ns) if trace.is_file() else ""

    async def get(self, key: tuple[str, str], compute: Callable[[], Awaitable[Outcome]]) -> Outcome:
        if key in self._done:
            self._done.move_to_end(key)
            self.hits += 1
            return self._done[key]
        if key in self._pending:
            self.hits += 1
            return await asyncio.shield(self._pending[key])
        self.misses += 1
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            outcome = await compute()
        except BaseException as exc:  # not cached: a crash or a cancellation is not an answer
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(outcome)
        self._done[key] = outcome
        while len(self._done) > self.size:
            self._done.popitem(last=False)
        return outcome


def plan_outcome(raw: bytes, shown: str, path: str | None = None) -> Outcome:
    """Plan notebook bytes (in a worker process): the reply body, or the error it gets. With the
    notebook's `path`, the edges of its stored trace (`workbench trace`) are in the plan too."""
    from workbench.refactor.notebook import parse_notebook
    from workbench.refactor.planner import build_plan
    from workbench.workflows.targets import with_trace

    try:
        plan = build_plan(parse_notebook(raw, shown))
        if path is not None:
            plan = with_trace(plan, path)
    except WorkbenchError as exc:
        return Outcome(error=exc.to_dict())
    return Outcome(body=json.dumps({"plan": plan.to_dict()}, default=str))


def with_members(body: str, members: dict) -> str:
    """The serialised JSON object `body` with `members` added, without parsing it again: replies
    are cached serialised so that answering costs no JSON work on the server's event loop (a
    1,000-cell plan's loads and dumps take about 12 ms there, per request)."""
    if not members:
        return body
    head, extra = body.rstrip()[:-1].rstrip(), json.dumps(members)[1:-1]
    return f"{head}{'' if head == '{' else ', '}{extra}}}"


class PlanWorkers:
    """Worker processes for planning, started on first use (spawned: forking a server that runs
    threads is unsafe), replaced if one dies."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_warm)
        return self._pool

    async def plan(self, raw: bytes, shown: str, path: str | None = None) -> Outcome:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), plan_outcome, raw, shown, path)
        except BrokenProcessPool:  # a worker was killed (out of memory?): start afresh, once
            self._pool = None
            return await loop.run_in_executor(self._executor(), plan_outcome, raw, shown, path)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _warm() -> None:
    """Import the planner when a worker starts, not on the first request it serves."""
    import workbench.core.plan  # noqa: F401
