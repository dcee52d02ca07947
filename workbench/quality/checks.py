"""The pipeline's checks.yaml: one readable file the user owns, with a section per concern.

    data:    the input data rules (validation.py; written by `workbench ci`)
    gate:    the model gate (gate.py; used by `workbench gate`, `promote`, retraining)
    alerts:  monitoring rules (alerts.py; used by `workbench monitor`)

Each module reads its own section through `read_checks`, so that a malformed file gives the same
clear error whichever command met it first.
"""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import WorkbenchError


class ChecksFileError(WorkbenchError):
    """checks.yaml cannot be read."""


def read_checks(path: Path) -> dict:
    """The file's sections ({} when it does not exist)."""
    import yaml

    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ChecksFileError(f"{path}: not valid YAML: {exc}",
                              hint="fix the file, or delete it: `workbench ci` writes a new one from the last run") from exc
    if not isinstance(data, dict):
        raise ChecksFileError(f"{path}: expected a mapping with `data:`, `gate:` and `alerts:` sections")
    return data
