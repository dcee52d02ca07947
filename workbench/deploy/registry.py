"""The MLflow Model Registry: registering packaged models, reading their facts, moving aliases.

A packaged model becomes a registered model version whose tags carry its lineage and quality, so
that promotion, serving and monitoring can judge it without the run record at hand:

    workbench.run_id, workbench.pipeline, workbench.pipeline_dir, git.commit, notebook,
    notebook.sha256, data.<path> (DVC md5), metric.<name> (the run's metrics)

`promote` moves an alias (`champion`) only when the gate of the pipeline's checks.yaml
(workbench/gate.py) passes against the version holding it now: the same rules CI applies. `--force`
overrides and leaves the reason on the version. Every move is remembered in the registered model's
tag `workbench.alias_history.<alias>` (a JSON list of versions), which is what `rollback` reads.

Where the registry is: `default_tracking_uri(root)` (MLFLOW_TRACKING_URI, else the project's
SQLite store). The model's files are logged as artifacts of a small "package" run in the
experiment `workbench/package/<pipeline>`, so that a remote registry serves them to any machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.quality.gate import GateResult

TAG_RUN_ID = "workbench.run_id"
TAG_PIPELINE = "workbench.pipeline"
TAG_PIPELINE_DIR = "workbench.pipeline_dir"
TAG_COMMIT = "git.commit"
TAG_NOTEBOOK = "notebook"
TAG_NOTEBOOK_SHA = "notebook.sha256"
DATA_PREFIX = "data."
METRIC_PREFIX = "metric."
TAG_FORCED = "workbench.promoted_by_force"
TAG_ROLLED_BACK_FROM = "workbench.rolled_back_from"
HISTORY_PREFIX = "workbench.alias_history."
PACKAGE_RUN_TAG = "workbench.package_of"


class RegistryError(WorkbenchError):
    """The registry cannot do what was asked (no such model, version or alias history)."""


@dataclass
class PromoteResult:
    name: str
    alias: str
    version: str
    previous: str | None  # the version that held the alias before
    moved: bool
    gate: GateResult | None = None  # None for a rollback (no gate) or when nothing had to move
    forced: bool = False
    rollback: bool = False
    notes: list[str] = field(default_factory=list)


def version_tags(record: dict, metrics: dict | None = None) -> dict[str, str]:
    """The contract tags of a model version made from a run record (pure)."""
    git = record.get("git") or {}
    tags = {
        TAG_RUN_ID: record["id"],
        TAG_PIPELINE: record["pipeline"],
        TAG_PIPELINE_DIR: record.get("pipeline_dir") or "",
        TAG_COMMIT: git.get("commit") or "",
        TAG_NOTEBOOK: record.get("notebook") or "",
        TAG_NOTEBOOK_SHA: record.get("notebook_sha256") or "",
    }
    for path, md5 in sorted((record.get("data") or {}).items()):
        tags[DATA_PREFIX + path] = str(md5)
    for name, value in sorted((metrics if metrics is not None else record.get("metrics") or {}).items()):
        tags[METRIC_PREFIX + name] = repr(float(value))
    return tags


def metrics_of(tags: dict[str, str]) -> dict[str, float]:
    """The `metric.*` tags of a model version as numbers (pure)."""
    out = {}
    for key, value in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                out[key[len(METRIC_PREFIX):]] = float(value)
            except ValueError:
                continue
    return out


def _session(root: Path, doing: str):
    """(client, context manager) against the project's registry, with Workbench's fast-fail settings."""
    import contextlib

    from workbench.provenance.tracking import default_tracking_uri, mlflow_client, mlflow_session, translate_errors

    uri = default_tracking_uri(root)
    stack = contextlib.ExitStack()
    stack.enter_context(mlflow_session())
    stack.enter_context(translate_errors(uri, doing))
    return uri, stack, mlflow_client


def register(model_dir: Path, name: str, tags: dict[str, str], root: Path, extra_files: list[Path] = (),
             description: str = "", progress=None) -> str:
    """Log `model_dir` as the artifacts of a package run and register it as a new version of `name`.

    Returns the version number (a string, as MLflow has it).
    """
    from mlflow.exceptions import MlflowException

    from workbench.provenance.tracking import artifact_location_for, experiment_for

    uri, stack, client_for = _session(root, f"register model {name!r}")
    with stack:
        client = client_for(uri)
        run_id = tags.get(TAG_RUN_ID)
        if run_id:  # the model of a run is registered once: packaging it again reuses that version
            for existing in client.search_model_versions(f"name = '{name}'"):
                if (existing.tags or {}).get(TAG_RUN_ID) == run_id:
                    if progress:
                        progress(f"run {run_id} is already registered as {name} version {existing.version}")
                    return str(existing.version)
        pipeline = tags.get(TAG_PIPELINE) or name
        experiment = experiment_for(client, f"package/{pipeline}", artifact_location_for(uri, root))
        run = client.create_run(experiment, run_name=f"package {tags.get(TAG_RUN_ID, '')}".strip(),
                                tags={PACKAGE_RUN_TAG: tags.get(TAG_RUN_ID, ""), TAG_PIPELINE: pipeline})
        if progress:
            progress(f"uploading the model to {uri} (run {run.info.run_id})")
        client.log_artifacts(run.info.run_id, str(model_dir), "model")
        for path in extra_files:
            client.log_artifact(run.info.run_id, str(path))
        client.set_terminated(run.info.run_id)
        try:
            client.create_registered_model(name, description=description or None)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                              tags=tags, description=description or None)
        return str(version.version)


def _versions(client, name: str) -> dict[str, object]:
    found = {str(v.version): v for v in client.search_model_versions(f"name = '{name}'")}
    if not found:
        raise RegistryError(f"no registered model named {name!r}",
                            hint="package and register one with `workbench package NOTEBOOK` "
                            "(its name is the pipeline's unless --name says otherwise)")
    return found


def _holder(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _history(client, name: str, alias: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_PREFIX + alias, "[]"))]
    except ValueError:
        return []


def describe(name: str, root: Path) -> list[dict]:
    """Every version of `name`: version, aliases, run id, metrics (for listings and the server API)."""
    uri, stack, client_for = _session(root, f"read model {name!r}")
    with stack:
        client = client_for(uri)
        out = []
        for version, mv in sorted(_versions(client, name).items(), key=lambda kv: int(kv[0])):
            out.append({"version": version, "aliases": list(mv.aliases or []), "run_id": mv.tags.get(TAG_RUN_ID),
                        "metrics": metrics_of(mv.tags), "source": mv.source, "tags": dict(mv.tags)})
        return out


def promote(name: str, alias: str, root: Path, version: str | None = None, force: bool = False,
            reason: str | None = None, rollback: bool = False) -> PromoteResult:
    """Move `alias` to a version of `name` if the gate lets it (see the module docstring).

    `version` None means the newest. `rollback` moves the alias back to the version that held it
    before the current holder, without the gate (that version already passed it). The result says
    whether the alias moved; a refusal is not an exception, so that the caller can show the table.
    """
    from workbench.quality.gate import evaluate, load_rules

    if force and not (reason or "").strip():
        raise RegistryError("--force needs a --reason", hint='say why, e.g. --reason "hotfix for the '
                            'March data; auc drop accepted by the risk team"')
    uri, stack, client_for = _session(root, f"promote model {name!r}")
    with stack:
        client = client_for(uri)
        versions = _versions(client, name)
        holder = _holder(client, name, alias)
        history = _history(client, name, alias)
        if rollback:
            if version is not None:
                raise RegistryError("give --rollback or --version, not both",
                                    hint=f"`--version N --force --reason ...` moves {alias} to any version")
            if holder is None:
                raise RegistryError(f"{name} has no {alias!r} version to roll back from")
            earlier = history[:-1] if history and history[-1] == holder else history
            earlier = [v for v in earlier if v != holder and v in versions]
            if not earlier:
                raise RegistryError(f"no earlier {alias!r} of {name} to roll back to (history: {history or 'none'})",
                                    hint=f"move it explicitly: workbench promote {name} --alias {alias} "
                                    "--version N --force --reason TEXT")
            target = earlier[-1]
            client.set_registered_model_alias(name, alias, target)
            client.set_model_version_tag(name, target, TAG_ROLLED_BACK_FROM,
                                         f"{holder} at {time.strftime('%Y-%m-%d %H:%M:%S')}"
                                         + (f": {reason}" if reason else ""))
            _set_history(client, name, alias, earlier)
            return PromoteResult(name, alias, target, holder, True, rollback=True)

        target = str(version) if version is not None else max(versions, key=int)
        if target not in versions:
            raise RegistryError(f"{name} has no version {target}",
                                hint="its versions are " + ", ".join(sorted(versions, key=int)))
        if holder == target:
            return PromoteResult(name, alias, target, holder, False,
                                 notes=[f"version {target} already is {name}@{alias}"])
        new_tags = dict(versions[target].tags)
        base = metrics_of(dict(versions[holder].tags)) if holder in versions else None
        rules = load_rules(_checks_file(root, new_tags))
        gate = evaluate(metrics_of(new_tags), base, rules, baseline_name=alias if holder else "baseline")
        if not gate.passed and not force:
            return PromoteResult(name, alias, target, holder, False, gate=gate)
        client.set_registered_model_alias(name, alias, target)
        if force:
            client.set_model_version_tag(name, target, TAG_FORCED, reason.strip())
        _set_history(client, name, alias, [*history, target])
        return PromoteResult(name, alias, target, holder, True, gate=gate, forced=force)


def set_alias(root: Path, name: str, version: str, alias: str) -> None:
    """Point `alias` at a version without the gate: for aliases that propose (`challenger`), never
    for the one that serves (`promote` guards that)."""
    uri, stack, client_for = _session(root, f"set {name}@{alias}")
    with stack:
        client_for(uri).set_registered_model_alias(name, alias, str(version))


def _set_history(client, name: str, alias: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, HISTORY_PREFIX + alias, json.dumps(history[-100:]))


def _checks_file(root: Path, tags: dict[str, str]) -> Path:
    """pipelines/<name>/checks.yaml of the version's pipeline: from its tag, else from its run record."""
    folder = tags.get(TAG_PIPELINE_DIR)
    if not folder and tags.get(TAG_RUN_ID):
        from workbench.provenance.records import find_record

        try:
            folder = find_record(root, tags[TAG_RUN_ID]).get("pipeline_dir")
        except WorkbenchError:
            folder = None
    if not folder:
        folder = f"pipelines/{tags.get(TAG_PIPELINE, '')}"
    path = Path(folder)
    return (path if path.is_absolute() else Path(root) / path) / "checks.yaml"
