"""What the `model:` variable was fitted on, recorded while its task runs.

Packaging needs the rows a model was fitted on: their columns make the served model's signature,
a few of them its input example, all of them its training profile (drift monitoring) and its card's
ranges. Reading them off the source only works for `model.fit(X_train, y)` with `X_train` a product
of an earlier task; real notebooks fit on `train[features]`, on a frame built in the training cell,
inside `GridSearchCV`, in a loop over candidates. So the model task's script watches every fit
while the notebook's cells run and, before its products are saved, writes what the chosen model
was fitted on beside the model's product:

    products/<task>/<var>.fit/fit.json   columns, dtypes, row count, value ranges, how it was found,
                                         the model's own input columns (its signature)
    products/<task>/<var>.fit/rows/      up to SAMPLE_ROWS of the rows exactly as passed to fit

What is watched: `fit`, `fit_transform`, `fit_predict` and `partial_fit` of every scikit-learn
estimator class (XGBoost's and LightGBM's scikit-learn models among them, and classes a notebook
defines), `xgboost.train` and `lightgbm.train`, and the first forward call of each torch module.
Only the outermost fit counts (GridSearchCV's, not its clones'; a Pipeline's, not its steps'), and
each estimator remembers its last one, so the model's record is found by identity whatever
expression made the rows or the variable (`best_estimator_` of a search, one of
`cross_validate(..., return_estimator=True)`'s estimators, the best of a loop).

Watching must never change what the notebook computes or fail its task: the sample is drawn with
a generator of its own (the global random state is untouched), every error in here is swallowed
into a reason in fit.json, and the patched methods are restored before the products are pickled
(a notebook's own estimator class is pickled by value: it must not carry the wrapper). Libraries
imported only by the training cell are patched when they are imported (an import hook), so a task
that never uses scikit-learn does not pay for importing it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "SAMPLE_ROWS", "FitWatcher", "fit_folder", "read_fit", "stop_watching", "watch_fits"]

FORMAT = 1
SAMPLE_ROWS = 5000
FIT_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit")
SUFFIX = ".fit"

_ACTIVE: FitWatcher | None = None
_LOCK = threading.RLock()


def fit_folder(product: str | os.PathLike[str]) -> Path:
    """The capture folder beside a model's product folder (`products/train/clf` -> `clf.fit`)."""
    path = Path(product)
    return path.with_name(path.name + SUFFIX)


def watch_fits() -> FitWatcher:
    """Start watching fits in this process (the model task's script calls it before its cells)."""
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is not None:
            _ACTIVE.stop()
        watcher = FitWatcher()
        watcher.start()
        _ACTIVE = watcher
    return watcher


def stop_watching() -> None:
    """Restore every patched method (the runner calls it after each task, even a failed one)."""
    with _LOCK:
        if _ACTIVE is not None:
            _ACTIVE.stop()


def read_fit(product: str | os.PathLike[str]) -> dict | None:
    """fit.json of a model's product with the sampled rows under "sample" (None when not sampled);
    None when the task ran without a capture (exported by an older Workbench)."""
    folder = fit_folder(product)
    meta_file = folder / "fit.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["sample"] = None
    if (folder / "rows").is_dir():
        from workbench.runtime.products import load

        meta["sample"] = load(folder / "rows")
    return meta


class _Snapshot:
    """What one X passed to a fit looked like: its description and a sample of its rows."""

    def __init__(self, X: Any) -> None:
        self.kind = _type_name(X)
        self.rows: int | None = None
        self.columns: list[str] | None = None
        self.dtypes: dict[str, str] = {}
        self.shape: list[int] | None = None
        self.ranges: dict[str, list] = {}
        self.sample: Any = None
        pd = sys.modules.get("pandas")
        np = sys.modules.get("numpy")
        if pd is not None and isinstance(X, pd.Series):
            X = X.to_frame()
        if pd is not None and isinstance(X, pd.DataFrame):
            self.kind = "DataFrame"
            self.rows = len(X)
            self.columns = [str(c) for c in X.columns]
            self.dtypes = {str(c): str(t) for c, t in X.dtypes.items()}
            self.sample = X.iloc[_positions(len(X))].copy()
            for col in X.columns:
                if pd.api.types.is_numeric_dtype(X[col]) and not pd.api.types.is_bool_dtype(X[col]):
                    with contextlib.suppress(Exception):
                        low, high = X[col].min(), X[col].max()
                        self.ranges[str(col)] = [_plain(low), _plain(high)]
            return
        if np is not None and isinstance(X, np.ndarray):
            self.kind = "ndarray"
            self.shape = list(X.shape)
            self.rows = X.shape[0] if X.ndim else None
            self.dtypes = {"*": str(X.dtype)}
            if X.ndim:
                self.sample = X[_positions(X.shape[0])].copy()
            return
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(X, torch.Tensor):
            self.kind = "Tensor"
            self.shape = list(X.shape)
            self.rows = X.shape[0] if X.dim() else None
            self.dtypes = {"*": str(X.dtype)}
            if X.dim():
                self.sample = X[:SAMPLE_ROWS].detach().cpu().numpy().copy()
            return
        shape = getattr(X, "shape", None)
        if isinstance(shape, tuple):
            self.shape = [int(s) for s in shape]
            self.rows = self.shape[0] if self.shape else None

    def describe(self) -> dict:
        return {"kind": self.kind, "rows": self.rows, "columns": self.columns, "dtypes": self.dtypes,
                "shape": self.shape, "ranges": self.ranges,
                "sample_rows": None if self.sample is None else len(self.sample)}


def _positions(n: int):
    """Row positions of the sample: all rows, or SAMPLE_ROWS drawn without replacement in order."""
    import numpy as np

    if n <= SAMPLE_ROWS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, SAMPLE_ROWS, replace=False))


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    value = item() if callable(item) else value
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class _Fit:
    def __init__(self, estimator: Any, how: str, snapshot: _Snapshot | None) -> None:
        try:
            self.ref = weakref.ref(estimator)
        except TypeError:  # no weak references to it: keep it (one object, alive until the task ends anyway)
            self.ref = lambda estimator=estimator: estimator
        self.how, self.snapshot = how, snapshot


class FitWatcher:
    """Records the outermost fit of every estimator while active; `save` writes the model's."""

    def __init__(self) -> None:
        self.fits: dict[int, _Fit] = {}
        self.snapshots: dict[int, tuple[Any, tuple, _Snapshot]] = {}
        self.depth = 0
        self.patched: list[tuple[Any, str, Any, bool]] = []  # (owner, attribute, original, own attribute)
        self.hook: _ImportHook | None = None
        self.errors: list[str] = []
        self.data_of: dict[int, tuple[Any, _Snapshot | None]] = {}  # DMatrix -> the rows it was made from
        self.active = False

    # --- patching ---

    def start(self) -> None:
        self.active = True
        patches = {"sklearn.base": self._patch_sklearn, "xgboost": self._patch_xgboost,
                   "lightgbm": self._patch_lightgbm, "torch": self._patch_torch}
        waiting = {}
        for module, patch in patches.items():
            if module in sys.modules:
                self._safely(patch, sys.modules[module])
            else:
                waiting[module] = patch
        if waiting:
            self.hook = _ImportHook({m: functools.partial(self._safely, p) for m, p in waiting.items()})
            sys.meta_path.insert(0, self.hook)

    def stop(self) -> None:
        global _ACTIVE
        self.active = False
        if self.hook is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self.hook)
            self.hook = None
        while self.patched:
            owner, name, original, own = self.patched.pop()
            with contextlib.suppress(Exception):
                if own:
                    setattr(owner, name, original)
                else:
                    delattr(owner, name)
        if _ACTIVE is self:
            _ACTIVE = None

    def _safely(self, patch, module) -> None:
        try:
            patch(module)
        except Exception as exc:  # noqa: BLE001 - a library we cannot watch must not fail the task
            self.errors.append(f"cannot watch {module.__name__}: {type(exc).__name__}: {exc}")

    def _set(self, owner: Any, name: str, value: Any) -> None:
        own = name in owner.__dict__
        self.patched.append((owner, name, owner.__dict__.get(name), own))
        setattr(owner, name, value)

    def _patch_sklearn(self, module) -> None:
        base = module.BaseEstimator
        seen: set = set()
        stack = [base]
        while stack:
            cls = stack.pop()
            if cls in seen:
                continue
            seen.add(cls)
            self._wrap_class(cls)
            stack.extend(cls.__subclasses__())
        # classes defined from now on (a module imported by the cell, a class the cell defines)
        raw = next(k.__dict__["__init_subclass__"] for k in base.__mro__ if "__init_subclass__" in k.__dict__)
        watcher = self

        def init_subclass(cls, **kwargs):
            raw.__get__(None, cls)(**kwargs)
            if watcher.active:
                watcher._wrap_class(cls)

        self._set(base, "__init_subclass__", classmethod(init_subclass))

    def _wrap_class(self, cls) -> None:
        import inspect

        for name in FIT_METHODS:
            method = cls.__dict__.get(name)
            if inspect.isfunction(method) and not getattr(method, "_workbench_watched", False):
                self._set(cls, name, self._wrapper(method, name))

    def _wrapper(self, original, name: str):
        watcher = self

        @functools.wraps(original)
        def fit(estimator, *args, **kwargs):
            if not watcher.active or watcher.depth:
                return original(estimator, *args, **kwargs)
            with _LOCK:
                watcher.depth += 1
            try:
                result = original(estimator, *args, **kwargs)
            finally:
                with _LOCK:
                    watcher.depth -= 1
            X = args[0] if args else kwargs.get("X", kwargs.get("x"))
            watcher.record(estimator, f"{type(estimator).__name__}.{name}", X)
            return result

        fit._workbench_watched = True
        return fit

    def _patch_xgboost(self, module) -> None:
        """`xgboost.train(params, dtrain)`: the rows are those the DMatrix was made from."""
        watcher = self
        dmatrix_init = module.DMatrix.__init__

        @functools.wraps(dmatrix_init)
        def init(matrix, data=None, *args, **kwargs):
            dmatrix_init(matrix, data, *args, **kwargs)
            if watcher.active and not watcher.depth:
                with contextlib.suppress(Exception):
                    watcher.data_of[id(matrix)] = (weakref.ref(matrix), watcher.snapshot(data))

        self._set(module.DMatrix, "__init__", init)
        self._wrap_train(module, "dtrain", lambda dtrain: self._dmatrix_snapshot(dtrain))

    def _dmatrix_snapshot(self, dtrain) -> _Snapshot | None:
        ref, snapshot = self.data_of.get(id(dtrain), (None, None))
        return snapshot if ref is not None and ref() is dtrain else None

    def _patch_lightgbm(self, module) -> None:
        """`lightgbm.train(params, train_set)`: the rows are the Dataset's data (read before
        training, which frees it)."""
        self._wrap_train(module, "train_set", lambda train_set: self.snapshot(getattr(train_set, "data", None)))

    def _wrap_train(self, module, data_name: str, rows_of) -> None:
        original = module.train
        watcher = self

        @functools.wraps(original)
        def train(*args, **kwargs):
            if not watcher.active or watcher.depth:
                return original(*args, **kwargs)
            data = args[1] if len(args) > 1 else kwargs.get(data_name)
            snapshot = None
            with contextlib.suppress(Exception):
                snapshot = rows_of(data)
            with _LOCK:
                watcher.depth += 1
            try:
                booster = original(*args, **kwargs)
            finally:
                with _LOCK:
                    watcher.depth -= 1
            watcher.remember(booster, f"{module.__name__}.train", snapshot)
            return booster

        self._set(module, "train", train)

    def _patch_torch(self, module) -> None:
        """A torch module has no fit: its input is what its first outermost call is given."""
        cls = module.nn.Module
        original = cls.__call__
        watcher = self

        @functools.wraps(original)
        def call(net, *args, **kwargs):
            if not watcher.active or watcher.depth:
                return original(net, *args, **kwargs)
            if args and id(net) not in watcher.fits:
                watcher.record(net, f"{type(net).__name__}.__call__", args[0])
            with _LOCK:
                watcher.depth += 1
            try:
                return original(net, *args, **kwargs)
            finally:
                with _LOCK:
                    watcher.depth -= 1

        self._set(cls, "__call__", call)

    # --- recording ---

    def snapshot(self, X: Any) -> _Snapshot | None:
        """The snapshot of X, shared by every fit on the same unchanged object."""
        if X is None:
            return None
        key = (getattr(X, "shape", None), tuple(map(str, getattr(X, "columns", ()))))
        known = self.snapshots.get(id(X))
        if known is not None and known[0]() is X and known[1] == key:
            return known[2]
        snapshot = _Snapshot(X)
        with contextlib.suppress(TypeError):
            self.snapshots[id(X)] = (weakref.ref(X), key, snapshot)
        return snapshot

    def record(self, estimator: Any, how: str, X: Any) -> None:
        try:
            self.remember(estimator, how, self.snapshot(X))
        except Exception as exc:  # noqa: BLE001 - never the task's failure
            self.errors.append(f"cannot record {how}: {type(exc).__name__}: {exc}")

    def remember(self, estimator: Any, how: str, snapshot: _Snapshot | None) -> None:
        with _LOCK:
            self.fits[id(estimator)] = _Fit(estimator, how, snapshot)
            if len(self.fits) > 256:  # drop the records of estimators that no longer exist
                self.fits = {k: f for k, f in self.fits.items() if f.ref() is not None}

    def find(self, model: Any) -> tuple[_Fit | None, str]:
        """The record of `model`'s fit and how it was found."""
        fit = self.fits.get(id(model))
        if fit is not None and fit.ref() is model:
            return fit, f"the rows passed to {fit.how}"
        for fit in reversed(list(self.fits.values())):
            owner = fit.ref()
            if owner is not None and getattr(owner, "best_estimator_", None) is model:
                return fit, f"the rows passed to {fit.how} (the variable is its best_estimator_, refitted on them)"
        names = _feature_names(model)
        if names:
            for fit in reversed(list(self.fits.values())):
                snap = fit.snapshot
                if snap is not None and snap.columns and set(names) <= set(snap.columns):
                    return fit, (f"the rows passed to {fit.how}, the last fit on the model's columns (the model's "
                                 "own fit was not seen: made in another process, or loaded)")
        return None, "no fit of the model was seen in its task (loaded from a file, or fitted in another process)"

    def save(self, model: Any, product: str | os.PathLike[str]) -> Path:
        """Stop watching and write the capture of `model` beside its product `product`."""
        self.stop()
        folder = fit_folder(product)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"format": FORMAT, "model": _type_name(model)}
        try:
            fit, how = self.find(model)
            meta["found"] = how
            snap = fit.snapshot if fit is not None else None
            meta["fitted_by"] = fit.how if fit is not None else None
            meta.update(snap.describe() if snap is not None else {"kind": None, "rows": None, "columns": None})
            inputs, inputs_from = model_input_columns(model, snap.columns if snap is not None else None)
            meta["inputs"], meta["inputs_from"] = inputs, inputs_from
            if snap is not None and snap.sample is not None:
                from workbench.runtime.products import save

                save(snap.sample, folder / "rows")
        except Exception as exc:  # noqa: BLE001 - packaging says what is missing; the task goes on
            meta["error"] = f"{type(exc).__name__}: {exc}"
        meta["watch_errors"] = self.errors
        tmp = folder / ".fit.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, folder / "fit.json")
        self.fits.clear()
        self.snapshots.clear()
        return folder


def _feature_names(model: Any) -> list[str] | None:
    """The input columns a fitted model names itself, if any."""
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    names = None
    with contextlib.suppress(Exception):
        names = getattr(model, "feature_names_in_", None)
    if names is None:
        for attr in ("feature_names", "feature_name"):  # xgboost.Booster, lightgbm.Booster (a method)
            value = getattr(model, attr, None)
            with contextlib.suppress(Exception):
                value = value() if callable(value) else value
                if value is not None and type(model).__name__ == "Booster":
                    names = value
                    break
    if names is None:
        return None
    names = [str(n) for n in names]
    # lightgbm names unnamed columns Column_0...; those are positions, not names
    return None if all(n.startswith("Column_") for n in names) and names else names


def model_input_columns(model: Any, fitted_columns: list[str] | None) -> tuple[list[str] | None, str]:
    """(the columns the model takes, where that comes from): a ColumnTransformer (first step of a
    Pipeline or the model itself) takes only the columns its transformers use; a model that knows
    its feature names takes those; else the columns of the rows it was fitted on."""
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    first = model
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        first = steps[0][1]
    names = _feature_names(model) or _feature_names(first)
    used = _column_transformer_inputs(first, names)
    if used is not None:
        return used, f"the columns {type(first).__name__} uses"
    if names:
        return names, "the model's feature_names_in_" if hasattr(model, "feature_names_in_") or hasattr(
            first, "feature_names_in_") else "the model's feature names"
    if fitted_columns:
        return list(fitted_columns), "the columns of the rows passed to fit"
    return None, "the model was not fitted on a table"


def _column_transformer_inputs(transformer: Any, names: list[str] | None) -> list[str] | None:
    fitted = getattr(transformer, "transformers_", None)
    if not isinstance(fitted, list) or not names:
        return None
    used: set[str] = set()
    for entry in fitted:
        name, step, columns = entry[0], entry[1], entry[2]
        if isinstance(step, str) and step == "drop":
            continue
        if name == "remainder" and step == "drop":
            continue
        values = columns if isinstance(columns, (list, tuple)) else getattr(columns, "tolist", lambda c=columns: [c])()
        for value in values:
            if isinstance(value, bool):
                return None  # a boolean mask: leave it to feature_names_in_
            if isinstance(value, int) and 0 <= value < len(names):
                used.add(names[value])
            elif isinstance(value, str):
                used.add(value)
            else:
                return None
    return [n for n in names if n in used]


class _ImportHook:
    """Runs a callback on a module right after its first import (patching what the cell imports)."""

    def __init__(self, callbacks: dict) -> None:
        self.callbacks = callbacks
        self.busy: set[str] = set()

    def find_spec(self, fullname, path, target=None):
        callback = self.callbacks.get(fullname)
        if callback is None or fullname in self.busy:
            return None
        self.busy.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self.busy.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            self.callbacks.pop(fullname, None)
            callback(module)

        loader.exec_module = exec_module
        return spec
