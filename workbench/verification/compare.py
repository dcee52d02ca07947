"""Value comparison for checking a pipeline against the notebook it came from.

The question is "did splitting the notebook change any result?", so the answer
must be one of three honest states and a one-line reason a person can act on:
floats are compared with a tolerance (a task boundary can change summation
order), NaN equals NaN, and things that only have behaviour (functions,
modules) are reported as not comparable rather than silently equal or
different.

What is compared is what matters:

- figures (matplotlib Figures, Axes and artists, seaborn grids, scikit-learn
  ``*Display`` objects) by the picture they draw (``figures.py``), never by
  their stale flags, callback registries and parent pointers;
- models by what they learned: scikit-learn estimators by ``get_params()`` and
  their fitted attributes (names ending in ``_``), statsmodels results by
  ``params``, ``bse`` and ``fittedvalues`` (never by private scratch buffers
  such as ``_tmp_like_exog``), torch modules by ``state_dict()``, xgboost and
  lightgbm boosters by their saved model; a function inside a model
  (``FunctionTransformer(func)``, a ``make_scorer`` scorer, a lambda parameter)
  by its code and closure values;
- known noise is named, with status ``VOLATILE`` (the name verify already uses
  for values it does not hold against the pipeline) and a reason, never
  silently compared away: timings (a differing number under a name like
  ``*_time``, ``elapsed``, ``duration``, ``seconds``), clock readings (datetimes
  or ``time.time()`` floats near now and within ``CLOCK_WINDOW`` of each other),
  memory addresses (``0x7f...`` in strings) and temporary paths that differ only
  in their random component.

pandas and numpy are never imported here: a value can only be a DataFrame or
an ndarray if its library is already loaded, so ``sys.modules`` is consulted.
"""

from __future__ import annotations

import cmath
import datetime
import inspect
import math
import os
import random
import re
import reprlib
import sys
import types
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DIFFERENT", "EQUAL", "NOT_COMPARABLE", "VOLATILE", "Comparison", "compare"]

Status = Literal["equal", "different", "not comparable", "volatile"]
EQUAL: Status = "equal"
DIFFERENT: Status = "different"
NOT_COMPARABLE: Status = "not comparable"
VOLATILE: Status = "volatile"  # known noise (a timing, a clock, an address, a temp path): named, not failing

CLOCK_WINDOW = 15 * 60.0  # seconds: two clock readings this close, both near now, are one reading taken twice


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare`; ``detail`` is empty when equal."""

    status: Status
    detail: str = ""

    @property
    def equal(self) -> bool:
        return self.status == EQUAL


def compare(a: Any, b: Any, *, rtol: float = 1e-7, atol: float = 1e-9, name: str = "") -> Comparison:
    """Compare two results and say, in one line, where they first differ.

    Tolerances follow numpy's convention: ``|a - b| <= atol + rtol * |b|``.
    ``name`` (the variable's name, optional) lets a differing timing such as
    ``elapsed`` be named volatile at the top level as it is inside a dict.
    """
    comparer = _Comparer(rtol, atol)
    result = comparer.compare(a, b, "")
    if result.status == DIFFERENT and _is_timing_name(name) and _is_quantity(a) and _is_quantity(b):
        return Comparison(VOLATILE, f"a timing: {result.detail}")
    return result


_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 4


def _fmt(value: Any) -> str:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        if isinstance(value, (np.str_, np.bytes_)):
            return _short.repr(value.item())
        return str(value)  # repr would say np.float64(1.2)
    return _short.repr(value)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _key(key: Any) -> str:
    return f"[{_fmt(key)}]"


class _Comparer:
    """One comparison run: tolerances plus the pairs already being compared."""

    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol = rtol
        self.atol = atol
        self._active: set[tuple[int, int]] = set()
        self._in_model = 0  # inside a model, functions are compared by their code

    # -------------------------------------------------------------- results

    @staticmethod
    def _result(status: Status, path: str, message: str) -> Comparison:
        path = path.removeprefix(".")
        return Comparison(status, f"{path}: {message}" if path else message)

    def _different(self, path: str, message: str) -> Comparison:
        return self._result(DIFFERENT, path, message)

    def _not_comparable(self, path: str, message: str) -> Comparison:
        return self._result(NOT_COMPARABLE, path, message)

    def _volatile(self, path: str, message: str) -> Comparison:
        return self._result(VOLATILE, path, message)

    # ------------------------------------------------------------ dispatch

    def compare(self, a: Any, b: Any, path: str) -> Comparison:
        if a is b:
            return Comparison(EQUAL)
        if not _same_type(a, b):
            return self._different(path, f"type {_type_name(a)} vs {_type_name(b)}")

        pair = (id(a), id(b))
        if pair in self._active:
            # A cycle: whatever differs will be reported where it first occurs.
            return Comparison(EQUAL)
        self._active.add(pair)
        try:
            return self._dispatch(a, b, path)
        finally:
            self._active.discard(pair)

    def _dispatch(self, a: Any, b: Any, path: str) -> Comparison:
        pd = sys.modules.get("pandas")
        np = sys.modules.get("numpy")

        if a is None or isinstance(a, (bool, str, bytes, bytearray)):
            return self._atoms(a, b, path)
        if isinstance(a, (int, float, complex)) and not (np is not None and isinstance(a, np.generic)):
            return self._numbers(a, b, path)
        if np is not None and isinstance(a, np.generic):
            return self._numpy_scalar(a, b, path)
        if np is not None and isinstance(a, np.ndarray):
            return self._arrays(a, b, path)
        if pd is not None:
            if isinstance(a, pd.DataFrame):
                return self._frames(a, b, path)
            if isinstance(a, pd.Series):
                return self._series(a, b, path)
            if isinstance(a, pd.Index):
                return self._index(a, b, path, "index")
            if isinstance(a, pd.api.extensions.ExtensionArray):
                return self._series(pd.Series(a), pd.Series(b), path)
        if isinstance(a, datetime.datetime):
            return self._datetimes(a, b, path)
        if isinstance(a, os.PathLike):
            return self._paths(a, b, path)
        if isinstance(a, tuple):
            return self._tuples(a, b, path)
        if isinstance(a, list):
            return self._sequences(a, b, path)
        if isinstance(a, dict):
            return self._dicts(a, b, path)
        if isinstance(a, (set, frozenset)):
            return self._sets(a, b, path)
        if isinstance(a, types.ModuleType):
            return self._not_comparable(path, f"module {a.__name__}: not compared")
        if isinstance(a, type):
            return self._not_comparable(path, f"class {a.__qualname__}: compared by behaviour only")
        if _is_function(a):
            if self._in_model and isinstance(a, (types.FunctionType, types.MethodType)):
                return self._functions(a, b, path)
            return self._not_comparable(path, "function: compared by behaviour only")
        if isinstance(a, random.Random):
            return self._random_state(a.getstate(), b.getstate(), path, "python")
        if np is not None:
            if isinstance(a, np.random.Generator):
                return self._random_state(a.bit_generator.state, b.bit_generator.state, path, "Generator")
            if isinstance(a, np.random.RandomState):
                return self._random_state(a.get_state(legacy=False), b.get_state(legacy=False), path, "numpy")
            if isinstance(a, np.random.BitGenerator):
                return self._random_state(a.state, b.state, path, "bit generator")
        figure = _figures().figure_of(a) if "matplotlib" in sys.modules else None
        if figure is not None:
            other = _figures().figure_of(b)
            if figure is other is _figures().UNATTACHED:  # proxy artists (a legend's handles)
                return self._mappings(_figures().drawn_properties(a), _figures().drawn_properties(b), path,
                                      _attr, "property")
            return self._figures(figure, other, path)
        if _is_estimator(a):
            return self._model(self._estimators, a, b, path)
        if _is_model_results(a):
            return self._model(self._model_results, a, b, path)
        if _is_statistical_model(a):
            return self._model(self._statistical_model, a, b, path)
        if callable(getattr(type(a), "state_dict", None)):
            return self._model(self._state_dicts, a, b, path)
        if callable(getattr(type(a), "save_raw", None)) and callable(getattr(type(a), "get_dump", None)):
            return self._model(self._saved_models, a, b, path)  # an xgboost Booster
        if callable(getattr(type(a), "model_to_string", None)):
            return self._model(self._saved_models, a, b, path)  # a lightgbm Booster
        if _is_tensor(a):
            return self._dispatch(_tensor_array(a), _tensor_array(b), path)
        if callable(getattr(a, "getvalue", None)) and callable(getattr(b, "getvalue", None)):
            # text buffers: what they hold, not how the kernel wrapped them
            return self._dispatch(a.getvalue(), b.getvalue(), f"{path}.getvalue()")
        if type(a).__name__ == "CapturedIO" and _same_type(a, b):
            # %%capture: IPython's capture holds the stream objects of whoever ran it
            return self._dispatch((a.stdout, a.stderr), (b.stdout, b.stderr), f"{path}.(stdout, stderr)")
        return self._objects(a, b, path)

    # ------------------------------------------------------------- scalars

    def _atoms(self, a: Any, b: Any, path: str) -> Comparison:
        if a == b:
            return Comparison(EQUAL)
        if isinstance(a, str):
            noise = _string_noise(a, b)
            if noise:
                return self._volatile(path, noise)
        if isinstance(a, (str, bytes, bytearray)) and max(len(a), len(b)) > 40:
            at = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)),
            )
            return self._different(path, f"length {len(a)} vs {len(b)}, first difference at position {at}")
        return self._different(path, f"{_fmt(a)} vs {_fmt(b)}")

    def _close(self, a: Any, b: Any) -> bool:
        if a == b:
            return True
        isnan, isinf = (cmath.isnan, cmath.isinf) if isinstance(a, complex) else (math.isnan, math.isinf)
        if isnan(a) or isnan(b):
            return isnan(a) and isnan(b)
        if isinf(a) or isinf(b):
            return False  # equal infinities were caught by == above
        try:
            return abs(a - b) <= self.atol + self.rtol * abs(b)
        except OverflowError:
            return False

    def _numbers(self, a: Any, b: Any, path: str) -> Comparison:
        if isinstance(a, int):
            equal = a == b
        else:
            equal = self._close(a, b)
        if equal:
            return Comparison(EQUAL)
        if isinstance(a, float) and _clock_floats(a, b):
            return self._volatile(path, f"a clock reading (time.time()): {_epoch_text(a)} vs {_epoch_text(b)}")
        return self._different(path, f"{_fmt(a)} vs {_fmt(b)}")

    def _numpy_scalar(self, a: Any, b: Any, path: str) -> Comparison:
        np = sys.modules["numpy"]
        if a.dtype != b.dtype:
            return self._different(path, f"dtype {a.dtype} vs {b.dtype}")
        kind = a.dtype.kind
        if kind in "fc":
            equal = self._close(a.item(), b.item())
        elif kind in "mM":
            equal = (np.isnat(a) and np.isnat(b)) or bool(a == b)
        elif a.dtype.names is not None:
            return self._arrays(np.asarray(a), np.asarray(b), path)
        else:
            equal = bool(a == b)
        if equal:
            return Comparison(EQUAL)
        if kind == "f" and _clock_floats(float(a), float(b)):
            return self._volatile(path, f"a clock reading (time.time()): {_epoch_text(a)} vs {_epoch_text(b)}")
        return self._different(path, f"{_fmt(a)} vs {_fmt(b)}")

    # -------------------------------------------------------------- arrays

    def _arrays(self, a: Any, b: Any, path: str) -> Comparison:
        if a.shape != b.shape:
            return self._different(path, f"shape {a.shape} vs {b.shape}")
        if a.dtype != b.dtype:
            return self._different(path, f"dtype {a.dtype} vs {b.dtype}")
        if a.dtype.names is not None:
            for field in a.dtype.names:
                result = self._arrays(a[field], b[field], f"{path}{_key(field)}")
                if not result.equal:
                    return result
            return Comparison(EQUAL)
        if a.dtype.kind == "O":
            return self._elements(a, b, path)
        message = self._array_values(a, b, lambda i: f"index {_unravel(i, a.shape, parens=True)}")
        if message is None:
            return Comparison(EQUAL)
        return self._different(path, message)

    def _array_values(self, a: Any, b: Any, where: Any) -> str | None:
        """Describe how two same-shape, same-dtype, non-object arrays differ."""
        np = sys.modules["numpy"]
        a = np.ravel(a)
        b = np.ravel(b)
        kind = a.dtype.kind
        if kind in "fc":
            nan_a = np.isnan(a)
            nan_b = np.isnan(b)
            with np.errstate(invalid="ignore", over="ignore"):
                close = np.isclose(a, b, rtol=self.rtol, atol=self.atol, equal_nan=True)
            differ = ~close
            n = int(differ.sum())
            if n == 0:
                return None
            finite = differ & np.isfinite(a) & np.isfinite(b)
            message = f"{n} of {a.size} values differ"
            if finite.any():
                with np.errstate(over="ignore"):
                    worst = float(np.max(np.abs(a[finite] - b[finite])))
                message += f", max abs diff {worst:.6g}"
            elif (nan_a != nan_b).any():
                message += ", NaN in one only"
            else:
                first = int(np.argmax(differ))
                message += f", first at {where(first)}: {_fmt(a[first])} vs {_fmt(b[first])}"
            return message
        if kind in "mM":
            # NaT is the minimum int64, so comparing the raw values makes
            # NaT equal NaT, as NaN equals NaN for floats.
            differ = a.view("i8") != b.view("i8")
        else:
            differ = np.asarray(a != b, dtype=bool)
        n = int(differ.sum())
        if n == 0:
            return None
        first = int(np.argmax(differ))
        return f"{n} of {a.size} values differ, first at {where(first)}: {_fmt(a[first])} vs {_fmt(b[first])}"

    def _elements(self, a: Any, b: Any, path: str) -> Comparison:
        """Object arrays: every element compared recursively (estimators, lists...)."""
        worst = _Worst()
        for i, (x, y) in enumerate(zip(a.flat, b.flat, strict=True)):
            index = _unravel(i, a.shape)
            if worst.add(self.compare(x, y, f"{path}[{index}]")):
                break
        return worst.result()

    # -------------------------------------------------------------- pandas

    def _frames(self, a: Any, b: Any, path: str) -> Comparison:
        if a.shape != b.shape:
            return self._different(path, f"shape {a.shape} vs {b.shape}")
        columns_a, columns_b = list(a.columns), list(b.columns)
        if columns_a != columns_b:
            only_a = [c for c in columns_a if c not in columns_b]
            only_b = [c for c in columns_b if c not in columns_a]
            if only_a or only_b:
                parts = []
                if only_a:
                    parts.append(f"only in a: {_fmt(only_a)}")
                if only_b:
                    parts.append(f"only in b: {_fmt(only_b)}")
                return self._different(path, "columns " + "; ".join(parts))
            return self._different(path, "same columns in a different order")
        result = self._index(a.index, b.index, path, "index")
        if not result.equal:
            return result
        for position, label in enumerate(columns_a):
            # By position: duplicate column labels would make a[label] a frame.
            result = self._column_values(a.iloc[:, position], b.iloc[:, position], path, f"column {_fmt(label)}")
            if not result.equal:
                return result
        return Comparison(EQUAL)

    def _series(self, a: Any, b: Any, path: str) -> Comparison:
        if len(a) != len(b):
            return self._different(path, f"length {len(a)} vs {len(b)}")
        if not _names_equal(a.name, b.name):
            return self._different(path, f"name {_fmt(a.name)} vs {_fmt(b.name)}")
        result = self._index(a.index, b.index, path, "index")
        if not result.equal:
            return result
        return self._column_values(a, b, path, "")

    def _index(self, a: Any, b: Any, path: str, what: str) -> Comparison:
        pd = sys.modules["pandas"]
        if len(a) != len(b):
            return self._different(path, f"{what} length {len(a)} vs {len(b)}")
        if a.nlevels != b.nlevels:
            return self._different(path, f"{what} levels {a.nlevels} vs {b.nlevels}")
        if list(a.names) != list(b.names):
            return self._different(path, f"{what} names {_fmt(list(a.names))} vs {_fmt(list(b.names))}")
        # RangeIndex and an int64 Index holding the same labels are the same
        # data, so the index class is not compared, only dtype and values.
        if a.dtype != b.dtype:
            return self._different(path, f"{what} {_dtype_diff(a.dtype, b.dtype)}")
        if a.equals(b):
            return Comparison(EQUAL)
        if isinstance(a, pd.MultiIndex):
            a = pd.Index(a.to_flat_index(), tupleize_cols=False)
            b = pd.Index(b.to_flat_index(), tupleize_cols=False)
        left = pd.Series(a, copy=False)
        right = pd.Series(b, copy=False)
        return self._column_values(left, right, path, what, label_rows=False)

    def _column_values(self, a: Any, b: Any, path: str, what: str, *, label_rows: bool = True) -> Comparison:
        """Values of two same-length Series, which already have equal indexes."""
        np = sys.modules["numpy"]
        pd = sys.modules["pandas"]
        prefix = f"{what}: " if what else ""
        if a.dtype != b.dtype:
            return self._different(path, prefix + _dtype_diff(a.dtype, b.dtype))

        def where(position: int) -> str:
            if label_rows:
                return f"row {_fmt(a.index[position])}"
            return f"position {position}"

        dtype = a.dtype
        if isinstance(dtype, np.dtype):
            if dtype.kind == "O":
                return self._object_values(a, b, path, prefix, where)
            message = self._array_values(a.to_numpy(), b.to_numpy(), where)
        elif pd.api.types.is_float_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
            # Nullable Float64: NA becomes NaN so that NA equals NA.
            target = "complex128" if pd.api.types.is_complex_dtype(dtype) else "float64"
            message = self._array_values(
                a.to_numpy(dtype=target, na_value=np.nan),
                b.to_numpy(dtype=target, na_value=np.nan),
                where,
            )
        else:
            try:
                message = self._extension_values(a, b, where)
            except (TypeError, ValueError):
                return self._object_values(a, b, path, prefix, where)
        if message is None:
            return Comparison(EQUAL)
        return self._different(path, prefix + message)

    def _extension_values(self, a: Any, b: Any, where: Any) -> str | None:
        """Categorical, string, nullable int/bool, datetime-tz, period... columns."""
        left = a.reset_index(drop=True)
        right = b.reset_index(drop=True)
        na_left = left.isna().to_numpy(dtype=bool)
        na_right = right.isna().to_numpy(dtype=bool)
        equal = (left == right).fillna(False).to_numpy(dtype=bool)
        differ = ~(equal | (na_left & na_right))
        n = int(differ.sum())
        if n == 0:
            return None
        first = int(differ.argmax())
        return (
            f"{n} of {len(left)} values differ, "
            f"first at {where(first)}: {_fmt(left.iloc[first])} vs {_fmt(right.iloc[first])}"
        )

    def _object_values(self, a: Any, b: Any, path: str, prefix: str, where: Any) -> Comparison:
        """Object columns: cells may hold anything, so each is compared in full."""
        n = 0
        first = None
        not_comparable = None
        volatile = None
        for position, (x, y) in enumerate(zip(a.array, b.array, strict=True)):
            if _both_missing(x, y):
                continue
            result = self.compare(x, y, "")
            if result.status == DIFFERENT:
                n += 1
                if first is None:
                    first = (position, result.detail)
            elif result.status == NOT_COMPARABLE and not_comparable is None:
                not_comparable = (position, result.detail)
            elif result.status == VOLATILE and volatile is None:
                volatile = (position, result.detail)
        if first is not None:
            position, detail = first
            return self._different(
                path,
                f"{prefix}{n} of {len(a)} values differ, first at {where(position)}: {detail}",
            )
        if not_comparable is not None:
            position, detail = not_comparable
            return self._not_comparable(path, f"{prefix}{where(position)}: {detail}")
        if volatile is not None:
            position, detail = volatile
            return self._volatile(path, f"{prefix}{where(position)}: {detail}")
        return Comparison(EQUAL)

    # ---------------------------------------------------------- containers

    def _tuples(self, a: tuple[Any, ...], b: tuple[Any, ...], path: str) -> Comparison:
        np = sys.modules.get("numpy")
        if np is not None and _is_numpy_random_state(a) and _is_numpy_random_state(b):
            return self._random_state(a, b, path, "numpy")
        if _is_python_random_state(a) and _is_python_random_state(b):
            return self._random_state(a, b, path, "python")
        return self._sequences(a, b, path)

    def _sequences(self, a: Any, b: Any, path: str) -> Comparison:
        if len(a) != len(b):
            return self._different(path, f"length {len(a)} vs {len(b)}")
        worst = _Worst()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if worst.add(self.compare(x, y, f"{path}[{i}]")):
                break
        return worst.result()

    def _dicts(self, a: dict[Any, Any], b: dict[Any, Any], path: str) -> Comparison:
        return self._mappings(a, b, path, _key, "key")

    def _mappings(self, a: dict[Any, Any], b: dict[Any, Any], path: str, step: Any, noun: str) -> Comparison:
        only_a = [k for k in a if k not in b]
        only_b = [k for k in b if k not in a]
        if only_a:
            return self._different(path, f"{noun} {_fmt(only_a[0])} only in a")
        if only_b:
            return self._different(path, f"{noun} {_fmt(only_b[0])} only in b")
        worst = _Worst()
        for k, x in a.items():
            y = b[k]
            result = self.compare(x, y, path + step(k))
            if result.status == DIFFERENT and _is_timing_name(k) and _is_quantity(x) and _is_quantity(y):
                # refit_time_, cv_results_["mean_fit_time"], {"elapsed": ...}: differs on every run
                result = self._volatile(path + step(k), f"a timing: {self.compare(x, y, '').detail}")
            if worst.add(result):
                break
        return worst.result()

    def _sets(self, a: Any, b: Any, path: str) -> Comparison:
        if a == b:
            return Comparison(EQUAL)
        parts = []
        for side, extra in (("a", a - b), ("b", b - a)):
            if extra:
                example = _fmt(next(iter(extra)))
                parts.append(f"{len(extra)} only in {side} (e.g. {example})")
        return self._different(path, "set items differ: " + "; ".join(parts))

    # ------------------------------------------------------------- objects

    def _random_state(self, a: Any, b: Any, path: str, kind: str) -> Comparison:
        # State tuples are compared element by element directly: going through
        # compare() again would meet this very pair and take it for a cycle.
        if isinstance(a, tuple):
            result = self._sequences(a, b, "")
        else:
            result = self.compare(a, b, "")
        if result.equal:
            return result
        detail = f"{kind} random state differs"
        if result.detail:
            detail += f" ({result.detail})"
        return self._result(result.status, path, detail)

    def _estimators(self, a: Any, b: Any, path: str) -> Comparison:
        # Hyper-parameters first: a different n_estimators explains every
        # fitted difference that follows from it.
        try:
            params_a = a.get_params(deep=False)
            params_b = b.get_params(deep=False)
        except Exception as exc:  # noqa: BLE001 - third-party get_params
            return self._not_comparable(path, f"get_params() failed: {exc}")
        result = self._mappings(params_a, params_b, path, _attr, "parameter")
        if not result.equal:
            return result
        fitted_a = _fitted_attributes(a)
        fitted_b = _fitted_attributes(b)
        if fitted_a and not fitted_b:
            return self._different(path, "a is fitted, b is not")
        if fitted_b and not fitted_a:
            return self._different(path, "b is fitted, a is not")
        return self._mappings(fitted_a, fitted_b, path, _attr, "fitted attribute")

    def _figures(self, a: Any, b: Any, path: str) -> Comparison:
        figures = _figures()
        if a is figures.UNATTACHED or b is figures.UNATTACHED or b is None:
            if a is b:
                return self._not_comparable(path, "artist is in no figure: nothing is drawn")
            return self._different(path, "only one of the two is drawn in a figure")
        try:
            message = figures.compare_figures(a, b)
        except Exception as exc:  # noqa: BLE001 - drawing runs arbitrary artists
            return self._not_comparable(path, f"the figure could not be drawn: {exc}")
        return Comparison(EQUAL) if message is None else self._different(path, message)

    def _model(self, method: Any, a: Any, b: Any, path: str) -> Comparison:
        self._in_model += 1
        try:
            return method(a, b, path)
        finally:
            self._in_model -= 1

    def _functions(self, a: Any, b: Any, path: str) -> Comparison:
        """A function inside a model: its code, defaults and closure values (not its globals)."""
        if isinstance(a, types.MethodType):
            if not isinstance(b, types.MethodType):
                return self._different(path, "a bound method vs a function")
            result = self._functions(a.__func__, b.__func__, path)
            if not result.equal:
                return result
            return self.compare(a.__self__, b.__self__, f"{path}.__self__")
        if _code_key(a.__code__) != _code_key(b.__code__):
            return self._different(path, f"function {a.__qualname__} vs {b.__qualname__}: its code differs")
        result = self.compare((a.__defaults__, a.__kwdefaults__), (b.__defaults__, b.__kwdefaults__), f"{path}.<defaults>")
        if not result.equal:
            return result
        return self.compare(_closure(a), _closure(b), f"{path}.<closure>")

    def _model_results(self, a: Any, b: Any, path: str) -> Comparison:
        """statsmodels-like results: what was estimated (params, bse, fitted values) and the data it saw."""
        worst = _Worst()
        for name in ("params", "bse", "fittedvalues"):
            x, y = _attribute(a, name), _attribute(b, name)
            if x is _MISSING and y is _MISSING:
                continue
            if x is _MISSING or y is _MISSING:
                return self._different(path, f"{name} only in {'b' if x is _MISSING else 'a'}")
            if worst.add(self.compare(x, y, f"{path}.{name}")):
                return worst.result()
        worst.add(self.compare(a.model, b.model, f"{path}.model"))
        return worst.result()

    def _statistical_model(self, a: Any, b: Any, path: str) -> Comparison:
        """A statsmodels-like model: the data it is fitted on; never its private scratch buffers."""
        if not _same_type(a, b):
            return self._different(path, f"type {_type_name(a)} vs {_type_name(b)}")
        worst = _Worst()
        for name in ("endog", "exog", "endog_names", "exog_names"):
            x, y = _attribute(a, name), _attribute(b, name)
            if x is _MISSING and y is _MISSING:
                continue
            if worst.add(self.compare(x, y, f"{path}.{name}")):
                break
        return worst.result()

    def _state_dicts(self, a: Any, b: Any, path: str) -> Comparison:
        """A torch-like module: its learned tensors (state_dict()), as arrays."""
        try:
            state_a = {k: _tensor_array(v) for k, v in a.state_dict().items()}
            state_b = {k: _tensor_array(v) for k, v in b.state_dict().items()}
        except Exception as exc:  # noqa: BLE001 - third-party state_dict
            return self._not_comparable(path, f"state_dict() failed: {exc}")
        return self._mappings(state_a, state_b, f"{path}.state_dict()", _key, "key")

    def _saved_models(self, a: Any, b: Any, path: str) -> Comparison:
        """xgboost/lightgbm boosters: the model they save (trees and weights)."""
        try:
            if callable(getattr(a, "model_to_string", None)):
                saved_a, saved_b, how = a.model_to_string(), b.model_to_string(), "model_to_string()"
            else:
                saved_a = bytes(a.save_raw(raw_format="json"))
                saved_b = bytes(b.save_raw(raw_format="json"))
                how = "save_raw()"
        except Exception as exc:  # noqa: BLE001 - third-party serialisation
            return self._not_comparable(path, f"the booster could not be saved: {exc}")
        return self.compare(saved_a, saved_b, f"{path}.{how}")

    def _datetimes(self, a: Any, b: Any, path: str) -> Comparison:
        try:
            if a == b:
                return Comparison(EQUAL)
            if _clock_datetimes(a, b):
                return self._volatile(path, f"a clock reading: {_clock_text(a, b)}")
        except (TypeError, ValueError, OverflowError):
            pass
        return self._objects(a, b, path)

    def _paths(self, a: Any, b: Any, path: str) -> Comparison:
        if a == b:
            return Comparison(EQUAL)
        noise = _string_noise(os.fspath(a), os.fspath(b))
        if noise:
            return self._volatile(path, noise)
        return self._different(path, f"{_fmt(a)} vs {_fmt(b)}")

    def _objects(self, a: Any, b: Any, path: str) -> Comparison:
        attrs_a = getattr(a, "__dict__", None)
        attrs_b = getattr(b, "__dict__", None)
        if isinstance(attrs_a, dict) and isinstance(attrs_b, dict) and (attrs_a or attrs_b):
            return self._mappings(attrs_a, attrs_b, path, _attr, "attribute")

        name = _type_name(a)
        if type(a).__eq__ is object.__eq__:
            # Identity equality says nothing about two copies of one value.
            # What pickle keeps of an object is all a product carries across
            # tasks, so that state (sklearn's Tree, slotted classes, partials)
            # is the value to compare.
            state_a = _state(a)
            state_b = _state(b)
            if state_a is _NO_STATE or state_b is _NO_STATE:
                return self._not_comparable(path, f"{name} objects define no equality")
            if isinstance(state_a, dict) and isinstance(state_b, dict):
                return self._mappings(state_a, state_b, path, _attr, "attribute")
            result = self.compare(state_a, state_b, "")
            if result.equal:
                return result
            verb = "differs" if result.status == DIFFERENT else "is not comparable"
            return self._result(result.status, path, f"{name} state {verb} ({result.detail})")
        try:
            equal = bool(a == b)
        except Exception as exc:  # noqa: BLE001 - arbitrary user __eq__/__bool__
            return self._not_comparable(path, f"{name} == failed: {exc}")
        if equal:
            return Comparison(EQUAL)
        return self._different(path, f"{_fmt(a)} vs {_fmt(b)}")


# ---------------------------------------------------------------- helpers


class _Worst:
    """The verdict over many parts: the first difference, else not comparable, else volatile."""

    def __init__(self) -> None:
        self._first: dict[str, Comparison] = {}

    def add(self, result: Comparison) -> bool:
        """Record one part's result; True when it differs (nothing later can change the verdict)."""
        if result.status != EQUAL:
            self._first.setdefault(result.status, result)
        return result.status == DIFFERENT

    def result(self) -> Comparison:
        for status in (DIFFERENT, NOT_COMPARABLE, VOLATILE):
            if status in self._first:
                return self._first[status]
        return Comparison(EQUAL)


def _figures() -> Any:
    from workbench.verification import figures

    return figures


_MISSING = object()


def _attribute(value: Any, name: str) -> Any:
    try:
        return getattr(value, name)
    except Exception:  # noqa: BLE001 - lazily computed statistics may fail (singular matrix...)
        return _MISSING


def _is_model_results(value: Any) -> bool:
    """statsmodels' results (and wrappers): fitted ``params``, their ``bse`` and the ``model`` behind them."""
    if isinstance(value, type) or _is_function(value):
        return False
    params = _attribute(value, "params")
    return (
        params is not _MISSING
        and not callable(params)
        and _attribute(value, "model") is not _MISSING
        and (hasattr(value, "bse") or type(value).__module__.startswith("statsmodels"))
    )


def _is_statistical_model(value: Any) -> bool:
    """A statsmodels-like model: fitted by ``fit()`` on ``endog``/``exog``."""
    return callable(getattr(type(value), "fit", None)) and hasattr(value, "endog") and hasattr(value, "exog")


def _is_tensor(value: Any) -> bool:
    cls = type(value)
    return cls.__module__.split(".")[0] == "torch" and all(
        callable(getattr(cls, name, None)) for name in ("detach", "cpu", "numpy")
    )


def _tensor_array(value: Any) -> Any:
    if all(callable(getattr(value, name, None)) for name in ("detach", "cpu", "numpy")):
        return value.detach().cpu().numpy()
    return value


def _code_key(code: types.CodeType) -> tuple[Any, ...]:
    """What a function does: bytecode, constants (nested code included), names; not where it was defined."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c)) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)


def _closure(function: types.FunctionType) -> list[Any]:
    values = []
    for cell in function.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            values.append(None)
    return values


# ------------------------------------------------------------------ noise

_TIMING = re.compile(r"(?:^|_)(?:time|times|elapsed|duration|durations|seconds|secs|runtime|walltime|timing|timings)$")


def _is_timing_name(name: Any) -> bool:
    """``fit_time``, ``refit_time_``, ``mean_score_time``, ``elapsed``, ``duration``, ``seconds``..."""
    return isinstance(name, str) and bool(_TIMING.search(name.lower().rstrip("_")))


def _is_quantity(value: Any) -> bool:
    """A number, a timedelta, or a numeric array/Series: what a timing can be."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, datetime.timedelta)):
        return True
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", "") in "iufm" and getattr(dtype, "kind", "") != ""


def _clock_floats(a: float, b: float) -> bool:
    """Both look like ``time.time()`` taken recently, within CLOCK_WINDOW of each other."""
    import time

    now = time.time()
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    near_now = all(now - 7 * 86400 <= x <= now + 3600 for x in (a, b))
    return near_now and abs(a - b) <= CLOCK_WINDOW


def _epoch_text(value: Any) -> str:
    return datetime.datetime.fromtimestamp(float(value)).strftime("%H:%M:%S")


def _clock_datetimes(a: datetime.datetime, b: datetime.datetime) -> bool:
    """Both look like ``datetime.now()`` taken recently, within CLOCK_WINDOW of each other."""
    now = datetime.datetime.now(a.tzinfo) if a.tzinfo is not None else datetime.datetime.now()
    # Naive readings may be UTC or local time: a day either way is still "now".
    window = datetime.timedelta(days=1)
    if not all(now - window <= x <= now + window for x in (a, b)):
        return False
    return abs((a - b).total_seconds()) <= CLOCK_WINDOW


def _clock_text(a: datetime.datetime, b: datetime.datetime) -> str:
    form = "%H:%M:%S" if a.date() == b.date() else "%Y-%m-%d %H:%M:%S"
    return f"{a.strftime(form)} vs {b.strftime(form)}"


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def _noise_pattern() -> re.Pattern[str]:
    import tempfile

    roots = sorted({tempfile.gettempdir(), "/tmp", "/var/tmp"}, key=len, reverse=True)  # noqa: S108 - recognised, not used
    temp = "|".join(re.escape(root.rstrip("/\\")) for root in roots)
    return re.compile(rf"({_ADDRESS.pattern}|(?:{temp})(?:[/\\][^\s'\"/\\:,;()\[\]{{}}<>]+)+)")


def _string_noise(a: str, b: str) -> str:
    """Why two different strings are the same text up to known noise, or ''."""
    pattern = _noise_pattern()
    parts_a = pattern.split(a)
    parts_b = pattern.split(b)
    if len(parts_a) != len(parts_b) or len(parts_a) == 1:
        return ""
    reason = ""
    # split() with one group alternates text (even positions) and noise tokens (odd positions)
    for i, (x, y) in enumerate(zip(parts_a, parts_b, strict=True)):
        if x == y:
            continue
        if i % 2 == 0:
            return ""
        if _ADDRESS.fullmatch(x) and _ADDRESS.fullmatch(y):
            reason = reason or f"memory addresses differ: {x} vs {y}"
        elif not _ADDRESS.match(x) and not _ADDRESS.match(y) and _random_paths(x, y):
            reason = reason or f"temporary paths differ in their random part: {_short.repr(x)} vs {_short.repr(y)}"
        else:
            return ""
    return reason


def _random_paths(a: str, b: str) -> bool:
    """Two temp paths alike but for the random names tempfile/mkdtemp/pytest choose."""
    parts_a = re.split(r"[/\\]", a)
    parts_b = re.split(r"[/\\]", b)
    if len(parts_a) != len(parts_b):
        return False
    last = len(parts_a) - 1
    for i, (x, y) in enumerate(zip(parts_a, parts_b, strict=True)):
        if x == y:
            continue
        if i < last and re.sub(r"\d+", "#", x) == re.sub(r"\d+", "#", y):
            continue  # pytest-12 vs pytest-13, test0 vs test1
        if len(x) == len(y) and (i < last or (x.startswith("tmp") and y.startswith("tmp"))):
            at = [j for j, (p, q) in enumerate(zip(x, y, strict=True)) if p != q]
            window_a, window_b = x[at[0] : at[-1] + 1], y[at[0] : at[-1] + 1]
            if at[-1] - at[0] < 8 and re.fullmatch(r"[a-z0-9_]+", window_a) and re.fullmatch(r"[a-z0-9_]+", window_b):
                continue  # tmpab12cd34 vs tmpzz98yx76: tempfile's 8 random characters
        return False
    return True


def _attr(name: Any) -> str:
    return f".{name}"


def _same_type(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb:
        return True
    # A class defined in a notebook is rebuilt by cloudpickle when a product
    # is loaded, so the notebook's instance and the product's instance have
    # distinct but identically named classes.
    return (ta.__module__, ta.__qualname__) == (tb.__module__, tb.__qualname__)


def _is_function(value: Any) -> bool:
    return (
        inspect.isfunction(value)
        or inspect.ismethod(value)
        or inspect.isbuiltin(value)
        or inspect.ismethoddescriptor(value)
    )


def _is_estimator(value: Any) -> bool:
    cls = type(value)
    return callable(getattr(cls, "get_params", None)) and callable(getattr(cls, "fit", None))


def _fitted_attributes(estimator: Any) -> dict[str, Any]:
    attributes = getattr(estimator, "__dict__", {})
    return {name: value for name, value in attributes.items() if name.endswith("_") and not name.startswith("_")}


_NO_STATE = object()


def _state(value: Any) -> Any:
    """What pickle would store for ``value``, or ``_NO_STATE``."""
    try:
        if type(value).__getstate__ is not object.__getstate__:
            return value.__getstate__()
        reduced = value.__reduce_ex__(4)
    except Exception:  # noqa: BLE001 - any refusal to pickle means "no state"
        return _NO_STATE
    if not isinstance(reduced, tuple) or len(reduced) < 2:
        return _NO_STATE
    args = reduced[1]
    if args and isinstance(args[0], type):
        args = args[1:]  # copyreg.__newobj__(cls, ...): the class is already equal
    state = reduced[2] if len(reduced) > 2 else None
    if (
        isinstance(state, tuple)
        and len(state) == 2
        and isinstance(state[0], (dict, type(None)))
        and isinstance(state[1], dict)
    ):
        state = {**(state[0] or {}), **state[1]}  # (__dict__, __slots__ values)
    if not args:
        return {} if state is None else state
    return (args, state)


def _dtype_diff(a: Any, b: Any) -> str:
    categories_a = getattr(a, "categories", None)
    categories_b = getattr(b, "categories", None)
    if categories_a is not None and categories_b is not None:
        if not categories_a.equals(categories_b):
            return f"categories {_fmt(list(categories_a))} vs {_fmt(list(categories_b))}"
        return f"categorical ordered={a.ordered} vs ordered={b.ordered}"
    return f"dtype {a} vs {b}"


def _is_numpy_random_state(value: tuple[Any, ...]) -> bool:
    np = sys.modules["numpy"]
    return len(value) == 5 and isinstance(value[0], str) and value[0] == "MT19937" and isinstance(value[1], np.ndarray)


def _is_python_random_state(value: tuple[Any, ...]) -> bool:
    return len(value) == 3 and type(value[0]) is int and isinstance(value[1], tuple) and len(value[1]) == 625


def _unravel(flat_index: int, shape: tuple[int, ...], *, parens: bool = False) -> str:
    if len(shape) <= 1:
        return str(flat_index)
    index = []
    for size in reversed(shape):
        flat_index, rest = divmod(flat_index, size)
        index.append(rest)
    text = ", ".join(str(i) for i in reversed(index))
    return f"({text})" if parens else text


def _names_equal(a: Any, b: Any) -> bool:
    if a is b or _both_missing(a, b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _both_missing(a: Any, b: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    try:
        return bool(pd.isna(a)) and bool(pd.isna(b))
    except (TypeError, ValueError):
        # pd.isna on a list or array answers elementwise: not a missing scalar.
        return False
