"""What the user sees: the displayed outputs of each task's cells, pipeline against notebook.

The executed task notebook (products/<task>.ipynb) names the notebook cell each code cell came
from: export writes `# %% notebook cell N (id)` and jupytext keeps that as the cell's `title`
metadata. The papermill run's cells carry the same index as `workbench.cell` metadata (set by
`tag_cells` before the run; the trace and snapshot cells verify adds carry none).

Compared per cell: the stdout text (all stream pieces joined), then each result or display in
order by its richest form: image/png, else text/html, else text/plain. Text and HTML are compared
after normalising memory addresses (`0x7f...`), pandas Styler ids, ANSI colours and whitespace;
images perceptually (images.py: a feature may move by one pixel). stderr (warnings print once per process, and the pipeline
runs its tasks in one process) and errors are not compared.
"""

from __future__ import annotations

import base64
import difflib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

CELL_KEY = "workbench.cell"
TITLE = re.compile(r"^notebook cell (\d+)\b")

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_STYLER_ID = re.compile(r"T_[0-9a-f]{5}(?:_[0-9a-z_]+)?")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SPACE = re.compile(r"\s+")


@dataclass
class Shown:
    """One displayed thing of a cell: kind is stdout, text/plain, text/html or image/png."""

    kind: str
    value: str  # text, or the PNG as base64


@dataclass
class OutputDiff:
    cell: int
    task: str
    status: str  # equal | different
    detail: str
    expected: list[Shown] = field(default_factory=list)
    actual: list[Shown] = field(default_factory=list)


def tag_cells(notebook: dict) -> dict:
    """The notebook with each cell's index in its metadata (in place; returned for chaining)."""
    for index, cell in enumerate(notebook.get("cells", [])):
        cell.setdefault("metadata", {})[CELL_KEY] = index
    return notebook


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def shown(cell: dict) -> list[Shown]:
    out: list[Shown] = []
    stdout = "".join(_text(o.get("text")) for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream" and o.get("name") == "stdout")
    if stdout.strip():
        out.append(Shown("stdout", stdout))
    for o in cell.get("outputs", []):
        if o.get("output_type") not in ("execute_result", "display_data"):
            continue
        data = o.get("data", {})
        for kind in ("image/png", "text/html", "text/plain"):
            if kind in data:
                value = _text(data[kind])
                out.append(Shown(kind, value.replace("\n", "") if kind == "image/png" else value))
                break
    return out


def by_cell(executed: dict, key) -> dict[int, list[Shown]]:
    """cell index -> what it showed; `key(cell)` gives a cell's notebook index or None."""
    cells: dict[int, list[Shown]] = {}
    for cell in executed.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        index = key(cell)
        if index is not None:
            cells.setdefault(index, []).extend(shown(cell))
    return cells


def notebook_index(cell: dict) -> int | None:
    value = cell.get("metadata", {}).get(CELL_KEY)
    return value if isinstance(value, int) else None


def task_index(cell: dict) -> int | None:
    match = TITLE.match(str(cell.get("metadata", {}).get("title", "")))
    return int(match.group(1)) if match else None


def normalise(text: str) -> str:
    text = _ANSI.sub("", text)
    text = _ADDRESS.sub("0x…", text)
    text = _STYLER_ID.sub("T_…", text)
    return _SPACE.sub(" ", text).strip()


def decode_png(data: str):
    """The PNG as a float array (height, width, channels) in 0..1."""
    import numpy as np

    raw = base64.b64decode(data)
    try:
        from PIL import Image

        with Image.open(io.BytesIO(raw)) as image:
            return np.asarray(image.convert("RGBA"), dtype=float) / 255.0
    except ImportError:
        import matplotlib.image as mpimg

        return np.asarray(mpimg.imread(io.BytesIO(raw), format="png"), dtype=float)


def compare_images(a: str, b: str) -> str:
    """'' when the two PNGs look the same (images.difference), else why not."""
    if a == b:
        return ""
    from workbench.verification.images import difference

    try:
        x, y = decode_png(a), decode_png(b)
    except Exception as exc:  # noqa: BLE001 - an undecodable image is compared by its bytes
        return f"the images differ (not decodable: {type(exc).__name__})"
    why = difference(x, y)
    return f"the images differ: {why}" if why else ""


def first_change(a: str, b: str) -> str:
    """The first differing line of two texts, 'A vs B'."""
    la = [normalise(line) for line in a.splitlines() if normalise(line)]
    lb = [normalise(line) for line in b.splitlines() if normalise(line)]
    for x, y in zip(la, lb, strict=False):
        if x != y:
            return f"{x} vs {y}"
    if len(la) != len(lb):
        return f"{len(la)} vs {len(lb)} lines"
    return f"{normalise(a)} vs {normalise(b)}"


def compare_shown(expected: list[Shown], actual: list[Shown]) -> str:
    """'' when equal, else the difference in words."""
    if [s.kind for s in expected] != [s.kind for s in actual]:
        return (f"the notebook shows {', '.join(s.kind for s in expected) or 'nothing'}, the pipeline "
                f"{', '.join(s.kind for s in actual) or 'nothing'}")
    for x, y in zip(expected, actual, strict=True):
        if x.kind == "image/png":
            why = compare_images(x.value, y.value)
            if why:
                return why
        elif normalise(x.value) != normalise(y.value):
            return (f"{x.kind}: " if x.kind != "stdout" else "") + first_change(x.value, y.value)
    return ""


def compare_outputs(plan, executed_notebook: Path, products: Path, expected_name: str = "notebook",
                    actual_name: str = "pipeline") -> list[OutputDiff]:
    """Every task cell with output in the papermill run or the task notebook, compared."""
    executed = json.loads(Path(executed_notebook).read_text(encoding="utf-8"))
    expected = by_cell(executed, notebook_index)
    diffs: list[OutputDiff] = []
    for name in plan.order:
        task = plan.task(name)
        path = products / f"{name}.ipynb"
        if not path.exists():
            continue
        actual = by_cell(json.loads(path.read_text(encoding="utf-8")), task_index)
        for index in task.code_cells:
            a, b = expected.get(index, []), actual.get(index, [])
            if not a and not b:
                continue
            why = compare_shown(a, b)
            kinds = ", ".join(dict.fromkeys(s.kind for s in a)) or "nothing"
            detail = f"cell {index} output differs: {why}" if why else f"cell {index} shows the same ({kinds})"
            diffs.append(OutputDiff(index, name, "different" if why else "equal", detail, a, b))
    return diffs


def compare_runs(plan, a: Path, b: Path) -> dict[int, str]:
    """Cells whose output differs between two papermill runs: index -> what changed."""
    x = by_cell(json.loads(Path(a).read_text(encoding="utf-8")), notebook_index)
    y = by_cell(json.loads(Path(b).read_text(encoding="utf-8")), notebook_index)
    changed = {}
    for index in sorted(set(x) | set(y)):
        why = compare_shown(x.get(index, []), y.get(index, []))
        if why:
            changed[index] = why
    return changed


def text_diff(a: str, b: str, a_name: str = "notebook", b_name: str = "pipeline") -> str:
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), a_name, b_name, lineterm=""))
