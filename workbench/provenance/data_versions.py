"""Version each path of a run by the means its layout allows, and bring a run's data back.

A real project's data is not laid out one way: a CSV committed to git, a folder already tracked
with a `.dvc` file, an output of the project's own `dvc.yaml` pipeline, an LFS pointer, a file on
another disk. Each path is versioned by what owns it, and the run record says per path how
(`record["versions"][path]["via"]`):

- "git": git tracks the file (DVC would refuse it): its blob and the commit are recorded
  (git_versions);
- "lfs": a git LFS pointer (or an LFS-filtered file): the LFS object id, and the pointer via git;
- "dvc": everything else inside the project, with DVC (`dvc add` + push to the default remote, or,
  for a `dvc.yaml` stage output, its content cached and pushed by hash, the stage left alone);
- "hash": a path outside the project: its sha256 only (nothing can bring it back; a warning says so).

One path that cannot be versioned never stops the others: its entry carries `error` (and the
method that was tried in `via`), and a warning names it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.provenance import git_versions
from workbench.provenance.versioning import (
    VersioningError,
    VersioningWarning,
    cache_outputs,
    content_id,
    push,
    relative_key,
    restore,
    restore_outputs,
    stage_outputs,
    track,
)

GIT, LFS, DVC, HASH = "git", "lfs", "dvc", "hash"


class NotVersionedWarning(UserWarning):
    """A path of a run could not be versioned (or cannot be restored); the others were."""


@dataclass
class Versions:
    """How a run's paths were versioned: what the run record keeps."""

    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # record["versions"]
    dvc: dict[str, dict[str, Any]] = field(default_factory=dict)  # record["dvc"]: DVC's entries, for restore/push
    pushed: bool = True  # every DVC version reached the remote

    def data(self) -> dict[str, str]:
        """`record["data"]`: `{path: the short name of its version}` (md5, blob, LFS oid or sha256)."""
        return {path: ident for path, entry in self.versions.items() if (ident := version_id(entry))}


def version_id(entry: Mapping[str, Any]) -> str | None:
    """The name of an entry's content: DVC's md5, git's blob, the LFS oid, or the sha256."""
    if entry.get("error"):
        return None
    via = entry.get("via", DVC)
    if via in (GIT, LFS):
        return git_versions.version_id(entry)
    if via == HASH:
        return entry.get("sha256")
    return content_id(entry)[1]


def identity(entry: Mapping[str, Any] | None) -> tuple | None:
    """What makes two entries the same version (for diffs): the means and its content name."""
    if entry is None:
        return None
    if entry.get("error"):
        return ("error",)
    via = entry.get("via", DVC)
    return (DVC, *content_id(entry)) if via == DVC else (via, version_id(entry))


def describe(entry: Mapping[str, Any]) -> str:
    """One line naming a version, e.g. "git blob <sha1> at commit 9f8e7d6c5b4a with uncommitted edits"."""
    if entry.get("error"):
        return f"not versioned ({entry.get('via', DVC)}: {entry['error']})"
    via = entry.get("via", DVC)
    if via in (GIT, LFS):
        commit = entry.get("commit")
        where = f" at commit {commit[:12]}" if commit else " (no commit yet)"
        what = f"git LFS object {entry.get('oid', '?')}" if via == LFS else f"git blob {entry.get('blob', '?')}"
        if via == LFS and not entry.get("blob"):
            return f"{what} (a pointer file git does not track)"
        return what + where + (" with uncommitted edits" if entry.get("dirty") else "")
    if via == HASH:
        return f"sha256 {entry.get('sha256')} (outside the project: not restorable)"
    stage = f" (output of {entry['stage']})" if entry.get("stage") else ""
    return f"md5 {version_id(entry)}{stage}"


def record_versions(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A record's per-path versions; a record from before `versions` has its DVC entries as "dvc"."""
    versions = record.get("versions")
    if isinstance(versions, dict):
        return versions
    return {path: {"via": DVC, **entry} for path, entry in (record.get("dvc") or {}).items() if isinstance(entry, dict)}


def diff_versions(a: Mapping[str, Mapping], b: Mapping[str, Mapping]) -> list[tuple[str, str]]:
    """How the versions `b` differ from `a`: `(path, "added" | "removed" | "modified (...)")`, sorted;
    a modification names both versions when either is not DVC's (a git blob, an LFS object, a hash)."""
    changes: list[tuple[str, str]] = [(path, "added") for path in b.keys() - a.keys()]
    changes += [(path, "removed") for path in a.keys() - b.keys()]
    for path in a.keys() & b.keys():
        if identity(a[path]) != identity(b[path]):
            vias = {a[path].get("via", DVC), b[path].get("via", DVC)}
            detail = f" ({describe(a[path])} -> {describe(b[path])})" if vias != {DVC} else ""
            changes.append((path, "modified" + detail))
    return sorted(changes)


# --- versioning a run's paths --------------------------------------------------------------------


def version_paths(root: Path, paths: Iterable[Path], *, push_to_remote: bool = True) -> Versions:
    """Version `paths` (files or folders; absolute, or relative to the project `root`) each by its
    owner (see the module docstring). Warnings: VersioningWarning when a DVC push failed (the data
    is in the local cache), NotVersionedWarning per path that failed or that checkout cannot restore.
    Paths that do not exist are left out (a product a run did not write is no error)."""
    root = Path(root).resolve()
    out = Versions()
    keys: list[str] = []
    for path in paths:
        full = Path(path) if Path(path).is_absolute() else root / path
        if not (full.exists() or full.is_symlink()):
            continue
        try:
            key = relative_key(root, full)
        except VersioningError:
            _hashed(out, full)
            continue
        if key not in keys:
            keys.append(key)
    rest = _by_git(root, keys, out)
    rest = _untracked_pointers(root, rest, out)
    _by_dvc(root, rest, out, push_to_remote)
    return out


def _hashed(out: Versions, full: Path) -> None:
    key = str(full.resolve())
    try:
        if full.is_dir():
            raise OSError("a folder outside the project is not versioned")
        out.versions[key] = {"via": HASH, "sha256": git_versions.sha256_file(full), "size": full.stat().st_size,
                             "restorable": False}
    except OSError as exc:
        out.versions[key] = {"via": HASH, "error": str(exc)}
        warnings.warn(f"{key} is not versioned: {exc}", NotVersionedWarning, stacklevel=3)
        return
    warnings.warn(f"{key} is outside the project: the run records its sha256 only, and `workbench checkout` "
                  "cannot restore it (move it under the project folder to version it)", NotVersionedWarning,
                  stacklevel=3)


def _by_git(root: Path, keys: list[str], out: Versions) -> list[str]:
    """Version the keys git tracks; return the others."""
    files = [key for key in keys if (root / key).is_file()]
    try:
        owned = git_versions.tracked(root, files)
    except git_versions.GitVersionError as exc:
        warnings.warn(f"could not ask git which inputs it tracks ({exc.message}); versioning them with DVC",
                      NotVersionedWarning, stacklevel=3)
        return keys
    try:
        out.versions.update(git_versions.version(root, owned))
    except Exception as exc:  # noqa: BLE001 - any failure of git here must not cost the other paths
        for key in owned:
            out.versions[key] = {"via": GIT, "error": getattr(exc, "message", None) or str(exc)}
        warnings.warn(f"git could not version {', '.join(owned)}: {exc}", NotVersionedWarning, stacklevel=3)
    for key in owned:
        entry = out.versions.get(key, {})
        if entry.get("dirty") and not entry.get("error"):
            warnings.warn(f"{key} has uncommitted edits: this run's version of it is kept in the local git objects "
                          f"(blob {entry['blob'][:12]}); commit it to share that version", NotVersionedWarning,
                          stacklevel=3)
    return [key for key in keys if key not in owned]


def _untracked_pointers(root: Path, keys: list[str], out: Versions) -> list[str]:
    """An LFS pointer that git does not track is recorded by its oid, never DVC-added (that would
    version the pointer, not the data)."""
    rest = []
    for key in keys:
        pointer = git_versions.read_pointer(root / key)
        if pointer is None:
            rest.append(key)
            continue
        out.versions[key] = {"via": LFS, "oid": pointer["oid"], "lfs_size": pointer["size"],
                             "size": (root / key).stat().st_size, "blob": None, "commit": None}
        warnings.warn(f"{key} is a git LFS pointer that git does not track: the run records its LFS object "
                      f"{pointer['oid'][:12]}, but `workbench checkout` cannot restore it (`git add` it)",
                      NotVersionedWarning, stacklevel=3)
    return rest


def _by_dvc(root: Path, keys: list[str], out: Versions, push_to_remote: bool) -> None:
    if not keys:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        failed: dict[str, str] = {}
        try:
            entries = track(root, keys, push=push_to_remote)
        except Exception:  # noqa: BLE001 - find which path it was: one at a time
            entries = {}
            for key in keys:
                try:
                    entries.update(track(root, [key], push=push_to_remote))
                except Exception as exc:  # noqa: BLE001 - recorded on that path, the others go on
                    failed[key] = _message(exc)
        for key, entry in entries.items():
            out.dvc[key] = entry
            out.versions[key] = {"via": DVC, **entry}
        if failed:
            _stage_outputs(root, failed, out, push_to_remote)
    for w in caught:
        if issubclass(w.category, VersioningWarning):
            out.pushed = False
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for key, message in failed.items():
        if key not in out.versions:
            out.versions[key] = {"via": DVC, "error": message}
            warnings.warn(f"{key} is not versioned: {message}", NotVersionedWarning, stacklevel=3)


def _stage_outputs(root: Path, failed: dict[str, str], out: Versions, push_to_remote: bool) -> None:
    """The failed keys that a dvc.yaml stage outputs: cache them as they are and push them by hash."""
    try:
        stages = stage_outputs(root, failed)
        entries = cache_outputs(root, stages) if stages else {}
    except Exception:  # noqa: BLE001 - keep the `dvc add` error already recorded for them
        return
    for key, entry in entries.items():
        out.dvc[key] = entry
        out.versions[key] = {"via": DVC, **entry, "stage": stages[key]}
        failed.pop(key)
    if entries and push_to_remote:
        try:
            push(root, entries)
        except VersioningError as exc:
            warnings.warn(f"could not push {', '.join(entries)}: {exc.message}; the data is safe in the local DVC "
                          "cache, `workbench sync` sends it later", VersioningWarning, stacklevel=3)


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", None)
    return f"{message} ({hint})" if hint else message


# --- restoring a run's data --------------------------------------------------------------------


@dataclass
class Restored:
    changed: list[str] = field(default_factory=list)  # paths whose content was brought back
    notes: list[str] = field(default_factory=list)  # what the user has to know (not restorable, LFS, kept edits)


def restore_run(root: Path, record: Mapping[str, Any], *, force: bool = False) -> Restored:
    """Bring the data of `record` back: DVC versions from the cache or remote, git versions from git.

    Nothing changes unless everything restorable is available; a git-versioned file with uncommitted
    edits that the restore would overwrite stops it (VersioningError naming the files) unless
    `force`, and then those edits are first kept as git blobs (the notes say how to get them back).
    Paths that cannot be restored (outside the project, not versioned) are named in the notes.
    """
    root = Path(root).resolve()
    versions = record_versions(record)
    dvc_entries = {k: v for k, v in (record.get("dvc") or {}).items() if isinstance(v, dict)}
    staged = {k: dvc_entries.pop(k) for k in list(dvc_entries) if versions.get(k, {}).get("stage")}
    in_git = {k: v for k, v in versions.items() if v.get("via") in (GIT, LFS) and v.get("blob") and not v.get("error")}
    result = Restored()
    for key, entry in versions.items():
        if key in dvc_entries or key in staged or key in in_git:
            continue
        result.notes.append(_not_restorable(root, key, entry))
    plan = git_versions.plan_restore(root, in_git) if in_git else {}
    missing = [k for k, p in plan.items() if not p["available"]]
    if missing:
        raise VersioningError(f"cannot restore {', '.join(missing)}: the recorded git version is not in this "
                              "repository", hint="`git fetch` the commit the run was made at, then re-run")
    edits = [k for k, p in plan.items() if p["edits"]]
    if edits and not force:
        raise VersioningError(
            f"{', '.join(edits)} {'has' if len(edits) == 1 else 'have'} uncommitted edits that checking out run "
            f"{record.get('id')} would overwrite; nothing was changed",
            hint="commit or stash them first (`git stash`), or re-run with --force (the edits are then kept as git "
                 "blobs and the output says how to get them back)")
    if dvc_entries:
        result.changed += restore(root, dvc_entries)
    if staged:
        result.changed += restore_outputs(root, staged)
    for key, blob in git_versions.keep_edits(root, edits).items():
        result.notes.append(f"your edits to {key} are kept as git blob {blob}: `git cat-file -p {blob} > {key}` "
                            "brings them back")
    writes = {k: in_git[k] for k, p in plan.items() if p["change"]}
    result.notes += git_versions.restore(root, writes)
    result.changed += list(writes)
    return result


def _not_restorable(root: Path, key: str, entry: Mapping[str, Any]) -> str:
    if entry.get("error"):
        return f"cannot restore {key}: the run could not version it ({entry['error']})"
    if entry.get("via") == HASH:
        path = Path(key)
        now = git_versions.sha256_file(path) if path.is_file() else None
        state = ("it is unchanged" if now == entry.get("sha256") else
                 "it is missing now" if now is None else "it has changed since")
        return (f"cannot restore {key}: it is outside the project, so only its sha256 "
                f"{str(entry.get('sha256'))[:12]} was recorded ({state})")
    return f"cannot restore {key}: {describe(entry)}"
