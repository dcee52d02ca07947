"""Fetch the third-party corpus: download, check sha256, extract, convert, tag.

    .venv/bin/python corpus/fetch.py                 # every package in corpus/sources.toml
    .venv/bin/python corpus/fetch.py networkx        # only these packages
    .venv/bin/python corpus/fetch.py --only networkx/plot_lca,networkx/plot_properties

Each archive (an sdist pinned by version and sha256 in sources.toml) is downloaded once into
corpus/.cache/archives/ and its sha256 checked on every use (a mismatch is an error, the file is
removed). The listed members, sphinx-gallery example scripts, are converted with jupytext
(`py:sphinx`) and tagged as a user would tag them (see tag()), then written to
corpus/.cache/notebooks/<pkg>/<name>.ipynb. Deterministic: the same archive gives the same
notebooks byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
import tomllib
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.toml"
CACHE = HERE / ".cache"
ARCHIVES = CACHE / "archives"
NOTEBOOKS = CACHE / "notebooks"


class Unreachable(Exception):
    """PyPI (files.pythonhosted.org) could not be reached: the caller may skip."""


def sources() -> list[dict]:
    return tomllib.loads(SOURCES.read_text())["package"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def archive(pkg: dict) -> Path:
    """The package's archive in the cache, downloaded if missing; its sha256 checked."""
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    path = ARCHIVES / pkg["archive"]
    if not path.exists():
        part = path.with_suffix(path.suffix + ".part")
        try:
            with urllib.request.urlopen(pkg["url"], timeout=60) as r, part.open("wb") as f:
                while block := r.read(1 << 20):
                    f.write(block)
        except OSError as e:  # URLError, timeouts, DNS failures
            part.unlink(missing_ok=True)
            raise Unreachable(f"cannot download {pkg['url']}: {e}") from e
        part.rename(path)
    digest = _sha256(path)
    if digest != pkg["sha256"]:
        path.unlink()
        raise SystemExit(
            f"sha256 mismatch for {pkg['archive']}: got {digest}, sources.toml pins "
            f"{pkg['sha256']} (the cached file was removed)"
        )
    return path


# -- tagging ------------------------------------------------------------------------------------

# an RST section title: a text line underlined (and maybe overlined) with one punctuation char
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _headings(md: str) -> list[tuple[str, str]]:
    """(marker, title) for each heading in a markdown cell: ATX '## x' or an RST/setext title."""
    out = []
    lines = md.splitlines()
    for i, line in enumerate(lines):
        m = _ATX.match(line.strip())
        if m:
            out.append(("#" * len(m.group(1)), m.group(2)))
            continue
        if i > 0 and _UNDERLINE.match(line) and lines[i - 1].strip() and not _UNDERLINE.match(lines[i - 1]):
            over = i >= 2 and _UNDERLINE.match(lines[i - 2]) and lines[i - 2][0] == line[0]
            out.append(("over" + line[0] if over else line[0], lines[i - 1].strip()))
    return out


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()[:40].strip("_")
    if not s or s[0].isdigit():
        s = "s_" + s
    return s


def _magic_only(cell: dict) -> bool:
    """jupytext's `%matplotlib inline` cell: it stays in the preamble."""
    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return all(ln.startswith("%") for ln in src.splitlines() if ln.strip())


def tag(nb: dict) -> dict:
    """Tag a converted gallery notebook the way a user would.

    A notebook with level-2 markdown headings ('## x') is left alone: Workbench's default split
    applies. Otherwise the first code cell starts a task (named after the document title), and
    every section heading below the title (an RST underline style other than the title's, or an ATX
    heading) starts a new task at the next code cell. A notebook with no section headings is split
    at its text blocks instead (each sphinx-gallery text block introduces the code below it).
    Names are slugs of the headings, made unique with _2, _3.
    """
    cells = nb["cells"]
    md_heads = [(i, _headings("".join(c["source"]) if isinstance(c["source"], list) else c["source"]))
                for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    if any(m == "##" for _, hs in md_heads for m, _ in hs):
        return nb
    title_marker = next((hs[0][0] for _, hs in md_heads if hs), None)
    title = next((hs[0][1] for _, hs in md_heads if hs), "main")
    sections = {i: hs for i, hs in md_heads}
    # boundaries: markdown cell index -> section title
    bounds: dict[int, str] = {}
    for i, hs in sections.items():
        for marker, text in hs:
            if marker != title_marker:
                bounds[i] = text
                break
    if not bounds:
        # no sections: every text block after the first code cell starts one
        seen_code = False
        for i, c in enumerate(cells):
            if c["cell_type"] == "code" and not _magic_only(c):
                seen_code = True
            elif seen_code:
                text = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                first = next((ln for ln in text.splitlines() if ln.strip()), "section")
                bounds[i] = " ".join(first.split()[:5])
    names: set[str] = set()

    def unique(text: str) -> str:
        base = _slug(text)
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.add(name)
        return name

    pending: str | None = title
    for i, c in enumerate(cells):
        if c["cell_type"] == "markdown" and i in bounds and pending is None:
            pending = bounds[i]
        elif c["cell_type"] == "code" and pending is not None and not _magic_only(c):
            tags = c.setdefault("metadata", {}).setdefault("tags", [])
            tags.append(f"task:{unique(pending)}")
            pending = None
    return nb


# -- conversion ---------------------------------------------------------------------------------

def convert(source: str) -> dict:
    import jupytext

    # sphinx-gallery's newer `# %%` separator means what a `####...` line means; jupytext's
    # py:sphinx reader knows only the latter
    source = re.sub(r"(?m)^# %%[ \t]*(.*)$",
                    lambda m: "#" * 79 + (f"\n# {m.group(1)}" if m.group(1) else ""), source)
    nb = jupytext.reads(source, fmt="py:sphinx")
    data = json.loads(jupytext.writes(nb, fmt="ipynb"))
    data["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, c in enumerate(data["cells"]):
        c["id"] = f"cell-{i}"  # stable ids: the same archive gives the same bytes
        c.setdefault("metadata", {})
    return tag(data)


def notebook_name(member: str) -> str:
    return Path(member).stem.replace("-", "_")


def fetch(packages: list[str] | None = None, only: set[str] | None = None) -> list[Path]:
    """Write the corpus notebooks; return their paths. `only`: {"pkg/name", ...}."""
    written = []
    for pkg in sources():
        if packages and pkg["name"] not in packages:
            continue
        wanted = [m for m in pkg["members"]
                  if only is None or f"{pkg['name']}/{notebook_name(m)}" in only]
        if not wanted:
            continue
        path = archive(pkg)
        out_dir = NOTEBOOKS / pkg["name"]
        out_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path) as tar:
            for member in wanted:
                f = tar.extractfile(f"{pkg['root']}/{member}")
                if f is None:
                    raise SystemExit(f"{pkg['archive']} has no file {pkg['root']}/{member}")
                nb = convert(f.read().decode("utf-8"))
                out = out_dir / f"{notebook_name(member)}.ipynb"
                text = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
                if not out.exists() or out.read_text() != text:
                    out.write_text(text)
                written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("packages", nargs="*", help="package names from sources.toml (default: all)")
    ap.add_argument("--only", help="comma-separated pkg/name notebooks to write")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    try:
        paths = fetch(args.packages or None, only)
    except Unreachable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    for p in paths:
        nb = json.loads(p.read_text())
        tasks = [t for c in nb["cells"] for t in c["metadata"].get("tags", []) if t.startswith("task:")]
        how = f"{len(tasks)} task tags" if tasks else "default split (## headings)"
        print(f"{p.relative_to(HERE.parent)}  {len(nb['cells'])} cells, {how}")
    print(f"{len(paths)} notebooks in {NOTEBOOKS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
