"""One string-hash seed for every process that runs the notebook's code.

Python salts `hash()` of strings with a random seed per process unless `PYTHONHASHSEED` is set,
and a set's (or a set-built dict's) iteration order follows it: `{"a", "b"}` iterates one way in
one process and the other way in the next. Libraries iterate sets inside (networkx layouts, for
one), so a notebook can draw a different picture each time it runs, with no random call in sight.
A pipeline that ran in one process and a notebook run in another would then "differ" by luck.

Workbench pins the seed for the processes it starts (the `workbench` command re-executes itself
with `PYTHONHASHSEED=0` for the commands that run code, and the kernels and task processes it
starts inherit it), unless the user set one. `verify --repeat` runs the notebook again with other
seeds to show which values depend on it, as nondeterminism with its cause.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

VARIABLE = "PYTHONHASHSEED"
PINNED = "0"


def seed() -> str:
    """The seed the processes Workbench starts get: the user's, else the pinned one."""
    value = os.environ.get(VARIABLE, "")
    return value if value and value != "random" else PINNED


def other_seed(i: int) -> str:
    """A seed different from `seed()` for the i-th extra run (i >= 1)."""
    base = seed()
    return str((int(base) + i) % 4294967296) if base.isdigit() else str(i)


@contextlib.contextmanager
def seeded(value: str) -> Iterator[None]:
    """Processes started inside (a papermill kernel) get `PYTHONHASHSEED=value`; restored after."""
    old = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = old
