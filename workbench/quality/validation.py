"""Data validation for CI: capture a schema from the data a pipeline ran on, check new data against it.

The schema lives in the `data:` section of the pipeline's `checks.yaml`, a file the user owns, in a
small readable format rather than pandera's own YAML dump (which spells out every option of every
check and is not meant to be edited by hand):

    data:
    - file: data/customers.csv                 # relative to the project root
      columns:
        tenure_months: {type: int, nulls: 0, min: 0, max: 78}
        plan: {type: str, nulls: 0.02, in: [basic, premium]}
    - product: load/raw                        # TASK/VARIABLE: a DataFrame a source task makes

A column rule has: `type` (int, float, bool, str, datetime or any), `nulls` (the largest fraction
of missing values allowed; 0: none), `min`/`max` (inclusive bounds) and `in` (the allowed values).
Every listed column is required; columns not listed are allowed. Each table becomes a
`pandera.DataFrameSchema` validated lazily, so one run reports every broken rule at once.

How rules are captured (`capture_frame`), and why:
- ranges are the observed min/max widened by 10% of the observed span (integers rounded outward,
  and never below 0 for a column that had no negative value): exact bounds would fail the next
  honest batch (one customer with a longer tenure), while a unit change, a sentinel such as -999 or
  a shifted column still lands far outside;
- nulls: a column without missing values allows none; one with a fraction f allows 2f (at least
  f + 1%), rounded up to a whole percent;
- categories: for string columns with at most 20 distinct values (and 0/1 integer flags);
- an integer column read with missing values becomes float in pandas: `type: int` accepts floats
  whose values are all whole, so the report says "nulls" rather than a confusing "wrong type".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

MARGIN = 0.10  # of the observed span, on each side of a numeric range
MAX_CATEGORIES = 20
TABULAR_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".feather", ".jsonl")
TYPES = ("int", "float", "bool", "str", "datetime", "any")
RULE_KEYS = ("type", "nulls", "min", "max", "in")


class ChecksError(WorkbenchError):
    """The `data:` section of checks.yaml cannot be read."""


class DataMissing(WorkbenchError):
    """A table checks.yaml names is not there to validate."""


@dataclass
class ColumnRule:
    name: str
    type: str = "any"
    nulls: float = 0.0
    min: float | None = None
    max: float | None = None
    values: list | None = None  # `in:` in the file

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "nulls": self.nulls}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.values is not None:
            out["in"] = list(self.values)
        return out


@dataclass
class TableCheck:
    kind: str  # "file" or "product"
    target: str  # path relative to the project root, or TASK/VARIABLE
    columns: list[ColumnRule] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.target if self.kind == "file" else f"product {self.target}"


@dataclass(frozen=True)
class Failure:
    table: str
    column: str | None
    rule: str  # missing column | nulls | out of range | unknown category | wrong type | ...
    detail: str


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def text(self) -> str:
        lines = []
        for table in self.checked:
            found = [f for f in self.failures if f.table == table]
            if not found:
                lines.append(f"{table}: ok")
                continue
            lines.append(f"{table}: {len(found)} problem(s)")
            for f in found:
                where = f"column {f.column}" if f.column else "table"
                lines.append(f"  {where}: {f.rule}: {f.detail}")
        return "\n".join(lines)


# --- capture ----------------------------------------------------------------------------------


def capture_frame(df) -> list[ColumnRule]:
    """Rules that the DataFrame `df` satisfies, loose enough for the next honest batch (see module doc)."""
    return [capture_column(str(name), df[name]) for name in df.columns]


def capture_column(name: str, s) -> ColumnRule:
    import pandas as pd

    nonnull = s.dropna()
    rule = ColumnRule(name, _type_of(s), _allowed_nulls(float(s.isna().mean()) if len(s) else 0.0))
    if rule.type in ("int", "float") and len(nonnull):
        lo, hi = float(nonnull.min()), float(nonnull.max())
        if rule.type == "int" and set(nonnull.unique()) <= {0, 1}:
            rule.values = sorted(int(v) for v in nonnull.unique())
        else:
            rule.min, rule.max = _widen(lo, hi, integer=rule.type == "int")
    elif rule.type == "str" and len(nonnull):
        distinct = pd.unique(nonnull.astype(str))
        if len(distinct) <= MAX_CATEGORIES and len(distinct) < len(nonnull):
            rule.values = sorted(str(v) for v in distinct)
    return rule


def _type_of(s) -> str:
    from pandas import CategoricalDtype
    from pandas.api import types as t

    if t.is_bool_dtype(s):
        return "bool"
    if t.is_integer_dtype(s):
        return "int"
    if t.is_float_dtype(s):
        nonnull = s.dropna()
        whole = len(nonnull) > 0 and bool((nonnull % 1 == 0).all())
        return "int" if whole and s.isna().any() else "float"
    if t.is_datetime64_any_dtype(s):
        return "datetime"
    if isinstance(s.dtype, CategoricalDtype) or t.is_string_dtype(s):
        values = s.dropna()
        if all(isinstance(v, str) for v in values):
            return "str"
        if all(isinstance(v, bool) for v in values) and len(values):
            return "bool"
    return "any"


def _allowed_nulls(observed: float) -> float:
    if observed <= 0:
        return 0
    return min(1.0, math.ceil(max(2 * observed, observed + 0.01) * 100) / 100)


def _widen(lo: float, hi: float, integer: bool) -> tuple[float, float]:
    span = hi - lo
    margin = MARGIN * (span if span > 0 else abs(hi))
    new_lo, new_hi = lo - margin, hi + margin
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    if integer:
        return int(math.floor(new_lo)), int(math.ceil(new_hi))
    width = new_hi - new_lo
    step = 10.0 ** (math.floor(math.log10(width)) - 2) if width > 0 else 0.01
    return _tidy(math.floor(new_lo / step) * step), _tidy(math.ceil(new_hi / step) * step)


def _tidy(x: float) -> float:
    return float(f"{x:.10g}")


def read_table(path: Path):
    """A tabular file as a DataFrame, read as pandas reads it by default (what a notebook's
    `pd.read_csv(path)` sees)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".feather":
        return pd.read_feather(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    raise ChecksError(f"{path}: not a tabular file Workbench can read",
                      hint=f"data checks read {', '.join(TABULAR_SUFFIXES)}")


def is_tabular(path: Path) -> bool:
    return path.suffix.lower() in TABULAR_SUFFIXES


# --- the readable format ----------------------------------------------------------------------

DATA_HELP = """\
# data: what the pipeline's input data must look like (`workbench validate` checks it).
# One entry per table: `file:` (a path relative to the project root) or `product:` (TASK/VARIABLE).
# Rules per column: type (int|float|bool|str|datetime|any), nulls (largest fraction of missing
# values allowed; 0 = none), min / max (inclusive), in (the allowed values). Delete a rule to drop
# it; every column listed is required, columns not listed are allowed.
# Captured from the data the pipeline last ran on: ranges are the observed ones widened by 10% of
# their span, allowed nulls are twice the observed fraction."""


def render_data_section(checks: Iterable[TableCheck]) -> str:
    """The `data:` section as YAML text: one line per column, so a diff shows which rule changed."""
    import yaml

    lines = [DATA_HELP, "data:"]
    checks = list(checks)
    if not checks:
        return "\n".join([*lines[:-1], "data: []"])
    for check in checks:
        lines.append(f"- {check.kind}: {_scalar(check.target)}")
        lines.append("  columns:")
        for col in check.columns:
            rules = yaml.safe_dump(col.to_dict(), default_flow_style=True, sort_keys=False,
                                   width=10_000, allow_unicode=True).strip()
            lines.append(f"    {_scalar(col.name)}: {rules}")
    return "\n".join(lines)


def _scalar(value: str) -> str:
    import yaml

    return yaml.safe_dump(value, width=10_000, allow_unicode=True).removesuffix("...\n").strip()


def parse_data_section(section: object, source: str = "checks.yaml") -> list[TableCheck]:
    """The `data:` section as TableChecks; a ChecksError naming the entry for anything malformed."""
    if section is None:
        return []
    if not isinstance(section, list):
        raise ChecksError(f"{source}: `data:` must be a list of tables (`- file: PATH` with `columns:`)",
                          hint="see the comment at the top of the file, or delete the file and re-run `workbench ci`")
    checks = []
    for i, entry in enumerate(section):
        where = f"{source}: data[{i}]"
        if not isinstance(entry, dict) or len({"file", "product"} & set(entry)) != 1:
            raise ChecksError(f"{where}: each table needs exactly one of `file:` or `product:`")
        kind = "file" if "file" in entry else "product"
        unknown = set(entry) - {kind, "columns"}
        if unknown:
            raise ChecksError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                              hint="a table has `file:` or `product:`, and `columns:`")
        columns = entry.get("columns") or {}
        if not isinstance(columns, dict):
            raise ChecksError(f"{where}: `columns:` must map column names to rules")
        check = TableCheck(kind, str(entry[kind]))
        for name, spec in columns.items():
            check.columns.append(_parse_rule(str(name), spec or {}, f"{where} ({check.target}) column {name}"))
        checks.append(check)
    return checks


def _parse_rule(name: str, spec: object, where: str) -> ColumnRule:
    if not isinstance(spec, dict):
        raise ChecksError(f"{where}: a rule is a mapping such as {{type: int, min: 0}}")
    unknown = set(spec) - set(RULE_KEYS)
    if unknown:
        raise ChecksError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                          hint=f"allowed: {', '.join(RULE_KEYS)}")
    kind = spec.get("type", "any")
    if kind not in TYPES:
        raise ChecksError(f"{where}: type {kind!r} is not one of {', '.join(TYPES)}")
    nulls = spec.get("nulls", 0)
    if isinstance(nulls, bool) or not isinstance(nulls, int | float) or not 0 <= nulls <= 1:
        raise ChecksError(f"{where}: nulls must be a fraction between 0 and 1, not {nulls!r}")
    bounds = {}
    for key in ("min", "max"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ChecksError(f"{where}: {key} must be a number, not {value!r}")
        bounds[key] = value
    values = spec.get("in")
    if values is not None and not isinstance(values, list):
        raise ChecksError(f"{where}: `in:` must be a list of allowed values")
    return ColumnRule(name, kind, float(nulls), bounds["min"], bounds["max"], values)


def load_checks(checks_file: Path) -> list[TableCheck]:
    if not checks_file.exists():
        raise ChecksError(f"{checks_file}: no such file",
                          hint="`workbench ci PIPELINE` writes it from the data of the last run")
    from workbench.quality.checks import read_checks

    return parse_data_section(read_checks(checks_file).get("data"), str(checks_file))


# --- pandera ----------------------------------------------------------------------------------


def to_schema(check: TableCheck):
    """The pandera schema a TableCheck means. Every check is named `wb:<rule>` so that the report
    can say in words which rule a failure broke."""
    import pandera.pandas as pa

    columns = {}
    for rule in check.columns:
        checks = [pa.Check(_type_check(rule.type), name="wb:type", error="wb:type", ignore_na=False)]
        if 0 < rule.nulls < 1:
            checks.append(pa.Check(_nulls_check(rule.nulls), name="wb:nulls", error="wb:nulls", ignore_na=False))
        if rule.min is not None:
            checks.append(pa.Check.ge(rule.min, name="wb:min", error="wb:min"))
        if rule.max is not None:
            checks.append(pa.Check.le(rule.max, name="wb:max", error="wb:max"))
        if rule.values is not None:
            checks.append(pa.Check.isin(rule.values, name="wb:in", error="wb:in"))
        columns[rule.name] = pa.Column(None, checks=checks, nullable=rule.nulls > 0, required=True)
    return pa.DataFrameSchema(columns, name=check.label)


def _type_check(kind: str):
    from pandas.api import types as t

    def check(s) -> bool:
        values = s.dropna()
        if kind == "any" or not len(values):
            return True
        if kind == "bool":
            return t.is_bool_dtype(s) or all(isinstance(v, bool) for v in values)
        if t.is_bool_dtype(s):
            return False
        if kind == "int":
            return t.is_integer_dtype(s) or (t.is_float_dtype(s) and bool((values % 1 == 0).all()))
        if kind == "float":
            return t.is_numeric_dtype(s)
        if kind == "datetime":
            return t.is_datetime64_any_dtype(s)
        return all(isinstance(v, str) for v in values)  # str

    return check


def _nulls_check(allowed: float):
    def check(s) -> bool:
        return float(s.isna().mean()) <= allowed if len(s) else True

    return check


def validate_frame(df, check: TableCheck) -> list[Failure]:
    """Every rule of `check` that `df` breaks (pandera's lazy validation), in words."""
    import pandera.pandas as pa

    try:
        to_schema(check).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _failures(df, check, exc.failure_cases)
    return []


def _failures(df, check: TableCheck, cases) -> list[Failure]:
    rules = {r.name: r for r in check.columns}
    out: list[Failure] = []
    wrong_type: set[str] = set()
    grouped: dict[tuple[str | None, str], list] = {}
    for row in cases.itertuples(index=False):
        column = None if _isna(row.column) else str(row.column)
        if row.check == "column_in_dataframe":
            column = str(row.failure_case)
        grouped.setdefault((column, str(row.check)), []).append(row)
    order = {"column_in_dataframe": 0, "wb:type": 1, "not_nullable": 2, "wb:nulls": 2}
    position = {r.name: i for i, r in enumerate(check.columns)}
    for (column, name), rows in sorted(grouped.items(),
                                       key=lambda kv: (position.get(kv[0][0] or "", -1), order.get(kv[0][1], 5))):
        rule = rules.get(column or "")
        series = df[column] if column is not None and column in df.columns else None
        if name == "column_in_dataframe":
            out.append(Failure(check.label, column, "missing column", "checks.yaml requires it; the data has "
                               + ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")))
        elif name == "wb:type":
            wrong_type.add(column or "")
            out.append(Failure(check.label, column, "wrong type",
                               f"expected {rule.type if rule else '?'}, got {series.dtype if series is not None else '?'}"
                               + _sample_values(series, rule)))
        elif name in ("not_nullable", "wb:nulls"):
            n = int(series.isna().sum()) if series is not None else len(rows)
            frac = n / len(series) if series is not None and len(series) else 1.0
            allowed = rule.nulls if rule else 0
            out.append(Failure(check.label, column, "nulls",
                               f"{n} of {len(df)} rows missing ({frac:.1%}); allowed {allowed:.0%}"))
        elif column in wrong_type:
            continue  # a range check on text says nothing more than "wrong type" did
        elif name in ("wb:min", "wb:max"):
            bound = rule.min if name == "wb:min" else rule.max
            side = "below min" if name == "wb:min" else "above max"
            out.append(Failure(check.label, column, "out of range",
                               f"{len(rows)} value(s) {side} {_num(bound)}{_examples(rows)}"))
        elif name == "wb:in":
            bad = sorted({_plain(r.failure_case) for r in rows}, key=str)
            out.append(Failure(check.label, column, "unknown category",
                               f"{', '.join(map(repr, bad[:5]))}{' ...' if len(bad) > 5 else ''} in {len(rows)} row(s); "
                               f"allowed: {', '.join(map(str, rule.values or []))}"))
        else:
            out.append(Failure(check.label, column, name, f"{len(rows)} failure(s){_examples(rows)}"))
    return out


def _sample_values(series, rule) -> str:
    if series is None:
        return ""
    values = series.dropna()
    if rule and rule.type == "int" and len(values):
        try:
            odd = values[(values % 1) != 0]
        except TypeError:
            odd = values
    else:
        odd = values
    return f" (e.g. {_plain(odd.iloc[0])!r} at row {odd.index[0]})" if len(odd) else ""


def _examples(rows) -> str:
    shown = [f"{_plain(r.failure_case)!r} at row {r.index}" for r in rows[:3]]
    return f" (e.g. {', '.join(shown)})" if shown else ""


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds, so that reports say 1.5, not np.float64(1.5)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and type(value).__module__ == "numpy" else value


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- tables of a pipeline ---------------------------------------------------------------------


def load_target(check: TableCheck, root: Path, pipeline: Path):
    """The DataFrame a TableCheck is about; DataMissing when it is not there (yet)."""
    if check.kind == "file":
        path = root / check.target
        if not path.is_file():
            raise DataMissing(f"{check.target}: no such file to validate",
                              hint="restore the data (`dvc pull`) or correct `file:` in checks.yaml")
        return read_table(path)
    from workbench.runtime import load
    from workbench.runtime.products import ProductError

    try:
        value = load(pipeline / "products" / check.target)
    except ProductError as exc:
        raise DataMissing(f"product {check.target} is not there to validate ({exc})",
                          hint="run the pipeline first: product checks validate what a source task made") from exc
    if not hasattr(value, "columns"):
        raise ChecksError(f"product {check.target} is a {type(value).__name__}, not a DataFrame",
                          hint="list only DataFrame products under `data:`")
    return value


def validate_pipeline(checks: list[TableCheck], root: Path, pipeline: Path) -> Report:
    """Validate every table checks.yaml lists; a table that cannot be found is a failure too."""
    report = Report()
    for check in checks:
        report.checked.append(check.label)
        try:
            df = load_target(check, root, pipeline)
        except DataMissing as exc:
            report.failures.append(Failure(check.label, None, "missing", exc.message))
            continue
        report.failures.extend(validate_frame(df, check))
    return report
