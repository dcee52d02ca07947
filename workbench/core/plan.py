"""The Plan: what a tagged notebook means as a pipeline.

The one data model that the exporter, the runner, the verifier, the server API and the UI consume
(`workbench.refactor.planner.build_plan` makes it). It is a plain, JSON-serialisable value
(`Plan.to_dict()`), stable across releases (`schema`), so nothing downstream re-reads the notebook.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

SCHEMA = "workbench.plan/1"
UNSAVEABLE = {"<generator>": "a generator", "open": "an open file", "iter": "an iterator"}
RANDOM_STATE_PRODUCT = {"numpy": "numpy_random_state", "random": "python_random_state"}


class PlanSchemaError(ValueError):
    """A plan.json (or API payload) that is not a Plan this Workbench reads."""


@dataclass
class Parameter:
    name: str
    value: object
    type: str
    source: str
    cell: int
    line: int


@dataclass
class Definition:
    """A statement any task may copy: an import, a function or class, or a line of a shared cell."""

    id: str
    cell: int
    line: int
    kind: str
    binds: list[str]
    source: str


@dataclass
class Output:
    name: str
    format: str
    cell: int
    line: int
    needed_by: list[str] = field(default_factory=list)


@dataclass
class Edge:
    """What one task takes from an upstream task. `traced`: the edge exists only because a trace
    of a real run showed it (`workbench trace`), not by reading the code; `evidence`: why, from the
    trace ("found by trace: task `clean` changed `train`, cell 4"), on traced and static edges."""

    variables: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    random_state: list[str] = field(default_factory=list)
    after: bool = False
    traced: bool = False
    evidence: list[str] = field(default_factory=list)


@dataclass
class Task:
    name: str
    cells: list[int]
    code_cells: list[int] = field(default_factory=list)
    upstream: dict[str, Edge] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # variable -> task that produced it
    outputs: dict[str, Output] = field(default_factory=dict)
    parameters: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)  # Definition ids, notebook order
    imports_needed: list[str] = field(default_factory=list)  # extra import lines (magics)
    gpu: int = 0
    memory_mb: int | None = None  # limits from the `memory:`, `timeout:`, `cpus:` tags (core/limits.py)
    timeout_s: float | None = None
    cpus: int | None = None
    model: str | None = None
    features: str | None = None
    sensitive: list[str] = field(default_factory=list)  # columns to report the metric per group of
    volatile: list[str] = field(default_factory=list)  # values verify reports but does not compare
    metrics: list[str] = field(default_factory=list)
    random_state: dict[str, str | None] = field(default_factory=dict)  # kind -> upstream task
    aliases: list[list[str]] = field(default_factory=list)  # [alias, source]: `alias = source`
    file_reads: list[str] = field(default_factory=list)
    file_writes: list[str] = field(default_factory=list)

    def limits(self) -> dict:
        """{memory_mb, timeout_s, cpus}: those of the task's limit tags that are set."""
        return {k: v for k in ("memory_mb", "timeout_s", "cpus") if (v := getattr(self, k)) is not None}

    def upstream_variables(self) -> list[str]:
        return [v for edge in self.upstream.values() for v in edge.variables]


@dataclass
class CellPlan:
    index: int
    id: str | None
    type: str
    role: str  # task | parameters | shared | skip | preamble-markdown
    task: str | None
    source: str
    code: str  # Python after magics were rewritten (code cells)
    tags: list[str]


@dataclass
class Warning:
    message: str
    cells: list[dict]


@dataclass
class Plan:
    schema: str
    notebook: str
    notebook_sha256: str
    name: str
    title: str
    description: str
    kernel: str | None
    parameters: dict[str, Parameter]
    tasks: list[Task]
    definitions: dict[str, Definition]
    cells: list[CellPlan]
    warnings: list[Warning]
    requirements: list[str]
    order: list[str]  # tasks in an order that respects every edge

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The Plan a `to_dict()` gave; PlanSchemaError if `data` is another version or not a Plan."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise PlanSchemaError(f"not a Plan of this Workbench (schema {found!r}, expected {SCHEMA!r})")
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise PlanSchemaError(f"a {SCHEMA} Plan with a missing or malformed field ({type(exc).__name__}: {exc})") \
                from None

    @classmethod
    def _from_dict(cls, data: dict) -> Plan:
        def task(d: dict) -> Task:
            d = dict(d)
            d["upstream"] = {k: Edge(**v) for k, v in d["upstream"].items()}
            d["outputs"] = {k: Output(**v) for k, v in d["outputs"].items()}
            return Task(**d)

        return cls(
            schema=data["schema"],
            notebook=data["notebook"],
            notebook_sha256=data["notebook_sha256"],
            name=data["name"],
            title=data["title"],
            description=data["description"],
            kernel=data.get("kernel"),
            parameters={k: Parameter(**v) for k, v in data["parameters"].items()},
            tasks=[task(t) for t in data["tasks"]],
            definitions={k: Definition(**v) for k, v in data["definitions"].items()},
            cells=[CellPlan(**c) for c in data["cells"]],
            warnings=[Warning(**w) for w in data["warnings"]],
            requirements=list(data["requirements"]),
            order=list(data["order"]),
        )


def slug(text: str) -> str:
    """A Python-identifier-like name for a task or a pipeline (`pipelines/<slug>/`, its runs, its
    MLflow experiment). Accented letters keep their base letter (`modèle 1` is `modele_1`, not
    `mod_le_1`): a folder or heading in Spanish or French stays readable."""
    import unicodedata

    ascii_text = "".join(unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode("ascii") or "_"
                         for c in text)
    name = re.sub(r"[^0-9A-Za-z]+", "_", ascii_text.strip().lower()).strip("_")
    if not name:
        return "task"
    return name if not name[0].isdigit() else "t_" + name


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of `Plan.to_dict()`, derived from the dataclasses above.

    Every field is required (`to_dict` writes them all) and no other property is allowed; the nested
    dataclasses are `$defs`. `$id` names the SCHEMA version. extension/scripts/gen_plan_types.py makes
    the panel's TypeScript types from it, so the frontend follows this module instead of a copy.
    """
    import types
    import typing
    from dataclasses import MISSING, fields, is_dataclass

    defs: dict[str, dict] = {}

    def nullable(schema: dict) -> dict:
        if set(schema) == {"type"} and isinstance(schema["type"], str):
            return {"type": [schema["type"], "null"]}
        return {"anyOf": [schema, {"type": "null"}]}

    def of(hint) -> dict:
        if hint is type(None):
            return {"type": "null"}
        if hint in (object, typing.Any):
            return {}
        if hint is bool:  # before int: bool is an int to Python, not to JSON Schema
            return {"type": "boolean"}
        simple = {str: "string", int: "integer", float: "number", list: "array", dict: "object"}
        if hint in simple:
            return {"type": simple[hint]}
        if is_dataclass(hint):
            define(hint)
            return {"$ref": f"#/$defs/{hint.__name__}"}
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            schema = of(options[0]) if len(options) == 1 else {"anyOf": [of(a) for a in options]}
            return nullable(schema) if len(options) < len(args) else schema
        if origin is list:
            return {"type": "array", "items": of(args[0])} if args else {"type": "array"}
        if origin is dict:
            if args and args[0] is not str:
                raise TypeError(f"JSON object keys are strings, not {args[0]!r}")
            return {"type": "object", "additionalProperties": of(args[1])} if args else {"type": "object"}
        raise TypeError(f"no JSON Schema for the type {hint!r}")

    def body(cls) -> dict:
        hints = typing.get_type_hints(cls)
        schema: dict = {"type": "object"}
        doc = (cls.__doc__ or "").strip()
        if doc and not doc.startswith(f"{cls.__name__}("):  # the dataclass's generated signature is no doc
            schema["description"] = " ".join(doc.split())
        properties = {}
        for f in fields(cls):
            prop = of(hints[f.name])
            if f.default is not MISSING and isinstance(f.default, (str, int, float, bool, type(None))):
                prop = {**prop, "default": f.default}
            properties[f.name] = prop
        schema["properties"] = properties
        schema["required"] = [f.name for f in fields(cls)]
        schema["additionalProperties"] = False
        return schema

    def define(cls) -> None:
        if cls.__name__ not in defs:
            defs[cls.__name__] = {}  # reserved first: a recursive type refers to itself
            defs[cls.__name__] = body(cls)

    root = body(Plan)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:{SCHEMA}",
        "title": "Plan",
        "description": " ".join((__doc__ or "").split("\n\n")[0].split()) + f" Schema {SCHEMA}.",
        **root,
        "$defs": dict(sorted(defs.items())),
    }
