"""How planning and exporting scale with notebook size, and how Workbench compares with soorgeon.

What is measured, for generated notebooks of 10, 100, 1,000 and 5,000 cells:

* in-process, best of 3 (time.perf_counter): `build_plan(read_notebook(path))` and
  `export(plan, outdir, path, force=True)` separately, and their sum; the time per cell shows
  whether the cost grows linearly with the notebook (a flat "per cell" column) or worse;
* whole processes, wall clock: `workbench export NOTEBOOK -o DIR --force` (best of 3) and
  `soorgeon refactor NOTEBOOK` (once, 120 s limit, in a fresh temporary copy per size because it
  writes next to the notebook), on the same notebooks. soorgeon is the closest existing tool
  (notebook -> Ploomber pipeline, split on H2 headings), so it is the baseline the CLI figures are
  quoted against; `python -c pass` is the floor of any CLI process.

Why: `workbench plan`/`export` sit in an edit-export-run loop and behind the JupyterLab extension,
so they must stay interactive on big notebooks (aim: 1,000-cell plan+export under 1 s), and their
cost must not grow faster than the notebook.

The notebooks look like real data-science notebooks: a title, a `parameters`-tagged cell, an
imports cell, a level-2 markdown heading every 10 cells (no task tags, so both Workbench and
soorgeon split on headings), code cells that derive pandas/numpy values from earlier ones (in the
same and in earlier sections), a few pure functions, display expressions and loops. The code is
only analysed, never executed.

Run: .venv/bin/python benchmarks/plan_export.py [--full]
(--full runs soorgeon on every size even when that may take the benchmark past ~4 minutes.)
"""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import packages_distributions
from pathlib import Path

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")

from workbench.refactor.export import export  # noqa: E402
from workbench.refactor.notebook import read_notebook  # noqa: E402
from workbench.refactor.planner import build_plan  # noqa: E402

SIZES = [10, 100, 1_000, 5_000]
REPEATS = 3
CLI_REPEATS = 3
SOORGEON_TIMEOUT = 120
BUDGET = 225  # seconds: a soorgeon call that could end past this is skipped (unless --full)
AIM_1000 = 1.0  # seconds, plan + export of a 1,000-cell notebook

BIN = Path(sys.executable).parent
WORKBENCH = BIN / "workbench"
SOORGEON = BIN / "soorgeon"
ENV = {**os.environ, "PLOOMBER_STATS_ENABLED": "false", "PLOOMBER_VERSION_CHECK_DISABLED": "true"}


# -- notebook generation ------------------------------------------------------------------------

def _cell(kind: str, source: str, index: int, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": kind, "id": f"c{index:05d}", "metadata": {"tags": tags} if tags else {},
            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


class _Generator:
    """Writes plausible analysis code: every value is derived from values defined earlier."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frames = ["df_raw"]
        self.arrays = ["values_raw"]
        self.scalars = ["threshold"]
        self.functions: list[str] = []

    def pick(self, names: list[str]) -> str:
        return self.rng.choice(names[-15:])  # mostly recent values, sometimes from earlier sections

    def code(self, i: int) -> str:
        df, arr, sc = self.pick(self.frames), self.pick(self.arrays), self.pick(self.scalars)
        k = self.rng.randint(2, 9)
        kind = i % 10
        if kind == 0:
            self.frames.append(f"df_{i}")
            return f'df_{i} = {df}.assign(f_{i}={df}["x"] * {k} + {sc})\ndf_{i}["z"] = df_{i}["y"].fillna(0)'
        if kind == 1:
            self.arrays.append(f"arr_{i}")
            return f'arr_{i} = np.log1p(np.abs({df}["x"].to_numpy())) * {sc}\narr_{i} = arr_{i}[arr_{i} > {k}]'
        if kind == 2:
            self.frames.append(f"summary_{i}")
            return (f'summary_{i} = (\n    {df}.groupby("group")["x"]\n    .agg(["mean", "std", "count"])\n'
                    f'    .reset_index()\n)\nsummary_{i}.head()')
        if kind == 3:
            self.functions.append(f"normalise_{i}")
            return (f'def normalise_{i}(frame, column="x", factor={k}):\n'
                    f'    """Scale one column to unit variance."""\n'
                    f"    out = frame.copy()\n"
                    f"    std = out[column].std() or 1.0\n"
                    f"    out[column] = (out[column] - out[column].mean()) / std * factor\n"
                    f"    return out")
        if kind == 4 and self.functions:
            fn = self.pick(self.functions)
            self.frames.append(f"df_{i}")
            return f'df_{i} = {fn}({df}, column="x")\ndf_{i}.describe()'
        if kind == 5:
            self.scalars.append(f"score_{i}")
            return f"score_{i} = float(np.mean({arr})) + {sc} / {k}\nprint(f\"score: {{score_{i}:.3f}}\")"
        if kind == 6:
            self.frames.append(f"filtered_{i}")
            return (f'mask_{i} = {df}["x"] > {sc}\nfiltered_{i} = {df}[mask_{i}].copy()\n'
                    f'filtered_{i}["rank"] = filtered_{i}["x"].rank(ascending=False)')
        if kind == 7:
            self.scalars.append(f"total_{i}")
            return (f"totals_{i} = []\nfor col in [\"x\", \"y\"]:\n    totals_{i}.append({df}[col].sum() * {k})\n"
                    f"total_{i} = sum(totals_{i})")
        if kind == 8:
            other = self.pick(self.frames)
            self.frames.append(f"merged_{i}")
            return (f'merged_{i} = {df}.merge({other}[["group", "x"]], on="group", how="left", suffixes=("", "_r"))\n'
                    f"merged_{i}.shape")
        self.arrays.append(f"matrix_{i}")
        return f'matrix_{i} = np.vstack([{arr}[:10], np.zeros(10) + {sc}])\nmatrix_{i}.mean(axis=0)'


def make_notebook(n_cells: int, seed: int = 0) -> dict:
    """A notebook of exactly n_cells cells, split in sections of 10 by level-2 headings."""
    gen = _Generator(seed)
    cells = [
        _cell("markdown", f"# Synthetic analysis ({n_cells} cells)\n\nGenerated by benchmarks/plan_export.py.", 0),
        _cell("code", "seed = 42\nn_rows = 1_000\nthreshold = 0.5\ndata_path = \"data/input.csv\"", 1,
              ["parameters"]),
        _cell("code", "import numpy as np\nimport pandas as pd", 2),
    ]
    section = 0
    while len(cells) < n_cells:
        i = len(cells)
        if (i - 3) % 10 == 0:
            section += 1
            cells.append(_cell("markdown", f"## Step {section}: transform the data\n\nSection {section}.", i))
        elif section == 1 and (i - 3) % 10 == 1:
            cells.append(_cell("code", (
                "rng = np.random.default_rng(seed)\n"
                "df_raw = pd.DataFrame({\n"
                '    "x": rng.normal(size=n_rows),\n'
                '    "y": rng.normal(size=n_rows),\n'
                '    "group": rng.integers(0, 5, size=n_rows),\n'
                "})\n"
                'values_raw = df_raw["x"].to_numpy()'), i))
        else:
            cells.append(_cell("code", gen.code(i), i))
    return {
        "cells": cells[:n_cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# -- measuring ----------------------------------------------------------------------------------

def best_of(fn, repeats: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        value = None  # the previous result must not inflate the heap (and the GC's work) of this call
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def wall(cmd: list[str], cwd: Path, timeout: float) -> tuple[float | None, str]:
    """Wall-clock seconds of a whole process, or (None, why it did not succeed)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout (>{timeout:.0f}s)"
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        return None, f"failed: {reason[:150]}"
    return seconds, "ok"


def measure(size: int, root: Path, soorgeon_allowed: str | None) -> dict:
    work = root / f"n{size}"
    work.mkdir()
    nb_path = work / f"synthetic_{size}.ipynb"
    nb_path.write_text(json.dumps(make_notebook(size), indent=1))
    row: dict = {"cells": size}

    plan_s, plan = best_of(lambda: build_plan(read_notebook(nb_path)), REPEATS)
    gc.disable()  # the same, without the cyclic garbage collector: is any growth the GC's?
    try:
        row["plan_nogc"], _ = best_of(lambda: build_plan(read_notebook(nb_path)), REPEATS)
    finally:
        gc.enable()
    out = work / "pipeline_api"
    export_s, _ = best_of(lambda: export(plan, out, nb_path, force=True), REPEATS)
    shutil.rmtree(out)
    # the CLI path always writes into a fresh folder on its first call, so time a fresh export too
    fresh_s = min(_fresh_export(plan, work / f"fresh{k}", nb_path) for k in range(REPEATS))
    row.update(plan=plan_s, export=export_s, export_fresh=fresh_s, total=plan_s + export_s,
               tasks=len(plan.tasks))

    cli = [str(WORKBENCH), "export", nb_path.name, "-o", "pipeline_cli", "--force"]
    times = [wall(cli, work, SOORGEON_TIMEOUT) for _ in range(CLI_REPEATS)]
    ok = [t for t, _ in times if t is not None]
    row["wb_cli"] = min(ok) if ok else None
    row["wb_cli_note"] = "ok" if ok else times[-1][1]

    if soorgeon_allowed is not None:
        row["soorgeon"], row["soorgeon_note"] = None, soorgeon_allowed
        return row
    # soorgeon writes next to the notebook (and reformats it in place): a copy in a folder of its own
    sg = root / f"soorgeon_{size}"
    sg.mkdir()
    shutil.copy(nb_path, sg / nb_path.name)
    row["soorgeon"], row["soorgeon_note"] = wall([str(SOORGEON), "refactor", nb_path.name], sg, SOORGEON_TIMEOUT)
    if row["soorgeon"] is not None:
        row["soorgeon_tasks"] = len(list((sg / "tasks").iterdir())) if (sg / "tasks").is_dir() else 0
    return row


def _fresh_export(plan, out: Path, nb_path: Path) -> float:
    started = time.perf_counter()
    export(plan, out, nb_path, force=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds


# -- report -------------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def fmt(values) -> str:
        return "  ".join(str(v).rjust(w) for v, w in zip(values, widths))

    return "\n".join([fmt(headers), fmt("-" * w for w in widths)] + [fmt(r) for r in rows])


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> int:
    started = time.perf_counter()
    floor, _ = best_of(lambda: wall([sys.executable, "-c", "pass"], Path.cwd(), 30), 5)
    print(f"plan/export scaling; in-process figures best of {REPEATS}, CLI best of {CLI_REPEATS}, "
          f"soorgeon once ({SOORGEON_TIMEOUT}s limit); python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"baseline: `python -c pass` takes {floor:.3f}s (the floor of any CLI process)\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-plan-") as tmp:
        for size in SIZES:
            elapsed = time.perf_counter() - started
            skip = None
            if elapsed + SOORGEON_TIMEOUT > BUDGET and "--full" not in sys.argv:
                skip = f"skipped (would pass the {BUDGET}s budget; --full runs it)"
            row = measure(size, Path(tmp), skip)
            rows.append(row)
            print(f"  measured {size} cells ({row['tasks']} tasks) at {time.perf_counter() - started:.0f}s",
                  file=sys.stderr, flush=True)

    headers = ["cells", "tasks", "workbench plan s", "export s", "total s", "per cell ms", "plan per cell ms",
               "workbench CLI s", "soorgeon CLI s", "soorgeon/workbench"]
    body = []
    for r in rows:
        if r["soorgeon"] is not None and r["wb_cli"]:
            ratio = f"{r['soorgeon'] / r['wb_cli']:.1f}x"
        else:
            ratio = "-"
        body.append([f"{r['cells']:,}", str(r["tasks"]), _s(r["plan"]), _s(r["export"]), _s(r["total"]),
                     f"{r['total'] / r['cells'] * 1000:.3f}", f"{r['plan'] / r['cells'] * 1000:.3f}",
                     _s(r["wb_cli"]) if r["wb_cli"] is not None else r["wb_cli_note"],
                     _s(r["soorgeon"]) if r["soorgeon"] is not None else r["soorgeon_note"], ratio])
    print(table(headers, body))
    print()
    print("export s re-writes an existing pipeline folder (--force; unchanged files are compared, not rewritten);")
    print("into an empty folder, as the first `workbench export` does:")
    for r in rows:
        print(f"  {r['cells']:>5,} cells: fresh export {r['export_fresh']:.3f}s "
              f"({r['export_fresh'] / r['export']:.2f}x the re-export)")
    print()
    for r in rows:
        notes = []
        if r["soorgeon"] is None:
            notes.append(f"soorgeon {r['soorgeon_note']}")
        elif r.get("soorgeon_tasks") is not None:
            notes.append(f"soorgeon wrote {r['soorgeon_tasks']} task file(s)")
        if r["wb_cli"] is None:
            notes.append(f"workbench CLI {r['wb_cli_note']}")
        else:
            notes.append(f"workbench CLI = {r['wb_cli'] / floor:.1f}x `python -c pass`, "
                         f"{r['wb_cli'] / r['total']:.2f}x its in-process plan+export")
        print(f"  {r['cells']:>5,} cells: " + "; ".join(notes))
    big = next(r for r in rows if r["cells"] == 1_000)
    verdict = "UNDER" if big["total"] < AIM_1000 else "OVER"
    print(f"\n1,000-cell plan+export: {big['total']:.3f}s, {verdict} the {AIM_1000:.0f} s aim "
          f"({big['total'] / AIM_1000:.2f}x the aim).")
    small, last = rows[0], rows[-1]
    factor = last["cells"] / big["cells"]
    for part in ("plan", "export", "total"):
        grew = last[part] / big[part]
        shape = "about linear" if grew < factor * 1.25 else "FASTER than linear"
        print(f"growth {big['cells']:,} -> {last['cells']:,} cells (x{factor:.0f}): {part} x{grew:.1f} ({shape})")
    nogc = last["plan_nogc"] / big["plan_nogc"]
    print(f"  plan with the cyclic GC disabled: x{nogc:.1f} ({big['plan_nogc'] / big['cells'] * 1000:.3f} -> "
          f"{last['plan_nogc'] / last['cells'] * 1000:.3f} ms/cell); the GC's share of the "
          f"{last['cells']:,}-cell plan is {1 - last['plan_nogc'] / last['plan']:.0%}")
    dists, _ = best_of(packages_distributions, REPEATS)
    print(f"export has a fixed cost: {small['export']:.3f}s for {small['cells']} cells "
          f"({small['export'] / big['export']:.2f}x the 1,000-cell export), of which "
          f"importlib.metadata.packages_distributions() (called by every export for requirements.txt) "
          f"takes {dists:.3f}s ({dists / small['export']:.0%})")
    print(f"benchmark took {time.perf_counter() - started:.0f}s; load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
