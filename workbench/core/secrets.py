"""Parameters whose names look secret never leave the notebook in clear.

A parameter named like a credential (`password`, `db_pass`, `api_token`, `secret`, `aws_key`,
`credentials`...) is one a notebook should read from the environment. Where one has a value in
the parameters cell anyway, Workbench keeps that value out of everything it writes:

- exported files (tasks/*.py, env.yaml, plan.json) carry `None` and a comment instead of the value;
- `workbench run` takes the value from the environment variable of the same name in upper case
  (`api_token` -> `$API_TOKEN`), else from `-p`, else from the notebook, and never prints it;
- run records, MLflow parameters, `workbench runs` and the executed task notebooks show `****`.

The generated CI reads such values from the CI's secret store (`${{ secrets.API_TOKEN }}`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "****"
_SECRET = re.compile(
    r"(^|_)(pass(word|wd|phrase)?|pwd|token|secret|credentials?|api_?key|private_?key|access_?key|auth|key)($|_)",
    re.IGNORECASE,
)


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def env_name(name: str) -> str:
    return name.upper()


def masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """The same mapping with every secret-looking value replaced by `****`."""
    return {k: (MASK if is_secret(str(k)) and v is not None else v) for k, v in values.items()}


def from_environment(names: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of secret parameters given in the environment (`api_token` <- $API_TOKEN)."""
    environ = os.environ if environ is None else environ
    return {n: environ[env_name(n)] for n in names if is_secret(n) and env_name(n) in environ}


def scrub_text(text: str, values: Iterable[Any]) -> str:
    """`text` with every occurrence of the secret values (as written, as repr, as JSON) masked."""
    for value in values:
        if value is None or value == "" or isinstance(value, bool):
            continue
        forms = {str(value), repr(value), json.dumps(value, default=str)}
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= 3:  # masking "1" everywhere would wreck the notebook
                text = text.replace(form, repr(MASK) if form != str(value) else MASK)
    return text


def scrub_notebook(path: Path, values: Iterable[Any]) -> bool:
    """Mask secret values in an executed notebook (sources and outputs); True when it changed."""
    values = [v for v in values if v not in (None, "")]
    if not values or not path.exists():
        return False
    original = path.read_text(encoding="utf-8")
    cleaned = scrub_text(original, values)
    if cleaned == original:
        return False
    tmp = path.with_name(f".{path.name}.scrub")
    tmp.write_text(cleaned, encoding="utf-8")
    os.replace(tmp, path)
    return True


def secret_values(params: Mapping[str, Any]) -> list[Any]:
    return [v for k, v in params.items() if is_secret(str(k)) and v is not None]
