"""Errors a user can act on.

Every error that reaches the user says where (notebook, cell, line), what is wrong and how to fix
it, and the CLI prints it without a traceback. The location is structured so that the server API
and the UI can link an error to its cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Location:
    notebook: str
    cell: int | None = None
    cell_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.notebook]
        if self.cell is not None:
            cell = f"cell {self.cell}"
            if self.cell_id:
                cell += f" (id {self.cell_id})"
            parts.append(cell)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "cell": self.cell, "cell_id": self.cell_id, "line": self.line}


@dataclass
class WorkbenchError(Exception):
    """Base of the errors the CLI reports as `error: ...` with exit status 2."""

    message: str
    hint: str = ""
    location: Location | None = None
    detail: str = ""
    exit_code: int = field(default=2, repr=False)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        lines = [head]
        if self.detail:
            lines.extend("  " + line for line in self.detail.splitlines())
        if self.hint:
            lines.append(f"  fix: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kind": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "detail": self.detail,
            "location": self.location.to_dict() if self.location else None,
        }


class PlanError(WorkbenchError):
    """The notebook cannot be turned into a pipeline as it stands."""


class RunError(WorkbenchError):
    """The pipeline or the notebook failed while running."""
