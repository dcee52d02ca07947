"""Which model a `workbench serve` argument names, and loading it.

A user names a model the way they think of it, so one argument takes every form:

* `NAME@ALIAS` / `models:/NAME@ALIAS`: the version an alias points at (`churn@champion`);
* `NAME/VERSION` / `models:/NAME/VERSION`: one registered version (`churn/3`);
* `NAME`: the newest registered version of NAME; when the registry has no such model, the folder
  `workbench package NAME` writes (`pipelines/NAME/package/model/`);
* a folder: an MLflow model folder (one holding `MLmodel`), or a pipeline folder whose
  `package/model/` is one.

Registry names are looked up in the project's tracking store (`default_tracking_uri`, which
`MLFLOW_TRACKING_URI` overrides). Lookups happen before anything is loaded, so that a typo costs a
clear error in a second, listing what exists, instead of a stack trace after a download.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

__all__ = ["ModelLoadError", "ModelNotFound", "ModelRef", "NotAModel", "load", "resolve"]

MLMODEL = "MLmodel"
PACKAGED = Path("package") / "model"
_VERSION = re.compile(r"^(?P<name>[^@]+)/(?P<version>\d+)$")
_ALIAS = re.compile(r"^(?P<name>[^@/]+)@(?P<alias>[\w-]+)$")


class ModelNotFound(WorkbenchError):
    """The registry has no model, version or alias of that name."""


class NotAModel(WorkbenchError):
    """A path that is not an MLflow model folder."""


class ModelLoadError(WorkbenchError):
    """MLflow found the model but could not load it."""


@dataclass
class ModelRef:
    """A model resolved from what the user typed: what to load and how to name it."""

    spec: str                      # as typed
    uri: str                       # what mlflow.pyfunc.load_model takes
    name: str                      # registered model name, or the name derived from the folder
    version: str | None = None     # registry version
    alias: str | None = None
    path: Path | None = None       # the local folder, for folder models
    run_id: str | None = None      # the MLflow run that produced the version, when known
    tags: dict[str, str] = field(default_factory=dict)  # the model version's tags

    @property
    def label(self) -> str:
        """How responses and logs name it: `NAME/VERSION` for registered models, else the folder."""
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return _display(self.path) if self.path is not None else self.spec

    def describe(self) -> str:
        if self.alias:
            return f"{self.label} (models:/{self.name}@{self.alias})"
        return self.label if self.version is None else f"{self.label} (models:/{self.label})"


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _name_for_folder(folder: Path) -> str:
    """`pipelines/churn/package/model` serves as `churn`; any other folder under its own name."""
    parts = folder.resolve().parts
    if len(parts) >= 4 and parts[-1] == "model" and parts[-2] == "package":
        return parts[-3]
    return folder.resolve().name


def _folder_ref(spec: str, folder: Path) -> ModelRef:
    if folder.is_dir() and not (folder / MLMODEL).is_file() and (folder / PACKAGED / MLMODEL).is_file():
        folder = folder / PACKAGED  # a pipeline folder: its packaged model
    if not folder.is_dir() or not (folder / MLMODEL).is_file():
        what = "a file" if folder.is_file() else "a folder without an MLmodel file"
        raise NotAModel(
            f"{spec} is not an MLflow model: it is {what}",
            hint="give the folder `mlflow.<flavor>.save_model` or `workbench package` wrote (it holds "
                 "MLmodel), or a registered model as NAME@ALIAS or NAME/VERSION",
        )
    return ModelRef(spec=spec, uri=str(folder.resolve()), name=_name_for_folder(folder), path=folder)


def resolve(spec: str, root: Path, uri: str) -> ModelRef:
    """The model `spec` names (see the module docstring), looked up in the registry at `uri`.

    Raises ModelNotFound (unknown name, version or alias, with what exists in the hint), NotAModel
    (a path that is not an MLflow model) and TrackingUnavailable (registry server down).
    """
    spec = spec.strip()
    registry = spec[len("models:/"):] if spec.startswith("models:/") else None
    if registry is None:
        path = Path(spec)
        if path.exists():
            return _folder_ref(spec, path)
        registry = spec
    if m := _ALIAS.match(registry):
        return _registered(spec, root, uri, m["name"], alias=m["alias"])
    if m := _VERSION.match(registry):
        return _registered(spec, root, uri, m["name"], version=m["version"])
    if "/" in registry or registry.startswith(".") or not registry:
        raise NotAModel(
            f"{spec}: no such folder, and not a registered model reference",
            hint="give an MLflow model folder that exists, or a registered model as NAME, NAME@ALIAS "
                 "or NAME/VERSION",
        )
    packaged = Path(root) / "pipelines" / registry / PACKAGED
    try:
        return _registered(spec, root, uri, registry)
    except ModelNotFound:
        if spec == registry and (packaged / MLMODEL).is_file():
            return _folder_ref(spec, packaged)
        raise


def _registered(spec: str, root: Path, uri: str, name: str, version: str | None = None,
                alias: str | None = None) -> ModelRef:
    from workbench.provenance.tracking import mlflow_session, redact_uri, sqlite_path, translate_errors

    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise ModelNotFound(
            f"{spec}: no model registry yet at {redact_uri(uri)}",
            hint="register the model first (`workbench package <pipeline>`), point MLFLOW_TRACKING_URI "
                 "at your registry, or serve a model folder",
        )
    from mlflow.exceptions import MlflowException

    with mlflow_session(), translate_errors(uri, f"look up the model {spec}"):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # one store holds runs and registry
        try:
            client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            names = sorted(m.name for m in client.search_registered_models(max_results=100))
            raise ModelNotFound(
                f"{spec}: no registered model named {name!r} in {redact_uri(uri)}",
                hint=(f"registered models: {', '.join(names)}" if names else "the registry is empty")
                + "; register one with `workbench package <pipeline>`, or serve a model folder",
            ) from None
        if alias is not None:
            try:
                mv = client.get_model_version_by_alias(name, alias)
            except MlflowException:
                aliases = sorted(client.get_registered_model(name).aliases or {})
                raise ModelNotFound(
                    f"{spec}: model {name!r} has no alias {alias!r}",
                    hint=(f"its aliases: {', '.join(aliases)}" if aliases else f"{name!r} has no aliases")
                    + f"; set one with `mlflow.MlflowClient().set_registered_model_alias({name!r}, "
                      f"{alias!r}, VERSION)`, or serve {name}/VERSION",
                ) from None
        else:
            versions = client.search_model_versions(f"name = '{name}'")
            numbers = sorted(int(v.version) for v in versions)
            if version is None:
                if not numbers:
                    raise ModelNotFound(f"{spec}: model {name!r} has no versions",
                                        hint="register a version with `workbench package <pipeline>`")
                version = str(numbers[-1])
            elif int(version) not in numbers:
                raise ModelNotFound(
                    f"{spec}: model {name!r} has no version {version}",
                    hint=f"its versions: {', '.join(map(str, numbers)) or 'none'}",
                )
            mv = client.get_model_version(name, version)
    return ModelRef(spec=spec, uri=f"models:/{name}/{mv.version}", name=name, version=str(mv.version),
                    alias=alias, run_id=mv.run_id or None, tags=dict(mv.tags or {}))


@contextlib.contextmanager
def _store(mlflow: Any, uri: str) -> Iterator[None]:
    """MLflow's tracking and registry URIs set to `uri` while a model downloads, then put back.
    `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI in os.environ, so leaving it set would
    send every later MLflow call of the caller (`workbench.score()` in a notebook) and every
    process it starts to this store."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        # MLflow sets the variables with the URIs, so they say what was set; None: nothing (unset,
        # not "the default made explicit", which would pin the caller's later calls to this folder)
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load(ref: ModelRef, uri: str) -> PyFuncModel:
    """Load the model as an MLflow pyfunc (registry models are downloaded from the store at `uri`)."""
    import mlflow
    import mlflow.pyfunc

    from workbench.provenance.tracking import mlflow_session, translate_errors

    with _store(mlflow, uri), mlflow_session(), translate_errors(uri, f"download the model {ref.label}"):
        try:
            return mlflow.pyfunc.load_model(ref.uri)
        except (ImportError, ModuleNotFoundError, ValueError, TypeError, AttributeError) as exc:
            raise ModelLoadError(
                f"MLflow could not load the model {ref.label}",
                hint="serve it with the Python environment it was saved with (see its requirements.txt "
                     "or conda.yaml)",
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc


def example_request(model: Any) -> str:
    """A JSON body that this model accepts, for the example curl printed on start.

    The model's own input example when it was saved with one, else one row built from its signature,
    else a placeholder that shows the format.
    """
    import json

    example = getattr(model, "input_example", None)
    try:
        import pandas as pd

        if isinstance(example, pd.DataFrame) and len(example.columns):
            split = example.head(1).to_dict(orient="split")
            return json.dumps({"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
                              default=str)
    except Exception:  # noqa: BLE001 - an example is a courtesy, never a reason to fail
        pass
    schema = model.metadata.get_input_schema() if model.metadata else None
    if schema is not None and schema.has_input_names():
        row = [_placeholder(spec) for spec in schema.inputs]
        return json.dumps({"dataframe_split": {"columns": schema.input_names(), "data": [row]}})
    return json.dumps({"dataframe_split": {"columns": ["feature_1", "feature_2"], "data": [[1.0, 2.0]]}})


def _placeholder(spec: Any) -> Any:
    kind = str(getattr(spec, "type", "")).lower()
    if any(word in kind for word in ("string", "str")):
        return "a"
    if "bool" in kind:
        return False
    if any(word in kind for word in ("int", "long")):
        return 0
    return 0.0


def training_profile(ref: ModelRef, uri: str) -> dict | None:
    """The training-data profile packaged with the model (`training_profile.json` in the model
    folder, written by `workbench package`), or None for a model without one."""
    import json

    if ref.path is not None:
        path = Path(ref.path) / "training_profile.json"
        return json.loads(path.read_text()) if path.is_file() else None
    import mlflow

    from workbench.provenance.tracking import mlflow_session

    try:
        with _store(mlflow, uri), mlflow_session():  # a models:/ URI is resolved in the registry's store
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"{ref.uri.rstrip('/')}/training_profile.json",
                                                        tracking_uri=uri)
        return json.loads(Path(local).read_text())
    except Exception:  # noqa: BLE001 - no profile in this model: monitoring says so
        return None
