"""Features for related tables: Featuretools Deep Feature Synthesis (DFS) fitted on train, replayed on new data.

A `RelationalSpec` names the tables, their keys and the one-to-many relationships; a
`RelationalFeatures` runs one DFS recipe on the training tables, remembers the feature
definitions and the woodwork type of every column, and computes the same columns for new
tables. State is plain data (featuretools' own JSON feature format, no pickle).
Featuretools and woodwork are imported lazily: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from backends.errors import ConfigError, DataError
from features.io import read_table
from features.profile import _unsupported_reason, datetime_format, name_list, to_datetime

FORMAT = "features.relational/1"

# featuretools' default aggregation primitives, spelled out so a featuretools upgrade cannot change a recipe
_DEFAULT_AGG = ("sum", "std", "max", "skew", "min", "mean", "count", "percent_true", "num_unique", "mode")
# entropy and percent_unique were left out: stacked at depth 2 they cost 4x the time for little signal
_WIDE_AGG = _DEFAULT_AGG + ("median", "num_true", "n_most_common", "max_min_delta")

RECIPES: dict[str, dict[str, Any]] = {
    # the target table's own columns, nothing synthesized: the search's baseline among the recipes
    "dfs-d0": {"max_depth": 0, "agg_primitives": [], "trans_primitives": []},
    "dfs-d1": {"max_depth": 1, "agg_primitives": list(_DEFAULT_AGG), "trans_primitives": []},
    "dfs-d2": {"max_depth": 2, "agg_primitives": list(_DEFAULT_AGG), "trans_primitives": []},
    "dfs-d2-wide": {"max_depth": 2, "agg_primitives": list(_WIDE_AGG), "trans_primitives": []},
}

MIN_FEATURES = 20
MAX_FEATURES = 2000
_MADE_INDEX = "__row__"
_KEY_LOGICAL_TYPES = {"integer": "IntegerNullable", "float": "Double", "string": "Unknown", "datetime": "Datetime"}


class Relationship(NamedTuple):
    """One-to-many link: a parent row (parent_table.parent_key) owns many child rows (child_table.child_key)."""

    parent_table: str
    parent_key: str
    child_table: str
    child_key: str


@dataclass(frozen=True)
class TableSpec:
    """Keys and typing hints of one table."""

    index: str | None  # primary key; None -> a row number is made
    time_index: str | None = None
    categorical: tuple[str, ...] = ()  # typed Categorical even when they look numeric


@dataclass(frozen=True)
class RelationalSpec:
    """The tables, their keys and relationships, and which table/column is predicted."""

    target_table: str
    target: str | None
    tables: dict[str, TableSpec]
    relationships: tuple[Relationship, ...]

    @classmethod
    def build(
        cls,
        tables: Mapping[str, pd.DataFrame],
        target_table: str,
        target: str | None,
        relationships: Sequence[Relationship | tuple | Mapping],
        index: Mapping[str, str] | None = None,
        time_index: Mapping[str, str] | None = None,
        categorical: Mapping[str, Sequence[str]] | None = None,
    ) -> RelationalSpec:
        """A spec for `tables` (a table's default index: its parent_key as a parent), validated against them."""
        spec = cls._assemble(tables, target_table, target, relationships, index, time_index, categorical)
        spec.validate(tables, training=target is not None)
        return spec

    @classmethod
    def _assemble(
        cls,
        tables: Mapping[str, Any],
        target_table: str,
        target: str | None,
        relationships: Sequence[Relationship | tuple | Mapping],
        index: Mapping[str, str] | None,
        time_index: Mapping[str, str] | None,
        categorical: Mapping[str, Sequence[str]] | None,
    ) -> RelationalSpec:
        if not isinstance(tables, Mapping) or not tables:
            raise ConfigError("The tables must be a non-empty mapping of table name -> DataFrame; pass e.g. {'customers': df1, 'orders': df2}.")
        if isinstance(relationships, (str, bytes, Mapping)) or not isinstance(relationships, Sequence):
            raise ConfigError("The relationships must be a list of (parent_table, parent_key, child_table, child_key) entries; wrap a single one in a list.")
        rels = tuple(_relationship(r) for r in relationships)
        known = [str(n) for n in tables]
        for what, mapping in (("index", index), ("time_index", time_index), ("categorical", categorical)):
            unknown = [n for n in (mapping or {}) if n not in tables]
            if unknown:
                raise ConfigError(f"The {what} mapping names unknown table(s) {name_list(unknown)}; use one of {name_list(known)}.")
        indexes: dict[str, str | None] = {}
        for r in rels:
            indexes.setdefault(r.parent_table, r.parent_key)  # featuretools links children to the parent's index
        indexes.update(index or {})
        specs = {}
        for name in tables:
            cats = (categorical or {}).get(name, ())
            if isinstance(cats, str):
                cats = (cats,)
            specs[name] = TableSpec(index=indexes.get(name), time_index=(time_index or {}).get(name), categorical=tuple(cats))
        return cls(target_table=target_table, target=target, tables=specs, relationships=rels)

    def validate(self, tables: Mapping[str, pd.DataFrame], *, training: bool) -> None:
        """Raise ConfigError for an inconsistent spec and DataError when `tables` do not fit it."""
        self._check_structure()
        if not isinstance(tables, Mapping):
            raise DataError("The tables must be a mapping of table name -> DataFrame; pass e.g. {'customers': df1, 'orders': df2}.")
        missing = [n for n in self.tables if n not in tables]
        if missing:
            raise DataError(f"Table(s) {name_list(missing)} of the spec are missing from the data; pass all of {name_list(list(self.tables))}.")
        for name, ts in self.tables.items():
            self._check_table(name, tables[name], ts, training)
        target_frame = tables[self.target_table]
        for r in self.relationships:
            parent, child = tables[r.parent_table], tables[r.child_table]
            kind_p, kind_c = _key_kind(parent[r.parent_key]), _key_kind(child[r.child_key])
            for table, key, kind, s in ((r.parent_table, r.parent_key, kind_p, parent[r.parent_key]), (r.child_table, r.child_key, kind_c, child[r.child_key])):
                if kind == "other":
                    raise DataError(f"Key column {table}.{key} has dtype {s.dtype} holding neither numbers, strings nor dates; cast it to int or str.")
            if "empty" not in (kind_p, kind_c) and _kind_group(kind_p) != _kind_group(kind_c):
                raise DataError(
                    f"Key type mismatch: parent key {r.parent_table}.{r.parent_key} has dtype {parent[r.parent_key].dtype} ({kind_p}) "
                    f"but child key {r.child_table}.{r.child_key} has dtype {child[r.child_key].dtype} ({kind_c}); cast both to one type, "
                    f"e.g. frame[{r.child_key!r}] = frame[{r.child_key!r}].astype(str) on both sides."
                )
            kind = _component_kind([parent[r.parent_key], child[r.child_key]])
            parent_keys = pd.Index(_cast_key(parent[r.parent_key], kind).dropna().unique())
            child_keys = _cast_key(child[r.child_key], kind).dropna()
            matched = child_keys.isin(parent_keys)
            if r.parent_table != self.target_table:
                if not matched.all():
                    orphans = child_keys[~matched]
                    raise DataError(
                        f"{len(orphans)} row(s) of table {r.child_table!r} have a {r.child_key!r} matching no {r.parent_table}.{r.parent_key} "
                        f"(e.g. {orphans.iloc[0]!r}); add the missing parent rows or drop those child rows."
                    )
            elif training and len(child_keys) and not matched.any():
                # the child tables hold rows of train and test entities alike, so unmatched rows are normal, but none at all is not
                raise DataError(
                    f"No row of table {r.child_table!r} matches a row of the target table {self.target_table!r} "
                    f"through {r.child_key!r} -> {r.parent_key!r} (e.g. {child_keys.iloc[0]!r} vs {target_frame[r.parent_key].iloc[0]!r}); "
                    "make both key columns hold the same ids."
                )

    def _check_structure(self) -> None:
        known = list(self.tables)
        if self.target_table not in self.tables:
            raise ConfigError(f"The target table {self.target_table!r} is not among the tables; use one of {name_list(known)}.")
        seen: set[tuple[str, str]] = set()
        for r in self.relationships:
            for table in (r.parent_table, r.child_table):
                if table not in self.tables:
                    raise ConfigError(f"Relationship {tuple(r)} names unknown table {table!r}; use one of {name_list(known)}.")
            if r.parent_table == r.child_table:
                raise ConfigError(f"Relationship {tuple(r)} links table {r.parent_table!r} to itself; split the table or drop the relationship.")
            index = self.tables[r.parent_table].index
            if index != r.parent_key:
                raise ConfigError(
                    f"Relationship {tuple(r)} uses parent key {r.parent_key!r} but table {r.parent_table!r} has index {index!r}; "
                    "a parent key must be its table's primary key."
                )
            if (r.child_table, r.child_key) in seen:
                raise ConfigError(f"Column {r.child_table}.{r.child_key} is the child key of two relationships; keep one of them.")
            seen.add((r.child_table, r.child_key))

    def _check_table(self, name: str, frame: Any, ts: TableSpec, training: bool) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"Table {name!r} is a {type(frame).__name__}, not a pandas DataFrame; pass a DataFrame.")
        if name == self.target_table and frame.empty:
            raise DataError(f"The target table {name!r} has no rows; pass at least one row.")
        if frame.columns.has_duplicates:
            dup = frame.columns[frame.columns.duplicated()].unique().tolist()
            raise DataError(f"Table {name!r} has duplicate column names {name_list([str(c) for c in dup])}; rename them.")
        keys = [("index", ts.index), ("time_index", ts.time_index)] + [("child_key", r.child_key) for r in self.relationships if r.child_table == name]
        keys += [("categorical column", c) for c in ts.categorical if not (name == self.target_table and c == self.target)]
        for role, col in keys:
            if col is not None and col not in frame.columns:
                raise DataError(f"Table {name!r} has no {role} column {col!r}; add it or fix the spec (columns: {name_list([str(c) for c in frame.columns])}).")
        if ts.index is not None:
            ids = frame[ts.index]
            if ids.isna().any():
                raise DataError(f"The index {name}.{ts.index} has {int(ids.isna().sum())} missing value(s); every row needs a primary key.")
            if ids.duplicated().any():
                raise DataError(f"The index {name}.{ts.index} has duplicate values (e.g. {ids[ids.duplicated()].iloc[0]!r}); make the primary key unique.")
            if _key_kind(ids) == "other":
                raise DataError(f"The index {name}.{ts.index} has dtype {ids.dtype} holding neither numbers, strings nor dates; cast it to int or str.")
        if name == self.target_table and self.target is not None:
            if self.target in {ts.index, ts.time_index} or any(r.child_table == name and r.child_key == self.target for r in self.relationships):
                raise ConfigError(f"The target {self.target!r} is also a key column of table {name!r}; predict a non-key column.")
            if training and self.target not in frame.columns:
                raise DataError(f"The target column {self.target!r} is missing from the target table {name!r}; add it to the training rows.")
        for col in frame.columns:
            if name == self.target_table and col == self.target:
                continue
            reason = _unsupported_reason(frame[col])
            if reason is not None:
                raise DataError(f"Column {name}.{col} {reason}.")

    def fit_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `automl.fit` (besides `tables=`) that describe these tables, e.g. after `read_schema`."""
        return {
            "target_table": self.target_table,
            "target": self.target,
            "relationships": list(self.relationships),
            "index": {n: t.index for n, t in self.tables.items() if t.index},
            "time_index": {n: t.time_index for n, t in self.tables.items() if t.time_index},
            "categorical": {n: list(t.categorical) for n, t in self.tables.items() if t.categorical},
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data."""
        return {
            "target_table": self.target_table,
            "target": self.target,
            "tables": {n: {"index": t.index, "time_index": t.time_index, "categorical": list(t.categorical)} for n, t in self.tables.items()},
            "relationships": [r._asdict() for r in self.relationships],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RelationalSpec:
        """The spec back from `to_dict` output; ConfigError when malformed."""
        try:
            tables = {
                str(n): TableSpec(index=t["index"], time_index=t.get("time_index"), categorical=tuple(t.get("categorical", ())))
                for n, t in d["tables"].items()
            }
            spec = cls(d["target_table"], d.get("target"), tables, tuple(_relationship(r) for r in d["relationships"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"Malformed relational spec ({type(exc).__name__}: {exc}); pass the output of RelationalSpec.to_dict().") from None
        spec._check_structure()
        return spec


def _relationship(r: Any) -> Relationship:
    fields = Relationship._fields
    if isinstance(r, Mapping):
        missing = [f for f in fields if f not in r]
        if missing:
            raise ConfigError(f"Relationship {dict(r)!r} lacks {name_list(missing)}; give parent_table, parent_key, child_table and child_key.")
        r = tuple(r[f] for f in fields)
    if isinstance(r, (str, bytes)) or not isinstance(r, Sequence) or len(r) != 4 or not all(isinstance(v, str) for v in r):
        raise ConfigError(f"Malformed relationship {r!r}; give four names (parent_table, parent_key, child_table, child_key).")
    return Relationship(*r)


# ---- keys: one comparable type per parent index and the child keys pointing at it


def _plain(s: pd.Series) -> pd.Series:
    # category values behave like their categories; missing as NaN
    return s.astype(object).where(s.notna(), np.nan) if isinstance(s.dtype, pd.CategoricalDtype) else s


def _key_kind(s: pd.Series) -> str:
    """integer, float, string, datetime, empty (all missing) or other."""
    s = _plain(s)
    dt = s.dtype
    if ptypes.is_bool_dtype(dt):
        return "other"
    if ptypes.is_integer_dtype(dt):
        return "integer"
    if ptypes.is_float_dtype(dt):
        return "empty" if s.isna().all() else "float"
    if ptypes.is_datetime64_any_dtype(dt):
        return "datetime"
    if isinstance(dt, pd.StringDtype):
        return "string"
    if dt == np.dtype(object):
        inferred = ptypes.infer_dtype(s, skipna=True)
        return {"string": "string", "empty": "empty", "integer": "integer", "floating": "float", "mixed-integer-float": "float"}.get(inferred, "other")
    return "other"


def _kind_group(kind: str) -> str:
    return "number" if kind in ("integer", "float") else kind


def _integral(s: pd.Series) -> bool:
    values = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(np.all(np.mod(values, 1) == 0))


def _component_kind(columns: Sequence[pd.Series]) -> str:
    """The one key type for a parent index and its child keys (validated compatible before)."""
    kinds = {_key_kind(s) for s in columns} - {"empty"}
    if not kinds:
        return "float"
    if kinds <= {"integer", "float"}:
        # ints read as floats because of missing values stay ints: 3.0 must match 3
        return "integer" if all(_integral(_plain(s)) for s in columns) else "float"
    return kinds.pop()


def _cast_key(s: pd.Series, kind: str) -> pd.Series:
    s = _plain(s)
    if kind == "integer":
        return pd.to_numeric(s).astype("Int64")
    if kind == "float":
        return pd.to_numeric(s).astype("float64")
    if kind == "datetime":
        return pd.to_datetime(s)
    return s.astype("string")


# ---- building the EntitySet


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the FutureWarning/UserWarning chatter of featuretools, woodwork and pandas."""
    with warnings.catch_warnings():
        for category in (FutureWarning, UserWarning, DeprecationWarning, RuntimeWarning, pd.errors.PerformanceWarning):
            warnings.simplefilter("ignore", category)
        yield


def _made_index_name(frame: pd.DataFrame) -> str:
    name = _MADE_INDEX
    while name in frame.columns:
        name += "_"
    return name


def _time_column(table: str, col: str, s: pd.Series) -> pd.Series:
    """A time index as datetimes (strings parsed, naive UTC) or numbers, as featuretools needs."""
    if ptypes.is_datetime64_any_dtype(s.dtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
    if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
        return s
    fmt = datetime_format(s)
    parsed = to_datetime(s, fmt) if fmt is not None else None
    if parsed is None or (parsed.isna() & s.notna()).any():
        raise DataError(f"The time index {table}.{col} holds values that are neither dates nor numbers (e.g. {s.dropna().iloc[0]!r}); pass datetimes.")
    return parsed.dt.tz_localize(None) if getattr(parsed.dt, "tz", None) is not None else parsed


def _prepare(
    spec: RelationalSpec, tables: Mapping[str, pd.DataFrame], made_index: Mapping[str, str] | None, columns: Mapping[str, Mapping[str, str]] | None
) -> tuple[dict[str, pd.DataFrame], dict[str, str], dict[str, dict[str, str]]]:
    """Copies of the tables ready for featuretools: target dropped, made indexes added, keys and time indexes cast.

    Returns the frames, the made index column per table, and the key logical types per table.
    `columns` (the fitted logical types) restricts each table to the columns seen at fit time.
    """
    frames: dict[str, pd.DataFrame] = {}
    made: dict[str, str] = {}
    for name, ts in spec.tables.items():
        frame = tables[name]
        if name == spec.target_table and spec.target is not None and spec.target in frame.columns:
            frame = frame.drop(columns=[spec.target])  # never a feature, never typed: no leakage
        frame = frame.copy()  # woodwork converts in place
        if ts.index is None:
            made[name] = made_index[name] if made_index is not None else _made_index_name(frame)
            frame[made[name]] = np.arange(len(frame), dtype="int64")
        if columns is not None:
            wanted = list(columns[name])
            missing = [c for c in wanted if c not in frame.columns]
            if missing:
                raise DataError(f"Table {name!r} lacks column(s) {name_list(missing)} it had at training; pass the same columns.")
            frame = frame[wanted]
        if ts.time_index is not None:
            frame[ts.time_index] = _time_column(name, ts.time_index, frame[ts.time_index])
        frames[name] = frame
    key_types: dict[str, dict[str, str]] = {name: {} for name in frames}
    for name, ts in spec.tables.items():
        if ts.index is None:
            key_types[name][made[name]] = "Integer"
            continue
        members = [(name, ts.index)] + [(r.child_table, r.child_key) for r in spec.relationships if r.parent_table == name]
        kind = _component_kind([frames[t][c] for t, c in members])
        for t, c in members:
            frames[t][c] = _cast_key(frames[t][c], kind)
            key_types[t][c] = _KEY_LOGICAL_TYPES[kind]
    return frames, made, key_types


def _entityset(
    spec: RelationalSpec, frames: Mapping[str, pd.DataFrame], made: Mapping[str, str], logical_types: Mapping[str, Mapping[str, str]]
) -> Any:
    """The EntitySet of the prepared frames with the given logical types (others inferred by woodwork)."""
    import featuretools as ft
    from woodwork.exceptions import TypeConversionError

    es = ft.EntitySet(id="relational")
    for name, frame in frames.items():
        ts = spec.tables[name]
        try:
            es.add_dataframe(
                dataframe_name=name,
                dataframe=frame,
                index=ts.index if ts.index is not None else made[name],
                time_index=ts.time_index,
                logical_types=dict(logical_types[name]),
            )
        except (TypeConversionError, TypeError, ValueError) as exc:
            detail = str(exc).split(". ")[0].rstrip(".")
            raise DataError(f"Table {name!r} cannot be typed as at training ({detail}); pass the same kinds of values as in training.") from None
    for r in spec.relationships:
        es.add_relationship(r.parent_table, r.parent_key, r.child_table, r.child_key)
    return es


def _usable(spec: RelationalSpec, defs: list[Any]) -> list[Any]:
    """The definitions that mean the same at fit and predict time.

    Drops the target table's foreign keys as raw features (ids, not measurements; their parent's
    features carry the information) and every aggregation over the target table itself (reached
    back through a parent): the target table holds only the rows of one batch, the training rows at
    fit time and the rows to predict later, so such a count or sum would change meaning.
    """
    import featuretools as ft

    target = spec.target_table
    foreign_keys = {r.child_key for r in spec.relationships if r.child_table == target}

    def over_target(feature: Any) -> bool:
        for f in (feature, *feature.get_dependencies(deep=True)):
            if isinstance(f, ft.AggregationFeature) and any(
                not forward and rel.child_dataframe.ww.name == target for forward, rel in f.relationship_path
            ):
                return True
        return False

    return [
        d
        for d in defs
        if not (isinstance(d, ft.IdentityFeature) and d.dataframe_name == target and d.get_name() in foreign_keys) and not over_target(d)
    ]


def _recorded_types(es: Any) -> dict[str, dict[str, str]]:
    return {name: {str(c): str(lt) for c, lt in df.ww.logical_types.items()} for name, df in es.dataframe_dict.items()}


def _calculate(spec: RelationalSpec, defs: list[Any], es: Any, ids: pd.Series) -> pd.DataFrame:
    """The feature matrix of `defs`, one row per target row in input order (`ids`), RangeIndex, plain dtypes."""
    import featuretools as ft

    target = es[spec.target_table]
    cutoff = None
    time_index = spec.tables[spec.target_table].time_index
    if time_index is not None:
        # each entity sees only child rows up to its own time: the features of a row never peek into its future
        if target[time_index].isna().any():
            raise DataError(f"The time index {spec.target_table}.{time_index} has missing values; give every target row a time.")
        cutoff = pd.DataFrame({target.ww.index: target[target.ww.index].to_numpy(), "time": target[time_index].to_numpy()})
    fm = ft.calculate_feature_matrix(defs, entityset=es, cutoff_time=cutoff, verbose=False)
    pos = fm.index.get_indexer(pd.Index(ids))
    if (pos < 0).any() or len(fm) != len(ids):
        raise DataError(f"Featuretools returned {len(fm)} rows for {len(ids)} target rows; check the target table's index for odd values.")
    fm = fm.iloc[pos].reset_index(drop=True)  # featuretools orders rows by index / cutoff time
    return pd.DataFrame({c: _plain_column(fm[c]) for c in fm.columns}, index=pd.RangeIndex(len(fm)))


def _plain_column(s: pd.Series) -> pd.Series:
    # numbers and booleans as float64 whatever the nulls of this batch, so fit and predict agree on dtypes
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype) or ptypes.is_datetime64_any_dtype(dt):
        return s
    if ptypes.is_bool_dtype(dt) or (ptypes.is_numeric_dtype(dt) and not ptypes.is_complex_dtype(dt)):
        return s.astype("float64")
    return s.astype(object).where(s.notna(), np.nan)


def _available_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 4 << 30  # no way to ask (Windows without psutil): assume a small machine


def max_features_for(n_rows: int, memory_bytes: int | None = None) -> int:
    """Feature-count cap keeping the float64 matrix of n_rows x cap under `memory_bytes` (default 1/8 of free RAM), in [20, 2000]."""
    budget = _available_memory() // 8 if memory_bytes is None else int(memory_bytes)
    cap = budget // (max(int(n_rows), 1) * 8)
    return int(min(MAX_FEATURES, max(MIN_FEATURES, cap)))


class RelationalFeatures:
    """A DFS recipe fitted on training tables; plain-data state; computes the same features for new tables."""

    input_kind = "relational"  # what `transform` takes: a dict of tables (see features.synthesis.Synthesizer)

    def __init__(self, spec: RelationalSpec, recipe: str, max_features: int | None = None) -> None:
        if not isinstance(spec, RelationalSpec):
            raise ConfigError(f"spec must be a RelationalSpec, not {type(spec).__name__}; build one with RelationalSpec.build(...).")
        if recipe not in RECIPES:
            raise ConfigError(f"Unknown relational recipe {recipe!r}; use one of {name_list(list(RECIPES))}.")
        if max_features is not None and (isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1):
            raise ConfigError(f"max_features must be a positive int or None, not {max_features!r}.")
        self.spec = spec
        self.recipe = recipe
        self.max_features = max_features
        self._defs: list[Any] | None = None
        self._columns: list[str] = []
        self._logical_types: dict[str, dict[str, str]] = {}
        self._made_index: dict[str, str] = {}

    @property
    def columns(self) -> list[str]:
        """Output column names in order (empty before fitting)."""
        return list(self._columns)

    def fit_transform(self, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Run DFS on the training tables; the feature matrix, one row per target row in input order."""
        import featuretools as ft

        self.spec.validate(tables, training=True)
        settings = RECIPES[self.recipe]
        with _quiet():
            frames, made, key_types = _prepare(self.spec, tables, None, None)
            ids = frames[self.spec.target_table][self.spec.tables[self.spec.target_table].index or made[self.spec.target_table]].copy()
            overrides = {
                name: {**{c: "Categorical" for c in self.spec.tables[name].categorical if c in frames[name].columns}, **key_types[name]} for name in frames
            }
            es = _entityset(self.spec, frames, made, overrides)
            cap = self.max_features or max_features_for(len(ids))
            defs = ft.dfs(
                entityset=es,
                target_dataframe_name=self.spec.target_table,
                agg_primitives=list(settings["agg_primitives"]),
                trans_primitives=list(settings["trans_primitives"]),
                max_depth=settings["max_depth"],
                max_features=cap,
                features_only=True,
            )
            defs = _usable(self.spec, defs)
            if not defs:
                raise DataError(f"Feature recipe {self.recipe} makes no features for table {self.spec.target_table!r}: it has no "
                                "usable columns within that recipe's depth; use a deeper recipe or add columns.")
            fm = _calculate(self.spec, defs, es, ids)
        # a column that is constant (or all missing) on training rows cannot help a model
        kept = [str(c) for c in fm.columns if fm[c].nunique(dropna=False) > 1][:cap]
        if not kept:
            raise DataError(f"Every feature DFS made for table {self.spec.target_table!r} is constant on these {len(fm)} rows; pass more varied training rows.")
        wanted = set(kept)
        self._defs = [d for d in defs if wanted.intersection(d.get_feature_names())]
        self._columns = kept
        self._logical_types = _recorded_types(es)
        self._made_index = made
        return fm[kept]

    def transform(self, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The fitted features for new tables (a target column is ignored); rows in input order, RangeIndex."""
        if self._defs is None:
            raise ConfigError("This RelationalFeatures is not fitted; call fit_transform on training tables first.")
        self.spec.validate(tables, training=False)
        with _quiet():
            frames, made, _ = _prepare(self.spec, tables, self._made_index, self._logical_types)
            ids = frames[self.spec.target_table][self.spec.tables[self.spec.target_table].index or made[self.spec.target_table]].copy()
            es = _entityset(self.spec, frames, made, self._logical_types)
            fm = _calculate(self.spec, self._defs, es, ids)
        return fm[self._columns]

    def restrict(self, columns: Sequence[str]) -> RelationalFeatures:
        """A copy computing only `columns` (in that order), e.g. the features a model uses."""
        if self._defs is None:
            raise ConfigError("This RelationalFeatures is not fitted; call fit_transform before restrict.")
        columns = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in columns if c not in self._columns]
        if unknown or not columns or len(set(columns)) != len(columns):
            raise ConfigError(f"restrict needs distinct fitted column names (unknown: {name_list(unknown) or 'none'}); pick from .columns.")
        wanted = set(columns)
        out = RelationalFeatures(self.spec, self.recipe, self.max_features)
        # a multi-output feature (N_MOST_COMMON) stays whole when any of its columns is wanted
        out._defs = [d for d in self._defs if wanted.intersection(d.get_feature_names())]
        out._columns = columns
        out._logical_types = {t: dict(v) for t, v in self._logical_types.items()}
        out._made_index = dict(self._made_index)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: spec, featuretools' JSON feature definitions, output columns and column types."""
        if self._defs is None:
            raise ConfigError("This RelationalFeatures is not fitted; call fit_transform before to_dict.")
        import featuretools as ft

        with _quiet():
            features = json.loads(ft.save_features(self._defs))
        return {
            "kind": "dfs",
            "format": FORMAT,
            "recipe": self.recipe,
            "max_features": self.max_features,
            "spec": self.spec.to_dict(),
            "features": features,
            "columns": list(self._columns),
            "logical_types": {t: dict(v) for t, v in self._logical_types.items()},
            "made_index": dict(self._made_index),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RelationalFeatures:
        """The fitted features back from `to_dict` output; ConfigError when malformed or of another format."""
        if not isinstance(d, Mapping) or d.get("kind") != "dfs" or d.get("format") != FORMAT:
            found = (d.get("kind"), d.get("format")) if isinstance(d, Mapping) else type(d).__name__
            raise ConfigError(f"Not a saved RelationalFeatures (kind/format {found!r}); expected kind 'dfs' and format {FORMAT!r}.")
        try:
            out = cls(RelationalSpec.from_dict(d["spec"]), d["recipe"], d.get("max_features"))
            columns = [str(c) for c in d["columns"]]
            logical_types = {str(t): {str(c): str(lt) for c, lt in v.items()} for t, v in d["logical_types"].items()}
            made = {str(t): str(c) for t, c in (d.get("made_index") or {}).items()}
            features = d["features"]
            # always hand featuretools valid JSON text: a string it cannot parse it would open as a path or URL
            features = json.loads(features) if isinstance(features, str) else dict(features)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"Malformed saved RelationalFeatures ({type(exc).__name__}: {exc}); pass the output of to_dict().") from None
        import featuretools as ft

        try:
            with _quiet():
                defs = ft.load_features(json.dumps(features))
        except Exception as exc:  # featuretools raises bare KeyError/RuntimeError/RuntimeWarning on bad definitions
            raise ConfigError(f"The saved DFS feature definitions cannot be read ({type(exc).__name__}: {exc}); save them again with to_dict().") from None
        produced = {n for f in defs for n in f.get_feature_names()}
        missing_cols = [c for c in columns if c not in produced]
        missing_tables = [t for t in out.spec.tables if t not in logical_types]
        if missing_cols or missing_tables or not columns:
            raise ConfigError(
                f"The saved RelationalFeatures is inconsistent (columns {name_list(missing_cols)} without a definition, "
                f"tables {name_list(missing_tables)} without types); save it again with to_dict()."
            )
        out._defs, out._columns, out._logical_types, out._made_index = defs, columns, logical_types, made
        return out


def read_schema(path: str | Path, split: str = "train") -> tuple[dict[str, pd.DataFrame], RelationalSpec]:
    """The tables and spec of a `<name>.schema.json` (target rows from files[split]), validated."""
    path = Path(path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"Cannot read the relational schema {path} ({exc.strerror or exc}); check the path.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"The relational schema {path} is not valid JSON ({exc}); fix the file.") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("tables"), dict) or not isinstance(schema.get("target_table"), str):
        raise DataError(f"The relational schema {path} lacks a 'target_table' name or a 'tables' object; see shared/datasets/README.md.")
    target_table = schema["target_table"]
    target = schema.get("target")
    folder = path.parent
    tables: dict[str, pd.DataFrame] = {}
    index: dict[str, str] = {}
    time_index: dict[str, str] = {}
    for name, entry in schema["tables"].items():
        if not isinstance(entry, dict):
            raise DataError(f"The relational schema {path} describes table {name!r} as {entry!r}, not an object; fix the file.")
        if name == target_table and isinstance(entry.get("files"), dict):
            files = entry["files"]
            if split not in files:
                raise ConfigError(f"Split {split!r} is not in the schema {path}; use one of {name_list(sorted(files))}.")
            file = files[split]
        else:
            file = entry.get("file")
        if not isinstance(file, str):
            raise DataError(f"The relational schema {path} gives no file for table {name!r}; add a 'file' entry.")
        tables[name] = read_table(folder / file)
        if entry.get("index") is not None:
            index[name] = entry["index"]
        if entry.get("time_index") is not None:
            time_index[name] = entry["time_index"]
    categorical = schema.get("categorical_columns") or {}
    if not isinstance(categorical, dict):
        raise DataError(f"The relational schema {path} has 'categorical_columns' that is not an object of table -> columns; fix the file.")
    # the spec names the target at every split; a test file may carry it too (transform ignores it)
    spec = RelationalSpec._assemble(tables, target_table, target, schema.get("relationships") or [], index, time_index, categorical)
    spec.validate(tables, training=split == "train")
    return tables, spec

