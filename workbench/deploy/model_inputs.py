"""What a packaged model takes: the rows it was fitted on and the columns of its signature.

The run records them (runtime/fit_capture.py): the model task's script watches every fit while the
notebook's cells run and keeps, beside the model's product, a sample of the rows passed to the
chosen model's fit with their columns, dtypes, count and ranges, and the columns the model itself
names (`feature_names_in_`, the raw columns a Pipeline's ColumnTransformer uses). Packaging,
the training profile it keeps for monitoring and the per-group fairness table all read that one
capture, so none of them depends on how the notebook spelled the fit.

A pipeline run before captures existed has none; then the rows are found as they used to be, from
the source (`model.fit(X_train, y)` with `X_train` a product of an earlier task), and a rerun is
the fix when that fails.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.plan import Plan, Task

FIT_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit")


@dataclass
class TrainingRows:
    """The rows a model was fitted on (a sample when there were many) and the columns it takes."""

    rows: Any  # as passed to fit: a DataFrame or an array; None when unknown
    columns: list[str] | None  # the model's input columns (its signature); None for an array input
    count: int | None  # how many rows the fit saw
    source: str  # where they come from, for the CLI and the card
    ranges: dict[str, tuple] = field(default_factory=dict)  # per numeric column, over all the fitted rows
    missing: str | None = None  # why `rows` is None

    def inputs(self):
        """The rows restricted to the model's input columns (what a caller sends)."""
        if self.rows is None or not self.columns or not hasattr(self.rows, "columns"):
            return self.rows
        present = [c for c in self.columns if c in self.rows.columns]
        return self.rows[present] if len(present) == len(self.columns) else self.rows


def training_rows(plan: Plan, task: Task, products: Path, model: Any,
                  load: Callable[[tuple[str, str]], Any]) -> TrainingRows:
    """The model's rows from the run's capture, else (a run without one) from the source."""
    from workbench.runtime.fit_capture import read_fit

    capture = read_fit(products / task.name / task.model)
    if capture is not None:
        ranges = {k: tuple(v) for k, v in (capture.get("ranges") or {}).items()}
        rows = capture.get("sample")
        columns = capture.get("inputs")
        missing = None
        if rows is None:
            missing = capture.get("error") or capture.get("found") or "no rows were recorded"
        return TrainingRows(rows=rows, columns=columns, count=capture.get("rows"), ranges=ranges,
                            source=f"captured while task {task.name} ran: {capture.get('found')}", missing=missing)
    where = training_input(plan, task)
    X = load(where) if where else None
    columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    if columns is None and hasattr(model, "feature_names_in_"):
        columns = [str(c) for c in model.feature_names_in_]
    count = len(X) if X is not None and hasattr(X, "__len__") else None
    missing = None if X is not None else (
        f"task {task.name} ran without recording its fits (exported by an older Workbench) and its source "
        f"fits {task.model} on no product of an earlier task")
    return TrainingRows(rows=X, columns=columns, count=count, missing=missing,
                        source=f"product {where[0]}/{where[1]}" if where else "none")


def model_modules(model: Any) -> list[str]:
    """The top-level modules of every class in the model's pickle (an XGBoost step inside a
    scikit-learn Pipeline needs xgboost where it is scored), the model's own first."""
    import io
    import pickle

    found = [type(model).__module__.split(".")[0]]

    class Walk(pickle.Pickler):
        def persistent_id(self, obj):
            cls = obj if isinstance(obj, type) else type(obj)
            module = getattr(cls, "__module__", None)
            if isinstance(module, str):
                found.append(module.split(".")[0])
            return None

    class Discard(io.RawIOBase):
        def write(self, data):
            return len(data)

    try:
        Walk(Discard(), protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    except Exception:  # noqa: BLE001 - what cannot be walked is pickled by cloudpickle later; keep the first
        pass
    return [m for m in dict.fromkeys(found) if m not in ("builtins", "__main__", "copyreg", "collections")]


# --- the source, for runs without a capture ------------------------------------------------------

def calls(plan: Plan, task: Task):
    """Every call node in the task's code cells."""
    for index in task.code_cells:
        code = plan.cells[index].code
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield node


def product_of(task: Task, name: str) -> tuple[str, str] | None:
    """(task, variable) of the product that holds `name` as `task` saw it."""
    if name in task.inputs:
        return task.inputs[name], name
    if name in task.outputs:
        return task.name, name
    return None


def training_input(plan: Plan, task: Task) -> tuple[str, str] | None:
    """The product named by the first argument of `VAR.fit(X, ...)` in the source."""
    for node in calls(plan, task):
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr in FIT_METHODS and isinstance(f.value, ast.Name)
                and f.value.id == task.model and node.args and isinstance(node.args[0], ast.Name)):
            found = product_of(task, node.args[0].id)
            if found:
                return found
    return None


def raw_input(plan: Plan, func: str) -> tuple[str, str] | None:
    """The product FUNC is applied to in the notebook (`data = add_features(raw)` -> raw)."""
    for task in plan.tasks:
        for node in calls(plan, task):
            if isinstance(node.func, ast.Name) and node.func.id == func and node.args \
                    and isinstance(node.args[0], ast.Name):
                found = product_of(task, node.args[0].id)
                if found:
                    return found
    return None
