"""What running a notebook as a Workbench pipeline costs over running the notebook itself.

(a) Per-task overhead. A generated notebook of N tasks (`task:t0` .. `task:t{N-1}`, each a trivial
numpy step on the previous task's small array, so any time beyond the notebook's is overhead) is run
three ways, each `force`d so every task really runs:

* baseline: the notebook once through papermill (`papermill.execute_notebook`, kernel python3,
  in-process API, a fresh kernel per run), as `workbench verify` and most users run notebooks;
* `workbench run --force PIPELINE` as a whole process (wall clock), what a user types, and, where
  this Workbench has them, the same with `--no-track --no-version` (no MLflow/DVC record keeping),
  which isolates the cost of executing the tasks;
* the in-process API `workbench.execute.build.build(pipeline, plan, params, force=True)` after `export`,
  cold (first call in the process: it imports Ploomber) and warm (later calls).

Reported: per-task overhead = (pipeline - notebook) / N, pipeline / N, and pipeline / notebook.
Done for two N, so that the marginal cost of one more task, (T(N2) - T(N1)) / (N2 - N1), separates
per-task cost from fixed start-up cost. Aim: under 0.2 s per task. For the larger N, one CLI run is
split into main() and interpreter exit (atexit handlers), the latter also with `gc.freeze()` first.

(b) Whole-process latency of the commands a user repeats, from the shell (subprocess, wall clock,
best of 5): `workbench plan` on the sample churn notebook (aim < 0.5 s), and a no-op
`workbench run PIPELINE` after one full run (aim < 1.5 s; the fast path that should not import
Ploomber). Baselines in the same run: `python -c pass` with the same interpreter (start-up floor)
and a no-op `ploomber build` in the pipeline folder (what Workbench's fast path competes with).
Also timed: the no-op `workbench run NOTEBOOK -o PIPELINE` (it re-exports first), and whether the
same run named by absolute paths from another working directory stays a no-op. When a command
misses its aim, `python -X importtime` shows where its import time goes (top 10 by cumulative time).

Everything happens in a temporary folder: notebooks/churn.ipynb is copied and exported with `-o`,
so the repository's own pipelines/ is never touched.

Run: .venv/bin/python benchmarks/run_overhead.py
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "true")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKBENCH = str(BIN / "workbench")
PLOOMBER = str(BIN / "ploomber")
ENV = {**os.environ, "PLOOMBER_STATS_ENABLED": "false", "PLOOMBER_VERSION_CHECK_DISABLED": "true",
       "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}
ENV.pop("MLFLOW_TRACKING_URI", None)  # runs the benchmark makes are recorded in its temp folder, not your server

TASK_COUNTS = (10, 30)
RUN_REPEATS = 3
CLI_RUN_REPEATS = 3
CLI_REPEATS = 5
AIM_PER_TASK = 0.2
AIM_PLAN = 0.5
AIM_NOOP_RUN = 1.5


# -- helpers ------------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def fmt(values) -> str:
        return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([fmt(headers), fmt("-" * w for w in widths)] + [fmt(r) for r in rows])


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc


def best_wall(cmd: list[str], cwd: Path, repeats: int) -> tuple[float, subprocess.CompletedProcess]:
    results = [run(cmd, cwd) for _ in range(repeats)]
    return min(results, key=lambda r: r[0])


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _cell(kind: str, source: str, index: int, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": kind, "id": f"c{index:04d}", "metadata": {"tags": tags} if tags else {},
            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def make_notebook(n_tasks: int) -> dict:
    """N tagged tasks, each a trivial numpy step on the small array of the task before it."""
    cells = [
        _cell("markdown", f"# {n_tasks} trivial tasks\n\nGenerated by benchmarks/run_overhead.py.", 0),
        _cell("code", "n = 1_000\nscale = 2.0", 1, ["parameters"]),
        _cell("code", "import numpy as np", 2, ["imports"]),
        _cell("code", "a0 = np.arange(n, dtype=float)", 3, ["task:t0"]),
    ]
    for k in range(1, n_tasks):
        cells.append(_cell("code", f"a{k} = a{k - 1} * scale + {k}\na{k} = a{k} / a{k}.max()", len(cells), [f"task:t{k}"]))
    cells.append(_cell("code", f"total = float(a{n_tasks - 1}.sum())\nprint(total)", len(cells)))
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def wait_for_background(root: Path, limit: float = 120) -> float:
    """Seconds spent waiting for processes left running in `root` (a run's detached tracking sync).

    Found by their working directory; waited for, never killed."""
    started = time.perf_counter()
    root = root.resolve()
    while time.perf_counter() - started < limit:
        busy = False
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cwd = Path(os.readlink(proc / "cwd"))
            except OSError:
                continue
            if cwd == root or root in cwd.parents:
                busy = True
                break
        if not busy:
            break
        time.sleep(0.1)
    return time.perf_counter() - started


def bare_run_flags() -> list[str]:
    """The flags that turn off a run's record keeping (data versioning, tracking), where this Workbench has them."""
    help_text = subprocess.run([WORKBENCH, "run", "--help"], env=ENV, capture_output=True, text=True).stdout
    return [flag for flag in ("--no-track", "--no-version") if flag in help_text]


# -- (a) per-task overhead ----------------------------------------------------------------------

def per_task(root: Path) -> list[dict]:
    import papermill

    from workbench.execute.build import build
    from workbench.refactor.export import export
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.params import effective
    from workbench.refactor.planner import build_plan

    rows = []
    for n in TASK_COUNTS:
        work = root / f"tasks{n}"
        work.mkdir(parents=True)
        nb_path = work / f"trivial_{n}.ipynb"
        nb_path.write_text(json.dumps(make_notebook(n), indent=1))

        executed = work / "executed.ipynb"
        notebook_s = best_of(lambda nb_path=nb_path, executed=executed, work=work: papermill.execute_notebook(
            str(nb_path), str(executed), kernel_name="python3", progress_bar=False, log_output=False,
            cwd=str(work)), RUN_REPEATS)

        cli_dir = work / "pipeline_cli"
        run([WORKBENCH, "export", nb_path.name, "-o", cli_dir.name], work)
        bare = bare_run_flags()
        bare_s = None
        if bare:
            bare_s, _ = best_wall([WORKBENCH, "run", "--force", *bare, cli_dir.name], work, CLI_RUN_REPEATS)

        plan = build_plan(read_notebook(nb_path))
        api_dir = work / "pipeline_api"
        export(plan, api_dir, nb_path, force=True)
        params = effective(plan.parameters, {})
        started = time.perf_counter()
        result = build(api_dir.resolve(), plan, params, force=True)
        cold_s = time.perf_counter() - started
        if len(result.ran) != n:
            raise RuntimeError(f"expected {n} tasks to run, {len(result.ran)} ran")
        warm_s = best_of(lambda api_dir=api_dir, plan=plan, params=params: build(
            api_dir.resolve(), plan, params, force=True), RUN_REPEATS)
        task_s = sum(t.seconds for t in result.tasks)  # Ploomber's own per-task timings, cold run
        exit_probe = exit_cost([*bare, cli_dir.name], work) if n == TASK_COUNTS[-1] else None

        # last, as a user types it: record keeping may leave a detached `workbench sync` behind;
        # it is waited for after each run so that it slows neither the next run nor other rows
        times, waits = [], []
        for _ in range(CLI_RUN_REPEATS):
            seconds, _ = run([WORKBENCH, "run", "--force", cli_dir.name], work)
            times.append(seconds)
            waits.append(wait_for_background(root))
        rows.append({"n": n, "notebook": notebook_s, "cli": min(times), "cli_background": max(waits),
                     "cli_bare": bare_s, "bare_flags": bare, "api_cold": cold_s, "api_warm": warm_s,
                     "task_s": task_s})
        if exit_probe:
            rows[-1]["exit"] = exit_probe
        print(f"  (a) {n} tasks measured", file=sys.stderr, flush=True)
    return rows


EXIT_PROBE = """
import gc, json, sys, time
from workbench.cli.main import main
started = time.perf_counter()
rc = main(["run", "--force", *sys.argv[2:]])
shells = sum(type(o).__name__ == "PloomberShell" for o in gc.get_objects())
print(json.dumps({"main": time.perf_counter() - started, "shells": shells}), file=sys.stderr)
if sys.argv[1] == "freeze":
    gc.freeze()  # what-if: later full collections skip every object alive now
sys.exit(rc)
"""


def live_shells() -> int:
    """IPython shells (ploomber-engine's, one per executed task) still alive in this process."""
    return sum(type(o).__name__ == "PloomberShell" for o in gc.get_objects())


def exit_cost(args: list[str], cwd: Path) -> dict:
    """Where a CLI run's wall time goes: main() itself versus interpreter exit (atexit handlers)."""
    out = {"args": args}
    for mode in ("plain", "freeze"):
        seconds, proc = run([sys.executable, "-c", EXIT_PROBE, mode, *args], cwd)
        probe = json.loads([line for line in proc.stderr.splitlines() if line.startswith("{")][-1])
        out[mode] = {"wall": seconds, **probe}
    return out


def report_per_task(rows: list[dict]) -> None:
    print(f"(a) per-task overhead of a pipeline run (every run --force; papermill and run.build best of {RUN_REPEATS}, "
          f"CLI processes best of {CLI_RUN_REPEATS})")
    headers = ["run", "tasks", "seconds", "x notebook", "per task s", "overhead/task s",
               f"overhead <{AIM_PER_TASK}s (aim)"]
    body = []
    for r in rows:
        n, base = r["n"], r["notebook"]
        body.append(["notebook via papermill (baseline)", n, f"{base:.2f}", "1.00x", f"{base / n:.3f}", "-", "-"])
        for key, label in (("cli", "workbench run --force (CLI process)"),
                           ("cli_bare", f"workbench run --force {' '.join(r['bare_flags'])}"),
                           ("api_cold", "run.build(force=True), 1st call*"),
                           ("api_warm", "run.build(force=True), warm")):
            t = r[key]
            if t is None:
                continue
            over = (t - base) / n
            body.append([label, n, f"{t:.2f}", f"{t / base:.2f}x", f"{t / n:.3f}", f"{over:+.3f}",
                         "yes" if over < AIM_PER_TASK else "NO"])
    print(table(headers, body))
    for r in rows:
        if r.get("cli_background", 0) > 0.2:
            print(f"after each `workbench run --force` of {r['n']} tasks, a detached process kept working in the "
                  f"project for up to {r['cli_background']:.1f}s more (waited for, not counted above)")
    print(f"overhead/task = (pipeline - notebook) / tasks. * first build in this process: it imports Ploomber only "
          f"for {rows[0]['n']} tasks (papermill, a large part of that import, is already loaded by the baseline)")
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        dn = hi["n"] - lo["n"]
        print(f"\nmarginal cost of one more task, (T({hi['n']}) - T({lo['n']})) / {dn}, fixed start-up cancelled out:")
        for key, label in (("notebook", "notebook via papermill"), ("cli", "workbench run (CLI)"),
                           ("cli_bare", "workbench run, bare"), ("api_warm", "run.build, warm")):
            if hi[key] is None:
                continue
            slope = (hi[key] - lo[key]) / dn
            fixed = lo[key] - slope * lo["n"]
            print(f"  {label:<24} {slope:.3f} s/task  (fixed part {fixed:.2f}s)")
        nb_slope = (hi["notebook"] - lo["notebook"]) / dn
        cli_slope = (hi["cli"] - lo["cli"]) / dn
        verdict = "under" if cli_slope < AIM_PER_TASK else "OVER"
        versus = (f"{cli_slope / nb_slope:.0f}x the notebook's" if nb_slope > 0.005
                  else "the notebook's is within noise of zero")
        print(f"  the CLI's marginal cost per task is {cli_slope:.3f}s ({versus}); "
              f"{verdict} the {AIM_PER_TASK} s/task aim")
    for r in rows:
        if "exit" not in r:
            continue
        plain, frozen = r["exit"]["plain"], r["exit"]["freeze"]
        exit_s = plain["wall"] - plain["main"]
        print(f"\nwhere `workbench run --force {' '.join(r['exit']['args'])}` ({r['n']} tasks, one run each) "
              "spends its wall time:")
        print(f"  main() returns after {plain['main']:.2f}s; interpreter exit then takes {exit_s:.2f}s "
              f"({exit_s / plain['wall']:.0%} of {plain['wall']:.2f}s, {exit_s / r['n']:.3f} s/task); "
              f"{plain['shells']} IPython shells were still alive when main() returned")
        print(f"  what-if, gc.freeze() before exit: {frozen['wall']:.2f}s wall, exit "
              f"{frozen['wall'] - frozen['main']:.2f}s: {plain['wall'] / frozen['wall']:.1f}x faster, "
              f"{frozen['wall'] / r['n']:.3f} s/task, {(frozen['wall'] - r['notebook']) / r['n']:+.3f} s/task over the notebook")
        print("  (ploomber-engine starts one IPython shell per task; each registers atexit handlers, and the"
              " shell's reset() at exit runs a full gc.collect() over the whole heap)")
    print()
    for r in rows:
        print(f"  {r['n']} tasks: Ploomber's own task timings add up to {r['task_s']:.2f}s of the "
              f"{r['api_cold']:.2f}s first build ({r['task_s'] / r['n']:.3f} s/task)")


# -- (b) command latency ------------------------------------------------------------------------

def importtime(args: list[str], cwd: Path, top: int = 10) -> tuple[list[tuple[int, int, str]], int]:
    """(the `top` imports by cumulative microseconds, total of top-level imports) of a CLI call."""
    code = f"import sys; from workbench.cli import main; sys.exit(main({args!r}))"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        entries.append((int(cum_us), int(self_us), name.rstrip()))
    top_level = [e for e in entries if not e[2].startswith("  ")]
    return sorted(entries, key=lambda e: -e[0])[:top], sum(e[0] for e in top_level)


def latency(root: Path) -> dict:
    (root / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "churn.ipynb", root / "notebooks" / "churn.ipynb")
    nb, pipe = "notebooks/churn.ipynb", "pipelines/churn"
    run([WORKBENCH, "export", nb, "-o", pipe], root)
    full_s, _ = run([WORKBENCH, "run", pipe], root)  # the one full run the no-op runs follow
    out = {"full_run": full_s, "full_background": wait_for_background(root)}
    out["pass"], _ = best_wall([sys.executable, "-c", "pass"], root, CLI_REPEATS)
    out["import"], _ = best_wall([sys.executable, "-c", "import workbench.cli"], root, CLI_REPEATS)
    out["plan"], _ = best_wall([WORKBENCH, "plan", nb], root, CLI_REPEATS)
    out["noop"], proc = best_wall([WORKBENCH, "run", pipe], root, CLI_REPEATS)
    out["noop_output"] = proc.stdout.strip()
    out["noop_nb"], proc = best_wall([WORKBENCH, "run", nb, "-o", pipe], root, CLI_REPEATS)
    out["noop_nb_output"] = proc.stdout.strip()
    out["ploomber"], proc = best_wall([PLOOMBER, "build"], root / pipe, CLI_REPEATS)
    out["ploomber_output"] = proc.stdout
    # the fast path must not have been left: products untouched means nothing ran
    out["noop_is_noop"] = "nothing to do" in out["noop_output"]
    for key, args, aim in (("plan", ["plan", nb], AIM_PLAN), ("noop", ["run", pipe], AIM_NOOP_RUN),
                           ("noop_nb", ["run", nb, "-o", pipe], AIM_NOOP_RUN)):
        if out[key] >= aim or key == "noop":
            out[f"{key}_imports"] = importtime(args, root)
            out[f"{key}_over"] = out[key] >= aim
    # the same notebook and pipeline, named by absolute paths from another working directory:
    # nothing changed, so nothing should run
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    out["elsewhere"], proc = run([WORKBENCH, "run", str(root / nb), "-o", str(root / pipe)], elsewhere)
    out["elsewhere_output"] = proc.stdout.strip().splitlines()[-1]
    wait_for_background(root)
    return out


def _ploomber_ran(output: str) -> str:
    """How many tasks `ploomber build` actually executed, read from its report table."""
    ran = skipped = 0
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] in ("True", "False"):
            ran += words[1] == "True"
            skipped += words[1] == "False"
    return f"ran {ran}, skipped {skipped}" if ran or skipped else "no task report"


def report_latency(r: dict) -> None:
    print(f"\n(b) whole-process latency from the shell (wall clock, best of {CLI_REPEATS}; churn sample "
          f"copied to a temp dir; one full `workbench run` took {r['full_run']:.1f}s, plus "
          f"{r['full_background']:.1f}s of detached work, before the no-op runs)")
    floor = r["pass"]
    headers = ["command", "seconds", "x python -c pass", "aim", "meets aim"]
    body = [
        ["python -c pass (baseline)", f"{floor:.3f}", "1.0x", "-", "-"],
        ["python -c 'import workbench.cli'", f"{r['import']:.3f}", f"{r['import'] / floor:.1f}x", "-", "-"],
        ["workbench plan notebooks/churn.ipynb", f"{r['plan']:.3f}", f"{r['plan'] / floor:.1f}x",
         f"<{AIM_PLAN}s", "yes" if r["plan"] < AIM_PLAN else "NO"],
        ["workbench run pipelines/churn (no-op)", f"{r['noop']:.3f}", f"{r['noop'] / floor:.1f}x",
         f"<{AIM_NOOP_RUN}s", "yes" if r["noop"] < AIM_NOOP_RUN else "NO"],
        ["workbench run notebooks/churn.ipynb -o pipelines/churn (no-op)", f"{r['noop_nb']:.3f}",
         f"{r['noop_nb'] / floor:.1f}x", f"<{AIM_NOOP_RUN}s", "yes" if r["noop_nb"] < AIM_NOOP_RUN else "NO"],
        ["ploomber build (no-op, baseline)", f"{r['ploomber']:.3f}", f"{r['ploomber'] / floor:.1f}x", "-", "-"],
    ]
    print(table(headers, body))
    print(f"\nno-op workbench run = {r['noop'] / r['ploomber']:.2f}x a no-op `ploomber build` "
          f"({r['ploomber'] / r['noop']:.1f}x faster); it said: {r['noop_output']!r}")
    print(f"`ploomber build` in the pipeline folder: {_ploomber_ran(r['ploomber_output'])}")
    if not r["noop_is_noop"]:
        print("WARNING: the no-op `workbench run` did not take the fast path")
    if "nothing to do" not in r["noop_nb_output"]:
        print(f"WARNING: the no-op `workbench run NOTEBOOK` did not take the fast path: {r['noop_nb_output']!r}")
    same = "nothing to do" in r["elsewhere_output"]
    print(f"\nsame notebook and pipeline by absolute path from another working directory, nothing edited: "
          f"{r['elsewhere']:.2f}s, {'a no-op' if same else 'NOT a no-op'}: {r['elsewhere_output']!r}")
    if not same:
        print("  (the generated task scripts quote the notebook path as typed relative to the working directory,"
              " so a new cwd rewrites every script and every task reruns)")
    for key, label in (("plan", "workbench plan"), ("noop", "no-op workbench run"),
                       ("noop_nb", "no-op workbench run NOTEBOOK")):
        entries = r.get(f"{key}_imports")
        if not entries:
            continue
        top, total = entries
        if not r[f"{key}_over"]:
            names = ", ".join(f"{name.strip()} {cum / 1e6:.3f}s" for cum, _, name in top[:3])
            print(f"\nimport time of `{label}` (within its aim): {total / 1e6:.3f}s of top-level imports; "
                  f"largest: {names}")
            continue
        print(f"\nimport time of `{label}` (python -X importtime, {total / 1e6:.2f}s of top-level imports), "
              "top 10 by cumulative time:")
        print(table(["module", "cumulative s", "self s"],
                    [[name.strip(), f"{cum / 1e6:.3f}", f"{own / 1e6:.3f}"] for cum, own, name in top]))


def main() -> int:
    started = time.perf_counter()
    print(f"run overhead; python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.1f} at start (other work on the machine makes timings noisy)\n")
    with tempfile.TemporaryDirectory(prefix="wb-bench-run-") as tmp:
        root = Path(tmp)
        rows = per_task(root / "a")
        report_per_task(rows)
        (root / "b").mkdir()
        lat = latency(root / "b")
        report_latency(lat)
    builds = len(TASK_COUNTS) * (1 + RUN_REPEATS)
    print(f"\nafter {builds} in-process builds ({sum(TASK_COUNTS) * (1 + RUN_REPEATS)} "
          f"task runs) {live_shells()} ploomber-engine IPython shells are still alive in this process; while their "
          "atexit handlers are registered each runs a full gc.collect() at exit, so the GC is frozen first to let "
          "this benchmark exit promptly")
    print(f"benchmark took {time.perf_counter() - started:.0f}s; load average {os.getloadavg()[0]:.1f} at the end")
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
