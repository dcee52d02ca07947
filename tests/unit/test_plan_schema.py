"""The Plan's JSON Schema (`workbench.core.plan.json_schema()`) and the frontend types made from it.

extension/scripts/gen_plan_types.py writes extension/jsonschema/plan.schema.json and
extension/src/plan_types.ts; both are committed, so they must match what the dataclasses say now.
"""

from __future__ import annotations

import copy
import importlib.util
import json

import jsonschema
import pytest
from harness import ROOT

from workbench.core.plan import SCHEMA, json_schema
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan

GENERATOR = ROOT / "extension" / "scripts" / "gen_plan_types.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_plan_types", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def schema() -> dict:
    return json_schema()


@pytest.fixture(scope="module")
def churn_plan() -> dict:
    plan = build_plan(read_notebook(ROOT / "notebooks" / "churn.ipynb"))
    return json.loads(json.dumps(plan.to_dict(), default=str))  # as the server sends it


def test_committed_schema_and_typescript_types_are_up_to_date():
    gen = _generator()
    for path, text in gen.outputs().items():
        assert path.exists(), f"{path} is missing: run .venv/bin/python extension/scripts/gen_plan_types.py"
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale (the Plan dataclasses changed): "
            "run .venv/bin/python extension/scripts/gen_plan_types.py")
    assert gen.HEADER in gen.TYPES_FILE.read_text().splitlines()[0]


def test_schema_is_draft_2020_12_and_names_its_version(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA in schema["$id"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"Task", "Edge", "Output", "Parameter", "Definition", "CellPlan", "Warning"} <= set(schema["$defs"])
    task = schema["$defs"]["Task"]["properties"]
    assert task["model"] == {"type": ["string", "null"], "default": None}
    assert task["upstream"] == {"type": "object", "additionalProperties": {"$ref": "#/$defs/Edge"}}
    assert task["aliases"] == {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
    assert task["random_state"]["additionalProperties"] == {"type": ["string", "null"]}
    assert schema["$defs"]["Parameter"]["properties"]["value"] == {}


def test_a_real_plan_validates(schema, churn_plan):
    jsonschema.Draft202012Validator(schema).validate(churn_plan)
    assert [t["name"] for t in churn_plan["tasks"]] == ["load", "features", "split", "train", "evaluate"]


@pytest.mark.parametrize("breakage", [
    "missing tasks", "task name not a string", "unknown property", "gpu not an integer", "edge after not bool",
    "output without its cell",
])
def test_a_broken_plan_fails_validation(schema, churn_plan, breakage):
    plan = copy.deepcopy(churn_plan)
    if breakage == "missing tasks":
        del plan["tasks"]
    elif breakage == "task name not a string":
        plan["tasks"][0]["name"] = 3
    elif breakage == "unknown property":
        plan["tasks"][0]["colour"] = "red"
    elif breakage == "gpu not an integer":
        plan["tasks"][0]["gpu"] = "one"
    elif breakage == "edge after not bool":
        edges = next(t["upstream"] for t in plan["tasks"] if t["upstream"])
        next(iter(edges.values()))["after"] = "yes"
    elif breakage == "output without its cell":
        outputs = next(t["outputs"] for t in plan["tasks"] if t["outputs"])
        del next(iter(outputs.values()))["cell"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(plan)
