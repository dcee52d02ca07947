"""Workbench as a data scientist installs it: the wheel `python -m build` makes, put into a fresh
venv by plain pip or by uv, with nothing of the repo's .venv, its symlinks or its copied configs.

tests/test_wheel.py uses it; `make test-wheels` runs that file on Python 3.11, 3.12 and 3.13 with
plain pip. What to install with comes from the environment (defaults: what `make test` runs):

  WORKBENCH_WHEEL_PYTHON     the interpreter the venv is made from (python3.11)
  WORKBENCH_WHEEL_INSTALLER  `uv` (seconds) or `pip` (minutes: what a user without uv does)
  WORKBENCH_WHEEL_RESOLVE    `lock`: requirements.lock as constraints (the versions CI tests, from
                             uv's cache; Python 3.11 only) or `newest`: what a user gets today
                             (default: lock on 3.11, newest elsewhere)
  WORKBENCH_WHEEL_UNIT       1: also install the test extra and run tests/unit in that venv
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT

DISTRIBUTION = "notebook-workbench"


@dataclass(frozen=True)
class Choice:
    python: str
    installer: str
    resolve: str
    unit: bool

    @classmethod
    def from_env(cls) -> Choice:
        python = os.environ.get("WORKBENCH_WHEEL_PYTHON", "python3.11")
        installer = os.environ.get("WORKBENCH_WHEEL_INSTALLER", "uv")
        if installer not in ("uv", "pip"):
            raise ValueError(f"WORKBENCH_WHEEL_INSTALLER={installer!r}: use uv or pip")
        resolve = os.environ.get("WORKBENCH_WHEEL_RESOLVE") or ("lock" if python.endswith("3.11") else "newest")
        if resolve not in ("lock", "newest"):
            raise ValueError(f"WORKBENCH_WHEEL_RESOLVE={resolve!r}: use lock or newest")
        return cls(python, installer, resolve, os.environ.get("WORKBENCH_WHEEL_UNIT") == "1")


def run(cmd: list, *, cwd: Path | None = None, env: dict | None = None, timeout: int = 1200,
        check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-6000:]}")
    return proc


def build_wheel(dest: Path) -> Path:
    """`python -m build`: the sdist, then the wheel built from the unpacked sdist (so nothing stale
    in the repo's build/ can slip into it). Needs PyPI for the build backend (setuptools)."""
    run([sys.executable, "-m", "build", "--outdir", dest, ROOT], cwd=ROOT)
    wheels = sorted(dest.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell in which `venv` is activated (none of this process's venv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.update(PLOOMBER_STATS_ENABLED="false", MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    return env


def interpreter(name: str) -> str:
    """The executable `name` runs: a pyenv shim of a version that is installed but not selected
    (`python3.13` beside a global 3.11) fails, so look in pyenv's versions too."""
    proc = run([name, "-c", "import sys; print(sys.executable)"], check=False)
    if proc.returncode == 0:
        return proc.stdout.strip()
    found = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob(f"versions/*/bin/{name}"))
    if not found:
        raise AssertionError(f"{name} not found (nor in pyenv's versions): {proc.stderr.strip()}")
    return str(found[-1])


def install(wheel: Path, venv: Path, choice: Choice) -> float:
    """A fresh venv at `venv` with the wheel (and the samples extra: the sample notebooks use
    scikit-learn and matplotlib) installed by `choice.installer`; the seconds it took."""
    extras = "samples,test" if choice.unit else "samples"
    requirement = f"{DISTRIBUTION}[{extras}] @ {wheel.resolve().as_uri()}"
    constraints = []
    if choice.resolve == "lock":
        constraints = ["-c", ROOT / "requirements.lock"]
    start = time.monotonic()
    if choice.installer == "pip":
        run([interpreter(choice.python), "-m", "venv", venv])
        run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
             requirement, *constraints], cwd=venv.parent)
    else:
        uv = Path(sys.executable).parent / "uv"
        run([uv, "venv", "-q", "--no-python-downloads", "--python", interpreter(choice.python), venv])
        run([uv, "pip", "install", "-q", "--python", venv / "bin" / "python", requirement, *constraints],
            cwd=venv.parent)
    return time.monotonic() - start
