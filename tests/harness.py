"""Running the real CLI from tests, and where the sample notebooks are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "notebooks"
os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")


def workbench(*args, cwd: Path | None = None, check: bool = False, timeout: int = 600, env: dict | None = None):
    """Run the real `workbench` CLI in a fresh process, as a user would (`env`: variables to add)."""
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *map(str, args)],
        cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"workbench {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
