"""An import-linter contract type: no module uses another module's `_private` names.

import-linter's own contracts are about modules; this one is about names. A name that starts with
one underscore is its module's business: `from workbench.x import _helper`, or `x._helper` through
an imported module, couples two modules through something neither promised. Dunder names
(`__version__`) and the names Jupyter's extension protocol requires are not private.

Configured in pyproject.toml ([tool.importlinter]); `make test` runs `lint-imports`.
"""

from __future__ import annotations

import ast
import importlib.util

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

PROTOCOL_NAMES = {"_jupyter_server_extension_points", "_load_jupyter_server_extension",
                  "_jupyter_labextension_paths", "_repr_html_", "_repr_mimebundle_"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PROTOCOL_NAMES


def violations(modules: set[str], source_of) -> list[tuple[str, int, str]]:
    """(importer, line, what) for each private name one module takes from another."""
    found = []
    for module in sorted(modules):
        tree = ast.parse(source_of(module))
        package = module if source_of.is_package(module) else module.rpartition(".")[0]
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in modules:  # `from pkg import module`
                        aliases[alias.asname or alias.name] = target
                    elif base in modules and base != module and _private(alias.name):
                        found.append((module, node.lineno, f"from {base} import {alias.name}"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name):
                target = aliases.get(node.value.id)
                if target and target != module:
                    found.append((module, node.lineno, f"{node.value.id}.{node.attr} ({target})"))
    return found


class _Sources:
    def __call__(self, module: str) -> str:
        spec = importlib.util.find_spec(module)
        with open(spec.origin, encoding="utf-8") as f:
            return f.read()

    def is_package(self, module: str) -> bool:
        spec = importlib.util.find_spec(module)
        return spec.submodule_search_locations is not None


class NoPrivateNamesContract(Contract):
    type_name = "no_private_names"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        modules = {m for m in graph.modules if any(m == c or m.startswith(c + ".") for c in self.containers)}
        found = violations(modules, _Sources())
        return ContractCheck(kept=not found, metadata={"violations": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, line, what in check.metadata["violations"]:
            output.print_error(f"{module}:{line}: {what}", bold=False)
        output.new_line()
        output.print("Make the name public in its module (and document it), or keep the use inside that module.")
