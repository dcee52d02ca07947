"""What code imports, and which PyPI distributions provide it: the one extractor and the one
module -> distribution table for the pipeline's requirements.txt (export), the packaged model's
scoring requirements (deploy.package) and the user's own modules a task's key hashes (fingerprint).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable

from workbench.core.version import DISTRIBUTION

# Import names whose distribution is named otherwise (the common ones; others are looked up).
DISTRIBUTIONS = {
    "sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python",
    "skimage": "scikit-image", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
    "workbench": DISTRIBUTION,  # never the unrelated `workbench` distribution
}


def imported_modules(source: str) -> list[str]:
    """The absolute imports of `source`, dotted, in order: `import a.b` gives `a.b`, `from a import
    b` gives `a` and `a.b` (b may be a submodule). Relative imports are left out; so is code that
    does not parse (an empty list)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    return names


def top_level_modules(source: str) -> list[str]:
    """The top-level packages `source` imports (`numpy` for `import numpy.linalg`), once each, in order."""
    return list(dict.fromkeys(m.split(".")[0] for m in imported_modules(source)))


def installed_version(dist: str) -> str | None:
    """The installed version of the distribution `dist`, None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def distributions(modules: Iterable[str]) -> dict[str, list[str]]:
    """For each top-level module, the installed distributions providing it, cheap guesses first:
    none for the standard library, the table's name or the module's own when installed, else what
    the installed packages' metadata says (empty when nothing installed provides it)."""
    from importlib import metadata

    mapping = None
    out: dict[str, list[str]] = {}
    for module in modules:
        if module in sys.stdlib_module_names:
            out[module] = []
            continue
        name = DISTRIBUTIONS.get(module, module)
        if installed_version(name) is not None:
            out[module] = [name]
            continue
        if mapping is None:
            # reads every installed package's metadata (~0.1 s): only when a name is unusual, once a call
            try:
                mapping = metadata.packages_distributions()
            except Exception:  # noqa: BLE001 - requirements are a convenience, never a failure
                mapping = {}
        out[module] = list(mapping.get(module, []))
    return out
