"""Data that git versions already: record a git-tracked file's version, and bring it back from git.

DVC refuses a file that git tracks (`dvc add` would make two owners of one path), and a real project
often commits its small data: a CSV next to the notebook, a lookup table, an LFS-tracked parquet. Git
already keeps every committed version of those, so a run records git's name for the bytes (the blob
hash, and the commit it ran at) instead of copying them into DVC, and `workbench checkout` writes
that blob back.

A run may read a version that is not committed (the user edited the CSV and ran): its blob is then
written into git's object database (`git hash-object -w`) and kept from `git gc` by a ref of its own
(`refs/workbench/blobs/<sha>`), so that the run can be restored on this machine all the same; it is
shared with others only once it is committed.

Git LFS pointer files (the small text file git stores in place of an LFS object) are recognised:
the version recorded is the LFS object id, and a checkout restores the pointer, which `git lfs pull`
(or git-lfs's smudge filter, when it is installed) turns into the content.

Everything runs `git` in the work tree's top folder on paths relative to it (git's "full names");
entries are keyed like DVC's, by the path relative to the Workbench project root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

BLOB_REFS = "refs/workbench/blobs"
LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"
LFS_MAX_POINTER = 1024  # the spec's bound: a pointer file is smaller than this
LFS_HINT = "`git lfs pull` fetches its content (install git-lfs first: https://git-lfs.com)"
_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.MULTILINE)
_SIZE = re.compile(rb"^size (\d+)$", re.MULTILINE)


class GitVersionError(WorkbenchError):
    """Git could not record or restore a file's version."""


# --- pure helpers -----------------------------------------------------------------------------


def lfs_pointer(data: bytes) -> dict[str, Any] | None:
    """The LFS object a pointer file names (`{"oid": hex sha256, "size": bytes}`), None if `data` is not one.

    A pointer is a small UTF-8 text starting with the spec line, then `oid sha256:<64 hex>` and
    `size <n>` lines (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
    """
    if len(data) >= LFS_MAX_POINTER or not data.startswith(LFS_SPEC):
        return None
    oid, size = _OID.search(data), _SIZE.search(data)
    if oid is None or size is None:
        return None
    return {"oid": oid.group(1).decode(), "size": int(size.group(1))}


def read_pointer(path: Path) -> dict[str, Any] | None:
    """`lfs_pointer` of the file at `path` (reads at most the pointer bound; None for a folder or a big file)."""
    try:
        if not path.is_file() or path.stat().st_size >= LFS_MAX_POINTER:
            return None
        return lfs_pointer(path.read_bytes())
    except OSError:
        return None


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks (inputs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- git --------------------------------------------------------------------------------------


def _git(top: Path, *args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", "--literal-pathspecs", *args], cwd=top, input=data, capture_output=True,
                              timeout=120)
    except FileNotFoundError:
        raise GitVersionError("git is not installed", hint="install git") from None
    except subprocess.TimeoutExpired:
        raise GitVersionError(f"`git {' '.join(args[:2])}` did not finish in 120 s in {top}") from None
    if check and proc.returncode != 0:
        raise GitVersionError(f"`git {' '.join(args[:3])}` failed in {top}",
                              detail=proc.stderr.decode(errors="replace").strip())
    return proc


def work_tree(root: Path) -> Path | None:
    """The top of the git work tree holding `root`, None when `root` is not in one (or git is missing)."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 and proc.stdout.strip() else None


def _names(root: Path, top: Path, keys: Iterable[str]) -> dict[str, str]:
    """Each key (relative to the project `root`) as git's full name (relative to the work tree `top`)."""
    prefix = Path(root).resolve().relative_to(top)
    return {key: (prefix / key).as_posix() for key in keys}


def tracked(root: Path, keys: Iterable[str]) -> dict[str, str]:
    """Of `keys` (files relative to `root`), those git tracks (in its index): `{key: git full name}`.

    Only exact files count: a folder with tracked files in it is not listed (DVC then refuses it
    and says why). Empty outside a git work tree.
    """
    root = Path(root).resolve()
    keys = list(keys)
    top = work_tree(root) if keys else None
    if top is None:
        return {}
    names = _names(root, top, keys)
    out = _git(top, "ls-files", "-z", "--full-name", "--", *names.values()).stdout
    listed = set(out.decode(errors="surrogateescape").split("\0")) - {""}
    return {key: name for key, name in names.items() if name in listed}


def _head_blobs(top: Path, names: Iterable[str], rev: str = "HEAD") -> dict[str, str]:
    """`{full name: blob}` for the names that `rev` holds (empty in a repository without commits)."""
    names = list(names)
    if not names or _git(top, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False).returncode != 0:
        return {}
    out = _git(top, "ls-tree", "-z", "--full-tree", rev, "--", *names).stdout.decode(errors="surrogateescape")
    blobs = {}
    for line in out.split("\0"):
        if "\t" in line:
            meta, name = line.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind == "blob":
                blobs[name] = sha
    return blobs


def _hash_objects(top: Path, names: list[str], *, write: bool) -> dict[str, str]:
    """The blob git would store for each file as it is now (its clean filters applied, as `git add` does)."""
    if not names:
        return {}
    args = ["hash-object", *(["-w"] if write else []), "--stdin-paths"]
    out = _git(top, *args, data="".join(f"{n}\n" for n in names).encode(errors="surrogateescape")).stdout
    return dict(zip(names, out.decode().split()))


def _head(top: Path) -> str | None:
    proc = _git(top, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def _keep(top: Path, blob: str) -> None:
    """Keep an uncommitted blob from `git gc` (a ref of its own; harmless to repeat)."""
    _git(top, "update-ref", f"{BLOB_REFS}/{blob}", blob)


def _lfs_filtered(top: Path, names: list[str]) -> set[str]:
    """The names that `.gitattributes` sends through git-lfs (`filter=lfs`)."""
    if not names:
        return set()
    out = _git(top, "check-attr", "-z", "filter", "--", *names).stdout.decode(errors="surrogateescape")
    parts = out.split("\0")
    return {parts[i] for i in range(0, len(parts) - 2, 3) if parts[i + 2] == "lfs"}


def version(root: Path, files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The version of each git-tracked file in `files` (`{key: git full name}`, as `tracked` returns).

    Each entry: `via` ("git", or "lfs" for an LFS pointer or an LFS-filtered file), `blob` (what
    git stores for the bytes now), `commit` (HEAD, None before the first commit), `git_path`, `size`
    and `dirty` (the file differs from HEAD: uncommitted edits, staged or not; its blob is then kept
    in the object database under refs/workbench/blobs/ so that it can be restored). LFS entries add
    `oid` (the LFS object's sha256) and `lfs_size`.
    """
    if not files:
        return {}
    root = Path(root).resolve()
    top = work_tree(root)
    if top is None:
        raise GitVersionError(f"{root} is not in a git work tree")
    names = list(files.values())
    blobs = _hash_objects(top, names, write=True)
    committed = _head_blobs(top, names)
    head = _head(top)
    lfs = _lfs_filtered(top, names)
    entries: dict[str, dict[str, Any]] = {}
    for key, name in files.items():
        path = top / name
        blob = blobs[name]
        dirty = committed.get(name) != blob
        if dirty:
            _keep(top, blob)
        entry: dict[str, Any] = {"via": "git", "blob": blob, "commit": head, "git_path": name,
                                 "dirty": dirty, "size": path.stat().st_size}
        pointer = read_pointer(path)
        if pointer is not None:
            entry.update(via="lfs", oid=pointer["oid"], lfs_size=pointer["size"])
        elif name in lfs:  # git-lfs installed and the content checked out: the oid is its sha256
            entry.update(via="lfs", oid=sha256_file(path), lfs_size=entry["size"])
        entries[key] = entry
    return entries


def version_id(entry: Mapping[str, Any]) -> str | None:
    """The short name of an entry's content: the LFS oid for LFS, the blob for git."""
    return entry.get("oid") if entry.get("via") == "lfs" else entry.get("blob")


# --- restore ----------------------------------------------------------------------------------


def plan_restore(root: Path, entries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What restoring `entries` (git/lfs entries by key) would do, without changing anything.

    `{key: {"change": bool, "edits": bool, "available": bool, "now": blob or None}}`: `change`
    when the file's bytes are not the recorded ones, `edits` when the file as it is has uncommitted
    edits (differs from HEAD) that a restore would overwrite, `available` when the recorded blob is
    in the object database (or the recorded commit has it).
    """
    if not entries:
        return {}
    root = Path(root).resolve()
    top = work_tree(root)
    if top is None:
        raise GitVersionError(f"{root} is not in a git work tree: git-versioned data cannot be restored",
                              hint="restore it in a clone of the repository that made the run")
    names = _names(root, top, entries)
    present = [names[k] for k in entries if (top / names[k]).is_file()]
    now = _hash_objects(top, present, write=False)
    head = _head_blobs(top, present)
    out = {}
    for key, entry in entries.items():
        name = names[key]
        blob = now.get(name)
        change = blob != entry.get("blob")
        edits = change and blob is not None and head.get(name) != blob
        out[key] = {"change": change, "edits": edits, "now": blob,
                    "available": not change or _has(top, entry)}
    return out


def _has(top: Path, entry: Mapping[str, Any]) -> bool:
    blob = entry.get("blob")
    if blob and _git(top, "cat-file", "-e", f"{blob}^{{blob}}", check=False).returncode == 0:
        return True
    commit, name = entry.get("commit"), entry.get("git_path")
    return bool(commit and name and _git(top, "cat-file", "-e", f"{commit}:{name}", check=False).returncode == 0)


def keep_edits(root: Path, keys: Iterable[str]) -> dict[str, str]:
    """Store the files `keys` as they are now as blobs (kept from gc), before a forced restore
    overwrites them: `{key: blob}`, which `git cat-file -p BLOB > PATH` brings back."""
    root = Path(root).resolve()
    top = work_tree(root)
    keys = list(keys)
    if top is None or not keys:
        return {}
    names = _names(root, top, keys)
    blobs = _hash_objects(top, list(names.values()), write=True)
    for blob in blobs.values():
        _keep(top, blob)
    return {key: blobs[names[key]] for key in keys}


def restore(root: Path, entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Write each entry's recorded bytes back to its file; return the notes to show (LFS hints).

    The blob comes from the object database (`git cat-file`), else from the recorded commit
    (`git show COMMIT:PATH`); git's smudge filters for the path are applied (`--filters`), so the
    file is what `git checkout` would write: byte for byte what the run read. The caller checks
    first with `plan_restore`: this overwrites.
    """
    if not entries:
        return []
    root = Path(root).resolve()
    top = work_tree(root)
    if top is None:
        raise GitVersionError(f"{root} is not in a git work tree")
    names = _names(root, top, entries)
    notes = []
    lfs_installed = shutil.which("git-lfs") is not None
    for key, entry in entries.items():
        name = names[key]
        blob = entry.get("blob")
        if blob and _git(top, "cat-file", "-e", f"{blob}^{{blob}}", check=False).returncode == 0:
            data = _git(top, "cat-file", "--filters", f"--path={name}", blob).stdout
        elif entry.get("commit"):
            data = _git(top, "cat-file", "--filters", f"{entry['commit']}:{entry.get('git_path') or name}").stdout
        else:
            raise GitVersionError(f"{key}: its recorded version (git blob {blob}) is not in this repository",
                                  hint="fetch the commit that has it, or restore it on the machine that ran it")
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.workbench-restore")
        tmp.write_bytes(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
        if entry.get("via") == "lfs" and lfs_pointer(data) is not None:
            notes.append(f"{key} is a git LFS pointer (object {str(entry.get('oid'))[:12]}): "
                         + (LFS_HINT if not lfs_installed else "`git lfs pull` fetches its content"))
    return notes
