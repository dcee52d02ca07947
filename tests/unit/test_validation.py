"""Schema capture, the readable checks format, pandera validation and the CI renderers (pure)."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from workbench.core.plan import Plan
from workbench.deploy import ci_files as ci
from workbench.quality import validation
from workbench.quality.gate import parse_rules
from workbench.quality.validation import ColumnRule, TableCheck


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "tenure_months": rng.integers(1, 72, n),
        "monthly_charges": rng.uniform(20.0, 120.0, n).round(2),
        "plan": rng.choice(["basic", "premium", "pro"], n),
        "churned": rng.integers(0, 2, n),
        "comment": [f"free text {i}" for i in range(n)],
    })
    df.loc[[3, 9], "monthly_charges"] = np.nan
    return df


def rules(df: pd.DataFrame) -> dict[str, ColumnRule]:
    return {r.name: r for r in validation.capture_frame(df)}


def test_capture_types_ranges_nulls_and_categories() -> None:
    df = frame()
    r = rules(df)
    assert r["customer_id"].type == "int" and r["customer_id"].nulls == 0
    # observed 1..200 widened by 10% of the span, but not below 0 for a column with no negatives
    assert (r["customer_id"].min, r["customer_id"].max) == (0, 220)
    m = r["monthly_charges"]
    assert m.type == "float" and m.nulls == 0.02  # 1% observed -> 2% allowed
    assert m.min <= df["monthly_charges"].min() and m.max >= df["monthly_charges"].max()
    assert m.max < df["monthly_charges"].max() * 1.2
    assert r["plan"].values == ["basic", "premium", "pro"] and r["plan"].type == "str"
    assert r["churned"].values == [0, 1] and r["churned"].min is None
    assert r["comment"].values is None  # high cardinality: no category list


def test_an_int_column_read_with_nulls_is_still_int() -> None:
    s = pd.Series([1.0, 2.0, None, 4.0])
    rule = validation.capture_column("n", s)
    assert rule.type == "int" and rule.nulls == 0.5
    assert validation.validate_frame(pd.DataFrame({"n": s}), TableCheck("file", "t.csv", [rule])) == []


def test_the_readable_format_round_trips_and_is_one_line_per_column() -> None:
    check = TableCheck("file", "data/customers.csv", validation.capture_frame(frame()))
    text = validation.render_data_section([check])
    assert "    plan: {type: str, nulls: 0, in: [basic, premium, pro]}" in text
    assert "    churned: {type: int, nulls: 0, in: [0, 1]}" in text
    parsed = validation.parse_data_section(yaml.safe_load(text)["data"])
    assert parsed == [check]


def test_validation_reports_every_broken_rule_naming_column_and_rule() -> None:
    good = frame()
    check = TableCheck("file", "data/customers.csv", validation.capture_frame(good))
    assert validation.validate_frame(good, check) == []
    bad = good.drop(columns=["plan"]).copy()
    bad.loc[:39, "tenure_months"] = np.nan
    bad.loc[5, "monthly_charges"] = 9_999.0
    bad.loc[6, "churned"] = 7
    bad["comment"] = 1.5
    found = {(f.column, f.rule): f.detail for f in validation.validate_frame(bad, check)}
    assert set(found) == {("plan", "missing column"), ("tenure_months", "nulls"),
                          ("monthly_charges", "out of range"), ("churned", "unknown category"),
                          ("comment", "wrong type")}
    assert found[("tenure_months", "nulls")] == "40 of 200 rows missing (20.0%); allowed 0%"
    assert "9999.0 at row 5" in found[("monthly_charges", "out of range")]
    assert "above max" in found[("monthly_charges", "out of range")]
    assert found[("churned", "unknown category")].startswith("7 in 1 row(s); allowed: 0, 1")
    assert "expected str, got float64" in found[("comment", "wrong type")]
    report = validation.Report(["data/customers.csv"], validation.validate_frame(bad, check))
    assert report.text().splitlines()[0] == "data/customers.csv: 5 problem(s)"
    assert "  column plan: missing column: " in report.text()


def test_null_fraction_within_the_allowance_passes_above_it_fails() -> None:
    check = TableCheck("product", "load/raw", [ColumnRule("x", "float", nulls=0.25)])
    assert validation.validate_frame(pd.DataFrame({"x": [1.0, None, 3.0, 4.0]}), check) == []
    [failure] = validation.validate_frame(pd.DataFrame({"x": [1.0, None, None, 4.0]}), check)
    assert (failure.table, failure.column, failure.rule) == ("product load/raw", "x", "nulls")


@pytest.mark.parametrize("section, message", [
    ({"file": "a.csv"}, "must be a list"),
    ([{"columns": {}}], "exactly one of `file:` or `product:`"),
    ([{"file": "a.csv", "columns": {"x": {"type": "integer"}}}], "type 'integer' is not one of"),
    ([{"file": "a.csv", "columns": {"x": {"nulls": 2}}}], "nulls must be a fraction"),
    ([{"file": "a.csv", "columns": {"x": {"maximum": 3}}}], "unknown key(s) maximum"),
])
def test_malformed_data_sections_are_named(section, message) -> None:
    with pytest.raises(validation.ChecksError) as err:
        validation.parse_data_section(section, "checks.yaml")
    assert message in str(err.value)


# --- the CI renderers -------------------------------------------------------------------------


def plan(name: str = "churn") -> Plan:
    return Plan(schema="1", notebook="notebooks/churn.ipynb", notebook_sha256="0", name=name, title="",
                description="", kernel=None, parameters={}, tasks=[], definitions={}, cells=[], warnings=[],
                requirements=[], order=[])


def options(**kw) -> ci.CiOptions:
    base = dict(name="churn", pipeline_dir="pipelines/churn", requirements="pipelines/churn/requirements.txt",
                dvc_dir=".", dvc_targets=["data/customers.csv.dvc"], dvc_remote="s3://bucket/dvc")
    return ci.CiOptions(**{**base, **kw})


def test_script_is_valid_bash_with_the_steps_in_order(tmp_path) -> None:
    text = ci.render_script(plan(), options())
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert "workbench ci pipelines/churn --name churn" in text  # how to regenerate
    order = ["dvc pull data/customers.csv.dvc", 'workbench validate "$PIPELINE"', 'workbench run "$PIPELINE"',
             'workbench gate "$PIPELINE"', 'workbench package "$PIPELINE"']
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert '"${WORKBENCH_PACKAGE:-notebook-workbench==' in text  # not PyPI's unrelated `workbench`
    script = tmp_path / "ci.sh"
    script.write_text(text)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_product_checks_validate_after_the_run_and_no_dvc_skips_the_pull() -> None:
    text = ci.render_script(plan(), options(validate_after_run=True, dvc_dir=None, dvc_targets=[]))
    assert text.index('workbench run "$PIPELINE"') < text.index('workbench validate "$PIPELINE"')
    assert "\n(dvc pull" not in text and "skipped: this project does not version its data with DVC" in text


def test_workflow_takes_secrets_from_github_and_runs_the_script() -> None:
    text = ci.render_workflow(plan(), options())
    doc = yaml.safe_load(text)
    job = doc["jobs"]["churn"]
    assert job["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    assert job["env"]["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"  # the s3 remote's
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    assert any(s.get("uses", "").startswith("actions/cache") for s in job["steps"])
    assert job["steps"][-1]["run"] == "bash ci/churn.sh"


def test_hand_edits_are_detected_by_the_header_hash() -> None:
    text = ci.render_workflow(plan(), options())
    assert not ci.edited(text)
    assert ci.edited(text.replace("ubuntu-latest", "self-hosted"))
    assert not ci.edited(text.replace("# GitHub Actions workflow", "# My workflow"))  # the header is free
    assert ci.edited("name: mine\n")  # no hash line: the user's own file


def test_the_default_gate_section_parses_as_gate_rules() -> None:
    text = ci.render_gate_section({"auc": 0.81, "log_loss": 0.4})
    gate = parse_rules(yaml.safe_load(text)["gate"])
    assert gate.tolerance == 0.01
    assert [(r.metric, r.direction) for r in gate.metrics] == [("auc", "higher"), ("log_loss", "lower")]
    assert "auc: {min: 0.75}" in text  # the comment shows how to add bounds
