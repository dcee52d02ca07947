"""The run record and the Plan are checked on their way in from disk: a foreign, broken or newer
file is a clear error (or, for a record among many, skipped with a warning), never a KeyError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.plan import Plan, PlanSchemaError
from workbench.core.record import RECORD_SCHEMA, RecordError, check_record
from workbench.execute.build import load_plan
from workbench.provenance.records import RUNS, load_records, save_record
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def record(**changes) -> dict:
    base = {"schema": RECORD_SCHEMA, "id": "20261201-000000-abcd", "kind": "pipeline", "pipeline": "p",
            "notebook": "nb.ipynb", "started": 1.0, "status": "FINISHED", "params": {}, "metrics": {},
            "tasks": [{"name": "a", "status": "ran"}]}
    base.update(changes)
    return base


def test_a_record_passes_and_an_old_one_without_schema_is_version_one():
    assert check_record(record())["id"] == "20261201-000000-abcd"
    old = {"id": "20250101-000000-aaaaaa", "pipeline": "p", "status": "FINISHED", "started": 1,
           "metrics": {"auc": 0.8}}  # a record of the first release: no schema, kind, tasks or params
    checked = check_record(old)
    assert checked["kind"] == "pipeline" and checked["tasks"] == [] and checked["params"] == {}
    assert checked["metrics"] == {"auc": 0.8}


@pytest.mark.parametrize("bad, says", [
    (record(schema="workbench.run/9"), "another version"),
    ({k: v for k, v in record().items() if k != "pipeline"}, "lacks 'pipeline'"),
    (record(started="yesterday"), "'started' is a str"),
    (record(tasks=[{"status": "ran"}]), "task 0 has no name"),
    ([1, 2], "not a run record"),
])
def test_a_broken_record_names_the_file_and_what_is_wrong(bad, says):
    with pytest.raises(RecordError) as err:
        check_record(bad, "runs/x.json")
    assert "runs/x.json" in err.value.message and says in err.value.message


def test_load_records_skips_a_foreign_file_with_a_warning(tmp_path):
    save_record(record(), tmp_path)
    (tmp_path / RUNS / "zz-notes.json").write_text(json.dumps({"hello": 1}))
    with pytest.warns(UserWarning, match="zz-notes.json lacks 'id'"):
        records = load_records(tmp_path)
    assert [r["id"] for r in records] == ["20261201-000000-abcd"]


def test_plan_round_trips_and_another_version_is_refused(tmp_path):
    plan = build_plan(read_notebook(NOTEBOOKS / "churn.ipynb"))
    data = plan.to_dict()
    assert Plan.from_dict(data) == plan
    with pytest.raises(PlanSchemaError, match="expected 'workbench.plan/1'"):
        Plan.from_dict({**data, "schema": "workbench.plan/0"})
    broken = {**data, "tasks": [{"name": "x"}]}
    with pytest.raises(PlanSchemaError, match="missing or malformed"):
        Plan.from_dict(broken)
    (tmp_path / "plan.json").write_text(json.dumps({**data, "schema": "workbench.plan/0"}))
    with pytest.raises(WorkbenchError) as err:
        load_plan(tmp_path)
    assert "plan.json" in err.value.message and "export" in err.value.hint
