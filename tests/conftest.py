"""Fixtures shared by every test folder.

The CLI runner lives in tests/harness.py (`workbench(*args, cwd=None, check=False)`, ROOT, SHARED)
and notebook writing in tests/helpers.py (`write_notebook(path, cells)`); both import as top-level
modules (`from harness import workbench`, `from helpers import write_notebook`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # whatever pytest's import mode
    sys.path.insert(0, str(TESTS))

from harness import ROOT  # noqa: E402
from helpers import write_notebook  # noqa: E402

# Runs log to MLflow in a background process by default; tests that are not about tracking turn it
# off so that no stray process competes for CI's two cores. Tracking tests set it to "now".
os.environ.setdefault("WORKBENCH_TRACKING", "off")


@pytest.fixture(autouse=True)
def _environment_as_it_was():
    """Whatever a test changes in os.environ (directly, or through a library: mlflow.set_tracking_uri
    sets MLFLOW_TRACKING_URI) is undone after it: an in-process call in one test once sent the CLI
    runs of later tests in the same worker to another MLflow store ("Run ... not found")."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the repo's notebooks/ (no pipelines/ yet): run pipelines here, not in the repo."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("output"))
    return tmp_path


@pytest.fixture
def make_notebook(tmp_path: Path):
    """`make_notebook(cells, name="nb.ipynb")` writes an nbformat 4.5 notebook in tmp_path."""

    def make(cells, name: str = "nb.ipynb", metadata: dict | None = None) -> Path:
        return write_notebook(tmp_path / name, cells, metadata)

    return make
