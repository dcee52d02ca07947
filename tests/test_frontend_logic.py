"""The frontend's unit tests (extension/test/*.mjs, node:test) as part of the Python suite.

The panel's pure logic (extension/src/logic.ts: graph layout, tag edits, parameter parsing, edge
explanations, what a job's events say) has no JupyterLab imports, and imports the generated Plan
types (src/plan_types.ts) and the event types (src/events.ts) as types only, so it compiles with
TypeScript alone into one self-contained module: this test installs the pinned TypeScript from npm
into .venv/node/ once (seconds, no JupyterLab build), compiles logic.ts, and runs node's test
runner on it. A failing frontend unit test fails `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT

EXTENSION = ROOT / "extension"
NODE_PREFIX = Path(sys.prefix) / "node"


def _typescript_version() -> str:
    """The TypeScript the extension pins in its lock, so this compiles exactly as `make extension`."""
    lock = json.loads((EXTENSION / "package-lock.json").read_text())
    return lock["packages"]["node_modules/typescript"]["version"]


@pytest.fixture(scope="module")
def tsc() -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are not installed (apt-get install nodejs npm); the frontend unit tests need them")
    local = EXTENSION / "node_modules" / ".bin" / "tsc"
    if local.exists():
        return local
    version = _typescript_version()
    binary = NODE_PREFIX / "node_modules" / ".bin" / "tsc"
    installed = NODE_PREFIX / "node_modules" / "typescript" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != version:
        NODE_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund",
                        "--no-save", f"typescript@{version}"], check=True, capture_output=True, timeout=300)
    return binary


def test_frontend_logic_unit_tests(tsc: Path, tmp_path: Path) -> None:
    compiled = subprocess.run(
        [str(tsc), "--outDir", str(tmp_path), "--target", "ES2022", "--module", "es2022", "--strict",
         "--noUnusedLocals", "--noImplicitAny", "--lib", "ES2022,DOM",
         str(EXTENSION / "src" / "logic.ts")],
        capture_output=True, text=True, timeout=300,
    )
    assert compiled.returncode == 0, f"logic.ts does not compile:\n{compiled.stdout}{compiled.stderr}"
    tests = sorted(str(p) for p in (EXTENSION / "test").glob("*.test.mjs"))
    assert tests, "no frontend unit tests found under extension/test/"
    run = subprocess.run(["node", "--test", *tests], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "WORKBENCH_LOGIC_JS": str(tmp_path / "logic.js")})
    assert run.returncode == 0, f"frontend unit tests failed:\n{run.stdout[-6000:]}{run.stderr[-3000:]}"
    summary = {line.split()[1]: int(line.split()[2]) for line in run.stdout.splitlines()
               if line.startswith("# ") and len(line.split()) == 3 and line.split()[2].isdigit()}
    assert summary.get("pass", 0) >= 10 and summary.get("fail", 1) == 0, run.stdout[-2000:]
