"""Limit tags (`memory:4G`, `timeout:30m`, `cpus:2`), the project's prices and the cost they give,
and the Dask resources a limited task reserves."""

from __future__ import annotations

import pytest

from workbench.core.errors import PlanError
from workbench.core.limits import LimitError, load_prices, parse_cpus, parse_memory, parse_timeout, task_cost
from workbench.core.plan import Plan
from workbench.execute.dask_runner import limit_resources
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan


@pytest.mark.parametrize("text,mb", [("4G", 4096), ("512M", 512), ("1.5GB", 1536), ("8Gi", 8192), ("2048k", 2),
                                     ("1T", 1024 * 1024), ("300m", 300)])
def test_memory_sizes(text, mb):
    assert parse_memory(text) == mb


@pytest.mark.parametrize("text", ["4", "", "G", "-1G", "0G", "4X", "four G"])
def test_a_memory_size_without_a_unit_or_number_is_refused(text):
    with pytest.raises(LimitError, match=r"memory:4G"):
        parse_memory(text)


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("90s", 90), ("2h", 7200), ("1h30m", 5400),
                                          ("1.5h", 5400), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["30", "m", "30x", "1h 30m", "", "0s"])
def test_a_bad_duration_is_refused(text):
    with pytest.raises(LimitError, match=r"timeout:"):
        parse_timeout(text)


def test_cpus():
    assert parse_cpus("2") == 2
    for bad in ("0", "-1", "1.5", "two"):
        with pytest.raises(LimitError, match=r"cpus:2"):
            parse_cpus(bad)


def test_limit_tags_reach_the_plan_largest_cell_wins_and_round_trip(make_notebook):
    nb = make_notebook([("a = 1", ["task:load", "memory:1G", "timeout:30m"]), ("b = a", ["memory:2G", "cpus:2"]),
                        ("c = b", "task:train")])
    plan = build_plan(read_notebook(nb))
    assert plan.task("load").limits() == {"memory_mb": 2048, "timeout_s": 1800.0, "cpus": 2}
    assert plan.task("train").limits() == {}
    again = Plan.from_dict(plan.to_dict())
    assert again.task("load").limits() == plan.task("load").limits()


def test_a_bad_limit_tag_names_the_notebook_the_cell_and_the_fix(make_notebook):
    nb = make_notebook(["x = 0", ("a = 1", ["task:load", "memory:lots"])])
    with pytest.raises(PlanError) as caught:
        read_notebook(nb)
    text = str(caught.value)
    assert "memory:lots" in text and "nb.ipynb" in text and "memory:4G" in text
    assert caught.value.location.cell == 1


def test_prices_from_pyproject(tmp_path):
    assert load_prices(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_prices(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[tool.workbench.cost]\ncpu_hour = 0.036\ngpu_hour = 3\n'
                                             'gb_hour = 0.004\ncurrency = "EUR"\n')
    prices = load_prices(tmp_path)
    assert prices == {"cpu_hour": 0.036, "gpu_hour": 3.0, "gb_hour": 0.004, "currency": "EUR"}
    # 2 CPU-hours, half a GPU-hour, 2 GB held for an hour
    cost = task_cost(prices, seconds=3600, cpu_seconds=7200, gpu_seconds=1800, peak_mb=2048)
    assert cost == pytest.approx(2 * 0.036 + 0.5 * 3 + 2 * 0.004)
    assert task_cost(prices, seconds=10, cpu_seconds=None, gpu_seconds=None, peak_mb=None) == 0


@pytest.mark.parametrize("table,match", [("cpu_hour = 'cheap'", "cpu_hour must be a number"),
                                         ("cpu_hour = -1", "cpu_hour must be a number"),
                                         ("cpuhour = 1", "unknown key 'cpuhour'")])
def test_bad_prices_name_the_file_and_the_key(tmp_path, table, match):
    (tmp_path / "pyproject.toml").write_text(f"[tool.workbench.cost]\n{table}\n")
    with pytest.raises(LimitError, match=match) as caught:
        load_prices(tmp_path)
    assert "pyproject.toml" in str(caught.value)


def test_dask_reserves_only_the_resources_workers_declare(make_notebook):
    nb = make_notebook([("a = 1", ["task:load", "memory:1G", "cpus:2"]), ("b = a", ["task:fit", "memory:64G"]),
                        ("c = b", ["task:slow", "timeout:1m"])])
    plan = build_plan(read_notebook(nb))
    reserve, warnings = limit_resources(plan, [{"memory": 8e9, "cpus": 4}, {}])
    assert reserve == {"load": {"memory": 2**30, "cpus": 2}}
    assert any("'fit'" in w and "largest worker" in w for w in warnings)
    assert any("'slow'" in w and "timeout" in w for w in warnings)
    reserve, warnings = limit_resources(plan, [{}, {"GPU": 1}])
    assert reserve == {}
    assert any("no Dask worker declares a `memory` resource" in w for w in warnings)
