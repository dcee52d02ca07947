"""Run the corpus: export, run and verify every notebook corpus/fetch.py wrote, one at a time.

    .venv/bin/python corpus/run.py                      # all of corpus/.cache/notebooks/
    .venv/bin/python corpus/run.py networkx/plot_lca    # only these (pkg/name)
    .venv/bin/python corpus/run.py --timeout 120 --no-papermill

Each notebook is copied into a fresh temporary folder and taken through
`workbench export`, `workbench run --no-track --no-version` and `workbench verify` (MLflow off:
WORKBENCH_TRACKING=off), each step under --timeout seconds; then, for comparison, one plain
`papermill NB out.ipynb --cwd DIR` run. Prints a table (notebook, cells, tasks, verdict, seconds,
verify's time over papermill's) and the pass rate; writes every step's output to
corpus/.cache/results/<pkg>__<name>/ and the table as corpus/.cache/results/results.json.

The verdict is `equal` (verify exit 0), `nondeterministic` (verify says so), `differs` (exit 1),
or the step that failed: `export-error`, `run-error`, `verify-error` (another exit status),
`timeout:<step>`. Passing: equal, or nondeterministic when verify itself reports it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE / ".cache" / "notebooks"
RESULTS = HERE / ".cache" / "results"
BIN = Path(sys.executable).parent

ENV = {
    "WORKBENCH_TRACKING": "off",
    "PLOOMBER_STATS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}


def _env() -> dict[str, str]:
    env = dict(os.environ, **ENV)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def step(argv: list[str], cwd: Path, timeout: float, log: Path) -> tuple[int | None, str, float]:
    """(exit status or None on timeout, output, seconds); the output also goes to `log`."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's group: its kernels go with it
        out, _ = proc.communicate()
        rc = None
    seconds = time.perf_counter() - start
    log.write_text(f"$ {' '.join(argv)}\n# exit {rc} in {seconds:.1f}s\n{out}")
    return rc, out, seconds


def _last_line(out: str) -> str:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(("error", "the pipeline", "Error", "workbench:")) or "reproduce" in ln:
            return ln
    return lines[-1] if lines else ""


def verify_verdict(rc: int, out: str) -> str:
    """From verify's exit status (workbench verify --help): 0 equal, 5 nothing differs but values
    that change between runs of the notebook itself (nondeterministic), 1 differs; else an error.
    (Read from the status, not the text: a verdict line that explains a repeat run says
    "nondeterministic" too.)"""
    return {0: "equal", 5: "nondeterministic", 1: "differs"}.get(rc, "verify-error")


def run_one(nb: Path, timeout: float, papermill: bool) -> dict:
    pkg, name = nb.parent.name, nb.stem
    data = json.loads(nb.read_text())
    row: dict = {"notebook": f"{pkg}/{name}", "cells": len(data["cells"]), "tasks": None,
                 "verdict": None, "summary": "", "seconds": {}}
    logs = RESULTS / f"{pkg}__{name}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-") as tmp:
        work = Path(tmp)
        shutil.copy(nb, work / nb.name)
        wb = str(BIN / "workbench")
        steps = [
            ("export", [wb, "export", nb.name]),
            ("run", [wb, "run", nb.name, "--no-track", "--no-version"]),
            ("verify", [wb, "verify", nb.name]),
        ]
        for label, argv in steps:
            rc, out, secs = step(argv, work, timeout, logs / f"{label}.log")
            row["seconds"][label] = round(secs, 1)
            if label == "export" and rc == 0:
                plan = work / "pipelines" / name / "plan.json"
                if plan.exists():
                    row["tasks"] = len(json.loads(plan.read_text()).get("tasks", []))
            if rc is None:
                row["verdict"], row["summary"] = f"timeout:{label}", f"over {timeout:.0f}s"
                break
            if label == "verify":
                row["summary"] = _last_line(out)
                row["verdict"] = verify_verdict(rc, out)
            elif rc != 0:
                row["verdict"], row["summary"] = f"{label}-error", _last_line(out)
                break
        if papermill:
            pm = work / "papermill"
            pm.mkdir()
            shutil.copy(nb, pm / nb.name)
            rc, out, secs = step([str(BIN / "papermill"), nb.name, "out.ipynb", "--cwd", str(pm)],
                                 pm, timeout, logs / "papermill.log")
            row["seconds"]["papermill"] = round(secs, 1) if rc == 0 else None
            row["papermill_ok"] = rc == 0
    return row


def passed(row: dict) -> bool:
    return row["verdict"] in ("equal", "nondeterministic")


def table(rows: list[dict]) -> str:
    head = f"{'notebook':50} {'cells':>5} {'tasks':>5}  {'verdict':16} {'verify s':>8} {'total s':>8} {'pm s':>6} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        s = r["seconds"]
        total = sum(v for k, v in s.items() if k != "papermill" and v is not None)
        pm = s.get("papermill")
        ver = s.get("verify")
        ratio = f"{ver / pm:.2f}" if pm and ver else "-"
        lines.append(f"{r['notebook']:50} {r['cells']:5} {r['tasks'] if r['tasks'] is not None else '-':>5}  "
                     f"{r['verdict']:16} {ver if ver is not None else '-':>8} {total:8.1f} "
                     f"{pm if pm is not None else '-':>6} {ratio:>6}")
    n = len(rows)
    ok = sum(passed(r) for r in rows)
    lines.append("-" * len(head))
    lines.append(f"passed {ok}/{n} ({100 * ok / n:.0f}%)" if n else "no notebooks")
    ratios = [r["seconds"]["verify"] / r["seconds"]["papermill"] for r in rows
              if r["seconds"].get("verify") and r["seconds"].get("papermill")]
    if ratios:
        ratios.sort()
        lines.append(f"verify / papermill time: median {ratios[len(ratios) // 2]:.2f}x, "
                     f"min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x over {len(ratios)} notebooks")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="pkg/name (default: every fetched notebook)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per step (default 120)")
    ap.add_argument("--table", action="store_true", help="only print the table of the last results.json")
    ap.add_argument("--no-papermill", action="store_true", help="skip the plain papermill timing")
    args = ap.parse_args(argv)
    if args.table:
        rows = json.loads((RESULTS / "results.json").read_text())
        for r in rows:  # verdicts re-read from the verify logs with the current rule
            log = RESULTS / r["notebook"].replace("/", "__") / "verify.log"
            if r["verdict"] in ("equal", "differs", "nondeterministic", "verify-error") and log.exists():
                text = log.read_text()
                r["verdict"] = verify_verdict(int(text.splitlines()[1].split()[2]), text)
        print(table(rows))
        return 0
    all_nbs = sorted(NOTEBOOKS.glob("*/*.ipynb"))
    if not all_nbs:
        print("no notebooks: run corpus/fetch.py first", file=sys.stderr)
        return 2
    nbs = [p for p in all_nbs if not args.notebooks or f"{p.parent.name}/{p.stem}" in args.notebooks]
    # packages taken in turn, so that a run cut short has covered each of them
    by_pkg: dict[str, list[Path]] = {}
    for p in nbs:
        by_pkg.setdefault(p.parent.name, []).append(p)
    order = [q for group in itertools.zip_longest(*by_pkg.values()) for q in group if q is not None]
    rows = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    for i, nb in enumerate(order, 1):
        row = run_one(nb, args.timeout, not args.no_papermill)
        rows.append(row)
        print(f"[{i}/{len(order)}] {row['notebook']}: {row['verdict']} ({row['summary'][:160]})", flush=True)
        (RESULTS / "results.json").write_text(json.dumps(rows, indent=1) + "\n")  # as it goes
    print()
    print(table(rows))
    failures = [r for r in rows if not passed(r)]
    if failures:
        print("\nnot passing (logs in corpus/.cache/results/<pkg>__<name>/):")
        for r in failures:
            print(f"  {r['notebook']}: {r['verdict']}: {r['summary']}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
