"""Data laid out as real projects lay it out (issue 17): committed to git, LFS pointers, already
tracked by DVC (a `.dvc` file, a `dvc.yaml` stage output, the user's own remote), outside the
project. Real git, real DVC with local remotes, the real CLI; no mocks.

Every test works in its own tmp_path, with DVC's global/system config and site cache pointed into
it so that the machine's DVC settings do not leak in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

from workbench.core.record import RECORD_SCHEMA, check_record
from workbench.provenance.data_versions import (
    NotVersionedWarning,
    diff_versions,
    record_versions,
    restore_run,
    version_paths,
)
from workbench.provenance.git_versions import lfs_pointer
from workbench.provenance.versioning import ensure_project

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n"


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "_env"
    for var, sub in (("DVC_GLOBAL_CONFIG_DIR", "global"), ("DVC_SYSTEM_CONFIG_DIR", "system"),
                     ("DVC_SITE_CACHE_DIR", "site")):
        monkeypatch.setenv(var, str(env / sub))
    for var, value in (("DVC_NO_ANALYTICS", "1"), ("GIT_CONFIG_NOSYSTEM", "1"), ("GIT_AUTHOR_NAME", "t"),
                       ("GIT_AUTHOR_EMAIL", "t@t"), ("GIT_COMMITTER_NAME", "t"), ("GIT_COMMITTER_EMAIL", "t@t"),
                       ("PLOOMBER_STATS_ENABLED", "false"), ("WORKBENCH_TRACKING", "off")):
        monkeypatch.setenv(var, value)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def commit_all(root: Path, message: str = "data") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def runs(root: Path) -> list[dict]:
    return json.loads(workbench("runs", "--json", cwd=root, check=True).stdout)


def record_of(root: Path, run_id: str) -> dict:
    return json.loads((root / ".workbench" / "runs" / f"{run_id}.json").read_text())


def sales_project(root: Path) -> Path:
    """A git repository with a committed CSV and the notebook that reads it, as a new user has."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir()
    (root / "data" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,20\nnorth,5\n")
    nb = write_notebook(root / "sales.ipynb", [
        ("import pandas as pd", "imports"),
        ("sales = pd.read_csv('data/sales.csv')", "task:load"),
        ("total = float(sales.amount.sum())", ["task:report", "metrics"]),
    ])
    git(root, "init", "-q")
    commit_all(root, "start")
    return nb


# --- git-tracked input, end to end ----------------------------------------------------------------


@pytest.mark.slow
def test_a_git_tracked_input_is_versioned_by_git_and_checked_out_from_git(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    nb = sales_project(root)
    csv = root / "data" / "sales.csv"
    committed = csv.read_bytes()

    workbench("run", nb.name, cwd=root, check=True)
    first = runs(root)[0]
    entry = first["versions"]["data/sales.csv"]
    assert entry["via"] == "git" and entry["dirty"] is False
    assert entry["blob"] == git(root, "hash-object", "data/sales.csv")
    assert entry["commit"] == git(root, "rev-parse", "HEAD")
    products = first["versions"]["pipelines/sales/products"]
    assert products["via"] == "dvc" and not products.get("error")  # the git-tracked input no longer costs them
    assert not (root / "data" / "sales.csv.dvc").exists()  # never DVC-added
    assert first["data"]["data/sales.csv"] == entry["blob"]
    table = workbench("runs", cwd=root, check=True).stdout
    assert f"sales.csv@git:{entry['blob'][:8]}" in table and first["data"]["pipelines/sales/products"][:8] in table

    # an uncommitted edit: the run still records (and keeps) that version
    edited = b"region,amount\nnorth,10\nsouth,20\nnorth,5\nwest,7\n"
    csv.write_bytes(edited)
    second_run = workbench("run", nb.name, cwd=root, check=True)
    assert "uncommitted edits" in second_run.stdout + second_run.stderr
    second = runs(root)[0]
    assert second["versions"]["data/sales.csv"]["dirty"] is True
    assert second["versions"]["data/sales.csv"]["blob"] == git(root, "hash-object", "data/sales.csv")
    assert second["metrics"]["total"] == 42.0

    diff = workbench("diff", first["id"], second["id"], cwd=root, check=True).stdout
    assert f"data/sales.csv: modified (git blob {entry['blob']}" in diff
    lineage = workbench("lineage", "report/total", cwd=root, check=True).stdout
    assert f"raw data data/sales.csv git blob {second['versions']['data/sales.csv']['blob']}" in lineage
    assert "with uncommitted edits" in lineage

    # checking out the first run would overwrite the uncommitted edit: refused, nothing changed
    refused = workbench("checkout", first["id"], cwd=root)
    assert refused.returncode != 0
    assert "uncommitted edits" in refused.stderr and "--force" in refused.stderr and "data/sales.csv" in refused.stderr
    assert csv.read_bytes() == edited

    forced = workbench("checkout", first["id"], "--force", cwd=root, check=True).stdout
    assert "restored data/sales.csv to run" in forced and "(from git)" in forced
    assert csv.read_bytes() == committed
    kept = next(line for line in forced.splitlines() if line.startswith("your edits to data/sales.csv"))
    blob = kept.split("git blob ")[1].split(":")[0]
    assert git(root, "cat-file", "-p", blob).encode() + b"\n" == edited

    # the uncommitted version the second run read survives gc, and comes back byte for byte
    git(root, "gc", "-q", "--prune=now")
    back = workbench("checkout", second["id"], cwd=root, check=True).stdout  # the file equals HEAD: no edits
    assert "restored data/sales.csv" in back
    assert csv.read_bytes() == edited
    again = workbench("checkout", second["id"], cwd=root, check=True).stdout
    assert "already holds the data" in again


# --- every layout in one run ----------------------------------------------------------------------


@pytest.mark.slow
def test_every_layout_in_one_run_is_versioned_by_its_owner_and_restored(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    team = tmp_path / "team-remote"  # the user's own remote, made the default before Workbench came
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(team)], cwd=root, check=True)
    data = root / "data"
    data.mkdir()
    (data / "sales.csv").write_text("region,amount\nnorth,10\nsouth,20\n")  # committed to git
    (data / "big.parquet").write_text(POINTER)  # an LFS pointer (git-lfs not needed to commit it)
    (root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (data / "lookup.csv").write_text("region,code\nnorth,N\nsouth,S\n")  # tracked with `dvc add`
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "data/lookup.csv"], cwd=root, check=True)
    (data / "raw.txt").write_text("1\n2\n3\n")
    (root / "dvc.yaml").write_text(  # a stage of the project's own DVC pipeline
        "stages:\n  prepare:\n    cmd: cat data/raw.txt data/raw.txt > data/clean.txt\n"
        "    deps: [data/raw.txt]\n    outs: [data/clean.txt]\n")
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, check=True, capture_output=True)
    outside = tmp_path / "elsewhere" / "rates.csv"  # another disk, as far as the project knows
    outside.parent.mkdir()
    outside.write_text("rate\n0.5\n")
    nb = write_notebook(root / "nb.ipynb", [
        ("import pandas as pd", "imports"),
        ("sales = pd.read_csv('data/sales.csv')\nlookup = pd.read_csv('data/lookup.csv')\n"
         "clean = open('data/clean.txt').read()\npointer = open('data/big.parquet').read()\n"
         f"rates = pd.read_csv({str(outside)!r})", "task:load"),
        ("n = float(len(sales) + len(lookup) + len(clean) + len(pointer) + len(rates))", ["task:report", "metrics"]),
    ])
    commit_all(root)
    dvc_files = {p: p.read_text() for p in (root / "dvc.yaml", root / "dvc.lock", data / "lookup.csv.dvc")}
    config = (root / ".dvc" / "config").read_text()

    ran = workbench("run", nb.name, cwd=root, check=True)
    assert "outside the project" in ran.stdout + ran.stderr and "cannot restore" in ran.stdout + ran.stderr
    first = runs(root)[0]
    versions = first["versions"]
    vias = {path: entry["via"] for path, entry in versions.items()}
    assert vias == {"data/sales.csv": "git", "data/big.parquet": "lfs", "data/lookup.csv": "dvc",
                    "data/clean.txt": "dvc", str(outside.resolve()): "hash", "pipelines/nb/products": "dvc"}
    assert not any(entry.get("error") for entry in versions.values())
    assert versions["data/big.parquet"]["oid"] == OID and versions["data/big.parquet"]["lfs_size"] == 12345
    assert versions["data/clean.txt"]["stage"] == "dvc.yaml:prepare"
    assert versions[str(outside.resolve())]["sha256"] == __import__("hashlib").sha256(outside.read_bytes()).hexdigest()
    # the owners' files are as they were: no `.dvc` file for the stage output, DVC config untouched
    assert {p: p.read_text() for p in dvc_files} == dvc_files and not (data / "clean.txt.dvc").exists()
    assert (root / ".dvc" / "config").read_text() == config
    # the user's remote got the versions (the stage output's and the products'), none was made for us
    for key in ("data/clean.txt", "data/lookup.csv"):
        md5 = versions[key]["md5"]
        assert (team / "files" / "md5" / md5[:2] / md5[2:]).is_file(), key
    assert not (root / ".workbench" / "dvc-remote").exists()
    lineage = workbench("lineage", "report/n", cwd=root, check=True).stdout
    assert f"raw data data/big.parquet git LFS object {OID}" in lineage
    assert "(output of dvc.yaml:prepare)" in lineage

    # everything changes (the git files committed), then the first run is checked out
    old = {p: p.read_bytes() for p in (data / "sales.csv", data / "big.parquet", data / "lookup.csv", data / "clean.txt")}
    (data / "sales.csv").write_text("region,amount\nwest,1\n")
    (data / "big.parquet").write_text(POINTER.replace("12345", "99"))
    commit_all(root, "new data")
    (data / "lookup.csv").write_text("region,code\nwest,W\n")
    (data / "clean.txt").write_text("edited by hand\n")
    outside.write_text("rate\n0.7\n")
    # the local DVC cache is lost: the versions come back from the user's remote
    subprocess.run(["rm", "-rf", str(root / ".dvc" / "cache")], check=True)
    out = workbench("checkout", first["id"], cwd=root, check=True).stdout
    assert {p: p.read_bytes() for p in old} == old
    for key in ("data/sales.csv", "data/big.parquet", "data/lookup.csv", "data/clean.txt"):
        assert f"restored {key} to run" in out, out
    assert "git lfs pull" in out  # the pointer is back; git-lfs fetches its content
    assert f"cannot restore {outside.resolve()}: it is outside the project" in out and "changed since" in out
    assert (root / "dvc.yaml").read_text() == dvc_files[root / "dvc.yaml"] and not (data / "clean.txt.dvc").exists()


# --- one path failing ---------------------------------------------------------------------------


def test_one_path_that_cannot_be_versioned_does_not_stop_the_others(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    ensure_project(root)
    (root / "mixed").mkdir()
    (root / "mixed" / "committed.txt").write_text("in git\n")
    git(root, "add", "mixed/committed.txt")
    (root / "mixed" / "new.txt").write_text("not in git\n")  # DVC refuses the folder: git owns part of it
    (root / "plain.csv").write_text("a\n1\n")
    (root / "products").mkdir()
    (root / "products" / "p.txt").write_text("product\n")
    with pytest.warns(NotVersionedWarning, match="mixed is not versioned"):
        result = version_paths(root, [Path("mixed"), Path("plain.csv"), Path("products"), Path("not-made")])
    assert result.versions["mixed"]["via"] == "dvc" and "mixed" in result.versions["mixed"]["error"]
    assert result.versions["plain.csv"]["via"] == "dvc" and result.versions["products"]["via"] == "dvc"
    assert set(result.dvc) == {"plain.csv", "products"} and set(result.data()) == {"plain.csv", "products"}
    assert result.pushed
    record = {"id": "r1", "versions": result.versions, "dvc": result.dvc}
    (root / "plain.csv").write_text("a\n2\n")
    restored = restore_run(root, record)
    assert restored.changed == ["plain.csv"] and (root / "plain.csv").read_text() == "a\n1\n"
    assert any(note.startswith("cannot restore mixed: the run could not version it") for note in restored.notes)


def test_a_staged_but_uncommitted_file_and_a_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    ensure_project(root)
    (root / "new.csv").write_text("x\n1\n")
    git(root, "add", "new.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotVersionedWarning)
        entry = version_paths(root, [Path("new.csv")]).versions["new.csv"]
    assert entry["via"] == "git" and entry["commit"] is None and entry["dirty"] is True
    (root / "new.csv").write_text("x\n2\n")
    git(root, "add", "new.csv")
    git(root, "commit", "-q", "-m", "x")  # now HEAD has 2: the file has no edits to lose
    assert restore_run(root, {"id": "r", "versions": {"new.csv": entry}}).changed == ["new.csv"]
    assert (root / "new.csv").read_text() == "x\n1\n"


# --- records -------------------------------------------------------------------------------------


def test_a_record_from_before_per_path_versions_still_reads_diffs_and_restores(tmp_path: Path) -> None:
    old = {"id": "20250101-000000-aaaaaa", "pipeline": "p", "status": "FINISHED", "started": 1,
           "dvc": {"data.csv": {"md5": "a" * 32, "size": 3, "hash": "md5"}}, "data": {"data.csv": "a" * 32}}
    checked = check_record(json.loads(json.dumps(old)))
    assert checked["versions"] == {"data.csv": {"via": "dvc", "md5": "a" * 32, "size": 3, "hash": "md5"}}
    assert record_versions(old) == checked["versions"]  # the same for a record not read through check_record
    new = {"schema": RECORD_SCHEMA, **old, "versions": {"data.csv": {"via": "git", "blob": "b" * 40,
                                                                      "commit": "c" * 40, "dirty": False}}}
    assert check_record(new)["versions"]["data.csv"]["via"] == "git"
    assert diff_versions(record_versions(checked), record_versions(new)) == [
        ("data.csv", f"modified (md5 {'a' * 32} -> git blob {'b' * 40} at commit {'c' * 12})")]
    assert diff_versions(record_versions(checked), record_versions(checked)) == []


def test_lfs_pointer_recognition() -> None:
    assert lfs_pointer(POINTER.encode()) == {"oid": OID, "size": 12345}
    assert lfs_pointer(b"region,amount\n") is None
    assert lfs_pointer(b"version https://git-lfs.github.com/spec/v1\nsize 3\n") is None  # no oid
    assert lfs_pointer(POINTER.encode() + b"x" * 2000) is None  # larger than a pointer can be
