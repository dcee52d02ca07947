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
    variables: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    random_state: list[str] = field(default_factory=list)
    after: bool = False


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
    model: str | None = None
    features: str | None = None
    sensitive: list[str] = field(default_factory=list)  # columns to report the metric per group of
    volatile: list[str] = field(default_factory=list)  # values verify reports but does not compare
    metrics: list[str] = field(default_factory=list)
    random_state: dict[str, str | None] = field(default_factory=dict)  # kind -> upstream task
    aliases: list[list[str]] = field(default_factory=list)  # [alias, source]: `alias = source`
    file_reads: list[str] = field(default_factory=list)
    file_writes: list[str] = field(default_factory=list)

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
    name = re.sub(r"[^0-9A-Za-z]+", "_", text.strip().lower()).strip("_")
    if not name:
        return "task"
    return name if not name[0].isdigit() else "t_" + name
