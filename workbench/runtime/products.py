"""Storage of the variables that pipeline tasks hand to each other.

A product is a directory named after the variable (``products/<task>/<var>``)
holding exactly one data file.  The directory, not the file, is the product so
that the format can change between runs (a frame that stops being
parquet-friendly becomes a pickle) without the pipeline declaring new paths.

Formats are chosen for fidelity first: parquet and ``.npy`` are only used when
the object is known to come back *identical* (same dtypes, same index, same
names); everything else goes through cloudpickle, which also carries lambdas,
closures and classes defined in a notebook's ``__main__``.

Every task imports this module before knowing what it will store, so pandas,
numpy, pyarrow and cloudpickle (even json and pickle) are imported inside
functions only.  An object can only be a DataFrame or an ndarray if its
library is already loaded, so ``sys.modules`` tells which checks are worth
doing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO

__all__ = ["NotSaved", "ProductError", "load", "save"]

# Longest suffix first: ".series.parquet" must win over ".parquet".
_SERIES_PARQUET = ".series.parquet"
_PARQUET = ".parquet"
_NPY = ".npy"
_PICKLE = ".pkl"
# What stands in for a value no later task reads and that cannot be stored (save(needed=False)):
# why, as JSON, so verify can say so instead of the run failing over it.
_UNSAVED = ".unsaved.json"
# A CuPy array is stored from the host as .npy; the suffix remembers where it lived, so a GPU task
# (WORKBENCH_DEVICE=gpu) gets it back on its device and a CPU task gets NumPy.
_CUPY_NPY = ".cupy.npy"
_SUFFIXES = (_SERIES_PARQUET, _PARQUET, _CUPY_NPY, _NPY, _PICKLE, _UNSAVED)

# Key under which save() keeps what pandas' parquet writer would lose.
_META_KEY = "__workbench__"
_SERIES_COLUMN = "values"

_HOW_TO_FIX = "keep it inside one task, or convert it to a list/array/frame before the task ends"


class ProductError(Exception):
    """A product cannot be written or read; the message says what to do."""


class NotSaved(ProductError):
    """The product is a value that could not be stored and that no task reads (save(needed=False))."""


def save(obj: Any, path: str | os.PathLike[str], *, needed: bool = True) -> Path:
    """Store ``obj`` as the product directory ``path`` and return the data file.

    The previous data file stays readable until the new one is complete, so a
    crash or an unpicklable object never leaves a downstream task reading a
    truncated or mismatched product.

    ``needed=False``: no later task reads the value (the pipeline keeps it so
    that verify can compare it). If it cannot be stored (an iterator, a
    generator, an open handle: `axs.flat` in matplotlib's examples), that is no
    reason to fail the run: a small note saying why takes its place, the
    task's output says so, and loading it raises NotSaved with the reason.
    """
    directory = Path(path)
    if not directory.name:
        raise ProductError(
            f"product path {str(path)!r} must end with the variable name, e.g. products/<task>/<variable>"
        )
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        try:
            target = _write_data_file(obj, directory)
        except ProductError as exc:
            if needed:
                raise
            target = _write_unsaved(obj, directory, str(exc))
    except BaseException as exc:
        if created:
            # An empty product directory would look like a finished task that
            # produced nothing; leave the tree as it was.
            with contextlib.suppress(OSError):
                directory.rmdir()
        if isinstance(exc, OSError) and _out_of_space(exc):
            raise ProductError(
                f"cannot save variable '{directory.name}' ({_type_name(obj)}) to {directory}: no room to write it "
                f"({exc}). Nothing was half-written: the task counts as not run. Free disk space (or raise the "
                "file-size limit) and run again"
            ) from exc
        raise
    _remove_stale(directory, keep=target)
    return target


def _write_unsaved(obj: Any, directory: Path, reason: str) -> Path:
    import json

    print(f"workbench: {_describe(directory)} is not kept: {reason.split('; ' + _HOW_TO_FIX)[0]}. No later task "
          "reads it, so the run goes on; verify reports it as not comparable.", file=sys.stderr)
    note = json.dumps({"type": _type_name(obj), "reason": reason}).encode()
    target = directory / f"{directory.name}{_UNSAVED}"
    _write_atomic(target, lambda fh: fh.write(note))
    return target


def _read_unsaved(data_file: Path) -> Any:
    import json

    note = json.loads(data_file.read_text(encoding="utf-8"))
    raise NotSaved(f"{_describe(data_file.parent)} ({note['type']}) was not kept: it cannot be stored "
                   f"({note['reason'].split(' cannot be passed between tasks ')[-1].split('; ')[0].strip('()')})")


def _out_of_space(exc: OSError) -> bool:
    """A write that failed for room, not for a bug: disk full, quota, file-size limit, or a short
    write (NumPy reports one as "N requested and M written", without an errno)."""
    return exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "requested and" in str(exc)


def _write_data_file(obj: Any, directory: Path) -> Path:
    name = directory.name
    kind = _fast_format(obj)
    if kind is not None:
        target = directory / f"{name}{kind}"
        try:
            _write_atomic(target, lambda fh: _FAST_WRITERS[kind](obj, fh))
        except (ImportError, ValueError, TypeError, KeyError, NotImplementedError):
            # No pyarrow, or a conversion error (pyarrow's subclass these).
            # The whitelist should make the latter unreachable; pickle is the
            # safety net that keeps an exotic frame from failing the task.
            pass
        else:
            return target
    target = directory / f"{name}{_PICKLE}"
    _write_atomic(target, lambda fh: _write_pickle(obj, fh, directory))
    return target


def load(path: str | os.PathLike[str]) -> Any:
    """Read back the object that ``save`` stored in the product directory.

    The format is recovered from the file suffix, not from the pipeline spec,
    so products written by an older run with another format still load.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ProductError(
            f"{_describe(directory)} has not been produced: {directory} does not exist; run the upstream task first"
        )
    data_file = _pick_data_file(directory)
    if data_file is None:
        raise ProductError(
            f"{_describe(directory)} has not been produced: {directory} holds no data file; run the upstream task first"
        )
    try:
        return _READERS[_suffix(data_file.name)](data_file)
    except NotSaved:
        raise
    except Exception as exc:
        raise ProductError(f"cannot read {_describe(directory)} from {data_file}: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- formats


def _fast_format(obj: Any) -> str | None:
    """The non-pickle suffix for ``obj``, or None when only pickle is faithful.

    Exact type checks on purpose: a subclass (GeoDataFrame, np.matrix) would
    come back as its base class from parquet or ``.npy``.
    """
    np = sys.modules.get("numpy")
    if np is not None and type(obj) is np.ndarray and not obj.dtype.hasobject:
        return _NPY
    cp = sys.modules.get("cupy")
    if cp is not None and type(obj) is cp.ndarray:
        return _CUPY_NPY
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if type(obj) is pd.DataFrame and _frame_is_parquet_safe(obj):
        return _PARQUET
    if type(obj) is pd.Series and _series_is_parquet_safe(obj):
        return _SERIES_PARQUET
    return None


def _write_npy(obj: Any, fh: IO[bytes]) -> None:
    import numpy as np

    np.save(fh, obj, allow_pickle=False)


def _read_npy(data_file: Path) -> Any:
    import numpy as np

    return np.load(data_file, allow_pickle=False)


def _write_cupy_npy(obj: Any, fh: IO[bytes]) -> None:
    import numpy as np

    np.save(fh, obj.get(), allow_pickle=False)


def _read_cupy_npy(data_file: Path) -> Any:
    """On the device for a GPU task (`WORKBENCH_DEVICE=gpu`, and a usable GPU), else NumPy."""
    import numpy as np

    array = np.load(data_file, allow_pickle=False)
    if os.environ.get("WORKBENCH_DEVICE") == "gpu":
        from workbench.runtime.devices import xp

        return xp().asarray(array)
    return array


def _write_frame_parquet(frame: Any, fh: IO[bytes]) -> None:
    _to_parquet(frame, fh, meta={})


def _write_series_parquet(series: Any, fh: IO[bytes]) -> None:
    frame = series.to_frame(name=_SERIES_COLUMN)
    frame.attrs = {}
    _to_parquet(frame, fh, meta={"series_name": series.name, "attrs": series.attrs})


def _to_parquet(frame: Any, fh: IO[bytes], meta: dict[str, Any]) -> None:
    # pandas only persists ``attrs`` (as JSON) and drops an index's freq, so
    # both ride along in the attrs under our own key and are put back on load.
    meta.setdefault("attrs", frame.attrs)
    freq = getattr(frame.index, "freq", None)
    meta["index_freq"] = None if freq is None else frame.index.freqstr
    carrier = frame.copy(deep=False)
    carrier.attrs = {_META_KEY: meta}
    carrier.to_parquet(fh, engine="pyarrow")


def _read_frame_parquet(data_file: Path) -> Any:
    frame, meta = _from_parquet(data_file)
    frame.attrs = meta.get("attrs", {})
    return frame


def _read_series_parquet(data_file: Path) -> Any:
    frame, meta = _from_parquet(data_file)
    series = frame.iloc[:, 0]
    series.name = meta.get("series_name")
    series.attrs = meta.get("attrs", {})
    return series


def _from_parquet(data_file: Path) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    frame = pd.read_parquet(data_file, engine="pyarrow")
    meta = frame.attrs.get(_META_KEY, {})
    frame.attrs = {}
    freq = meta.get("index_freq")
    if freq is not None:
        frame.index = type(frame.index)(frame.index, freq=freq)
    return frame, meta


def _write_pickle(obj: Any, fh: IO[bytes], directory: Path) -> None:
    import pickle

    import cloudpickle

    try:
        cloudpickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        raise
    except Exception as exc:
        culprit = f"a {_type_name(obj)} object"
        if type(obj).__name__ not in str(exc):
            culprit += " (or something it contains)"
        raise ProductError(
            f"cannot save {_describe(directory)}: {culprit} cannot be passed "
            f"between tasks ({type(exc).__name__}: {exc}); {_HOW_TO_FIX}"
        ) from exc


def _read_pickle(data_file: Path) -> Any:
    # cloudpickle writes standard pickles; the stream imports cloudpickle
    # itself when it needs to rebuild functions or classes by value.
    import pickle

    with data_file.open("rb") as fh:
        return pickle.load(fh)


_FAST_WRITERS = {
    _NPY: _write_npy,
    _CUPY_NPY: _write_cupy_npy,
    _PARQUET: _write_frame_parquet,
    _SERIES_PARQUET: _write_series_parquet,
}
_READERS = {
    _NPY: _read_npy,
    _CUPY_NPY: _read_cupy_npy,
    _PARQUET: _read_frame_parquet,
    _SERIES_PARQUET: _read_series_parquet,
    _PICKLE: _read_pickle,
    _UNSAVED: _read_unsaved,
}


# ----------------------------------------------------- parquet fidelity rules
#
# pandas 3 + pyarrow write many things to parquet that do not come back the
# same (object strings return as ``str`` dtype, lists as ndarrays, all-NaN
# object columns as None, int categoricals as plain ints, datetime64[s] as [ms],
# dateutil timezones as zoneinfo, int index names as strings).  Rather than
# reading every file back to check, only layouts verified to round-trip
# exactly are sent to parquet.


def _frame_is_parquet_safe(frame: Any) -> bool:
    columns = frame.columns
    if len(columns) == 0 or not columns.is_unique:
        return False
    if not _name_is_safe(columns.names):
        return False
    if columns.nlevels == 1:
        if not (_is_default_str(columns.dtype) and _all_str(columns)):
            return False
    elif not (
        all(_is_default_str(level.dtype) for level in columns.levels) and all(_all_str(label) for label in columns)
    ):
        return False
    return (
        _index_is_safe(frame.index)
        and all(_dtype_is_safe(dtype) for dtype in frame.dtypes)
        and _attrs_are_safe(frame.attrs)
    )


def _series_is_parquet_safe(series: Any) -> bool:
    name = series.name
    if name is not None and type(name) not in (str, int, float, bool):
        return False
    if _SERIES_COLUMN in series.index.names:
        return False
    return _index_is_safe(series.index) and _dtype_is_safe(series.dtype) and _attrs_are_safe(series.attrs)


def _index_is_safe(index: Any) -> bool:
    import pandas as pd

    if not _name_is_safe(index.names):
        return False
    if isinstance(index, pd.RangeIndex):
        return True
    if isinstance(index, pd.MultiIndex):
        return all(_dtype_is_safe(level.dtype) for level in index.levels)
    freq = getattr(index, "freq", None)
    if freq is not None:
        from pandas.tseries.frequencies import to_offset

        # Custom business days (holidays...) do not survive freqstr.
        if not isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
            return False
        try:
            if to_offset(index.freqstr) != freq:
                return False
        except ValueError:
            return False
    return _dtype_is_safe(index.dtype)


def _dtype_is_safe(dtype: Any) -> bool:
    import numpy as np
    import pandas as pd

    if isinstance(dtype, np.dtype):
        if dtype.kind in "biuf":
            return True
        if dtype.kind in "mM":
            return np.datetime_data(dtype)[0] in ("ms", "us", "ns")
        return False
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.CategoricalDtype):
        return _is_default_str(dtype.categories.dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        import datetime
        import zoneinfo

        return dtype.unit in ("ms", "us", "ns") and isinstance(dtype.tz, (zoneinfo.ZoneInfo, datetime.timezone))
    masked = (
        pd.BooleanDtype,
        pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
        pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype,
        pd.Float32Dtype, pd.Float64Dtype,
    )  # fmt: skip
    if isinstance(dtype, masked):
        return True
    if isinstance(dtype, pd.PeriodDtype):
        return True
    if isinstance(dtype, pd.IntervalDtype):
        return dtype.subtype is not None and _dtype_is_safe(dtype.subtype)
    return isinstance(dtype, pd.ArrowDtype)


def _is_default_str(dtype: Any) -> bool:
    """True for the dtype pandas itself infers for strings (what parquet returns)."""
    import pandas as pd

    return isinstance(dtype, pd.StringDtype) and dtype == pd.Index(["x"]).dtype


def _all_str(values: Any) -> bool:
    return all(type(value) is str for value in values)


def _name_is_safe(names: Any) -> bool:
    return all(name is None or type(name) is str for name in names)


def _attrs_are_safe(attrs: Any) -> bool:
    # attrs travel as JSON: tuples would come back as lists, int keys as str.
    import json

    try:
        return json.loads(json.dumps(attrs)) == attrs
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------- files


def _write_atomic(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``target`` through a temp file so readers never see a partial one."""
    tmp = target.with_name(f".{target.name}.{os.urandom(8).hex()}.tmp")
    try:
        # "xb" rather than mkstemp: mkstemp's 0600 mode would survive the
        # rename and hide products from other users of a shared directory.
        with tmp.open("xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale(directory: Path, keep: Path) -> None:
    for data_file in _data_files(directory):
        if data_file.name != keep.name:
            with contextlib.suppress(FileNotFoundError):
                data_file.unlink()


def _data_files(directory: Path) -> Iterator[Path]:
    for entry in directory.iterdir():
        if not entry.name.startswith(".") and _suffix(entry.name) is not None and entry.is_file():
            yield entry


def _pick_data_file(directory: Path) -> Path | None:
    # More than one file only exists if a save died between the rename and
    # the cleanup; the newest one is the completed write.
    candidates = list(_data_files(directory))
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda p: (p.stat().st_mtime_ns, _stem(p.name) == directory.name),
    )


def _suffix(filename: str) -> str | None:
    for suffix in _SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return suffix
    return None


def _stem(filename: str) -> str:
    suffix = _suffix(filename) or ""
    return filename[: len(filename) - len(suffix)]


def _describe(directory: Path) -> str:
    task = directory.parent.name
    if task:
        return f"variable {directory.name!r} of task {task!r}"
    return f"variable {directory.name!r}"


def _type_name(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
