"""Content fingerprints: what decides whether a task must run again.

Ploomber decides by timestamps and by the task's own source text; it reruns after a `touch` and
misses an edited helper module. A task here reruns exactly when one of these changed: its code
(normalised through the AST, so comments and blank lines do not count), the local modules it
imports (found on disk next to the notebook, followed transitively), the parameter values it takes,
the content of the input files it reads, or the content of its upstream products.

Hashing products costs I/O, so file hashes are cached by (size, mtime): a touched file is hashed
again, finds the same content, and nothing reruns.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from pathlib import Path

from workbench.refactor.requirements import imported_modules


class HashCache:
    """md5 of files, remembered by (size, mtime_ns) across runs (stored in the pipeline's state)."""

    def __init__(self, entries: dict | None = None) -> None:
        self.entries: dict[str, list] = dict(entries or {})

    def file(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        key = str(path)
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        h = hashlib.md5()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        return digest

    def tree(self, path: Path) -> str | None:
        """A file's md5, or a directory's over its files' relative paths and md5s."""
        if path.is_file():
            return self.file(path)
        if not path.is_dir():
            return None
        h = hashlib.md5()
        for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            h.update(f"{child.relative_to(path).as_posix()}\0{self.file(child)}\n".encode())
        return h.hexdigest() + ".dir"


def normalised_code(source: str) -> str:
    """The code's meaning without its formatting: comments, blank lines and spacing drop out."""
    try:
        return ast.dump(ast.parse(source), annotate_fields=False, include_attributes=False)
    except SyntaxError:
        return source


def local_module_files(source: str, search: list[Path]) -> list[Path]:
    """Modules the code imports that live in the user's folders (not installed packages),
    followed through their own imports."""
    found: list[Path] = []
    pending = list(imported_modules(source))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for base in search:
            candidates = [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
            path = next((c for c in candidates if c.is_file()), None)
            if path is not None:
                if path not in found:
                    found.append(path)
                    pending += imported_modules(path.read_text(encoding="utf-8", errors="replace"))
                break
    return sorted(found)


def is_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def task_key(code: str, modules: dict[str, str], params: dict, inputs: dict[str, str | None],
             upstream: dict[str, str | None]) -> str:
    """One hash over everything that can change a task's results."""
    payload = {
        "code": hashlib.sha256(normalised_code(code).encode()).hexdigest(),
        "modules": modules,
        "params": params,
        "inputs": inputs,
        "upstream": upstream,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()
