"""compare() must give the right verdict and a one-line reason that points at the difference."""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.runtime import load, save
from workbench.verification.compare import DIFFERENT, EQUAL, NOT_COMPARABLE, Comparison, compare

REPO = Path(__file__).resolve().parents[2]


def assert_equal(a: object, b: object, **kwargs: float) -> None:
    result = compare(a, b, **kwargs)
    assert result == Comparison(EQUAL, ""), result


def assert_different(a: object, b: object, *words: str, **kwargs: float) -> str:
    result = compare(a, b, **kwargs)
    assert result.status == DIFFERENT, result
    for word in words:
        assert word in result.detail, (word, result.detail)
    assert "\n" not in result.detail
    return result.detail


def assert_not_comparable(a: object, b: object, *words: str) -> str:
    result = compare(a, b)
    assert result.status == NOT_COMPARABLE, result
    for word in words:
        assert word in result.detail, (word, result.detail)
    return result.detail


# ------------------------------------------------------------- the result


def test_comparison_is_a_small_frozen_value() -> None:
    result = compare(1, 1)
    assert result.status == "equal"
    assert result.equal
    assert not compare(1, 2).equal
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "different"  # type: ignore[misc]


def test_module_import_is_lazy() -> None:
    code = "import sys, workbench.verification.compare; print([m for m in ('pandas', 'numpy') if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ scalars


def test_floats_within_tolerance_are_equal() -> None:
    assert_equal(0.1 + 0.2, 0.3)
    assert_equal(1e6, 1e6 + 1e-3)
    assert_equal(math.nan, float("nan"))
    assert_equal(math.inf, float("inf"))


def test_floats_beyond_tolerance_differ() -> None:
    assert compare(1.2, 1.3) == Comparison(DIFFERENT, "1.2 vs 1.3")
    assert_different(math.inf, -math.inf, "inf vs -inf")
    assert_different(1.0, math.inf)
    assert_different(math.nan, 1.0, "nan vs 1.0")
    assert_equal(1.0, 1.05, rtol=0.1)
    assert_different(1.0, 1.05, rtol=0.01)


def test_ints_are_exact_and_types_are_strict() -> None:
    assert_equal(10**30, 10**30)
    assert_different(10**30, 10**30 + 1)
    assert_different(1, 1.0, "type int vs float")
    assert_different(True, 1, "type bool vs int")


def test_numpy_scalars() -> None:
    assert_equal(np.float64(0.1) * 3, np.float64(0.3))
    assert_equal(np.float32("nan"), np.float32("nan"))
    assert compare(np.float64(1.2), np.float64(1.3)).detail == "1.2 vs 1.3"
    assert_different(np.int64(1), np.int32(1), "type int64 vs int32")
    assert_equal(np.datetime64("NaT"), np.datetime64("NaT"))
    assert_different(np.datetime64("2024-01-01"), np.datetime64("2024-01-02"), "2024-01-01 vs 2024-01-02")
    assert_different(np.float64(1.0), 1.0, "type float64 vs float")


def test_strings_bytes_bools_none() -> None:
    assert_equal("abc", "abc")
    assert compare("abc", "abd").detail == "'abc' vs 'abd'"
    assert_different("x" * 100, "x" * 60 + "y" + "x" * 39, "first difference at position 60")
    assert_equal(b"\x00\x01", b"\x00\x01")
    assert_different(b"ab", b"ac", "b'ab' vs b'ac'")
    assert_equal(True, True)
    assert_different(True, False, "True vs False")
    assert_equal(None, None)
    assert_different(None, 0, "type NoneType vs int")


# ------------------------------------------------------------------ arrays


def test_float_arrays_use_tolerance_and_nan_equals_nan() -> None:
    a = np.array([1.0, np.nan, 3.0, -np.inf])
    assert_equal(a, a + 1e-12)
    b = np.zeros(1000)
    c = b.copy()
    c[[5, 6, 7]] = [0.5, 0.25, 0.1]
    assert compare(b, c).detail == "3 of 1000 values differ, max abs diff 0.5"


def test_array_nan_in_one_only() -> None:
    assert_different(np.array([np.nan, 1.0]), np.array([2.0, 1.0]), "1 of 2 values differ", "NaN in one only")


def test_array_shape_and_dtype() -> None:
    assert compare(np.zeros(10), np.zeros(12)).detail == "shape (10,) vs (12,)"
    assert compare(np.zeros(3), np.zeros(3, dtype=np.float32)).detail == "dtype float64 vs float32"


def test_int_string_and_datetime_arrays_are_exact() -> None:
    assert_equal(np.arange(6).reshape(2, 3), np.arange(6).reshape(2, 3))
    assert_different(
        np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]]), "1 of 4 values differ", "index (1, 1): 4 vs 5"
    )
    assert_different(np.array(["a", "b"]), np.array(["a", "c"]), "'b' vs 'c'")
    dates = np.array(["2024-01-01", "NaT"], dtype="datetime64[D]")
    assert_equal(dates, dates.copy())
    assert_different(dates, np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"), "1 of 2 values differ")


def test_object_arrays_compare_elements_recursively() -> None:
    a = np.array([1, [1.0, 2.0], "x"], dtype=object)
    assert_equal(a, np.array([1, [1.0, 2.0 + 1e-12], "x"], dtype=object))
    assert_different(a, np.array([1, [1.0, 2.5], "x"], dtype=object), "[1][1]: 2.0 vs 2.5")


def test_structured_arrays_compare_per_field() -> None:
    dtype = [("id", "i8"), ("score", "f8")]
    a = np.array([(1, 0.5), (2, 0.25)], dtype=dtype)
    b = a.copy()
    assert_equal(a, b)
    b["score"][1] = 0.75
    assert_different(a, b, "['score']", "max abs diff 0.5")


# ------------------------------------------------------------------ pandas


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "w": np.linspace(0, 1, 1000),
            "name": [f"n{i}" for i in range(1000)],
            "cat": pd.Categorical(["a", "b"] * 500),
            "n": pd.array([1, None] * 500, dtype="Int64"),
            "missing": [np.nan] * 1000,
        }
    )


def test_equal_frames_with_float_noise_and_nans(frame: pd.DataFrame) -> None:
    other = frame.copy()
    other["w"] = other["w"] + 1e-12
    assert_equal(frame, other)


def test_frame_float_column_difference(frame: pd.DataFrame) -> None:
    other = frame.copy()
    other.loc[[1, 2, 3], "w"] += 0.5
    assert compare(frame, other).detail == "column 'w': 3 of 1000 values differ, max abs diff 0.5"


def test_frame_exact_column_difference_names_the_row(frame: pd.DataFrame) -> None:
    other = frame.copy()
    other.loc[7, "name"] = "changed"
    assert_different(frame, other, "column 'name'", "1 of 1000 values differ", "row 7", "'n7' vs 'changed'")


def test_frame_nullable_int_difference(frame: pd.DataFrame) -> None:
    other = frame.copy()
    other.loc[1, "n"] = 5
    assert_different(frame, other, "column 'n'", "row 1", "<NA> vs 5")


def test_frame_shape_columns_order_index_and_dtype(frame: pd.DataFrame) -> None:
    assert compare(frame, frame.iloc[:10]).detail == "shape (1000, 5) vs (10, 5)"
    assert_different(frame, frame.rename(columns={"w": "v"}), "columns", "only in a: ['w']", "only in b: ['v']")
    assert_different(frame, frame[["name", "w", "cat", "n", "missing"]], "different order")
    assert_different(frame, frame.set_axis(range(1, 1001)), "index", "position 0: 0 vs 1")
    assert_different(frame, frame.astype({"w": "float32"}), "column 'w': dtype float64 vs float32")
    assert_different(frame, frame.astype({"cat": pd.CategoricalDtype(["a", "b", "c"])}), "column 'cat'", "categories")


def test_range_index_equals_the_same_int_index(frame: pd.DataFrame) -> None:
    assert_equal(frame, frame.set_axis(pd.Index(np.arange(1000))))


def test_frames_with_duplicate_columns_and_object_cells() -> None:
    a = pd.DataFrame([[1, [1, 2]], [2, [3]]], columns=["x", "x"])
    assert_equal(a, pd.DataFrame([[1, [1, 2]], [2, [3]]], columns=["x", "x"]))
    assert_different(a, pd.DataFrame([[1, [1, 2]], [2, [4]]], columns=["x", "x"]), "column 'x'", "row 1")


def test_object_column_missing_values_match() -> None:
    a = pd.DataFrame({"o": pd.Series([None, "x"], dtype=object)})
    assert_equal(a, pd.DataFrame({"o": pd.Series([np.nan, "x"], dtype=object)}))


def test_series() -> None:
    s = pd.Series([1.0, np.nan, 3.0], name="price", index=["a", "b", "c"])
    assert_equal(s, s.copy())
    assert_different(s, s.rename("cost"), "name 'price' vs 'cost'")
    assert_different(s, pd.Series([1.0, np.nan, 4.0], name="price", index=["a", "b", "c"]), "max abs diff 1")
    assert_different(s, s.iloc[:2], "length 3 vs 2")
    unnamed = pd.Series([1, 2])
    assert_equal(unnamed, pd.Series([1, 2]))
    assert_different(unnamed, pd.Series([1, 3]), "1 of 2 values differ", "row 1: 2 vs 3")


def test_multiindex() -> None:
    index = pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["k", "n"])
    a = pd.Series([1, 2], index=index)
    assert_equal(a, pd.Series([1, 2], index=index.copy()))
    other = pd.MultiIndex.from_tuples([("x", 1), ("y", 3)], names=["k", "n"])
    assert_different(a, pd.Series([1, 2], index=other), "index", "position 1")
    assert_different(a, pd.Series([1, 2], index=index.set_names(["k", "m"])), "index names")


# -------------------------------------------------------------- containers


def test_lists_tuples_report_first_differing_index() -> None:
    assert_equal([1, 2.0, "x"], [1, 2.0 + 1e-12, "x"])
    assert compare([1, [2, 3]], [1, [2, 4]]).detail == "[1][1]: 3 vs 4"
    assert compare((1, 2), (1, 2, 3)).detail == "length 2 vs 3"
    assert_different((1, 2), [1, 2], "type tuple vs list")


def test_dicts_report_first_differing_key() -> None:
    assert_equal({"a": 1, "b": [np.nan]}, {"b": [np.nan], "a": 1})
    assert compare({"a": {"b": 1.2}}, {"a": {"b": 1.3}}).detail == "['a']['b']: 1.2 vs 1.3"
    assert_different({"a": 1}, {"a": 1, "z": 2}, "key 'z' only in b")
    assert_different({"a": 1, "q": 2}, {"a": 1}, "key 'q' only in a")


def test_sets() -> None:
    assert_equal({1, 2, 3}, {3, 2, 1})
    assert_different({1, 2, 3}, {1, 2, 4}, "1 only in a (e.g. 3)", "1 only in b (e.g. 4)")
    assert_different(frozenset({1}), {1}, "type frozenset vs set")


def test_cycles_terminate() -> None:
    a: list[object] = [1]
    a.append(a)
    b: list[object] = [1]
    b.append(b)
    assert_equal(a, b)


def test_not_comparable_item_does_not_hide_a_real_difference() -> None:
    assert_different([lambda: 1, 2], [lambda: 1, 3], "[1]: 2 vs 3")
    assert_not_comparable([lambda: 1, 2], [lambda: 1, 2], "[0]: function: compared by behaviour only")


# ----------------------------------------------------------- random states


def test_numpy_global_random_state() -> None:
    np.random.seed(3)
    before = np.random.get_state()
    assert_equal(before, np.random.get_state())
    np.random.random_sample(1000)
    assert_different(before, np.random.get_state(), "numpy random state differs")


def test_python_random_state() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    assert_equal(state, random.Random(5).getstate())
    rng.random()
    assert_different(state, rng.getstate(), "python random state differs")
    assert_equal(random.Random(1), random.Random(1))
    assert_different(random.Random(1), random.Random(2), "python random state differs")


def test_numpy_generators_and_random_state_objects() -> None:
    assert_equal(np.random.default_rng(7), np.random.default_rng(7))
    assert_different(np.random.default_rng(7), np.random.default_rng(8), "Generator random state differs")
    used = np.random.default_rng(7)
    used.random()
    assert_different(np.random.default_rng(7), used, "Generator random state differs")
    assert_equal(np.random.RandomState(1), np.random.RandomState(1))
    assert_different(np.random.RandomState(1), np.random.RandomState(2), "numpy random state differs")


# ------------------------------------------------------------- estimators


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=120, n_features=6, random_state=0)


def test_refitted_linear_model_is_equal(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = data
    assert_equal(LogisticRegression().fit(X, y), LogisticRegression().fit(X, y))


def test_estimator_parameters_and_fitted_state(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    X, y = data
    fitted = LogisticRegression().fit(X, y)
    assert_different(fitted, LogisticRegression(C=0.5).fit(X, y), "C: 1.0 vs 0.5")
    assert_different(fitted, LogisticRegression(), "a is fitted, b is not")
    assert_different(fitted, LogisticRegression().fit(X[:60], y[:60]), "coef_", "values differ")
    assert_different(fitted, Ridge().fit(X, y), "type LogisticRegression vs Ridge")


def test_tree_ensembles_recurse_into_trees(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    X, y = data
    forest = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y)
    assert_equal(forest, RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y))
    assert_different(forest, RandomForestClassifier(n_estimators=4, random_state=1).fit(X, y), "random_state: 0 vs 1")

    boosted = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert_equal(boosted, GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y))
    # Swap five labels each way: class priors (init_) stay equal, the trees do not.
    noisy = y.copy()
    zeros, ones = np.flatnonzero(y == 0)[:5], np.flatnonzero(y == 1)[:5]
    noisy[zeros], noisy[ones] = 1, 0
    detail = assert_different(boosted, GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, noisy))
    assert detail.startswith("estimators_[0, 0].tree_."), detail


def test_tree_compared_through_its_state(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.tree import DecisionTreeRegressor

    X, y = data
    target = X[:, 0] * 3
    a = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, target)
    b = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, target * 1.5)
    assert_equal(a, DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, target))
    assert_different(a, b, "tree_.")


def test_estimator_survives_a_product_round_trip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    save(model, tmp_path / "train" / "model")
    assert_equal(model, load(tmp_path / "train" / "model"))


# --------------------------------------------------------- code and objects


def test_functions_are_not_comparable_unless_identical() -> None:
    def f(x: int) -> int:
        return x

    assert_equal(f, f)
    assert compare(lambda x: x, lambda x: x) == Comparison(NOT_COMPARABLE, "function: compared by behaviour only")
    assert_not_comparable(f, lambda x: x, "function")
    assert_equal(len, len)


def test_modules_are_not_compared() -> None:
    assert_not_comparable(np, pd, "module")
    assert_equal(np, np)


class Box:
    def __init__(self, content: object) -> None:
        self.content = content


class Slotted:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Opaque:
    """No __dict__ content, identity equality, and refuses to be pickled."""

    __slots__ = ()

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("no")


class ExplodingEq:
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = object.__hash__


def test_generic_objects_compare_attributes_recursively() -> None:
    assert_equal(Box([1.0, {"k": np.arange(3)}]), Box([1.0, {"k": np.arange(3)}]))
    assert compare(Box({"k": 1}), Box({"k": 2})).detail == "content['k']: 1 vs 2"


def test_objects_without_dict() -> None:
    assert_equal(Slotted(1), Slotted(1))
    assert compare(Slotted(1), Slotted(2)).detail == "value: 1 vs 2"
    assert_equal(functools.partial(int, base=2), functools.partial(int, base=2))
    assert_different(functools.partial(int, base=2), functools.partial(int, base=8), "partial state differs")
    assert_not_comparable(Opaque(), Opaque(), "Opaque objects define no equality")
    assert_not_comparable(threading.Lock(), threading.Lock(), "no equality")
    assert_not_comparable(ExplodingEq(), ExplodingEq(), "ExplodingEq == failed: boom")


def test_objects_with_value_equality_use_it() -> None:
    from decimal import Decimal
    from fractions import Fraction

    assert_equal(Decimal("1.10"), Decimal("1.1"))
    assert_different(Fraction(1, 3), Fraction(1, 4), "Fraction(1, 3) vs Fraction(1, 4)")
    assert_equal(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01"))
    assert_equal(pd.NaT, pd.NaT)


def test_rebuilt_notebook_class_compares_by_name_and_attributes() -> None:
    def make_class() -> type:
        class Config:
            def __init__(self, depth: int) -> None:
                self.depth = depth

        return Config

    first, second = make_class(), make_class()
    assert first is not second
    assert_equal(first(3), second(3))
    assert_different(first(3), second(4), "depth: 3 vs 4")


def test_different_types() -> None:
    assert compare(pd.DataFrame({"a": [1]}), np.array([1])) == Comparison(DIFFERENT, "type DataFrame vs ndarray")
    assert_different(pd.Series([1]), pd.DataFrame({"a": [1]}), "type Series vs DataFrame")


def test_captured_output_compares_by_text_not_by_stream_objects():
    """Regression: %%capture objects from a kernel and from ploomber-engine hold different streams."""
    import io

    from IPython.utils.capture import CapturedIO

    class KernelStream(io.StringIO):
        def __init__(self, text):
            super().__init__(text)
            self.write = lambda s: None  # the kernel patches instance attributes

    a = CapturedIO(KernelStream("hello\n"), io.StringIO(""))
    b = CapturedIO(io.StringIO("hello\n"), io.StringIO(""))
    assert compare(a, b).status == "equal"
    c = CapturedIO(io.StringIO("bye\n"), io.StringIO(""))
    assert compare(a, c).status == "different"
