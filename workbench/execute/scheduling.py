"""Which device each task runs on: GPU discovery and the allocation of GPU slots.

A task tagged `gpu` (or `gpu:N`) asks for N GPUs. A run places it on N free devices by setting
`CUDA_VISIBLE_DEVICES` for that task only, so that no two tasks share a device and never more GPU
tasks run at once than devices exist; CPU tasks keep running beside them (`--jobs`). Where no GPU
is usable the GPU tasks run on the CPU with one warning, or, with `--require-gpu`, the run stops
before any task starts. The allocation is pure (device ids in, device ids out) so that it can be
tested with any number of fake devices; discovery is the only part that looks at the machine, and
it never imports a CUDA library into the calling process (a forked worker must not inherit an
initialised CUDA context): `CUDA_VISIBLE_DEVICES`, then `nvidia-smi`, then CuPy in a subprocess.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from workbench.core.errors import WorkbenchError

HIDDEN = {"", "-1", "none", "NoDevFiles"}


class GpuRequiredError(WorkbenchError):
    """`--require-gpu` where the GPU tasks cannot all get the GPUs they ask for."""


@dataclass(frozen=True)
class Gpu:
    id: str  # what goes into CUDA_VISIBLE_DEVICES: an index or a UUID
    name: str = "GPU"

    @property
    def label(self) -> str:
        index = self.id if self.id.isdigit() else self.id[:12]
        return f"cuda:{index} ({self.name})"


@dataclass
class Discovery:
    gpus: list[Gpu]
    reason: str = ""  # why none is usable, when none is


def discover() -> Discovery:
    """The GPUs this process may use. `WORKBENCH_GPUS` (comma list of ids) overrides discovery."""
    forced = os.environ.get("WORKBENCH_GPUS")
    if forced is not None:
        ids = [t.strip() for t in forced.split(",") if t.strip()]
        return Discovery([Gpu(i, "WORKBENCH_GPUS") for i in ids], "" if ids else "WORKBENCH_GPUS is empty")
    return _discover(os.environ.get("CUDA_VISIBLE_DEVICES"))


@functools.lru_cache(maxsize=4)
def _discover(visible: str | None) -> Discovery:
    if visible is not None and visible.strip() in HIDDEN:
        return Discovery([], f"CUDA_VISIBLE_DEVICES={visible!r} hides every device")
    listed = _nvidia_smi()
    if listed is not None:
        if not listed:
            return Discovery([], "nvidia-smi lists no GPU")
        return Discovery(select(listed, visible), "")
    count, names, error = _cupy_probe()
    if count:
        ids = _tokens(visible)[:count] if visible else [str(i) for i in range(count)]
        return Discovery([Gpu(i, names[n] if n < len(names) else "GPU") for n, i in enumerate(ids)], "")
    return Discovery([], error or "no CUDA device found")


def _tokens(visible: str | None) -> list[str]:
    return [t.strip() for t in (visible or "").split(",") if t.strip()]


def select(listed: list[Gpu], visible: str | None) -> list[Gpu]:
    """The devices of `listed` (by index) that CUDA_VISIBLE_DEVICES lets through, in its order;
    CUDA stops at the first id it does not know, and so does this."""
    if visible is None:
        return listed
    chosen = []
    for token in _tokens(visible):
        match = next((g for g in listed if g.id == token), None)
        if match is None:
            break
        chosen.append(match)
    return chosen


def _nvidia_smi() -> list[Gpu] | None:
    """Devices as nvidia-smi lists them; None when it is absent or fails (no driver)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    gpus = []
    for line in out.stdout.splitlines():
        index, _, name = line.partition(",")
        if index.strip().isdigit():
            gpus.append(Gpu(index.strip(), name.strip() or "GPU"))
    return gpus


_PROBE = """
import json
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
    print(json.dumps([n, names, ""]))
except Exception as exc:
    print(json.dumps([0, [], f"{type(exc).__name__}: {exc}"]))
"""


def _cupy_probe() -> tuple[int, list[str], str]:
    """CuPy's device count, asked in a subprocess so that this process never initialises CUDA."""
    import importlib.util
    import json

    if importlib.util.find_spec("cupy") is None:
        return 0, [], "CuPy is not installed and nvidia-smi is not on PATH"
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
        count, names, error = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return 0, [], "the CuPy device probe failed"
    return int(count), list(names), str(error)


# ------------------------------------------------------------------ pure allocation


def effective_needs(requested: dict[str, int], available: int, *, require: bool,
                    reason: str = "") -> tuple[dict[str, int], list[str]]:
    """GPUs each task will get, and the warnings to show; raises GpuRequiredError with `require`.

    No GPU: GPU tasks run on the CPU (their code falls back to NumPy). Fewer GPUs than a task
    asks for: it gets all there are (it cannot run at all otherwise)."""
    wanted = {name: n for name, n in requested.items() if n > 0}
    if not wanted:
        return {}, []
    names = ", ".join(sorted(wanted))
    if available == 0:
        if require:
            raise GpuRequiredError(
                f"--require-gpu: no usable GPU ({reason or 'none found'}) for the GPU task(s) {names}",
                hint="run on a machine with a CUDA GPU and its driver (check `nvidia-smi`), make "
                "CUDA_VISIBLE_DEVICES list it, or drop --require-gpu to run these tasks on the CPU")
        return {}, [f"workbench: no usable GPU ({reason or 'none found'}); GPU task(s) {names} run on the CPU"]
    short = {name: n for name, n in wanted.items() if n > available}
    if short and require:
        listed = ", ".join(f"{n} asks for {k}" for n, k in sorted(short.items()))
        raise GpuRequiredError(
            f"--require-gpu: {available} GPU(s) usable, but {listed}",
            hint="lower N in the cell's `gpu:N` tag, or run on a machine with more GPUs")
    warnings = [f"workbench: task {n} asks for {k} GPUs, {available} usable: it gets {available}"
                for n, k in sorted(short.items())]
    return {name: min(n, available) for name, n in wanted.items()}, warnings


@dataclass
class GpuSlots:
    """Free device ids; a task takes N of them for as long as it runs."""

    free: list[str]
    held: dict[str, list[str]] = field(default_factory=dict)

    def take(self, task: str, n: int) -> list[str] | None:
        """The ids given to `task`, or None when fewer than n are free now (wait for a release)."""
        if n > len(self.free):
            return None
        ids, self.free = self.free[:n], self.free[n:]
        self.held[task] = ids
        return ids

    def give_back(self, task: str) -> None:
        ids = self.held.pop(task, [])
        # keep discovery order, so that a serial run always uses the same first device
        self.free = sorted(self.free + ids, key=lambda i: (not i.isdigit(), int(i) if i.isdigit() else 0, i))


class Placement:
    """Each task's device while a run goes on: env overrides at start, the slot back at the end.

    `limit=False` hands out no slots (another scheduler, e.g. Dask's resources, limits them)."""

    def __init__(self, needs: dict[str, int], gpus: list[Gpu], *, limit: bool = True) -> None:
        self.needs, self.gpus, self.limit = needs, {g.id: g for g in gpus}, limit
        self.slots = GpuSlots([g.id for g in gpus])
        self.labels: dict[str, str] = {}

    def need(self, task: str) -> int:
        return self.needs.get(task, 0)

    def claim(self, task: str) -> dict[str, str] | None:
        """Environment for the task (WORKBENCH_DEVICE, CUDA_VISIBLE_DEVICES); None: GPUs busy."""
        n = self.need(task)
        if n == 0:
            self.labels[task] = "cpu"
            # GPUs are not hidden from CPU tasks: in a serial run they share the process with the
            # GPU tasks, and CUDA reads CUDA_VISIBLE_DEVICES only once per process
            return {"WORKBENCH_DEVICE": "cpu"}
        if not self.limit:
            self.labels[task] = "gpu"
            return {"WORKBENCH_DEVICE": "gpu"}
        ids = self.slots.take(task, n)
        if ids is None:
            return None
        self.labels[task] = ", ".join(self.gpus[i].label for i in ids)
        return {"WORKBENCH_DEVICE": "gpu", "CUDA_VISIBLE_DEVICES": ",".join(ids)}

    def release(self, task: str) -> None:
        self.slots.give_back(task)


def place(requested: dict[str, int], *, require: bool = False, force_cpu: bool = False,
          progress=None) -> Placement:
    """The placement of a local run: discovers GPUs only when some task asks for one."""
    if force_cpu or not any(n > 0 for n in requested.values()):
        return Placement({}, [])
    found = discover()
    needs, warnings = effective_needs(requested, len(found.gpus), require=require, reason=found.reason)
    for line in warnings:
        (progress or _stderr)(line)
    return Placement(needs, found.gpus)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
