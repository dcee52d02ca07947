"""What `workbench verify` costs on notebooks nobody here wrote: verify against one papermill run.

For each corpus notebook (corpus/sources.toml; fetched once by corpus/fetch.py into
corpus/.cache/), in a fresh folder: `workbench export`, `workbench run`, then `workbench verify`
(a papermill run of the notebook, the pipeline, the comparison, and a second notebook run only
when something differs), then one plain `papermill` run of the same notebook, in the same
process tree and the same minute, so the ratio verify / papermill is measured on one machine
state. Prints the table of corpus/run.py and the median, min and max ratio. Verify runs the
notebook once, so about 1x plus the pipeline's time and the comparison is what to expect;
a ratio near 2x means verify ran the notebook a second time (a difference or nondeterminism).

Run: .venv/bin/python benchmarks/verify_corpus.py [pkg/name ...] [--limit N]
(default: the first 12 notebooks, packages taken in turn; `make corpus` runs all of them)
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
sys.path.insert(0, str(CORPUS))

import fetch  # noqa: E402
import run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="pkg/name (default: the first --limit)")
    ap.add_argument("--limit", type=int, default=12)
    args = ap.parse_args(argv)
    paths = fetch.fetch(None, set(args.notebooks) or None)
    by_pkg: dict[str, list[Path]] = {}
    for p in sorted(paths):
        by_pkg.setdefault(p.parent.name, []).append(p)
    order = [q for group in itertools.zip_longest(*by_pkg.values()) for q in group if q is not None]
    rows = []
    for i, nb in enumerate(order[: args.limit if not args.notebooks else None], 1):
        row = run.run_one(nb, timeout=300, papermill=True)
        print(f"[{i}] {row['notebook']}: {row['verdict']}", file=sys.stderr, flush=True)
        rows.append(row)
    print(run.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
