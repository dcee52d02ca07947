"""Products must come back identical, in the right format, and fail loudly."""

from __future__ import annotations

import datetime
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

from workbench.runtime import ProductError, load, save
from workbench.runtime import products as products_module

REPO = Path(__file__).resolve().parents[2]


class Point:
    """A user class importable from this module (pickled by reference)."""

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def norm(self) -> float:
        return (self.x**2 + self.y**2) ** 0.5


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def assert_frames_identical(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    tm.assert_frame_equal(
        expected,
        actual,
        check_exact=True,
        check_freq=True,
        check_flags=True,
        check_column_type=True,
        check_index_type=True,
    )
    assert actual.attrs == expected.attrs
    assert actual.columns.dtype == expected.columns.dtype
    for position, dtype in enumerate(expected.dtypes):
        if getattr(dtype, "kind", None) == "O":
            # assert_frame_equal calls a list equal to an ndarray; a product must not.
            assert list(map(type, actual.iloc[:, position])) == list(map(type, expected.iloc[:, position]))


# ------------------------------------------------------------- round trips


def test_dataframe_with_index_and_categorical_goes_to_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "amount": [1.5, np.nan, 3.25],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "colour": pd.Categorical(["red", "blue", "red"], categories=["blue", "red", "green"], ordered=True),
            "label": ["a", None, "c"],
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
            "flag": [True, False, True],
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    frame.attrs = {"source": "survey", "version": 2}

    written = save(frame, tmp_path / "load" / "raw")

    assert written == tmp_path / "load" / "raw" / "raw.parquet"
    assert files_in(written.parent) == ["raw.parquet"]
    assert_frames_identical(frame, load(tmp_path / "load" / "raw"))


@pytest.mark.parametrize("name", ["price", None, 3])
def test_series_round_trip_keeps_name(tmp_path: Path, name: object) -> None:
    series = pd.Series([1.0, 2.5, np.nan], index=pd.Index([10, 20, 30], name="id"), name=name)

    written = save(series, tmp_path / "t" / "s")

    assert written.name == "s.series.parquet"
    loaded = load(written.parent)
    tm.assert_series_equal(series, loaded, check_exact=True, check_index_type=True)
    assert loaded.name == name
    assert type(loaded.name) is type(name)


def test_series_with_datetime_freq_keeps_freq(tmp_path: Path) -> None:
    series = pd.Series(range(5), index=pd.date_range("2024-01-01", periods=5, freq="B"), name="sales")

    save(series, tmp_path / "t" / "s")

    loaded = load(tmp_path / "t" / "s")
    tm.assert_series_equal(series, loaded, check_freq=True)
    assert loaded.index.freq == series.index.freq


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.linspace(0, 1, 7),
        np.array([1.0, np.nan, np.inf], dtype=np.float32),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        np.array([True, False]),
    ],
    ids=["int32-2d", "float64", "float32-nan", "datetime", "bool"],
)
def test_plain_arrays_go_to_npy(tmp_path: Path, array: np.ndarray) -> None:
    written = save(array, tmp_path / "t" / "arr")

    assert written.name == "arr.npy"
    loaded = load(written.parent)
    assert type(loaded) is np.ndarray
    assert loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)


def test_object_array_goes_to_pickle(tmp_path: Path) -> None:
    array = np.array([1, "two", [3]], dtype=object)

    written = save(array, tmp_path / "t" / "arr")

    assert written.name == "arr.pkl"
    loaded = load(written.parent)
    assert loaded.dtype == object
    assert loaded.tolist() == [1, "two", [3]]


def test_ndarray_subclass_keeps_its_type(tmp_path: Path) -> None:
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])

    written = save(masked, tmp_path / "t" / "m")

    assert written.suffix == ".pkl"
    loaded = load(written.parent)
    assert type(loaded) is np.ma.MaskedArray
    assert loaded.mask.tolist() == [False, True, False]


def test_lambda_and_closure_round_trip(tmp_path: Path) -> None:
    offset = 10

    def add_offset(x: int) -> int:
        return x + offset

    save(lambda x: x * 3, tmp_path / "t" / "triple")
    save(add_offset, tmp_path / "t" / "shift")

    assert files_in(tmp_path / "t" / "triple") == ["triple.pkl"]
    assert load(tmp_path / "t" / "triple")(4) == 12
    assert load(tmp_path / "t" / "shift")(1) == 11


def test_instances_of_module_and_local_classes_round_trip(tmp_path: Path) -> None:
    class Local:  # only reachable by value, like a class defined in a notebook
        def __init__(self) -> None:
            self.items = [1, 2]

    save(Point(3, 4), tmp_path / "t" / "p")
    save(Local(), tmp_path / "t" / "local")

    point = load(tmp_path / "t" / "p")
    assert isinstance(point, Point)
    assert point.norm() == 5
    assert load(tmp_path / "t" / "local").items == [1, 2]


def test_fitted_sklearn_model_round_trip(tmp_path: Path) -> None:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=80, random_state=0)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)

    written = save(model, tmp_path / "train" / "model")

    assert written.name == "model.pkl"
    loaded = load(written.parent)
    assert type(loaded) is RandomForestClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_numpy_random_state_round_trip(tmp_path: Path) -> None:
    rng = np.random.RandomState(42)
    state = rng.get_state()
    expected = rng.random_sample(5)

    save(state, tmp_path / "t" / "state")

    loaded = load(tmp_path / "t" / "state")
    assert isinstance(loaded, tuple)
    assert loaded[0] == "MT19937"
    restored = np.random.RandomState()
    restored.set_state(loaded)
    np.testing.assert_array_equal(restored.random_sample(5), expected)


def test_plain_python_values_round_trip(tmp_path: Path) -> None:
    value = {"a": (1, 2.5), "b": {3, 4}, "c": None, "d": b"bytes", "e": datetime.date(2024, 1, 2)}

    save(value, tmp_path / "t" / "cfg")

    assert load(tmp_path / "t" / "cfg") == value


# ------------------------------------------- frames parquet would not keep


def _index_with_int_name() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name=0))


def _frame_with_object_attrs() -> pd.DataFrame:
    frame = pd.DataFrame({"a": [1]})
    frame.attrs = {"key": ("a", "tuple")}  # JSON would turn the tuple into a list
    return frame


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": pd.Series(["x", None], dtype=object)}),
        pd.DataFrame({"a": [[1, 2], [3]]}),
        pd.DataFrame({"a": [1, "mixed"]}),
        pd.DataFrame({"a": pd.Series([np.nan, np.nan], dtype=object)}),
        pd.DataFrame({"a": pd.Categorical([1, 2, 1])}),
        pd.DataFrame({"a": pd.to_datetime(["2024-01-01", "2024-01-02"]).as_unit("s")}),
        pd.DataFrame({"a": pd.DatetimeIndex(["2024-01-01"]).tz_localize("dateutil/Europe/Paris")}),
        pd.DataFrame({"a": np.array([1 + 2j, 3j])}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame([[1, 2]], columns=[0, "a"]),
        pd.DataFrame(np.zeros((2, 2))),
        pd.DataFrame([[1, 2]], columns=pd.Index(["a", "b"], dtype=object)),
        pd.DataFrame({"a": pd.arrays.SparseArray([0, 1, 0])}),
        pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], dtype=object)),
        pd.DataFrame({"a": [1, 2]}, index=pd.CategoricalIndex([1, 2])),
        pd.DataFrame(),
        _index_with_int_name(),
        _frame_with_object_attrs(),
    ],
    ids=[
        "object-strings",
        "lists",
        "mixed-objects",
        "all-nan-object",
        "int-categorical",
        "datetime-seconds",
        "dateutil-tz",
        "complex",
        "duplicate-columns",
        "non-string-columns",
        "range-columns",
        "object-column-index",
        "sparse",
        "object-index",
        "int-categorical-index",
        "empty",
        "int-index-name",
        "tuple-attrs",
    ],
)
def test_frames_parquet_would_alter_are_pickled_and_identical(tmp_path: Path, frame: pd.DataFrame) -> None:
    written = save(frame, tmp_path / "t" / "df")

    assert written.name == "df.pkl"
    assert_frames_identical(frame, load(written.parent))


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["k", "n"])),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
        pd.DataFrame({"a": range(3)}, index=pd.date_range("2024", periods=3, freq="D", tz="UTC")),
        pd.DataFrame({"a": pd.period_range("2024-01", periods=2, freq="M"), "b": pd.interval_range(0, 2)}),
        pd.DataFrame({"a": pd.array(["x", None], dtype="string"), "b": pd.array([0.5, None], dtype="Float64")}),
        pd.DataFrame({"a": pd.to_timedelta([1, 2], unit="h"), "b": np.array([1, 2], dtype=np.uint8)}),
    ],
    ids=["multiindex", "multiindex-columns", "tz-freq-index", "period-interval", "nullable", "timedelta-uint8"],
)
def test_richer_frames_that_parquet_keeps_use_parquet(tmp_path: Path, frame: pd.DataFrame) -> None:
    written = save(frame, tmp_path / "t" / "df")

    assert written.name == "df.parquet"
    assert_frames_identical(frame, load(written.parent))


def test_series_with_object_values_is_pickled(tmp_path: Path) -> None:
    series = pd.Series([{"k": 1}, [2]], name="blobs")

    written = save(series, tmp_path / "t" / "s")

    assert written.name == "s.pkl"
    loaded = load(written.parent)
    assert loaded.name == "blobs"
    assert loaded.tolist() == [{"k": 1}, [2]]


def test_dataframe_subclass_is_pickled_to_keep_its_type(tmp_path: Path) -> None:
    class Tagged(pd.DataFrame):
        @property
        def _constructor(self) -> type:
            return Tagged

    written = save(Tagged({"a": [1, 2]}), tmp_path / "t" / "df")

    assert written.suffix == ".pkl"
    assert type(load(written.parent)).__name__ == "Tagged"


def test_series_whose_index_is_named_like_the_storage_column(tmp_path: Path) -> None:
    series = pd.Series([1, 2], index=pd.Index(["a", "b"], name="values"), name="n")

    written = save(series, tmp_path / "t" / "s")

    assert written.name == "s.pkl"
    tm.assert_series_equal(series, load(written.parent), check_index_type=True)


def test_frame_falls_back_to_pickle_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_engine(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_engine)
    frame = pd.DataFrame({"a": [1, 2]})

    written = save(frame, tmp_path / "t" / "df")

    assert files_in(written.parent) == ["df.pkl"]
    assert_frames_identical(frame, load(written.parent))


# ------------------------------------------------------------ file hygiene


def test_format_change_removes_the_stale_file(tmp_path: Path) -> None:
    product = tmp_path / "clean" / "data"

    save(pd.DataFrame({"a": [1]}), product)
    assert files_in(product) == ["data.parquet"]

    save(pd.DataFrame({"a": [[1]]}), product)
    assert files_in(product) == ["data.pkl"]

    save(np.arange(3), product)
    assert files_in(product) == ["data.npy"]
    np.testing.assert_array_equal(load(product), np.arange(3))


def test_files_that_are_not_data_files_are_left_alone(tmp_path: Path) -> None:
    product = tmp_path / "clean" / "data"
    product.mkdir(parents=True)
    (product / "README.txt").write_text("notes")

    save([1, 2], product)

    assert files_in(product) == ["README.txt", "data.pkl"]


def test_failed_write_keeps_previous_product_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = tmp_path / "t" / "obj"
    save({"version": 1}, product)
    before = (product / "obj.pkl").read_bytes()

    def half_written(obj: object, fh, protocol: int | None = None) -> None:
        fh.write(b"\x80\x05partial")
        raise OSError("disk full")

    monkeypatch.setattr(cloudpickle, "dump", half_written)
    with pytest.raises(OSError, match="disk full"):
        save({"version": 2}, product)

    assert files_in(product) == ["obj.pkl"]
    assert (product / "obj.pkl").read_bytes() == before
    monkeypatch.undo()
    assert load(product) == {"version": 1}


def test_failed_parquet_write_keeps_previous_product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    product = tmp_path / "t" / "df"
    save(pd.DataFrame({"a": [[1]]}), product)  # a pickle from an earlier run

    def crash(self: pd.DataFrame, fh, **kwargs: object) -> None:
        fh.write(b"PAR1 truncated")
        raise OSError("device lost")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="device lost"):
        save(pd.DataFrame({"a": [2]}), product)

    assert files_in(product) == ["df.pkl"]
    assert load(product)["a"].tolist() == [[1]]


def test_failure_to_fsync_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        save(np.arange(3), tmp_path / "t" / "arr")

    assert not (tmp_path / "t" / "arr").exists()


def test_written_file_is_readable_by_group_like_a_normal_file(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        written = save([1], tmp_path / "t" / "x")
    finally:
        os.umask(old_umask)
    assert written.stat().st_mode & 0o777 == 0o644


def test_load_picks_the_newest_file_when_a_cleanup_was_interrupted(tmp_path: Path) -> None:
    product = tmp_path / "t" / "x"
    save(np.arange(2), product)
    stale = product / "x.npy"
    os.utime(stale, ns=(1, 1))
    (product / "x.pkl").write_bytes(pickle.dumps("newest"))

    assert load(product) == "newest"


# ------------------------------------------------------------------ errors


def test_unpicklable_generator_names_variable_task_and_fix(tmp_path: Path) -> None:
    rows = (i for i in range(3))

    with pytest.raises(ProductError) as caught:
        save(rows, tmp_path / "prepare" / "rows")

    message = str(caught.value)
    assert "'rows'" in message
    assert "'prepare'" in message
    assert "generator" in message
    assert "keep it inside one task, or convert it to a list/array/frame before the task ends" in message
    assert isinstance(caught.value.__cause__, TypeError)
    assert not (tmp_path / "prepare" / "rows").exists()


def test_unpicklable_object_keeps_previous_product(tmp_path: Path) -> None:
    product = tmp_path / "io" / "handle"
    save("previous", product)

    with pytest.raises(ProductError, match=r"lock"):
        save(threading.Lock(), product)

    assert files_in(product) == ["handle.pkl"]
    assert load(product) == "previous"


def test_file_open_for_writing_nested_in_a_container(tmp_path: Path) -> None:
    # (cloudpickle does carry files open for reading: it copies their content.)
    with (tmp_path / "log.txt").open("w") as fh, pytest.raises(ProductError) as caught:
        save({"handle": fh}, tmp_path / "etl" / "bundle")

    assert "variable 'bundle' of task 'etl'" in str(caught.value)
    assert "a dict object (or something it contains) cannot be passed between tasks" in str(caught.value)
    assert "not opened for reading" in str(caught.value)


def test_missing_product_says_to_run_upstream(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match=r"variable 'raw' of task 'load'.*run the upstream task first"):
        load(tmp_path / "load" / "raw")


def test_empty_product_directory_says_to_run_upstream(tmp_path: Path) -> None:
    (tmp_path / "load" / "raw").mkdir(parents=True)
    (tmp_path / "load" / "raw" / ".raw.pkl.abc.tmp").write_bytes(b"leftover")

    with pytest.raises(ProductError, match="no data file; run the upstream task first"):
        load(tmp_path / "load" / "raw")


def test_corrupt_product_raises_product_error(tmp_path: Path) -> None:
    product = tmp_path / "t" / "x"
    product.mkdir(parents=True)
    (product / "x.pkl").write_bytes(b"not a pickle")

    with pytest.raises(ProductError, match=r"cannot read variable 'x' of task 't'") as caught:
        load(product)
    assert caught.value.__cause__ is not None


def test_path_without_variable_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match="must end with the variable name"):
        save(1, "/")


# ---------------------------------------------------------------- imports


def test_importing_runtime_loads_no_heavy_library() -> None:
    code = (
        "import sys, workbench.runtime\n"
        "heavy = [m for m in ('pandas', 'numpy', 'pyarrow', 'cloudpickle') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_module_exports() -> None:
    assert products_module.__all__ == ["NotSaved", "ProductError", "load", "save"]
    assert issubclass(ProductError, Exception)


def test_a_value_no_task_reads_that_cannot_be_stored_is_noted_not_a_failure(tmp_path: Path, capsys) -> None:
    """matplotlib's and networkx's examples leave `ax = axs.flat` (an iterator) at the end of a
    cell: the run failed over a value no later task reads."""
    from workbench.runtime.products import NotSaved, ProductError

    flat = np.arange(4).reshape(2, 2).flat
    with pytest.raises(ProductError, match="cannot be passed between tasks"):
        save(flat, tmp_path / "t" / "needed")  # a later task reads it: the error stands
    assert not (tmp_path / "t" / "needed").exists()
    save(flat, tmp_path / "t" / "ax", needed=False)
    assert "variable 'ax' of task 't' is not kept" in capsys.readouterr().err
    with pytest.raises(NotSaved, match=r"variable 'ax' of task 't' \(numpy.flatiter\) was not kept"):
        load(tmp_path / "t" / "ax")
    save([1, 2], tmp_path / "t" / "ax", needed=False)  # storable again: the note goes
    assert load(tmp_path / "t" / "ax") == [1, 2]
    assert [p.name for p in (tmp_path / "t" / "ax").iterdir()] == ["ax.pkl"]
