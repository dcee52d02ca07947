"""compare() judges figures by what they draw, models by what they learned, and names known noise.

Each test here failed on the comparison before: equal figures were "different" through their
stale flags and callback registries, a FunctionTransformer's function was "not comparable",
timings and clock readings were plain differences.
"""

from __future__ import annotations

import datetime
import importlib.util
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from workbench.verification.compare import DIFFERENT, EQUAL, NOT_COMPARABLE, VOLATILE, compare  # noqa: E402


def _figure(ys: list[float], title: str = "loss") -> Figure:
    figure = Figure(figsize=(4, 3), dpi=80)
    axes = figure.add_subplot()
    axes.plot(range(len(ys)), ys, marker="o")
    axes.set_title(title)
    return figure


# ---------------------------------------------------------------- figures


def test_equal_figures_are_equal_by_what_they_draw() -> None:
    a, b = _figure([1, 3, 2, 4]), _figure([1, 3, 2, 4])
    a.canvas.draw()  # a drawn figure: stale flags, renderer caches set on one only
    assert compare(a, b).status == EQUAL, compare(a, b)
    assert compare(a.axes[0], b.axes[0]).status == EQUAL
    assert compare(a.axes[0].lines[0], b.axes[0].lines[0]).status == EQUAL
    assert compare([a], [b]).status == EQUAL


def test_float_noise_does_not_change_the_picture() -> None:
    assert compare(_figure([1, 3, 2, 4]), _figure([1 + 1e-12, 3, 2, 4])).status == EQUAL


def test_a_figure_drawing_other_data_differs_with_how_much() -> None:
    result = compare(_figure([1, 3, 2, 4]), _figure([1, 3, 5, 4]))
    assert result.status == DIFFERENT, result
    assert "pixels differ" in result.detail and "%" in result.detail


def test_a_different_title_differs() -> None:
    assert compare(_figure([1, 2], "loss"), _figure([1, 2], "lose")).status == DIFFERENT


def test_the_second_figure_is_rendered_at_the_first_ones_size_and_left_as_it_was() -> None:
    a, b = _figure([1, 3, 2, 4]), _figure([1, 3, 2, 4])
    b.set_dpi(100)
    canvas = b.canvas
    assert compare(a, b).status in (EQUAL, DIFFERENT)  # compared, not refused
    assert b.dpi == 100 and b.canvas is canvas and tuple(b.get_size_inches()) == (4, 3)


def test_grids_and_displays_compare_the_figure_they_hold() -> None:
    class FacetGrid:  # stand-in for seaborn's grids (seaborn is not installed here): .figure
        def __init__(self, figure: Figure) -> None:
            self.figure = figure
            self._legend_data: dict[str, object] = {"id": object()}

    assert compare(FacetGrid(_figure([1, 2])), FacetGrid(_figure([1, 2]))).status == EQUAL
    assert compare(FacetGrid(_figure([1, 2])), FacetGrid(_figure([2, 1]))).status == DIFFERENT

    from sklearn.metrics import ConfusionMatrixDisplay

    def display(matrix: list[list[int]]) -> ConfusionMatrixDisplay:
        shown = ConfusionMatrixDisplay(np.array(matrix))
        shown.plot()
        return shown

    assert compare(display([[5, 1], [2, 7]]), display([[5, 1], [2, 7]])).status == EQUAL
    assert compare(display([[5, 1], [2, 7]]), display([[5, 1], [3, 6]])).status == DIFFERENT


@pytest.mark.skipif(importlib.util.find_spec("seaborn") is None, reason="seaborn is not installed")
def test_real_seaborn_grid() -> None:  # pragma: no cover - only where seaborn is installed
    import pandas as pd
    import seaborn as sns

    data = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 4, 9, 16], "g": list("abab")})
    assert compare(sns.FacetGrid(data, col="g").map(matplotlib.pyplot.plot, "x", "y"),
                   sns.FacetGrid(data, col="g").map(matplotlib.pyplot.plot, "x", "y")).status == EQUAL


# ----------------------------------------------------------------- models


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    return x, (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)


def test_grid_search_timings_are_volatile_not_different(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data

    def search() -> GridSearchCV:
        return GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(x, y)

    a, b = search(), search()
    b.refit_time_ = a.refit_time_ + 0.5
    b.cv_results_["mean_fit_time"] = a.cv_results_["mean_fit_time"] + 0.01
    result = compare(a, b)
    assert result.status == VOLATILE, result
    assert "a timing" in result.detail
    b.cv_results_["mean_test_score"] = a.cv_results_["mean_test_score"] + 0.1
    assert compare(a, b).status == DIFFERENT


def test_cross_validate_fit_and_score_times_are_volatile(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    a = cross_validate(LogisticRegression(), x, y, cv=3)
    b = {**a, "fit_time": a["fit_time"] * 2, "score_time": a["score_time"] + 1}
    result = compare(a, b)
    assert result.status == VOLATILE and "fit_time" in result.detail, result


def test_functions_inside_estimators_compare_by_code_and_closure(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data

    def model(scale: float, offset: float = 0.0):  # a fresh function (and closure) each call
        return make_pipeline(FunctionTransformer(lambda v: v * scale + offset), LogisticRegression()).fit(x, y)

    assert compare(model(2.0), model(2.0)).status == EQUAL, compare(model(2.0), model(2.0))
    result = compare(model(2.0), model(3.0))
    assert result.status == DIFFERENT and "closure" in result.detail, result
    other = make_pipeline(FunctionTransformer(lambda v: v - 1), LogisticRegression()).fit(x, y)
    result = compare(model(2.0), other)
    assert result.status == DIFFERENT, result


def test_custom_scorer_compares_by_code(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import make_scorer

    x, y = data

    def search(weight: float) -> GridSearchCV:
        def score(truth: np.ndarray, predicted: np.ndarray) -> float:
            return float(np.mean(truth == predicted)) * weight

        return GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=3, scoring=make_scorer(score)).fit(x, y)

    a, b = search(1.0), search(1.0)
    a.refit_time_ = b.refit_time_  # timings aside, they are the same search
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
        a.cv_results_[key] = b.cv_results_[key]
    assert compare(a, b).status == EQUAL, compare(a, b)


def test_top_level_functions_stay_not_comparable() -> None:
    assert compare(lambda v: v, lambda v: v).status == NOT_COMPARABLE


class OLSResultsStandIn:
    """A stand-in for statsmodels' results (statsmodels is not installed here): params, bse, model."""

    def __init__(self, params: np.ndarray, exog: np.ndarray) -> None:
        self.model = OLSStandIn(exog @ params, exog)
        self.params = params
        self.bse = params / 10
        self.fittedvalues = exog @ params
        self._cache: dict[str, object] = {"id": object()}


class OLSStandIn:
    def __init__(self, endog: np.ndarray, exog: np.ndarray) -> None:
        self.endog, self.exog = endog, exog
        self._tmp_like_exog = np.empty((1000, 3))  # uninitialised scratch buffer, as statsmodels keeps
        self._tmp_like_exog[:] = np.random.default_rng().normal(size=(1000, 3))

    def fit(self) -> OLSResultsStandIn:
        raise NotImplementedError


def test_statsmodels_like_results_compare_params_not_scratch_buffers() -> None:
    exog = np.arange(12.0).reshape(4, 3)
    a = OLSResultsStandIn(np.array([1.0, 2.0, 3.0]), exog)
    b = OLSResultsStandIn(np.array([1.0, 2.0, 3.0]), exog)
    assert compare(a, b).status == EQUAL, compare(a, b)
    result = compare(a, OLSResultsStandIn(np.array([1.0, 2.5, 3.0]), exog))
    assert result.status == DIFFERENT and "params" in result.detail, result
    assert compare(a.model, b.model).status == EQUAL


def test_real_statsmodels_results_by_what_they_estimated() -> None:
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    x = sm.add_constant(np.arange(20.0))
    y = 2 * np.arange(20.0) + np.sin(np.arange(20.0))
    assert compare(sm.OLS(y, x).fit(), sm.OLS(y, x).fit()).status == EQUAL
    changed = compare(sm.OLS(y, x).fit(), sm.OLS(y + 1, x).fit())
    assert changed.status == DIFFERENT and "params" in changed.detail, changed
    frame = pd.DataFrame({"dose": np.arange(40.0) % 7, "died": (np.arange(40) % 3 == 0).astype(int)})
    logit = [smf.logit("died ~ dose", frame).fit(disp=0) for _ in range(2)]
    assert compare(logit[0], logit[1]).status == EQUAL, compare(logit[0], logit[1])
    glm = [sm.GLM(frame["died"], sm.add_constant(frame["dose"]), family=sm.families.Binomial()).fit() for _ in range(2)]
    assert compare(glm[0], glm[1]).status == EQUAL, compare(glm[0], glm[1])


class TensorStandIn:
    """Stand-in for a torch tensor (torch is not installed here)."""

    __module__ = "torch"

    def __init__(self, values: list[float]) -> None:
        self.values = np.array(values)

    def detach(self) -> TensorStandIn:
        return self

    def cpu(self) -> TensorStandIn:
        return self

    def numpy(self) -> np.ndarray:
        return self.values


class ModuleStandIn:
    """Stand-in for a torch nn.Module: compared by state_dict(), not by hooks and ids."""

    def __init__(self, weight: list[float]) -> None:
        self.weight = weight
        self._forward_hooks = {id(self): object()}

    def state_dict(self) -> dict[str, TensorStandIn]:
        return {"linear.weight": TensorStandIn(self.weight)}


def test_torch_like_modules_compare_state_dict() -> None:
    assert compare(ModuleStandIn([1.0, 2.0]), ModuleStandIn([1.0, 2.0])).status == EQUAL
    result = compare(ModuleStandIn([1.0, 2.0]), ModuleStandIn([1.0, 2.5]))
    assert result.status == DIFFERENT and "linear.weight" in result.detail, result


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed: PyPI's Linux wheel brings over 2 GB of CUDA libraries, too much "
                           "for CI; the stand-in test above covers state_dict() comparison")
def test_real_torch_module() -> None:  # pragma: no cover - only where torch is installed
    import torch

    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    torch.manual_seed(0)
    assert compare(a, torch.nn.Linear(3, 2)).status == EQUAL
    assert compare(a, torch.nn.Linear(3, 2)).status == DIFFERENT  # the next draw: other weights


def test_real_xgboost_by_the_model_it_saves(data: tuple[np.ndarray, np.ndarray]) -> None:
    import xgboost

    x, y = data
    fit = [xgboost.XGBClassifier(n_estimators=3, n_jobs=1).fit(x, y) for _ in range(2)]
    assert compare(fit[0], fit[1]).status == EQUAL, compare(fit[0], fit[1])
    other = xgboost.XGBClassifier(n_estimators=3, max_depth=1, n_jobs=1).fit(x, y)
    assert compare(fit[0], other).status == DIFFERENT
    boosters = [f.get_booster() for f in fit]
    assert compare(boosters[0], boosters[1]).status == EQUAL


def test_real_lightgbm_by_the_model_it_saves(data: tuple[np.ndarray, np.ndarray]) -> None:
    import lightgbm

    x, y = data
    fit = [lightgbm.LGBMClassifier(n_estimators=3, min_child_samples=2, verbose=-1, n_jobs=1).fit(x, y)
           for _ in range(2)]
    assert compare(fit[0], fit[1]).status == EQUAL, compare(fit[0], fit[1])
    other = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=2, verbose=-1, n_jobs=1).fit(x, y)
    assert compare(fit[0], other).status == DIFFERENT
    assert compare(fit[0].booster_, fit[1].booster_).status == EQUAL


# ------------------------------------------------------------------ noise


def test_named_timings_are_volatile_with_the_values() -> None:
    result = compare({"elapsed": 1.25, "rows": 3}, {"elapsed": 1.75, "rows": 3})
    assert result.status == VOLATILE, result
    assert result.detail == "['elapsed']: a timing: 1.25 vs 1.75"
    assert compare(1.25, 1.75, name="train_seconds").status == VOLATILE
    assert compare({"elapsed": 1.25, "rows": 3}, {"elapsed": 1.75, "rows": 4}).status == DIFFERENT
    assert compare({"duration": "fast"}, {"duration": "slow"}).status == DIFFERENT  # not a quantity


def test_clock_readings_are_volatile_with_the_times() -> None:
    now = datetime.datetime.now().replace(microsecond=0)
    later = now + datetime.timedelta(seconds=3)
    result = compare(now, later)
    assert result.status == VOLATILE, result
    assert result.detail == f"a clock reading: {now:%H:%M:%S} vs {later:%H:%M:%S}"
    assert compare(time.time(), time.time() + 400).status == VOLATILE
    assert compare(np.float64(time.time()), np.float64(time.time() + 400)).status == VOLATILE
    # far apart, or long ago: a real difference
    assert compare(now, now + datetime.timedelta(hours=3)).status == DIFFERENT
    assert compare(datetime.datetime(2001, 1, 1), datetime.datetime(2001, 1, 1, 0, 0, 3)).status == DIFFERENT


def test_memory_addresses_in_strings_are_volatile() -> None:
    result = compare("<Model object at 0x7f3a1b2c3d40>", "<Model object at 0x7f9e8d7c6b50>")
    assert result.status == VOLATILE and "0x7f3a1b2c3d40 vs 0x7f9e8d7c6b50" in result.detail, result
    assert compare("<Model object at 0x7f3a1b2c3d40>", "<Tree object at 0x7f9e8d7c6b50>").status == DIFFERENT


def test_temporary_paths_differing_in_their_random_part_are_volatile() -> None:
    import tempfile
    from pathlib import Path

    root = tempfile.gettempdir()
    result = compare(f"saved to {root}/tmpab12cd_x/model.pkl", f"saved to {root}/tmpzz98yx7q/model.pkl")
    assert result.status == VOLATILE and "temporary paths" in result.detail, result
    assert compare(Path(root, "pytest-12", "run0", "out.csv"), Path(root, "pytest-13", "run1", "out.csv")).status == VOLATILE
    assert compare(f"{root}/tmpab12cd_x/model.pkl", f"{root}/tmpab12cd_x/other.pkl").status == DIFFERENT
    assert compare("/home/me/run1/x", "/home/me/run2/x").status == DIFFERENT


def test_volatile_does_not_hide_a_difference_and_a_difference_wins() -> None:
    now = datetime.datetime.now()
    a = [now, 1, {"elapsed": 1.0}]
    assert compare(a, [now + datetime.timedelta(seconds=1), 1, {"elapsed": 2.0}]).status == VOLATILE
    assert compare(a, [now + datetime.timedelta(seconds=1), 2, {"elapsed": 2.0}]).status == DIFFERENT


def test_artists_in_no_figure_compare_by_what_they_would_draw() -> None:
    """matplotlib's legend guide keeps legend handles made outside any figure
    (`mpatches.Patch(color="red", label=...)`): they were "not comparable"."""
    import matplotlib.lines as mlines
    import matplotlib.patches as mpatches

    assert compare(mpatches.Patch(color="red", label="red data"), mpatches.Patch(color="red", label="red data")).status == EQUAL
    recoloured = compare(mpatches.Patch(color="red", label="red data"), mpatches.Patch(color="blue", label="red data"))
    assert recoloured.status == DIFFERENT and "color" in recoloured.detail, recoloured
    star = dict(color="blue", marker="*", markersize=15, label="stars")
    assert compare(mlines.Line2D([], [], **star), mlines.Line2D([], [], **star)).status == EQUAL
    other = compare(mlines.Line2D([], [], **star), mlines.Line2D([], [], **{**star, "marker": "o"}))
    assert other.status == DIFFERENT and other.detail == "marker: '*' vs 'o'", other


def test_two_loaded_copies_of_one_figure_are_drawn_once() -> None:
    """A task's `fig`, `ax` and `axs` are separate products: each loads its own copy of one figure, and
    drawing each copy made up most of verify's time (matplotlib's arranging_axes: 54 draws)."""
    import pickle

    import cloudpickle

    from workbench.verification import figures

    figure = _figure([1.0, 2.0, 3.0])
    axes = figure.axes[0]
    copy_a = pickle.loads(cloudpickle.dumps(figure))
    copy_b = pickle.loads(cloudpickle.dumps(axes)).figure
    assert figures.fingerprint(copy_a) == figures.fingerprint(copy_b) is not None
    with figures.memo():  # as verify compares products: each copy pickled once, one state drawn once
        assert compare(copy_a, copy_b).status == EQUAL and compare(copy_b, copy_a).status == EQUAL
    assert compare(copy_a, copy_b).status == EQUAL and compare(copy_a, figure).status == EQUAL
    axes.plot([0, 1], [3, 0])  # the figure changed: another state, drawn again, and different
    assert figures.fingerprint(pickle.loads(cloudpickle.dumps(figure))) != figures.fingerprint(copy_a)
    assert compare(copy_a, figure).status == DIFFERENT
