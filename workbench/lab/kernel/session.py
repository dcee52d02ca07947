"""Which notebook a kernel belongs to, from what Jupyter tells it, and that notebook's Plan."""

from __future__ import annotations

import os
from pathlib import Path


def session_notebook(user_ns: dict | None = None) -> Path | None:
    """The notebook this kernel was started for, from what Jupyter tells the kernel."""
    candidates = [os.environ.get("JPY_SESSION_NAME"), (user_ns or {}).get("__session__")]
    cwd = Path.cwd()
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.endswith(".ipynb"):
            continue
        path = Path(candidate)
        if path.is_absolute():
            if path.is_file():
                return path
            continue
        # a path relative to the server's root; the kernel runs in the notebook's folder
        for base in (cwd, *cwd.parents):
            if (base / path).is_file():
                return base / path
        if (cwd / path.name).is_file():
            return cwd / path.name
    return None


def notebook_for(arg: str | None, user_ns: dict) -> Path:
    from workbench.core.errors import WorkbenchError

    if arg:
        path = Path(arg).expanduser()
        if not path.exists():
            raise WorkbenchError(f"{arg}: no such notebook", hint="give the path relative to the kernel's "
                                 f"working directory ({Path.cwd()})")
        return path
    found = session_notebook(user_ns)
    if found is None:
        raise WorkbenchError("cannot tell which notebook this kernel belongs to",
                             hint="name it: %workbench plan PATH.ipynb")
    return found


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def plan_of(path: Path):
    """The notebook's Plan, as `workbench plan` makes it (the public API: stored traces included)."""
    from workbench.api import plan

    return plan(path)
