"""The shape of the code holds: the import-linter contracts (pyproject.toml) pass, and the
no-private-names contract really catches what it is for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.lint.private_names import violations

ROOT = Path(__file__).resolve().parents[2]


class FakeSources(dict):
    def __call__(self, module: str) -> str:
        return self[module]

    def is_package(self, module: str) -> bool:
        return module in {"pkg", "pkg.sub"}


def test_private_names_taken_from_another_module_are_found():
    sources = FakeSources({
        "pkg": "",
        "pkg.a": "def _helper(): ...\ndef public(): return _helper()\n",
        "pkg.sub": "",
        "pkg.sub.b": "from pkg.a import _helper\nfrom pkg import a\nx = a._helper()\ny = a.public()\n",
        "pkg.sub.c": "from ..a import _helper as h\nimport pkg.a as alias\nz = alias._helper\n",
        "pkg.sub.d": "from pkg.a import public\nfrom pkg.core import __version__\nclass K:\n    def _own(self):\n        return self._x\n",
    })
    found = violations(set(sources), sources)
    assert [(m, line) for m, line, _ in found] == [("pkg.sub.b", 1), ("pkg.sub.b", 3), ("pkg.sub.c", 1), ("pkg.sub.c", 3)]


def test_the_contracts_of_the_layers_and_private_names_pass():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a test dependency (pyproject [test])"
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout
