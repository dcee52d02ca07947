"""Parameters given on the command line, checked against the notebook's `parameters` cell.

Checking happens before any kernel or pipeline starts, so a typo costs nothing: an unknown name or
a value that does not fit the default's type is an error listing the valid parameters.
"""

from __future__ import annotations

import ast
import difflib

from workbench.core.errors import Location, WorkbenchError
from workbench.core.plan import Parameter


class ParameterError(WorkbenchError):
    pass


def _valid(params: dict[str, Parameter]) -> str:
    if not params:
        return "the notebook has no parameters cell"
    return "valid parameters: " + ", ".join(f"{p.name} ({p.type}, default {p.source})" for p in params.values())


def convert(param: Parameter, text: str) -> object:
    kind = param.type
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "str":
            return text
        value = ast.literal_eval(text)
        if kind in ("list", "dict", "tuple", "set") and type(value).__name__ != kind:
            raise ValueError(text)
        return value
    except (ValueError, SyntaxError):
        if kind in ("NoneType", "expression"):
            return text
        raise


def parse_overrides(pairs: list[str], params: dict[str, Parameter], notebook: str | None = None,
                    cell_ids: dict[int, str | None] | None = None) -> dict[str, object]:
    """`["seed=8", "lr=0.1"]` -> typed values; ParameterError on anything that does not fit.

    With the notebook's path (and its cells' ids), errors point at the parameters cell.
    """
    cell_ids = cell_ids or {}
    first = next(iter(params.values()), None)

    def where(param: Parameter | None) -> Location | None:
        if notebook is None:
            return None
        if param is None:
            return Location(notebook, first.cell, cell_ids.get(first.cell)) if first else Location(notebook)
        return Location(notebook, param.cell, cell_ids.get(param.cell), param.line)

    values: dict[str, object] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(
                f"cannot read parameter {pair!r}",
                hint="write -p NAME=VALUE, e.g. -p seed=8; " + _valid(params),
                location=where(None),
            )
        if name not in params:
            guess = difflib.get_close_matches(name, list(params), n=1)
            raise ParameterError(
                f"unknown parameter {name!r}" + (f" (did you mean {guess[0]!r}?)" if guess else ""),
                hint=_valid(params),
                location=where(None),
            )
        try:
            values[name] = convert(params[name], text)
        except (ValueError, SyntaxError):
            raise ParameterError(
                f"parameter {name!r} expects {params[name].type}, got {text!r}",
                hint=_valid(params),
                location=where(params[name]),
            ) from None
    return values


def effective(params: dict[str, Parameter], overrides: dict[str, object]) -> dict[str, object]:
    """The values a run uses: the notebook's, then secret-looking ones from the environment
    (`api_token` <- $API_TOKEN, see workbench/secrets.py), then the overrides given with -p."""
    from workbench.core.secrets import from_environment

    values = {p.name: p.value for p in params.values() if p.type != "expression"}
    for name, text in from_environment([n for n in values if n not in overrides]).items():
        try:
            values[name] = convert(params[name], text)
        except ValueError:
            raise ParameterError(f"${name.upper()} does not hold a {params[name].type} for parameter {name!r}",
                                 hint=f"set ${name.upper()} to a {params[name].type}, or pass -p {name}=VALUE") from None
    values.update(overrides)
    return values
