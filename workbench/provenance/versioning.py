"""Data versioning with DVC for Workbench runs.

A run's data (its inputs and its products) is versioned with DVC so that any earlier run can be
brought back byte for byte: `track` records a version (`dvc add` + `dvc push`) and returns the
`outs` entries DVC wrote, which a run record keeps; `restore` writes those entries back into the
`.dvc` files and checks them out, fetching from the remote what the local cache lacks.

Everything goes through DVC's in-process API (`dvc.repo.Repo`), one `Repo` per call kept open across
its steps: the `dvc` CLI costs a second of imports per command, the in-process API a few tens of
milliseconds once imported. The functions at the top of this module are pure (entries in, entries
out); the side effects on git, DVC and the file system live in the functions below them.

Entries are DVC's own `outs` entries without `path`, e.g. `{"md5": "...", "size": 8, "hash": "md5"}`
for a file and `{"md5": "....dir", "size": ..., "nfiles": 21, "hash": "md5"}` for a directory, keyed
by the path relative to the project root in posix form.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.project import git_top

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB
    from dvc_data.hashfile.hash_info import HashInfo

REMOTE_NAME = "workbench"
STATE_DIR = ".workbench"  # Workbench's machine-local state (git-ignored), the local remote included
LOCAL_REMOTE = f"{STATE_DIR}/dvc-remote"

# The keys of an `outs` entry that say which content a path has. The others (desc, type, labels,
# meta, remote, push, cache) are the user's annotations: `restore` keeps them as they are.
CONTENT_KEYS = ("md5", "etag", "checksum", "size", "nfiles", "isexec", "version_id", "hash")

SYNC_HINT = "`workbench sync` (or `dvc push`) sends it later"


class VersioningError(WorkbenchError):
    """Versioning the data (git or DVC) failed in a way the user has to fix."""


class VersioningWarning(UserWarning):
    """Versioning half-worked: the data is safe locally but something (a push) has to be redone."""


# --- pure helpers -----------------------------------------------------------------------------


def diff_entries(a: Mapping[str, Mapping], b: Mapping[str, Mapping]) -> list[tuple[str, str]]:
    """How the versions `b` differ from `a`: `(path, "added" | "removed" | "modified")`, sorted.

    Only the content decides (hash and executable bit, see `content_id`), so entries from `track`,
    `current` and a `.dvc` file compare equal whenever the bytes are the same.
    """
    changes = [(path, "added") for path in b.keys() - a.keys()]
    changes += [(path, "removed") for path in a.keys() - b.keys()]
    changes += [(path, "modified") for path in a.keys() & b.keys() if content_id(a[path]) != content_id(b[path])]
    return sorted(changes)


def content_id(entry: Mapping | None) -> tuple | None:
    """What identifies a version's content: the hash algorithm, the hash, and the executable bit.

    Size and file count follow from the hash; annotations (desc, labels, ...) are not content.
    """
    if entry is None:
        return None
    value = entry.get("md5") or entry.get("etag") or entry.get("checksum")
    return (entry.get("hash", "md5-dos2unix"), value, bool(entry.get("isexec")))


def out_entry(dumped: Mapping[str, Any]) -> dict[str, Any]:
    """The content part of an `outs` entry as DVC dumps it (its path and annotations dropped)."""
    return {key: dumped[key] for key in CONTENT_KEYS if key in dumped}


def dvcfile_data(rel: str, entry: Mapping[str, Any], existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contents of `<rel>.dvc` that pins `rel` to `entry`.

    Whatever the existing `.dvc` file says beyond the content (the user's `desc`, `meta`, the out's
    annotations) is kept, so restoring a version does not erase documentation.
    """
    data: dict[str, Any] = {k: v for k, v in (existing or {}).items() if k != "outs"}
    old_outs = (existing or {}).get("outs") or [{}]
    old = old_outs[0] if isinstance(old_outs, list) and old_outs and isinstance(old_outs[0], dict) else {}
    out = {k: v for k, v in old.items() if k not in CONTENT_KEYS and k != "path"}
    out = {**out_entry(entry), "path": PurePosixPath(rel).name, **out}
    # DVC writes the content keys first, then path, then annotations
    data["outs"] = [out]
    return data


def relative_key(root: Path, path: Path) -> str:
    """`path` (relative to `root`, or absolute) as the posix path relative to `root` that keys entries.

    Raises VersioningError when it is not strictly under `root`: DVC versions only what is inside
    its repository, and a key with `..` in it could not be restored safely.
    """
    full = path if path.is_absolute() else root / path
    rel = None
    for candidate in (Path(*_normalise_parts(full)), full.resolve()):  # lexically, then through symlinks
        with contextlib.suppress(ValueError):
            rel = candidate.relative_to(root)
            break
    if rel is None or rel == Path("."):
        raise VersioningError(
            f"{path}: only files and folders inside the project {root} can be versioned",
            hint="move the data under the project folder, or pass a path relative to it",
        )
    return rel.as_posix()


def _normalise_parts(path: Path) -> list[str]:
    """`path`'s parts with `.` and `..` resolved lexically (no symlinks followed, the path may not exist)."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return parts


# --- side effects -----------------------------------------------------------------------------


def ensure_project(root: Path) -> list[str]:
    """Make `root` a Workbench project (`workbench init`); safe to repeat, it only does what is missing.

    - a git repository (`git init`) unless `root` is inside one already;
    - a DVC repository (`dvc init`, `--subdir` when git's top is above `root`);
    - DVC analytics off and autostage off in `.dvc/config`, so DVC neither reports usage nor stages
      files behind the user's back (an explicit autostage the user set is left alone);
    - a default remote: when none is configured at any level, `workbench` at `.workbench/dvc-remote`,
      so that `track` can always push somewhere; a remote the user made the default is left alone;
    - `.workbench/` git-ignored (it is machine-local: the remote, caches, state).

    Returns one human-readable line per thing done, nothing when all was in place.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise VersioningError(f"{root}: no such folder", hint="create the project folder first")
    done: list[str] = []
    top = git_top(root)
    if top is None:
        _git_init(root)
        done.append(f"initialised a git repository in {root}")
        top = root
    from dvc.repo import Repo

    with _dvc_logs():
        initialised = not (root / Repo.DVC_DIR).is_dir()
        if initialised:
            try:
                Repo.init(str(root), subdir=top != root).close()
            except Exception as exc:  # DVC's InitError and whatever git raised under it
                raise VersioningError(
                    f"could not initialise DVC in {root}", detail=str(exc), hint="fix the cause above, then re-run"
                ) from exc
            done.append("initialised DVC (.dvc/, .dvcignore; staged in git as `dvc init` does)")
        with Repo(str(root)) as repo:
            done += _configure(repo, root)
            if initialised:
                # `dvc init` staged .dvc/config before our settings: stage them too, or a commit of
                # what is staged would lose the remote
                repo.scm.add([str(root / Repo.DVC_DIR / "config")])
            if not repo.scm.is_ignored(str(root / STATE_DIR) + "/"):
                gitignore = root / ".gitignore"
                text = gitignore.read_text() if gitignore.exists() else ""
                sep = "" if not text or text.endswith("\n") else "\n"
                gitignore.write_text(f"{text}{sep}/{STATE_DIR}/\n")
                done.append(f"git-ignored {STATE_DIR}/ in .gitignore")
    return done


def _git_init(root: Path) -> None:
    try:
        subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise VersioningError(
            "git is not installed", hint="install git (Workbench versions code with git and data with DVC)"
        ) from None
    except subprocess.CalledProcessError as exc:
        raise VersioningError(f"`git init` failed in {root}", detail=exc.stderr.strip()) from None


def _configure(repo: Repo, root: Path) -> list[str]:
    """Set what `ensure_project` promises in `.dvc/config`, touching the file only when something is missing."""
    from dvc.config_schema import RelPath

    done: list[str] = []
    merged = repo.config
    repo_level = repo.config.load_one("repo")
    remote_dir = root / LOCAL_REMOTE
    set_analytics = str(repo_level["core"].get("analytics", "")).lower() != "false"
    set_autostage = "autostage" not in repo_level["core"]
    default = merged["core"].get("remote")
    add_remote = not default and REMOTE_NAME not in merged["remote"]
    make_default = not default
    if set_analytics or set_autostage or make_default:
        with repo.config.edit("repo") as conf:
            if set_analytics:
                conf["core"]["analytics"] = "false"
                done.append("turned DVC analytics off (core.analytics false)")
            if set_autostage:
                conf["core"]["autostage"] = "false"
                done.append("turned DVC autostage off (core.autostage false)")
            if add_remote:
                # relative to .dvc/, so that the setting stays right wherever the project is cloned
                conf["remote"][REMOTE_NAME] = {"url": RelPath(str(remote_dir))}
                done.append(f"added DVC remote '{REMOTE_NAME}' at {LOCAL_REMOTE}")
            if make_default:
                conf["core"]["remote"] = REMOTE_NAME
                done.append(f"made '{REMOTE_NAME}' the default DVC remote")
        merged = repo.config
    # our local remote must exist as a folder (a clone has the setting but not the folder)
    url = merged["remote"].get(merged["core"].get("remote"), {}).get("url")
    if merged["core"].get("remote") == REMOTE_NAME and url and Path(url) == remote_dir and not remote_dir.is_dir():
        remote_dir.mkdir(parents=True)
        done.append(f"created the local DVC remote folder {LOCAL_REMOTE}/")
    return done


def track(root: Path, paths: Iterable[Path], *, push: bool = True) -> dict[str, dict]:
    """Version `paths` (files or folders under `root`) with DVC and push them to the default remote.

    The equivalent of `dvc add PATHS && dvc push PATHS`: writes `<path>.dvc` next to each path and
    the `.gitignore` entries DVC writes, and puts the content in the local cache. Returns
    `{relative posix path: outs entry without path}`, what `restore` needs to bring it back.

    A path that does not exist is skipped: a run that did not write an optional product is not an
    error. A failed push raises nothing (the version is complete in the local cache); it warns with
    a VersioningWarning naming the remote, since `workbench sync` / `dvc push` can send it later.
    """
    root = Path(root).resolve()
    wanted = {relative_key(root, Path(p)): None for p in paths}
    keys = [key for key in wanted if (root / key).exists() or (root / key).is_symlink()]
    if not keys:
        return {}
    from dvc.exceptions import DvcException

    with _dvc_logs() as logs, _open(root) as repo:
        try:
            stages = repo.add([str(root / key) for key in keys])
        except DvcException as exc:
            raise VersioningError(
                f"DVC could not version {', '.join(keys)}",
                detail=_detail(exc, logs),
                hint="if git tracks the path already, `git rm -r --cached PATH` and commit, then re-run",
            ) from exc
        result = {key: out_entry(stage.outs[0].dumpd()) for key, stage in zip(keys, stages)}
        problem = _push(repo, root, keys, logs) if push else None
    if problem:
        warnings.warn(problem, VersioningWarning, stacklevel=2)
    return result


def _push(repo: Repo, root: Path, keys: list[str], logs: list[str]) -> str | None:
    """Push `keys`; on failure return the warning to give instead of raising (the data is in the cache)."""
    from dvc.config import NoRemoteError

    name, url = _default_remote(repo)
    try:
        repo.push(targets=[str(root / key) for key in keys])
    except NoRemoteError:
        reason = (
            "no default DVC remote is configured (`workbench init` adds a local one; or `dvc remote add -d NAME URL`)"
        )
    except Exception as exc:  # any backend's error (network, credentials, config): the run must not be lost
        reason = _detail(exc, logs)
    else:
        return None
    where = f" to DVC remote '{name}' ({url})" if name else ""
    return (
        f"could not push {', '.join(keys)}{where}: {reason}\n"
        f"The data is safe in the local DVC cache (.dvc/cache); {SYNC_HINT}."
    )


def push(root: Path, entries: Mapping[str, Mapping]) -> int:
    """Send the recorded versions `entries` to the default remote (the data half of `workbench sync`).

    By hash rather than by `.dvc` file, unlike `dvc push`: a version tracked while the remote was
    down may no longer be in the work tree (a later run replaced it), and it must still be sent.
    Returns how many objects were sent (0 when the remote had them all). Raises VersioningError when
    the remote cannot be reached; a version that is in neither the local cache nor the remote is
    lost, which a retry cannot mend, so it is a VersioningWarning naming the paths, not an error.
    """
    root = Path(root).resolve()
    keys = {relative_key(root, Path(rel)): dict(entry) for rel, entry in entries.items() if content_id(entry)[1]}
    if not keys:
        return 0
    from dvc.config import NoRemoteError

    lost: list[str] = []
    with _dvc_logs() as logs, _open(root) as repo:
        name, url = _default_remote(repo)
        owners: dict[HashInfo, str] = {}
        for key, entry in keys.items():
            for hi in _objects(repo, entry):
                owners.setdefault(hi, key)
        try:
            status = repo.cloud.status(list(owners))
            result = repo.cloud.push(list(owners))
        except NoRemoteError:
            raise VersioningError(
                "no default DVC remote is configured",
                hint="`workbench init` adds a local one; or `dvc remote add -d NAME URL`",
            ) from None
        except Exception as exc:  # unreachable, credentials, ...: the data stays in the cache for next time
            raise VersioningError(
                f"could not push to DVC remote '{name}' ({url})",
                detail=_detail(exc, logs),
                hint="retry when it is back",
            ) from exc
        if result.failed:
            failed = sorted({owners[hi] for hi in result.failed if hi in owners})
            raise VersioningError(
                f"could not push {', '.join(failed)} to DVC remote '{name}' ({url})",
                detail="\n".join(logs),
                hint="retry when the remote is reachable",
            )
        lost = sorted({owners[hi] for hi in status.missing if hi in owners})
    if lost:
        warnings.warn(
            f"cannot push {', '.join(lost)}: that version is in neither the local DVC cache nor the remote "
            f"'{name}' (the cache was cleaned before it was pushed); it cannot be restored",
            VersioningWarning,
            stacklevel=2,
        )
    return len(result.transferred)


def _objects(repo: Repo, entry: Mapping) -> list[HashInfo]:
    """The objects a version consists of: its hash, and for a folder the files it lists when the cache has the listing."""
    from dvc_data.hashfile.hash_info import HashInfo

    hi = HashInfo(_hash_name(entry), content_id(entry)[1])
    return [hi, *(_listed(repo, hi) or ())] if hi.isdir else [hi]


def _default_remote(repo: Repo) -> tuple[str | None, str | None]:
    name = repo.config["core"].get("remote")
    url = repo.config["remote"].get(name, {}).get("url") if name else None
    return name, url


def restore(root: Path, entries: Mapping[str, Mapping]) -> list[str]:
    """Bring each path in `entries` back to exactly that version; return the paths whose content changed.

    Writes the recorded entry into `<path>.dvc` and checks it out (`dvc checkout --force`): files
    and folders come back byte for byte, and files added to a folder since are removed. Objects the
    local cache lacks are fetched from the default remote first. Everything is checked to be
    available before anything in the work tree changes, so a version that is in neither the cache
    nor the remote raises VersioningError naming the path and leaves the work tree alone.
    """
    root = Path(root).resolve()
    if not entries:
        return []
    keys = {relative_key(root, Path(rel)): dict(entry) for rel, entry in entries.items()}
    for key, entry in keys.items():
        if content_id(entry)[1] is None:
            raise VersioningError(f"{key}: the recorded version has no hash", detail=repr(entry))
    from dvc.exceptions import DvcException

    with _dvc_logs() as logs, _open(root) as repo:
        before = _hashes(repo, root, list(keys))
        _make_available(repo, keys, logs)
        for key, entry in keys.items():
            _write_dvcfile(root, key, entry)
        try:
            repo.checkout(targets=[str(root / f"{key}.dvc") for key in keys], force=True)
        except DvcException as exc:
            raise VersioningError(
                f"DVC could not check out {', '.join(keys)}", detail=_detail(exc, logs), hint="see `dvc status`"
            ) from exc
        for key in keys:
            # a path versioned on another branch or never tracked here: keep it out of git as `dvc add` does
            repo.scm.ignore(str(root / key))
    return [key for key in keys if content_id(before.get(key)) != content_id(keys[key])]


def _make_available(repo: Repo, entries: dict[str, dict], logs: list[str]) -> None:
    """Fetch what the local cache lacks of `entries` from the default remote; raise naming what is nowhere."""
    missing = {key: entry for key, entry in entries.items() if not _in_cache(repo, entry)}
    if not missing:
        return
    from dvc_data.hashfile.hash_info import HashInfo

    name, url = _default_remote(repo)
    reason = ""
    wanted = [HashInfo(_hash_name(entry), content_id(entry)[1]) for entry in missing.values()]
    try:
        # DataCloud.pull is shallow: a folder's listing (.dir) comes alone, its files only when
        # asked for by hash. So first the listings (and plain files), then the files they list.
        repo.cloud.pull(wanted)
        repo.cloud.pull([hi for dir_hi in wanted if dir_hi.isdir for hi in _listed(repo, dir_hi) or ()])
    except Exception as exc:  # no remote configured, unreachable, credentials: all mean "not available"
        reason = _detail(exc, logs)
    still = [key for key, entry in missing.items() if not _in_cache(repo, entry)]
    if still:
        where = f"the DVC remote '{name}' ({url})" if name else "any DVC remote (none is the default)"
        raise VersioningError(
            f"cannot restore {', '.join(still)}: that version is in neither the local DVC cache nor {where}",
            detail=reason,
            hint="push it from the machine that made it (`workbench sync` or `dvc push`), or make the remote that has it the default (`dvc remote default NAME`)",
        )


def _hash_name(entry: Mapping) -> str:
    # DVC 3 writes `hash: md5`; entries without it are DVC 2's md5 of text with CRLF turned into LF
    return "md5" if entry.get("hash") == "md5" else "md5-dos2unix"


def _odb(repo: Repo, hash_name: str) -> HashFileDB:
    return repo.cache.local if hash_name == "md5" else repo.cache.legacy


def _listed(repo: Repo, dir_hi: HashInfo) -> list[HashInfo] | None:
    """The HashInfos of the files a folder version lists (None when its listing is not in the cache)."""
    from dvc_data.hashfile.tree import Tree

    try:
        tree = Tree.load(_odb(repo, dir_hi.name), dir_hi)
    except Exception:  # missing or corrupt listing: nothing known to fetch
        return None
    return [hi for _, _, hi in tree]


def _in_cache(repo: Repo, entry: Mapping) -> bool:
    """Whether the local cache holds the whole version (a folder: its listing and every file in it)."""
    from dvc_data.hashfile.hash_info import HashInfo

    hi = HashInfo(_hash_name(entry), content_id(entry)[1])
    odb = _odb(repo, hi.name)
    if not odb.exists(hi.value):
        return False
    if not hi.isdir:
        return True
    listed = _listed(repo, hi)
    if listed is None:
        return False
    oids = {child.value for child in listed}
    return set(odb.oids_exist(oids)) == oids


def _write_dvcfile(root: Path, key: str, entry: Mapping) -> None:
    from dvc.utils.serialize import dump_yaml, load_yaml

    path = root / f"{key}.dvc"
    existing = None
    if path.exists():
        with contextlib.suppress(Exception):  # unreadable: replaced by a fresh one
            existing = load_yaml(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    dump_yaml(str(path), dvcfile_data(key, entry, existing if isinstance(existing, dict) else None))


def current(root: Path, paths: Iterable[Path]) -> dict[str, dict]:
    """The entries `track` would return for `paths` as they are now, without versioning anything.

    Uses DVC's own hashing (dvc_data's `build` in dry-run mode), so the result equals what `track`
    records for the same bytes, folders included (DVC's md5 of the folder's JSON listing). In a DVC
    project the hashes are cached by DVC's state database (keyed by inode, mtime and size), so
    asking again about unchanged data costs a stat per file; elsewhere every file is read.
    Paths that do not exist are left out.
    """
    root = Path(root).resolve()
    keys = list(dict.fromkeys(relative_key(root, Path(p)) for p in paths))
    if not keys:
        return {}
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    with _dvc_logs():
        try:
            repo = Repo(str(root))
        except NotDvcRepoError:
            return _hashes(None, root, keys)
        with repo:
            return _hashes(repo, root, keys)


def _hashes(repo: Repo | None, root: Path, keys: list[str]) -> dict[str, dict]:
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    if repo is not None:
        fs, odb, ignore = repo.fs, repo.cache.local, repo.dvcignore
    else:
        fs = LocalFileSystem()
        odb, ignore = HashFileDB(fs, str(root / STATE_DIR / "no-cache"), hash_name="md5"), None
    result = {}
    for key in keys:
        path = root / key
        if not path.exists():
            continue
        _, meta, obj = build(odb, str(path), fs, "md5", dry_run=True, ignore=ignore)
        dumped = {**obj.hash_info.to_dict(), **meta.to_dict(), "hash": "md5"}
        result[key] = out_entry(dumped)
    return result


def stage_outputs(root: Path, keys: Iterable[str]) -> dict[str, str]:
    """Of `keys`, the outputs of a `dvc.yaml` stage: `{key: "dvc.yaml:STAGE"}`.

    DVC refuses to `add` them (the stage owns the path), so a run versions them by hash instead
    (`cache_outputs`), leaving dvc.yaml and dvc.lock as their owner wrote them.
    """
    root = Path(root).resolve()
    wanted = {str(root / key): key for key in keys}
    if not wanted:
        return {}
    with _dvc_logs(), _open(root) as repo:
        return {wanted[out.fs_path]: f"{Path(out.stage.path).relative_to(root).as_posix()}:{out.stage.name}"
                for out in repo.index.outs if out.fs_path in wanted and not out.stage.is_data_source}


def cache_outputs(root: Path, keys: Iterable[str]) -> dict[str, dict]:
    """Put the current content of `keys` in the local DVC cache without touching any DVC file; return
    their entries (as `track` would). `push` sends them to the remote and `restore_outputs` brings
    them back: the way to version a `dvc.yaml` output at the version a run read."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.transfer import transfer

    root = Path(root).resolve()
    result = {}
    with _dvc_logs(), _open(root) as repo:
        odb = repo.cache.local
        for key in keys:
            path = root / key
            if not path.exists():
                continue
            staging, meta, obj = build(odb, str(path), repo.fs, "md5", ignore=repo.dvcignore)
            transfer(staging, odb, {obj.hash_info}, shallow=False, hardlink=False)
            result[key] = out_entry({**obj.hash_info.to_dict(), **meta.to_dict(), "hash": "md5"})
    return result


def restore_outputs(root: Path, entries: Mapping[str, Mapping]) -> list[str]:
    """Bring back `entries` cached by `cache_outputs` (fetching what the cache lacks from the remote)
    without writing any `.dvc` file; return the paths whose content changed. Like `restore`, nothing
    changes unless every version is available."""
    from dvc_data.hashfile import load
    from dvc_data.hashfile.checkout import checkout
    from dvc_data.hashfile.hash_info import HashInfo

    root = Path(root).resolve()
    keys = {relative_key(root, Path(rel)): dict(entry) for rel, entry in entries.items()}
    if not keys:
        return []
    with _dvc_logs() as logs, _open(root) as repo:
        before = _hashes(repo, root, list(keys))
        _make_available(repo, keys, logs)
        for key, entry in keys.items():
            hi = HashInfo(_hash_name(entry), content_id(entry)[1])
            odb = _odb(repo, hi.name)
            checkout(str(root / key), repo.fs, load(odb, hi), odb, force=True, ignore=repo.dvcignore)
    return [key for key in keys if content_id(before.get(key)) != content_id(keys[key])]



def stale_pointers(root: Path, paths: Iterable[Path]) -> list[str]:
    """Of `paths`, those whose `<path>.dvc` pointer names another version than the file holds now.

    A clone gets a tracked file's content from its pointer (`dvc pull`), not from the work tree:
    data changed after its last `dvc add` (or `workbench run`) would silently reach CI as the old
    version. Paths without a pointer file are not listed (they are not DVC-tracked at all).
    """
    from dvc.utils.serialize import load_yaml

    root = Path(root).resolve()
    stale = []
    pointed: dict[str, dict] = {}
    for path in paths:
        key = relative_key(root, Path(path))
        pointer = root / f"{key}.dvc"
        if not pointer.is_file():
            continue
        with contextlib.suppress(Exception):  # an unreadable pointer counts as naming nothing
            outs = (load_yaml(str(pointer)) or {}).get("outs") or [{}]
            pointed[key] = dict(outs[0])
        pointed.setdefault(key, {})
    now = current(root, [root / key for key in pointed])
    for key, entry in pointed.items():
        if content_id(out_entry(entry)) != content_id(now.get(key)):
            stale.append(key)
    return stale


@contextlib.contextmanager
def _open(root: Path) -> Iterator[Repo]:
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise VersioningError(
            f"{root} is not a Workbench project (no DVC repository)", hint="run `workbench init` in it"
        ) from None
    with repo:
        yield repo


@contextlib.contextmanager
def _dvc_logs() -> Iterator[list[str]]:
    """Collect DVC's log messages instead of printing them, and hide DVC's own deprecation warnings.

    Importing `dvc` installs handlers that print INFO messages (hints such as "To track the changes
    with git, run: ...") on stdout, which would garble Workbench's own output. Warnings and errors
    are kept so that a failure can say what DVC said.
    """
    logger = logging.getLogger("dvc")
    messages: list[str] = []
    quiet = warnings.catch_warnings()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            with contextlib.suppress(Exception):
                messages.append(record.getMessage())

    saved = logger.handlers[:], logger.level
    logger.handlers = [Collect(logging.WARNING)]
    logger.setLevel(logging.WARNING)
    try:
        with quiet:
            # DVC 3.67 trips pygtrie's DeprecationWarning (`_NoneStep.value`) on every index build
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(dvc|dvc_data|pygtrie)(\.|$)")
            yield messages
    finally:
        logger.handlers, level = saved
        logger.setLevel(level)


def _detail(exc: BaseException, logs: list[str]) -> str:
    """The exception and what DVC logged before it, without repeats."""
    lines = [*logs, str(exc) or type(exc).__name__]
    return "\n".join(dict.fromkeys(line.strip() for line in lines if line.strip()))
