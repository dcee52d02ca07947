"""`workbench package`: the model of a run as a deployable, documented, registered artifact.

From a finished run's `model:VAR` product this builds one folder:

    model/          an MLflow model (sklearn / xgboost / lightgbm / pytorch flavor, else pyfunc) with a signature,
                    an input example and pinned scoring requirements; loads with
                    `mlflow.pyfunc.load_model` in an environment that has no Workbench
    Dockerfile      MLflow's scoring server for that model
    MODEL_CARD.md   intended use, data versions, parameters, metrics, limitations, lineage
    model.onnx      for scikit-learn estimators, with a parity check against the estimator

and registers `model/` in the MLflow Model Registry (workbench/registry.py).

The signature, the input example, the training profile and the card's ranges come from the rows
the model was fitted on, as the run recorded them (runtime/fit_capture.py, read by
deploy/model_inputs.py): whatever expression made them (`train[features]` built in the training
cell), whichever estimator holds the model (GridSearchCV's best_estimator_, the best of a loop over
candidates), restricted to the columns the model itself says it takes (`feature_names_in_`, the
raw columns a Pipeline's ColumnTransformer uses).

When the model's cell also has `features:FUNC`, the estimator was fitted on FUNC's output, not on
the raw rows a caller has. The package then ships FUNC's source (with the shared imports and
globals it reads, as a plain Python module in the model's code path) and a pyfunc wrapper that
applies FUNC and then the estimator, so that the served model takes raw rows. Which rows are raw is
read from the notebook: the product FUNC is applied to (`data = add_features(raw)` -> `raw`).
Which raw columns the model needs is found by trying: a column whose removal leaves FUNC's output
(restricted to the model's columns) unchanged, such as the label, is not an input.

Only values cross into the package, never Workbench objects: the estimator is pickled on its own,
the feature code is source text, and the wrapper is a small generated file (MLflow's "models from
code"), so the model folder is independent of Workbench's version and presence.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.plan import Plan, Task
from workbench.core.version import DISTRIBUTION
from workbench.deploy import container
from workbench.deploy.model_card import CardFacts, OnnxFacts
from workbench.deploy.model_inputs import TrainingRows, model_modules, raw_input, training_rows
from workbench.refactor.requirements import distributions, installed_version, top_level_modules

EXAMPLE_ROWS = 5
PROBE_ROWS = 200


class PackageError(WorkbenchError):
    """The run's model cannot be packaged as it stands."""


@dataclass
class PackageResult:
    output: Path
    model_dir: Path
    flavor: str
    run_id: str
    name: str
    version: str | None = None  # registered model version, None with register=False
    onnx: OnnxFacts | None = None
    requirements: list[str] = field(default_factory=list)
    input_columns: list[str] = field(default_factory=list)
    features: str | None = None
    restored: list[str] = field(default_factory=list)  # paths brought back to the run's version
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        onnx = None if self.onnx is None else self.onnx.__dict__
        return {"output": str(self.output), "model_dir": str(self.model_dir), "flavor": self.flavor,
                "run_id": self.run_id, "name": self.name, "version": self.version, "onnx": onnx,
                "requirements": self.requirements, "input_columns": self.input_columns,
                "features": self.features, "restored": self.restored, "warnings": self.warnings}


# --- finding the pipeline, the run and the model ---------------------------------------------------

def pipeline_dir(target: Path) -> Path:
    """The pipeline folder of a notebook (pipelines/<name>/ beside the working directory or the
    project root) or the folder itself."""
    from workbench.core.project import project_root
    from workbench.refactor.export import pipeline_dir_for

    target = Path(target)
    if target.suffix != ".ipynb":
        return target.resolve()
    # the folder of this notebook's own pipeline (not that of another notebook of the same name)
    bases = [Path.cwd(), project_root(target.parent, target), target.resolve().parent]
    candidates = [pipeline_dir_for(target, base / "pipelines") for base in bases]
    for folder in candidates:
        if (folder / "plan.json").is_file():
            return folder.resolve()
    raise PackageError(f"{target} has not been run: no {candidates[0].relative_to(Path.cwd()).as_posix()}/ "
                       "next to it", hint=f"run it first: workbench run {target}")


def choose_record(root: Path, plan: Plan, pipeline: Path, run_id: str | None) -> dict:
    """The run to package: the given one, else the pipeline's latest FINISHED run."""
    from workbench.provenance.records import find_record, load_records

    if run_id:
        record = find_record(root, run_id)
        if record["pipeline"] != plan.name:
            raise PackageError(f"run {record['id']} is a run of pipeline {record['pipeline']!r}, not {plan.name!r}",
                               hint=f"list this pipeline's runs with `workbench runs --pipeline {plan.name}`")
        if record["status"] != "FINISHED":
            raise PackageError(f"run {record['id']} {record['status']}: its model is not a finished product",
                               hint="package a finished run (see `workbench runs`)")
        return record
    rel = _rel(pipeline, root)
    records = [r for r in load_records(root, plan.name) if r["status"] == "FINISHED"
               and r.get("pipeline_dir", rel) == rel]
    if not records:
        raise PackageError(f"pipeline {plan.name!r} has no finished run to package",
                           hint=f"run it first: workbench run {plan.notebook}")
    return records[0]


def ensure_products(root: Path, pipeline: Path, record: dict, latest: bool) -> list[str]:
    """Make the products on disk the record's: restore them with DVC when they differ.

    A run made with --no-version cannot be restored; its products are used only when it is the
    pipeline's latest run (then they are what is on disk, unless edited by hand)."""
    from workbench.provenance.versioning import content_id, current, restore

    key = f"{_rel(pipeline, root)}/products"
    entry = (record.get("dvc") or {}).get(key)
    if entry is None:
        if latest:
            return []
        raise PackageError(f"run {record['id']} was made with --no-version: its products cannot be restored",
                           hint="package the latest run, or rerun with the same parameters "
                                f"(`workbench run {record.get('notebook', 'NOTEBOOK')} -p ...`) and package that")
    now = current(root, [Path(key)]).get(key)
    if content_id(now) == content_id(entry):
        return []
    return restore(root, {key: entry})


def model_task(plan: Plan) -> Task:
    tasks = [t for t in plan.tasks if t.model]
    if not tasks:
        raise PackageError(f"pipeline {plan.name!r} has no model: no cell is tagged `model:VAR`",
                           hint="tag the cell that fits the model with `model:NAME` (NAME: the variable "
                                "holding it), re-run, then package")
    if len(tasks) > 1:
        raise PackageError(f"pipeline {plan.name!r} tags {len(tasks)} models: "
                           + ", ".join(f"{t.model} (task {t.name})" for t in tasks),
                           hint="keep one `model:` tag; package one model per pipeline")
    return tasks[0]


# --- the feature code --------------------------------------------------------------------------------

def features_module(plan: Plan, func: str, params: dict, before_cell: int) -> tuple[str, list[str]]:
    """Source of a module defining `func` and everything it reads, and the modules it imports.

    The definitions are the notebook's own statements (shared cells or task cells before the model),
    in notebook order; a parameter it reads becomes a constant with the run's value.
    """
    from workbench.refactor.planner import closure

    ordered, unbound = closure((d for d in plan.definitions.values() if d.cell < before_cell), [func])
    if func in unbound or func not in {n for d in ordered for n in d.binds}:
        raise PackageError(f"`features:{func}` names no function defined before the model's cell",
                           hint=f"define {func} in the `functions` cell (or fix the tag's spelling)")
    for name in unbound:
        if name not in plan.parameters:
            raise PackageError(
                f"the features function {func!r} reads {name!r}, which is neither a shared definition nor "
                "a parameter", hint=f"define {name!r} in the `functions` or `imports` cell, or pass it to "
                f"{func!r} as an argument, so that it can be shipped with the model")
    constants = {n: params.get(n, p.value) for n, p in plan.parameters.items() if n in unbound}
    imports = [d.source for d in ordered if d.kind == "import"]
    modules = list(dict.fromkeys(m for source in imports for m in top_level_modules(source)))
    blocks = [f'"""Feature code of {plan.notebook} ({func} and what it reads), shipped with its model."""']
    if imports:
        blocks.append("\n".join(imports))
    if constants:
        blocks.append("\n".join(f"{n} = {v!r}  # parameter of the run" for n, v in constants.items()))
    blocks += [d.source for d in ordered if d.kind != "import"]
    return "\n\n\n".join(blocks) + "\n", modules


def needed_columns(func: Callable, raw, columns: list[str]) -> list[str]:
    """The raw columns the model needs: those without which FUNC(raw)[columns] changes or fails."""
    sample = raw.head(PROBE_ROWS)
    base = func(sample.copy())[columns]
    needed = []
    for col in sample.columns:
        try:
            same = func(sample.drop(columns=[col]))[columns].equals(base)
        except Exception:  # noqa: BLE001 - any failure means the column is needed
            same = False
        if not same:
            needed.append(col)
    return needed


# --- requirements ----------------------------------------------------------------------------------

def pinned(modules: list[str]) -> list[str]:
    """`dist==version` for the installed distributions providing `modules` (the first of each; the
    standard library, Workbench and what is not installed left out), after the scoring server's own."""
    out: dict[str, str] = {}
    base = ["mlflow", "cloudpickle", "pandas", "numpy"]
    for dists in distributions(dict.fromkeys([*base, *modules])).values():
        dist = dists[0] if dists else None
        if dist is None or dist.lower() in (DISTRIBUTION, "workbench", "mlflow-skinny") or dist in out:
            continue
        version = installed_version(dist)
        if version is not None:
            out[dist] = f"{dist}=={version}"
    return list(out.values())


# --- flavors ------------------------------------------------------------------------------------------

def flavor_of(model: object, features: bool) -> str:
    """The MLflow flavor that fits the object (a features wrapper is always pyfunc).

    MLflow's xgboost and lightgbm flavors answer with `predict`; a classifier of their scikit-learn
    API, which Workbench serves with `predict_proba`, goes through the sklearn flavor instead (the
    same estimator, pickled; its package is pinned in the requirements all the same)."""
    if features:
        return "pyfunc"
    top = type(model).__module__.split(".")[0]
    if top == "sklearn":
        return "sklearn"
    if top in ("xgboost", "lightgbm") and _importable(f"mlflow.{top}"):
        if predict_method(model) == "predict_proba" and _importable("mlflow.sklearn"):
            return "sklearn"
        return top
    if top == "torch" and _importable("mlflow.pytorch"):
        return "pytorch"
    return "pyfunc"


def scorer(model: object, method: str) -> Callable:
    """What the served model computes, called on rows as a caller sends them (a DataFrame or an
    array): `method` of the estimator, except for an XGBoost Booster (which takes a DMatrix) and a
    torch module (called on a float tensor, as MLflow's pytorch flavor calls it)."""
    top = type(model).__module__.split(".")[0]
    if top == "xgboost" and type(model).__name__ == "Booster":
        import xgboost

        return lambda rows: model.predict(xgboost.DMatrix(rows))
    if top == "torch":
        import numpy as np
        import torch

        def forward(rows):
            data = rows.to_numpy(dtype=np.float32) if hasattr(rows, "to_numpy") else np.asarray(rows)
            model.eval()
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(data))).detach().cpu().numpy()

        return forward
    return getattr(model, method)


def _importable(module: str) -> bool:
    import importlib

    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def predict_method(model: object) -> str:
    """Classifiers answer with probabilities (what ranking and thresholds need); others with predict."""
    return "predict_proba" if hasattr(model, "predict_proba") else "predict"


WRAPPER = '''"""Scoring wrapper generated by Workbench: {what}.

Loaded by MLflow as a "model from code"; needs only the packages of requirements.txt.
"""

import importlib

import cloudpickle
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class WorkbenchModel(PythonModel):
    """Takes rows as a DataFrame; answers with the estimator's `{method}` on the model's columns."""

    def load_context(self, context):
        config = context.model_config
        with open(context.artifacts["estimator"], "rb") as fh:
            self.estimator = cloudpickle.load(fh)
        self.method = getattr(self.estimator, config["method"])
        self.columns = config.get("columns")
        module = config.get("features_module")
        self.features = getattr(importlib.import_module(module), config["features_function"]) if module else None

    # a DataFrame hint: MLflow validates with the saved signature (no schema from the hint)
    def predict(self, context, model_input: pd.DataFrame, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if self.features is not None:
            frame = self.features(frame.copy())
        if self.columns:
            frame = frame[self.columns]
        return self.method(frame)


mlflow.models.set_model(WorkbenchModel())
'''


def sklearn_format(model: object) -> dict:
    """How the sklearn flavor stores the estimator: skops, MLflow's default (loading runs no code),
    trusting the types of this run's own model that skops does not trust by itself (the trees of a
    gradient boosting model, an XGBoost or LightGBM booster), which MLflow otherwise refuses to save;
    cloudpickle only for a model skops cannot hold."""
    try:
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    except Exception:  # noqa: BLE001 - skops cannot represent it: pickle, as the pyfunc flavor does
        return {"serialization_format": "cloudpickle"}
    return {"serialization_format": "skops", "skops_trusted_types": trusted or None}


def save_model(model: object, flavor: str, dest: Path, *, example, output, requirements: list[str],
               method: str, columns: list[str] | None, features_source: str | None,
               features_function: str | None, module_name: str) -> None:
    """Write the MLflow model folder `dest` (which must not exist)."""
    from mlflow.models import infer_signature

    signature = infer_signature(example, output)
    common = dict(signature=signature, input_example=example, pip_requirements=requirements)
    if flavor == "sklearn":
        import mlflow.sklearn

        mlflow.sklearn.save_model(model, str(dest), pyfunc_predict_fn=method, **sklearn_format(model), **common)
        return
    if flavor == "xgboost":
        import mlflow.xgboost

        mlflow.xgboost.save_model(model, str(dest), **common)
        return
    if flavor == "lightgbm":
        import mlflow.lightgbm

        mlflow.lightgbm.save_model(model, str(dest), **common)
        return
    if flavor == "pytorch":
        import mlflow.pytorch

        mlflow.pytorch.save_model(model, str(dest), **common)
        return
    import cloudpickle
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory(prefix="workbench-package-") as scratch:
        scratch = Path(scratch)
        estimator = scratch / "estimator.pkl"
        estimator.write_bytes(cloudpickle.dumps(model))
        code = scratch / "score.py"
        what = f"applies {features_function}, then the model" if features_function else "the model"
        code.write_text(WRAPPER.format(what=what, method=method))
        code_paths = []
        config = {"method": method, "columns": columns}
        if features_source is not None:
            module = scratch / f"{module_name}.py"
            module.write_text(features_source)
            code_paths.append(str(module))
            config.update(features_module=module_name, features_function=features_function)
        mlflow.pyfunc.save_model(str(dest), python_model=str(code), artifacts={"estimator": str(estimator)},
                                 code_paths=code_paths or None, model_config=config, **common)


# --- the folder -------------------------------------------------------------------------------------

def package(pipeline: Path, run_id: str | None = None, output: Path | None = None, register: bool = True,
            progress: Callable[[str], None] | None = None, name: str | None = None) -> PackageResult:
    """Package the model of a run of `pipeline` (a pipeline folder or its notebook); see the module
    docstring. `progress` receives one line per step (the CLI prints them on stderr)."""
    with _quiet_mlflow():
        return _package(Path(pipeline), run_id, output, register, progress or (lambda _m: None), name)


@contextlib.contextmanager
def _quiet_mlflow():
    """MLflow's INFO lines, progress bars and advice are noise on the CLI's stderr."""
    import logging

    from workbench.provenance.tracking import mlflow_session

    with mlflow_session(), warnings.catch_warnings():  # the session first: it turns telemetry off
        import mlflow  # noqa: F401 - its import configures its loggers; quieten them after that

        logger = logging.getLogger("mlflow")
        level = logger.level
        logger.setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
        try:
            yield
        finally:
            logger.setLevel(level)


def _package(pipeline: Path, run_id: str | None, output: Path | None, register: bool,
             say: Callable[[str], None], name: str | None) -> PackageResult:
    from workbench.core.project import project_root
    from workbench.deploy import model_card, onnx_export
    from workbench.execute.build import load_plan
    from workbench.provenance.records import load_records
    from workbench.runtime import ProductError, load

    folder = pipeline_dir(pipeline)
    plan = load_plan(folder)
    from workbench.execute.build import notebook_dir_of

    root = project_root(folder, notebook_dir_of(folder) / Path(plan.notebook).name)
    record = choose_record(root, plan, folder, run_id)
    finished = [r for r in load_records(root, plan.name) if r["status"] == "FINISHED"]
    latest = bool(finished) and finished[0]["id"] == record["id"]
    say(f"packaging the model of run {record['id']} (pipeline {plan.name})")
    restored = ensure_products(root, folder, record, latest)
    for path in restored:
        say(f"restored {path} to the version of run {record['id']}")

    task = model_task(plan)
    products = folder / "products"

    def product(where: tuple[str, str] | None):
        if where is None:
            return None
        try:
            return load(products / where[0] / where[1])
        except ProductError as exc:
            raise PackageError(str(exc), hint=f"rerun the pipeline: workbench run {plan.notebook}") from None

    model = product((task.name, task.model))
    fitted = training_rows(plan, task, products, model, product)
    X = fitted.inputs()  # the rows as a caller sends them: the model's input columns
    notes: list[str] = []
    columns = fitted.columns
    method = predict_method(model)
    predict = scorer(model, method)
    if fitted.rows is not None:
        say(f"the model's rows: {fitted.source}")

    features_source = features_function = None
    modules = model_modules(model)
    module_name = ""
    if task.features:
        features_function = task.features
        features_source, imported = features_module(plan, task.features, record.get("params") or {},
                                                    min(task.code_cells))
        modules += imported
        module_name = f"features_{plan.name}_{hashlib.sha256(features_source.encode()).hexdigest()[:8]}"
        where = raw_input(plan, task.features)
        raw = product(where)
        if raw is None or not hasattr(raw, "columns"):
            raise PackageError(f"cannot find the raw rows `{task.features}` is applied to",
                               hint=f"apply it to a DataFrame made by an earlier task, e.g. "
                                    f"`data = {task.features}(raw)`, so that the package can score raw rows")
        if not columns:
            raise PackageError("cannot tell which columns the model takes after the features function",
                               hint=f"fit {task.model} on a DataFrame (`{task.model}.fit(X_train, y)`)")
        namespace: dict = {}
        exec(compile(features_source, f"<features of {plan.notebook}>", "exec"), namespace)  # noqa: S102
        func = namespace[task.features]
        inputs = needed_columns(func, raw, columns)
        example = raw[inputs].head(EXAMPLE_ROWS).reset_index(drop=True)
        ranges_frame = raw[inputs]
        fitted = TrainingRows(rows=raw[inputs], columns=inputs, count=fitted.count, source=fitted.source)
        say(f"the model scores raw rows ({', '.join(inputs)}) through {task.features}() from "
            f"{where[0]}/{where[1]}")

        def score(rows):
            return predict(func(rows.copy())[columns])
    else:
        if X is None:
            raise PackageError(f"cannot find the rows {task.model} was fitted on: {fitted.missing}",
                               hint=f"fit {task.model} in its `model:` cell and rerun the pipeline "
                                    f"(`workbench run {plan.notebook} --force` reruns a task exported by an "
                                    "older Workbench), so that the run records what it was fitted on")
        inputs = columns or []
        example = X.head(EXAMPLE_ROWS) if hasattr(X, "head") else X[:EXAMPLE_ROWS]
        ranges_frame = X if hasattr(X, "columns") else None

        def score(rows):
            return predict(rows)

    flavor = flavor_of(model, bool(task.features))
    requirements = pinned(modules)
    out = Path(output) if output else folder / "package"
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    say(f"saving an MLflow {flavor} model to {model_dir}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's advice on integer columns and pip versions
        save_model(model, flavor, model_dir, example=example, output=score(example), requirements=requirements,
                   method=method, columns=columns if task.features or flavor == "pyfunc" else None,
                   features_source=features_source, features_function=features_function, module_name=module_name)
    _check_roundtrip(model_dir, example, score(example))
    _save_profile(model_dir, ranges_frame, score, record, say)

    onnx_path = out / "model.onnx"
    onnx_path.unlink(missing_ok=True)
    onnx = onnx_export.export(model, X, onnx_path) if flavor in ("sklearn", "pyfunc") else \
        OnnxFacts(reason=f"no ONNX export for the {flavor} flavor")
    say("ONNX: " + model_card.onnx_summary(onnx))
    if onnx.path is None:
        notes.append(f"no model.onnx: {onnx.reason}")
    elif not onnx.passed:
        notes.append(f"model.onnx does not match the model (max abs difference {onnx.max_abs_diff:.3g})")

    (out / "Dockerfile").write_text(container.dockerfile(name or plan.name))
    registered_name = name or plan.name
    version = None
    facts = _card_facts(plan, record, task, model, flavor, method, inputs, features_function, onnx,
                        requirements, registered_name, ranges_frame, fitted)
    from workbench.quality.fairness import FairnessError, evaluate_run

    try:
        fairness = evaluate_run(plan, folder)
    except FairnessError as exc:
        notes.append(f"no per-group table: {exc.message}")
        fairness = None
    if fairness is not None:
        facts.fairness = fairness.to_dict()
        say(fairness.table())
    card = out / "MODEL_CARD.md"
    card.write_text(model_card.render(facts))
    if register:
        from workbench.deploy.registry import register as register_version
        from workbench.deploy.registry import version_tags

        version = register_version(model_dir, registered_name, version_tags(record), root, extra_files=[card],
                                   description=plan.title, progress=say)
        facts.registered = f"`{registered_name}` version {version} in the MLflow Model Registry"
        card.write_text(model_card.render(facts))
    return PackageResult(output=out, model_dir=model_dir, flavor=flavor, run_id=record["id"], name=registered_name,
                         version=version, onnx=onnx, requirements=requirements, input_columns=list(inputs),
                         features=features_function, restored=restored, warnings=notes)


def _save_profile(model_dir: Path, rows, score: Callable, record: dict, say: Callable[[str], None]) -> None:
    """The training-data profile `workbench monitor` compares served rows with (profile.py), inside
    the model folder so that it travels with every registered version."""
    import numpy as np

    from workbench.quality.profile import capture_profile, save_profile

    if rows is None or not hasattr(rows, "columns"):
        say("no training profile: the model was not fitted on a table (drift monitoring needs one)")
        return
    predictions = np.asarray(score(rows))
    if predictions.ndim == 2:
        predictions = predictions[:, -1]  # the positive class, as the served predictions are read
    save_profile(capture_profile(rows, predictions, source=f"run {record['id']}"),
                 model_dir / "training_profile.json")


def _check_roundtrip(model_dir: Path, example, expected) -> None:
    """Load the saved model as a caller will and compare its answer on the example rows."""
    import mlflow.pyfunc
    import numpy as np

    got = mlflow.pyfunc.load_model(str(model_dir)).predict(example)
    got = np.asarray(got.to_numpy() if hasattr(got, "to_numpy") else got, dtype=float)
    if not np.allclose(got, np.asarray(expected, dtype=float), rtol=1e-9, atol=1e-12):
        raise PackageError(f"the saved model in {model_dir} predicts differently from the run's model",
                           hint="this is a Workbench bug: please report it with the notebook")


def _card_facts(plan: Plan, record: dict, task: Task, model, flavor: str, method: str, inputs: list[str],
                features: str | None, onnx: OnnxFacts, requirements: list[str], name: str, ranges_frame,
                fitted: TrainingRows) -> CardFacts:
    ranges = {c: fitted.ranges[c] for c in inputs if c in fitted.ranges}  # over every fitted row
    if ranges_frame is not None:
        for col in inputs:
            if col in ranges:
                continue
            try:
                ranges[col] = (ranges_frame[col].min().item(), ranges_frame[col].max().item())
            except (AttributeError, TypeError, ValueError, KeyError):
                continue
    if method == "predict_proba":
        classes = ", ".join(str(c) for c in getattr(model, "classes_", []))
        output = f"class probabilities, one column per class ({classes}) (`predict_proba`)"
    else:
        output = "the model's `predict`"
    metrics_task = next((t.name for t in plan.tasks if t.metrics), None)
    git = record.get("git") or {}
    return CardFacts(
        name=name, title=plan.title, description=plan.description, pipeline=plan.name, run_id=record["id"],
        flavor=flavor, model_variable=task.model, model_class=f"{type(model).__module__}.{type(model).__name__}",
        output=output, input_columns=list(inputs), features_function=features, params=record.get("params") or {},
        metrics=record.get("metrics") or {}, metrics_task=metrics_task, data=record.get("data") or {},
        git_commit=git.get("commit"), git_dirty=git.get("dirty"), notebook=record.get("notebook", plan.notebook),
        notebook_sha256=record.get("notebook_sha256", plan.notebook_sha256),
        training_rows=fitted.count, ranges=ranges, onnx=onnx,
        requirements=requirements)


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def summary(result: PackageResult) -> str:
    """What the CLI prints when packaging is done."""
    lines = [f"packaged run {result.run_id} -> {result.output}/",
             f"  model/         MLflow {result.flavor} model; input columns: {', '.join(result.input_columns)}"
             + (f" (raw rows, through {result.features}())" if result.features else ""),
             "  Dockerfile     mlflow models serve on port 8080",
             "  MODEL_CARD.md  use, data versions, parameters, metrics, limitations, lineage"]
    if result.onnx and result.onnx.path:
        verdict = "passed" if result.onnx.passed else "FAILED"
        lines.append(f"  model.onnx     parity {verdict}: max abs difference {result.onnx.max_abs_diff:.3g} "
                     f"(tolerance {result.onnx.tolerance:g}, {result.onnx.rows} rows)")
    if result.version:
        lines.append(f"registered {result.name} version {result.version}")
    return "\n".join(lines)


def result_json(result: PackageResult) -> str:
    return json.dumps(result.to_dict(), indent=1, default=str)
