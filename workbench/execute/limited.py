"""A task under limits (`memory:`, `timeout:`, `cpus:` tags): its own process, watched from here.

A limit can only be enforced on something that can be stopped whatever it is doing (a cell in a
C loop or a `time.sleep` ignores exceptions raised at it), so a limited task never runs in the
build's process or a reused pool worker: it gets a fresh process of its own (forked, or from the
isolated runner's forkserver), in a process group of its own, and a thread here polls the group's
resident memory every 0.1 s and its age, and kills the whole group with SIGKILL once it is over a
limit. The failure names the task, the limit and what it used. `cpus:N` pins the process to N of
the CPUs this process may use (sched_setaffinity) and caps the thread pools of BLAS/OpenMP
(environment variables for libraries still to load, threadpoolctl for those already loaded).

Resident memory, not RLIMIT_AS: address space is not memory (CUDA, OpenBLAS and glibc arenas
reserve gigabytes they never touch), so an address-space limit fails tasks well under their
memory. The price is that a task allocating very fast may pass its limit by what it allocates in
0.1 s before it is stopped.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time

from workbench.core.limits import format_limits
from workbench.execute.tasks import TaskFailed

POLL_S = 0.1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "POLARS_MAX_THREADS")


class LimitExceeded(TaskFailed):
    """A task stopped because it went over one of its limits (the text says which and by how much)."""


def submit_limited(name: str, limits: dict, context, target, args: tuple) -> concurrent.futures.Future:
    """Run `target(*args)` (a runner's task function) in a new process of `context` under `limits`;
    the Future gets its result, its exception, or LimitExceeded."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_limited_child, args=(send, name, limits, target, args), name=f"workbench-{name}")
    process.start()
    send.close()
    threading.Thread(target=_watch, args=(future, process, receive, name, limits), daemon=True,
                     name=f"workbench-limits-{name}").start()
    return future


def apply_cpus(cpus: int) -> None:
    """In the task's own process: at most `cpus` CPUs, and thread pools no larger."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:cpus])
    n = str(min(cpus, len(allowed)))
    for variable in THREAD_VARIABLES:
        os.environ[variable] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(n))


def _limited_child(send, name: str, limits: dict, target, args: tuple) -> None:
    os.setpgid(0, 0)  # a group of its own: the watcher kills what the task started too
    if limits.get("cpus"):
        apply_cpus(int(limits["cpus"]))
    try:
        outcome = ("ok", target(*args))
    except BaseException as exc:  # noqa: BLE001 - sent back as the task's failure
        outcome = ("error", exc if isinstance(exc, TaskFailed) else TaskFailed(name, f"{type(exc).__name__}: {exc}"))
    try:
        send.send(outcome)
    finally:
        send.close()


def _group_rss(pid: int) -> int:
    """Bytes resident in the process and its descendants (0 once it is gone)."""
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def _watch(future, process, receive, name: str, limits: dict) -> None:
    started = time.monotonic()
    memory = limits.get("memory_mb")
    timeout = limits.get("timeout_s")
    peak = 0
    try:
        while True:
            if receive.poll(POLL_S):
                try:
                    kind, value = receive.recv()
                except (EOFError, OSError):
                    break  # died while sending: reported below
                process.join()
                if kind == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(value)
                return
            if not process.is_alive():
                break
            rss = _group_rss(process.pid)
            peak = max(peak, rss)
            elapsed = time.monotonic() - started
            if memory and rss > memory * 2**20:
                _kill(process)
                future.set_exception(LimitExceeded(name, (
                    f"MemoryLimitExceeded: task {name!r} used {rss / 2**20:.0f} MB of memory, over its limit "
                    f"memory:{memory}M; it was stopped after {elapsed:.1f} s")))
                return
            if timeout and elapsed > timeout:
                _kill(process)
                future.set_exception(LimitExceeded(name, (
                    f"TimeoutExceeded: task {name!r} ran for {elapsed:.1f} s, over its limit timeout:{timeout:g}s "
                    f"(peak memory {peak / 2**20:.0f} MB); it was stopped")))
                return
        process.join()
        future.set_exception(TaskFailed(name, (
            f"task {name!r} (limits {format_limits(limits)}) ended without a result: its process exited with "
            f"{_exit_text(process.exitcode)}")))
    except BaseException as exc:  # noqa: BLE001 - the watcher itself must never leave the future pending
        _kill(process)
        if not future.done():
            future.set_exception(TaskFailed(name, f"watching its limits failed: {type(exc).__name__}: {exc}"))
    finally:
        receive.close()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def _kill(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            process.kill()
        except (ProcessLookupError, AttributeError):
            pass
    process.join(timeout=10)
