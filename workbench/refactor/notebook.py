"""Reading notebooks and their tags.

Kale's notebooks are read as Kale reads them (`_read_as_kale`): Kale's tag language is learnt from
its notebook processor (kubeflow-kale/kale, backend/kale/processors/nbprocessor.py: `_TAGS_LANGUAGE`
and `NotebookProcessor.parse_notebook`/`parse_cell_metadata`), not copied.

Notebooks are read with the standard `json` module, not `nbformat`: nbformat's validator pulls in
jsonschema's format checkers (over a second of imports), and `workbench plan` must answer in well
under half a second. The structural checks that matter for planning are done here, with errors that
name the notebook and cell.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import Location, PlanError
from workbench.core.limits import LimitError, parse_cpus, parse_memory, parse_timeout

TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Bare tags and their Kale aliases.
BARE_TAGS = {
    "parameters": "parameters",
    "pipeline-parameters": "parameters",
    "imports": "imports",
    "functions": "functions",
    "metrics": "metrics",
    "pipeline-metrics": "metrics",
    "skip": "skip",
    "gpu": "gpu",
}
# Prefixed tags `prefix:value` and their Kale aliases.
PREFIX_TAGS = {
    "task": "task",
    "step": "task",
    "block": "task",
    "after": "after",
    "prev": "after",
    "gpu": "gpu",
    "model": "model",
    "features": "features",
    "data": "data",
    "sensitive": "sensitive",
    "volatile": "volatile",
    "limit": "limit",
    "memory": "memory",
    "timeout": "timeout",
    "cpus": "cpus",
    # Kale's pod annotations and labels (`annotation:KEY:VALUE`, `label:KEY:VALUE`): Kubernetes
    # settings with no meaning for a Ploomber pipeline; known, so not taken for misspellings.
    "annotation": "kale-pod",
    "label": "kale-pod",
}
# Kale's spellings (Workbench's own are `task:`, `after:`, `parameters`, `metrics`).
KALE_ONLY_BARE = {"pipeline-parameters", "pipeline-metrics"}
KALE_ONLY_PREFIXES = {"step", "block", "prev", "limit", "annotation", "label"}
WORKBENCH_STRUCTURE_BARE = {"parameters", "metrics"}
WORKBENCH_STRUCTURE_PREFIXES = {"task", "after"}
# Kale's reserved tags: the first one on a cell decides what the cell is, its other tags are ignored.
KALE_SPECIAL = {"skip": "skip", "pipeline-parameters": "parameters", "imports": "imports",
                "functions": "functions", "pipeline-metrics": "metrics"}
# Kale's metrics cell: `print(NAME)` lines (astutils.parse_metrics_print_statements).
_KALE_METRIC = re.compile(r"^\s*print\(\s*([A-Za-z_]\w*)\s*\)\s*(#.*)?$")


@dataclass
class CellTags:
    task: str | None = None
    after: list[str] = field(default_factory=list)
    parameters: bool = False
    imports: bool = False
    functions: bool = False
    metrics: bool = False
    skip: bool = False
    gpu: int = 0
    memory_mb: int | None = None  # `memory:4G`, `timeout:30m`, `cpus:2` (core/limits.py)
    timeout_s: float | None = None
    cpus: int | None = None
    model: str | None = None
    features: str | None = None
    data: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    volatile: list[str] = field(default_factory=list)  # values no rerun reproduces (timings)
    metric_names: list[str] = field(default_factory=list)  # Kale's `print(NAME)` metrics
    empty_step: bool = False  # Kale's `step:`/`block:` with no name: the step goes on


@dataclass
class Cell:
    index: int
    id: str | None
    cell_type: str
    source: str
    tags: CellTags
    raw_tags: list[str]

    @property
    def ref(self) -> str:
        return self.id or f"#{self.index}"


@dataclass
class Notebook:
    path: str
    cells: list[Cell]
    sha256: str
    kernel: str | None

    def location(self, cell: Cell | int | None = None, line: int | None = None) -> Location:
        if cell is None:
            return Location(self.path, line=line)
        if isinstance(cell, int):
            cell = self.cells[cell]
        return Location(self.path, cell.index, cell.id, line)


# Tags of other tools that resemble ours but are not misspellings.
FOREIGN_TAGS = {
    "injected-parameters",  # papermill
    "raises-exception",
    "skip-execution",
    "hide-input",
    "hide-output",
    "hide-cell",
    "remove-input",
    "remove-output",
    "remove-cell",
}


def suggest(word: str, choices, cutoff: float = 0.6) -> str | None:
    if word in FOREIGN_TAGS:
        return None
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return match[0] if match else None


def parse_tags(tags: list[str], where: Location) -> CellTags:
    """Parse one cell's tags; misspelt Workbench tags are errors, foreign tags are ignored."""
    parsed = CellTags()
    for tag in tags:
        if not isinstance(tag, str):
            continue
        prefix, sep, value = tag.partition(":")
        if not sep:
            kind = BARE_TAGS.get(tag)
            if kind is None:
                guess = suggest(tag, BARE_TAGS, cutoff=0.75)
                if guess:
                    raise PlanError(
                        f"unknown tag {tag!r}",
                        hint=f"did you mean {guess!r}? Rename the tag in the cell's tags.",
                        location=where,
                    )
                continue
            if kind == "gpu":
                parsed.gpu = 1
            else:
                setattr(parsed, kind, True)
            continue
        kind = PREFIX_TAGS.get(prefix)
        if kind is None:
            guess = suggest(prefix, PREFIX_TAGS)
            if guess:
                raise PlanError(
                    f"unknown tag {tag!r}",
                    hint=f"did you mean '{guess}:{value}'? Rename the tag in the cell's tags.",
                    location=where,
                )
            continue
        if kind == "kale-pod":
            continue
        if kind == "task" and not value and prefix in ("step", "block"):
            # Kale: an empty step name (the Kale extension writes `block:` on the cells that carry
            # on the step above) means no new step; Workbench's own `task:` must name one.
            parsed.empty_step = True
            continue
        if kind in ("task", "after"):
            if not TASK_NAME.match(value):
                raise PlanError(
                    f"invalid task name {value!r} in tag {tag!r}",
                    hint="task names start with a letter or '_' and contain only letters, digits "
                    "and '_' (they become file names and Python identifiers)",
                    location=where,
                )
            if kind == "task":
                if parsed.task and parsed.task != value:
                    raise PlanError(
                        f"the cell has two task tags: {parsed.task!r} and {value!r}",
                        hint="keep one `task:NAME` tag per cell",
                        location=where,
                    )
                parsed.task = value
            else:
                parsed.after.append(value)
        elif kind == "gpu" or kind == "limit":
            if kind == "limit":
                # Kale: limit:nvidia.com/gpu:N
                resource, _, value = value.rpartition(":")
                if not resource.endswith("gpu"):
                    continue
            if not value.isdigit() or int(value) < 1:
                raise PlanError(
                    f"invalid GPU count in tag {tag!r}",
                    hint="write `gpu` for one GPU or `gpu:N` with N a positive integer, e.g. `gpu:2`",
                    location=where,
                )
            parsed.gpu = int(value)
        elif kind in ("memory", "timeout", "cpus"):
            parse = {"memory": parse_memory, "timeout": parse_timeout, "cpus": parse_cpus}[kind]
            try:
                limit = parse(value)
            except LimitError as exc:
                raise PlanError(f"invalid limit in tag {tag!r}", hint=f"{exc}, in the cell's tags",
                                location=where) from None
            setattr(parsed, {"memory": "memory_mb", "timeout": "timeout_s", "cpus": "cpus"}[kind], limit)
        elif kind in ("model", "features"):
            if not value.isidentifier():
                raise PlanError(
                    f"{kind}:{value} does not name a Python variable",
                    hint=f"write `{kind}:NAME` with the variable's name, e.g. `{kind}:clf`",
                    location=where,
                )
            setattr(parsed, kind, value)
        elif kind in ("data", "sensitive"):
            getattr(parsed, kind).append(value)
        elif kind == "volatile":
            names = [n.strip() for n in value.split(",") if n.strip()]
            bad = [n for n in names if not n.isidentifier()] or ([] if names else [value])
            if bad:
                raise PlanError(
                    f"volatile:{value} does not name Python variables",
                    hint="write `volatile:NAME` or `volatile:A,B` with the names of values that differ on "
                    "every run (timings, clock readings), e.g. `volatile:seconds,throughput`",
                    location=where,
                )
            parsed.volatile += [n for n in names if n not in parsed.volatile]
    return parsed


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(src)
    return src


def read_notebook(path: str | Path, display_path: str | None = None) -> Notebook:
    """Read and check a notebook; every failure is a PlanError naming the file and cell."""
    path = Path(path)
    shown = display_path or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlanError(f"{shown}: no such notebook", hint="check the path") from None
    except IsADirectoryError:
        raise PlanError(f"{shown}: is a directory, not a notebook", hint="pass the path of an .ipynb file") from None
    except OSError as exc:
        raise PlanError(
            f"{shown}: cannot read the notebook ({exc.strerror})",
            hint="check the file's permissions, or pass the path of an .ipynb file",
        ) from None
    return parse_notebook(raw, shown)


def parse_notebook(raw: bytes, shown: str) -> Notebook:
    where = Location(shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start})",
            hint="notebooks are UTF-8 JSON; re-save it from Jupyter or fix the encoding",
            location=where,
        ) from None
    if not text.strip():
        raise PlanError(
            "the file is empty",
            hint="restore the notebook from version control, or create it from JupyterLab",
            location=where,
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            hint="the file is damaged or not a notebook; restore it from version control or "
            "re-save it from Jupyter",
            location=Location(shown, line=exc.lineno),
        ) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise PlanError(
            "not a Jupyter notebook (no 'cells')",
            hint="pass an .ipynb file saved by Jupyter",
            location=where,
        )
    major = data.get("nbformat")
    if major != 4:
        raise PlanError(
            f"nbformat {major} is not supported: Workbench reads nbformat 4 notebooks",
            hint="upgrade it with `jupyter nbconvert --to notebook --inplace NOTEBOOK` "
            "(or open and save it in JupyterLab)",
            location=where,
        )
    cells_raw = data.get("cells")
    if not isinstance(cells_raw, list):
        raise PlanError("'cells' is not a list", hint="re-save the notebook from Jupyter", location=where)
    cells: list[Cell] = []
    for index, c in enumerate(cells_raw):
        if not isinstance(c, dict) or c.get("cell_type") not in ("code", "markdown", "raw"):
            cell_id = c.get("id") if isinstance(c, dict) and isinstance(c.get("id"), str) else None
            raise PlanError(
                "malformed cell (no valid cell_type)",
                hint="re-save the notebook from Jupyter",
                location=Location(shown, index, cell_id),
            )
        meta = c.get("metadata") or {}
        raw_tags = meta.get("tags") or []
        if not isinstance(raw_tags, list):
            raw_tags = []
        cell_id = c.get("id") if isinstance(c.get("id"), str) else None
        loc = Location(shown, index, cell_id)
        tags = parse_tags(raw_tags, loc) if c["cell_type"] == "code" else CellTags()
        src = cell_source(c)
        if not isinstance(src, str):
            raise PlanError("cell source is not text", hint="re-save the notebook from Jupyter", location=loc)
        cells.append(Cell(index, cell_id, c["cell_type"], src, tags, list(raw_tags)))
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    if is_kale_notebook(metadata, cells):
        _read_as_kale(cells)
    spec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    kernel = spec.get("name") if isinstance(spec.get("name"), str) else None
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = spec.get("language") or info.get("name")
    if isinstance(language, str) and language.strip().lower() not in ("python", "python3", "ipython", ""):
        raise PlanError(
            f"its language is {language} (kernel {kernel or 'unnamed'}): Workbench makes pipelines of Python notebooks",
            hint="if its code is Python, pick a Python kernel (JupyterLab: Kernel > Change Kernel, then save); "
            "a missing or unknown Python kernel is fine (python3 runs it)",
            location=where,
        )
    return Notebook(shown, cells, hashlib.sha256(raw).hexdigest(), kernel)


def is_kale_notebook(metadata: dict, cells: list[Cell]) -> bool:
    """Kale's notebook: Kale's metadata (`kubeflow_notebook`) or a tag only Kale spells, and none
    of Workbench's structural tags (`task:`, `after:`, `parameters`, `metrics`), whose meaning wins."""
    kale = "kubeflow_notebook" in metadata
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for tag in cell.raw_tags:
            if not isinstance(tag, str):
                continue
            prefix, sep, _ = tag.partition(":")
            if (tag in WORKBENCH_STRUCTURE_BARE) or (sep and prefix in WORKBENCH_STRUCTURE_PREFIXES):
                return False
            kale = kale or tag in KALE_ONLY_BARE or bool(sep and prefix in KALE_ONLY_PREFIXES)
    return kale


def kale_metric_names(source: str) -> list[str]:
    """The variables a Kale metrics cell reports: its `print(NAME)` lines."""
    names: list[str] = []
    for line in source.splitlines():
        m = _KALE_METRIC.match(line)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def _special(kind: str, source: str) -> CellTags:
    tags = CellTags()
    setattr(tags, kind, True)
    if kind == "metrics":
        tags.metric_names = kale_metric_names(source)
    return tags


def _read_as_kale(cells: list[Cell]) -> None:
    """Rewrite the cells' tags to say what Kale's parse_notebook makes of them.

    Kale walks the code cells keeping the last block it saw (a step, or one of its reserved
    blocks). A cell without a step name (untagged, or an empty `step:`/`block:`) joins that
    block: a step, or the imports/functions/parameters/metrics it follows; before any tagged cell
    it is in no block and Kale leaves it out (here: skip). `skip` skips that cell only. A cell's
    first reserved tag decides what it is and its step tags are ignored (Kale refuses a metrics
    cell that is not `print(NAME)` lines; a `step:` + `pipeline-metrics` cell here starts the step
    and its bindings are metrics, as Workbench's `task:` + `metrics`). A step tag naming the step
    already running carries it on; `prev:` tags there, or on an empty step, are ignored, as Kale
    ignores them.
    """
    block: str | None = None
    for cell in cells:
        if cell.cell_type != "code":
            continue
        tags = cell.tags
        special = next((KALE_SPECIAL[t] for t in cell.raw_tags if isinstance(t, str) and t in KALE_SPECIAL), None)
        if special == "metrics" and tags.task:
            tags.metric_names = kale_metric_names(cell.source)
        elif special:
            cell.tags = _special(special, cell.source)
            if special != "skip":
                block = special
            continue
        if not tags.task:
            if block in ("parameters", "imports", "functions", "metrics"):
                cell.tags = _special(block, cell.source)
            elif block is None:
                cell.tags = CellTags(skip=True)
            elif tags.empty_step:
                tags.after = []
            continue
        if tags.task == block:
            tags.task, tags.after = None, []
        block = "metrics" if tags.metrics else tags.task
