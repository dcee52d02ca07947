"""workbench.versioning against a real git repository and real DVC with a local remote (no mocks).

Every test works in its own tmp_path project, with DVC's global/system config and site cache
pointed into tmp_path so that neither the machine's DVC settings nor other runs leak in.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from workbench.core.project import git_top as project_root  # the git walk (core.project.project_root is the rule)
from workbench.provenance.versioning import (
    LOCAL_REMOTE,
    VersioningError,
    VersioningWarning,
    content_id,
    current,
    diff_entries,
    dvcfile_data,
    ensure_project,
    push,
    relative_key,
    restore,
    track,
)


@pytest.fixture(autouse=True)
def hermetic_dvc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "_env"
    for var, sub in (
        ("DVC_GLOBAL_CONFIG_DIR", "global"),
        ("DVC_SYSTEM_CONFIG_DIR", "system"),
        ("DVC_SITE_CACHE_DIR", "site"),
    ):
        monkeypatch.setenv(var, str(env / sub))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An initialised Workbench project: git + DVC + the local remote."""
    path = tmp_path / "proj"
    path.mkdir()
    ensure_project(path)
    return path


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under path (or path itself) with its bytes."""
    if path.is_file():
        return {".": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def write_data(root: Path, version: int) -> None:
    (root / "data.csv").write_text(f"a,b\n1,{version}\n")
    products = root / "products"
    (products / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(5):
        (products / f"p{i}.txt").write_text(f"product {i}\n")
    (products / "sub" / "model.bin").write_bytes(bytes(range(256)) * 64)
    if version > 1:
        (products / "p1.txt").write_text("product 1, changed\n")
        (products / "added.txt").write_text("new since version 1\n")


def remote_has(root: Path, md5: str) -> bool:
    return (root / LOCAL_REMOTE / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def dvc_config(root: Path) -> str:
    return (root / ".dvc" / "config").read_text()


# --- project set-up ----------------------------------------------------------------------------


def test_project_root_walks_up_to_git(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "deep"
    plain.mkdir(parents=True)
    assert project_root(plain) is None
    (tmp_path / "plain" / ".git").mkdir()
    assert project_root(plain) == (tmp_path / "plain").resolve()
    (plain / "nb.ipynb").write_text("{}")
    assert project_root(plain / "nb.ipynb") == (tmp_path / "plain").resolve()


def test_init_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "proj"
    path.mkdir()
    done = ensure_project(path)
    assert any("git" in line for line in done) and any("DVC" in line for line in done)
    assert (path / ".git").is_dir() and (path / ".dvc").is_dir() and (path / LOCAL_REMOTE).is_dir()
    config = dvc_config(path)
    assert "analytics = false" in config and "autostage = false" in config
    assert "remote = workbench" in config and "url = ../.workbench/dvc-remote" in config
    assert "/.workbench/" in (path / ".gitignore").read_text().splitlines()
    # what `dvc init` staged is staged with our settings, not half of it
    unstaged = subprocess.run(["git", "diff", "--name-only"], cwd=path, capture_output=True, text=True).stdout
    assert ".dvc/config" not in unstaged

    assert ensure_project(path) == []
    assert dvc_config(path) == config
    assert (path / ".gitignore").read_text().count(".workbench") == 1

    # a clone has the setting but not the machine-local folder: init brings it back
    shutil.rmtree(path / ".workbench")
    assert ensure_project(path) == ["created the local DVC remote folder .workbench/dvc-remote/"]


def test_init_inside_existing_git_repo_and_subfolder(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "mono")], check=True)
    (tmp_path / "mono" / ".gitignore").write_text("*.pyc")  # no trailing newline
    sub = tmp_path / "mono" / "team"
    sub.mkdir()
    done = ensure_project(sub)
    assert not any("git repository" in line for line in done)
    assert (sub / ".dvc").is_dir() and not (tmp_path / "mono" / ".dvc").exists()
    assert ensure_project(sub) == []

    done = ensure_project(tmp_path / "mono")
    assert (tmp_path / "mono" / ".gitignore").read_text() == "*.pyc\n/.workbench/\n"


def test_init_keeps_a_custom_default_remote(tmp_path: Path) -> None:
    from dvc.repo import Repo

    path = tmp_path / "proj"
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    with Repo.init(str(path)) as repo, repo.config.edit() as conf:
        conf["remote"]["team"] = {"url": "s3://bucket/dvc"}
        conf["core"]["remote"] = "team"
    done = ensure_project(path)
    assert not any("remote" in line for line in done)
    config = dvc_config(path)
    assert "remote = team" in config and "workbench" not in config
    assert not (path / LOCAL_REMOTE).exists()


# --- track / restore ---------------------------------------------------------------------------


def test_track_then_restore_round_trip(root: Path) -> None:
    write_data(root, 1)
    first = track(root, [Path("data.csv"), Path("products"), Path("not-made.parquet")])
    assert set(first) == {"data.csv", "products"}  # a path that does not exist is skipped
    assert first["products"]["md5"].endswith(".dir") and first["products"]["nfiles"] == 6
    assert first["data.csv"]["hash"] == "md5" and first["data.csv"]["size"] == 8
    assert (root / "data.csv.dvc").is_file() and (root / "products.dvc").is_file()
    assert {"/data.csv", "/products"} <= set((root / ".gitignore").read_text().splitlines())
    for entry in first.values():
        assert remote_has(root, entry["md5"])
    assert all(remote_has(root, md5) for md5 in _listed_md5s(root, first["products"]["md5"]))
    v1 = {"data.csv": snapshot(root / "data.csv"), "products": snapshot(root / "products")}

    assert track(root, [Path("data.csv"), Path("products")]) == first  # unchanged: same version
    assert current(root, [Path("data.csv"), Path("products")]) == first

    write_data(root, 2)
    second = track(root, [Path("data.csv"), Path("products")])
    assert content_id(second["data.csv"]) != content_id(first["data.csv"])
    assert content_id(second["products"]) != content_id(first["products"])
    assert diff_entries(first, second) == [("data.csv", "modified"), ("products", "modified")]
    v2 = {"data.csv": snapshot(root / "data.csv"), "products": snapshot(root / "products")}

    assert restore(root, first) == ["data.csv", "products"]
    assert snapshot(root / "data.csv") == v1["data.csv"]
    assert snapshot(root / "products") == v1["products"]
    assert not (root / "products" / "added.txt").exists()
    assert "md5: " + first["products"]["md5"] in (root / "products.dvc").read_text()
    assert restore(root, first) == []  # already there: nothing changed

    # restore only one path: the other stays as it is
    assert restore(root, {"data.csv": second["data.csv"]}) == ["data.csv"]
    assert snapshot(root / "data.csv") == v2["data.csv"]
    assert snapshot(root / "products") == v1["products"]

    # with the local cache gone, the objects come from the remote
    shutil.rmtree(root / ".dvc" / "cache")
    assert restore(root, second) == ["products"]
    assert snapshot(root / "products") == v2["products"]
    assert snapshot(root / "data.csv") == v2["data.csv"]


def _listed_md5s(root: Path, dir_md5: str) -> list[str]:
    import json

    listing = root / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    return [item["md5"] for item in json.loads(listing.read_text())]


def test_restore_of_unknown_version_names_the_path_and_changes_nothing(root: Path) -> None:
    write_data(root, 1)
    entries = track(root, [Path("data.csv")])
    dvcfile = (root / "data.csv.dvc").read_text()
    bogus = {"data.csv": {**entries["data.csv"], "md5": "0" * 32}}
    with pytest.raises(VersioningError, match="data.csv") as info:
        restore(root, bogus)
    assert "workbench" in str(info.value)  # names the remote it looked in
    assert info.value.hint
    assert (root / "data.csv").read_text() == "a,b\n1,1\n"
    assert (root / "data.csv.dvc").read_text() == dvcfile


def test_restore_rebuilds_a_missing_dvc_file(root: Path) -> None:
    write_data(root, 1)
    entries = track(root, [Path("products")])
    shutil.rmtree(root / "products")
    (root / "products.dvc").unlink()
    gitignore = root / ".gitignore"
    gitignore.write_text(gitignore.read_text().replace("/products\n", ""))
    assert restore(root, entries) == ["products"]
    assert "/products" in gitignore.read_text().splitlines()
    assert (root / "products" / "sub" / "model.bin").read_bytes() == bytes(range(256)) * 64
    assert current(root, [Path("products")]) == entries


def test_push_to_unreachable_remote_warns_and_returns_hashes(root: Path) -> None:
    from dvc.repo import Repo

    (root / "blocker").write_text("a file where the remote's folder would be")
    with Repo(str(root)) as repo, repo.config.edit() as conf:
        conf["remote"]["workbench"]["url"] = str(root / "blocker" / "remote")
    write_data(root, 1)
    with pytest.warns(VersioningWarning, match=r"'workbench'.*\n.*workbench sync") as caught:
        entries = track(root, [Path("data.csv")])
    assert "data.csv" in str(caught[0].message)
    assert entries["data.csv"]["md5"] == current(root, [Path("data.csv")])["data.csv"]["md5"]

    with pytest.raises(VersioningError, match="could not push"):
        push(root, entries)

    # once the remote is back, push (what `workbench sync` does) sends what was left behind, even a
    # version no longer in the work tree; tracking again pushes too
    with pytest.warns(VersioningWarning):
        products = track(root, [Path("products")])
    (root / "products" / "p0.txt").write_text("replaced")
    with pytest.warns(VersioningWarning):
        assert track(root, [Path("products")]) != products
    with Repo(str(root)) as repo, repo.config.edit() as conf:
        conf["remote"]["workbench"]["url"] = str(root / LOCAL_REMOTE)
    assert not remote_has(root, products["products"]["md5"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersioningWarning)
        assert push(root, {**entries, **products}) == 1 + 1 + 6  # data.csv, the listing, its 6 files
        assert push(root, {**entries, **products}) == 0
        assert track(root, [Path("data.csv")]) == entries
    assert remote_has(root, entries["data.csv"]["md5"]) and remote_has(root, products["products"]["md5"])
    shutil.rmtree(root / ".dvc" / "cache")
    assert restore(root, products) == ["products"]

    with pytest.warns(VersioningWarning, match="neither the local DVC cache nor the remote"):
        assert push(root, {"lost.csv": {"md5": "0" * 32, "size": 1, "hash": "md5"}}) == 0


def test_push_without_default_remote_warns(root: Path) -> None:
    from dvc.repo import Repo

    with Repo(str(root)) as repo, repo.config.edit() as conf:
        del conf["core"]["remote"]
    write_data(root, 1)
    with pytest.warns(VersioningWarning, match="no default DVC remote"):
        entries = track(root, [Path("data.csv")])
    assert set(entries) == {"data.csv"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersioningWarning)
        track(root, [Path("data.csv")], push=False)


def test_track_outside_a_project_or_the_root_is_an_error(tmp_path: Path, root: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x.txt").write_text("x")
    with pytest.raises(VersioningError, match="not a Workbench project") as info:
        track(plain, [Path("x.txt")])
    assert "workbench init" in info.value.hint
    with pytest.raises(VersioningError, match="inside the project"):
        track(root, [Path("../plain/x.txt")])
    assert track(root, []) == {}


def test_current_outside_dvc_matches_dvc_hashes(tmp_path: Path, root: Path) -> None:
    write_data(root, 2)
    tracked = track(root, [Path("data.csv"), Path("products")], push=False)
    plain = tmp_path / "plain"
    shutil.copytree(root / "products", plain / "products")
    shutil.copy(root / "data.csv", plain / "data.csv")
    assert current(plain, [Path("data.csv"), Path("products"), Path("missing")]) == tracked


# --- pure helpers ------------------------------------------------------------------------------


def test_diff_entries() -> None:
    a = {"x": {"md5": "1", "hash": "md5"}, "y": {"md5": "2", "hash": "md5"}, "z": {"md5": "3", "hash": "md5"}}
    b = {"x": {"md5": "1", "hash": "md5", "size": 9}, "y": {"md5": "9", "hash": "md5"}, "w": {"md5": "4"}}
    assert diff_entries(a, b) == [("w", "added"), ("y", "modified"), ("z", "removed")]
    assert diff_entries(a, a) == []
    assert diff_entries({"x": {"md5": "1", "hash": "md5"}}, {"x": {"md5": "1", "hash": "md5", "isexec": True}}) == [
        ("x", "modified")
    ]


def test_dvcfile_data_keeps_annotations() -> None:
    existing = {
        "md5": "stage-md5",
        "meta": {"owner": "me"},
        "outs": [{"md5": "old", "size": 1, "hash": "md5", "path": "data.csv", "desc": "raw data", "remote": "team"}],
    }
    data = dvcfile_data("in/data.csv", {"md5": "new", "size": 2, "hash": "md5"}, existing)
    assert data == {
        "md5": "stage-md5",
        "meta": {"owner": "me"},
        "outs": [{"md5": "new", "size": 2, "hash": "md5", "path": "data.csv", "desc": "raw data", "remote": "team"}],
    }
    assert dvcfile_data("d", {"md5": "x.dir", "size": 3, "nfiles": 2, "hash": "md5"}) == {
        "outs": [{"md5": "x.dir", "size": 3, "nfiles": 2, "hash": "md5", "path": "d"}]
    }


def test_relative_key(tmp_path: Path) -> None:
    assert relative_key(tmp_path, Path("a/./b/../c.txt")) == "a/c.txt"
    assert relative_key(tmp_path, tmp_path / "products") == "products"
    for bad in (Path(".."), Path("."), Path("/elsewhere/x")):
        with pytest.raises(VersioningError):
            relative_key(tmp_path, bad)
