"""Generate the panel's Plan types from the Plan's JSON Schema.

    .venv/bin/python extension/scripts/gen_plan_types.py          # write both files
    .venv/bin/python extension/scripts/gen_plan_types.py --check  # exit 1 if either is stale

writes, from `workbench.core.plan.json_schema()`:

    extension/jsonschema/plan.schema.json   the schema itself (draft 2020-12)
    extension/src/plan_types.ts             one TypeScript interface per dataclass (IPlan, ITask, ...)

Both are committed (installing or building the extension needs no Python); `npm run build` reruns
this first, and tests/unit/test_plan_schema.py fails when either is out of date. The schema lives in
extension/jsonschema/, not extension/schema/: JupyterLab reads every JSON file there as the settings
schema of a plugin.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

EXTENSION = Path(__file__).resolve().parent.parent
SCHEMA_FILE = EXTENSION / "jsonschema" / "plan.schema.json"
TYPES_FILE = EXTENSION / "src" / "plan_types.ts"
HEADER = "generated from workbench.core.plan.json_schema() by extension/scripts/gen_plan_types.py; do not edit"
IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def schema() -> dict:
    from workbench.core.plan import json_schema

    return json_schema()


def schema_text(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def ts_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def interface_name(ref_or_name: str) -> str:
    return "I" + ref_or_name.rsplit("/", 1)[-1]


def ts_type(node: dict) -> str:
    """The TypeScript spelling of a schema node (the subset json_schema() writes)."""
    if "$ref" in node:
        return interface_name(node["$ref"])
    if "anyOf" in node:
        return " | ".join(dict.fromkeys(ts_type(n) for n in node["anyOf"]))
    kind = node.get("type")
    if kind is None:
        return "unknown"
    if isinstance(kind, list):
        return " | ".join(ts_type({**node, "type": k}) for k in kind)
    if kind == "array":
        item = ts_type(node["items"]) if "items" in node else "unknown"
        return f"({item})[]" if "|" in item else f"{item}[]"
    if kind == "object":
        values = node.get("additionalProperties", True)
        value = ts_type(values) if isinstance(values, dict) else "unknown"
        return f"{{ [key: string]: {value} }}"
    return {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
            "null": "null"}[kind]


def doc(lines: list[str], indent: str = "") -> list[str]:
    if not lines:
        return []
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}" for line in lines), f"{indent} */"]


def interface(name: str, node: dict) -> list[str]:
    out = doc([node["description"]] if node.get("description") else [])
    out.append(f"export interface {name} {{")
    required = set(node.get("required", []))
    for prop, sub in node.get("properties", {}).items():
        key = prop if IDENTIFIER.match(prop) else json.dumps(prop)
        notes = [sub["description"]] if sub.get("description") else []
        if "default" in sub:
            notes.append(f"Default: {json.dumps(sub['default'])}.")
        out += doc(notes, "  ")
        out.append(f"  {key}{'' if prop in required else '?'}: {ts_type(sub)};")
    out.append("}")
    return out


def typescript(data: dict) -> str:
    lines = [
        f"// {HEADER}.",
        f"// The Plan ({data['$id']}): the JSON that POST workbench/api/plan answers with (`Plan.to_dict()`).",
        "",
        f"export const PLAN_SCHEMA_ID = {ts_string(data['$id'])};",
        "",
    ]
    lines += interface(interface_name(data.get("title", "Plan")), data)
    for name, node in data.get("$defs", {}).items():
        lines.append("")
        lines += interface(interface_name(name), node)
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    data = schema()
    return {SCHEMA_FILE: schema_text(data), TYPES_FILE: typescript(data)}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        rel = path.relative_to(EXTENSION.parent)
        print(f"{'stale' if check else 'wrote'} {rel}", file=sys.stderr if check else sys.stdout)
    if check and stale:
        print("run: .venv/bin/python extension/scripts/gen_plan_types.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
