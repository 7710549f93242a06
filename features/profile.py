"""Validate a training frame and describe it: column kinds, the task, classes and hints.

`profile` is the single gate every training frame passes through. It raises `DataError`
(bad data) or `ConfigError` (bad arguments) with a one-sentence message, decides which
columns are usable features, and records why the others were dropped (constant, id-like,
leaking the target) so the user can see it in `DataProfile.hints`.
"""

from __future__ import annotations

import difflib
import logging
import re
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

from backends.contracts import TaskType
from backends.errors import ConfigError, DataError

log = logging.getLogger(__name__)

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
FEATURE_KINDS = frozenset({"numeric", "categorical", "boolean", "datetime", "text"})

# Task inference: an integer-valued numeric target is a class label only when it has few
# distinct values, both absolutely and relative to the rows (>= 5 rows per value on average).
MAX_INFERRED_CLASSES = 20
MIN_ROWS_PER_INFERRED_CLASS = 5
# A string column is a datetime when this share of a sample parses with one date format.
DATETIME_MIN_PARSED = 0.95
DATETIME_SAMPLE = 1000
# An id needs enough rows that "unique per row" means something.
ID_MIN_ROWS = 20
# String columns: "text" when values are phrases (median >= 3 words) of high cardinality.
TEXT_MIN_WORDS = 3
TEXT_MIN_UNIQUE_RATIO = 0.5
TEXT_MIN_UNIQUE = 256
# Share of distinct values above which a string column of short tokens is an id.
ID_MIN_UNIQUE_RATIO = 0.99
# "Determines the target" hints only fire for low-cardinality columns on enough rows.
LEAK_HINT_MIN_ROWS = 50
LEAK_HINT_MAX_UNIQUE_RATIO = 0.1
# "Extreme values" hints: magnitudes beyond this (sentinels like 1e308, unit errors), or this many
# times the column's 99th percentile of magnitudes, squeeze a standardized column to a constant.
EXTREME_ABS = 1e15
EXTREME_RATIO = 1e6

_ID_TOKENS = frozenset({"id", "ids", "key", "uuid", "guid", "idx", "index", "rowid", "pk"})
_TASKS = ", ".join(t.value for t in TaskType)
_ALLOWED_OBJECT_SCALARS = (str, int, float, bool, np.number, np.bool_, pd.Timestamp)


@dataclass(frozen=True)
class ColumnProfile:
    """One input column: its kind, dtype, missing and distinct counts, and why it was dropped."""

    name: str
    kind: str
    dtype: str
    n_missing: int
    n_unique: int
    drop_reason: str | None = None

    @property
    def is_feature(self) -> bool:
        return self.kind in FEATURE_KINDS and self.drop_reason is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "n_missing": int(self.n_missing),
            "n_unique": int(self.n_unique),
            "drop_reason": self.drop_reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnProfile:
        """Inverse of `to_dict`."""
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            dtype=str(d["dtype"]),
            n_missing=int(d["n_missing"]),
            n_unique=int(d["n_unique"]),
            drop_reason=d.get("drop_reason"),
        )


@dataclass(frozen=True)
class DataProfile:
    """What `profile` learned about a training frame (see module docstring)."""

    n_rows: int
    target: str
    task: TaskType
    columns: tuple[ColumnProfile, ...]
    classes: tuple[Any, ...] | None
    class_counts: dict[Any, int] | None
    missing_fraction: float
    hints: tuple[str, ...]

    @property
    def feature_columns(self) -> list[str]:
        """Names of the columns a model may use, in input order."""
        return [c.name for c in self.columns if c.is_feature]

    @property
    def dropped_columns(self) -> list[str]:
        """Names of the input columns left out (constant, id-like or leaking the target)."""
        return [c.name for c in self.columns if not c.is_feature]

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def keep_only(self, columns: Collection[str], reason: str = "not selected") -> DataProfile:
        """The same profile with every feature column outside `columns` dropped for `reason` (fold-wise selection)."""
        keep = set(columns)
        cols = tuple(c if not c.is_feature or c.name in keep else replace(c, drop_reason=reason) for c in self.columns)
        return replace(self, columns=cols)

    def column(self, name: str) -> ColumnProfile:
        """The profile of one column by name."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data; class counts are [label, count] pairs to keep label types."""
        return {
            "n_rows": int(self.n_rows),
            "target": self.target,
            "task": self.task.value,
            "columns": [c.to_dict() for c in self.columns],
            "classes": None if self.classes is None else list(self.classes),
            "class_counts": None
            if self.class_counts is None
            else [[k, int(v)] for k, v in self.class_counts.items()],
            "missing_fraction": float(self.missing_fraction),
            "hints": list(self.hints),
            "feature_columns": self.feature_columns,
            "dropped_columns": self.dropped_columns,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataProfile:
        """Inverse of `to_dict`."""
        counts = d.get("class_counts")
        classes = d.get("classes")
        return cls(
            n_rows=int(d["n_rows"]),
            target=str(d["target"]),
            task=TaskType(d["task"]),
            columns=tuple(ColumnProfile.from_dict(c) for c in d["columns"]),
            classes=None if classes is None else tuple(classes),
            class_counts=None if counts is None else {k: int(v) for k, v in counts},
            missing_fraction=float(d["missing_fraction"]),
            hints=tuple(d.get("hints", ())),
        )


# --------------------------------------------------------------------------- helpers


def plain(value: Any) -> Any:
    """A plain Python value (numpy scalars unwrapped, tuples element-wise) so labels are JSON-safe and messages read 7, not np.int64(7)."""
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def name_list(names: list[str], limit: int = 10) -> str:
    """Quoted names for an error message, at most `limit` of them plus a count of the rest."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def parse_task(task: TaskType | str | None) -> TaskType | None:
    """Normalise a task argument; an unknown value raises ConfigError listing the valid ones."""
    if task is None or isinstance(task, TaskType):
        return task
    if isinstance(task, str):
        try:
            return TaskType(task.strip().lower())
        except ValueError:
            pass
    raise ConfigError(f"Unknown task {task!r}; use one of {_TASKS}, or None to infer it from the target.")


def is_bool_series(s: pd.Series) -> bool:
    """True for bool / nullable boolean dtypes and object columns holding only bools."""
    if ptypes.is_bool_dtype(s.dtype):
        return True
    return s.dtype == object and ptypes.infer_dtype(s, skipna=True) == "boolean"


def is_numeric_series(s: pd.Series) -> bool:
    """True for real numeric dtypes (not bool) and object columns holding only numbers."""
    if ptypes.is_bool_dtype(s.dtype):
        return False
    if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_complex_dtype(s.dtype):
        return True
    return s.dtype == object and ptypes.infer_dtype(s, skipna=True) in (
        "integer",
        "floating",
        "mixed-integer-float",
        "decimal",
    )


def _unsupported_reason(s: pd.Series) -> str | None:
    """Why a column's dtype or values cannot be used, or None when they can."""
    dt = s.dtype
    if ptypes.is_complex_dtype(dt):
        return "holds complex numbers; split them into real and imaginary float columns"
    if ptypes.is_timedelta64_dtype(dt):
        return "holds timedeltas; convert it to numbers with .dt.total_seconds()"
    if isinstance(dt, (pd.PeriodDtype, pd.IntervalDtype)) or isinstance(dt, pd.SparseDtype):
        return f"has unsupported dtype {dt}; convert it to numbers or strings"
    if (
        ptypes.is_bool_dtype(dt)
        or ptypes.is_numeric_dtype(dt)
        or ptypes.is_datetime64_any_dtype(dt)
        or isinstance(dt, (pd.CategoricalDtype, pd.StringDtype))
    ):
        return None
    if dt != np.dtype(object):
        return f"has unsupported dtype {dt}; convert it to numbers or strings"
    inferred = ptypes.infer_dtype(s, skipna=True)
    if inferred == "bytes":
        return "holds bytes; decode them to str first"
    if inferred in ("mixed", "mixed-integer", "unknown-array"):
        bad = {type(v).__name__ for v in s.dropna() if not isinstance(v, _ALLOWED_OBJECT_SCALARS)}
        bad -= {"datetime", "date"}
        if bad:
            return f"holds values of type {', '.join(sorted(bad))}; store one scalar (number or string) per cell"
    return None


def str_values(s: pd.Series) -> np.ndarray:
    """Object array of a column's values as strings, missing values as NaN (levels are strings)."""
    vals = s.to_numpy(dtype=object, na_value=np.nan)
    if ptypes.infer_dtype(vals, skipna=True) in ("string", "empty"):
        return vals
    out = np.frompyfunc(str, 1, 1)(vals)
    out[pd.isna(vals)] = np.nan
    return out


def as_str(s: pd.Series) -> pd.Series:
    """String view of a column with missing values kept as NaN."""
    return pd.Series(str_values(s), index=s.index, name=s.name, dtype=object)


def _has_date_parts(fmt: str) -> bool:
    # a bare year or number is not a date; demand at least two of year/month/day
    parts = sum(any(p in fmt for p in group) for group in (("%Y", "%y"), ("%m", "%b", "%B"), ("%d",)))
    return parts >= 2


def to_datetime(s: pd.Series, fmt: str | None = None) -> pd.Series:
    """Datetimes of a column (strings parsed with `fmt`, failures NaT); tz-aware values in UTC."""
    if ptypes.is_datetime64_any_dtype(s.dtype):
        d = s
    else:
        with warnings.catch_warnings():
            # format-inference and mixed-offset warnings are expected; failures become NaT
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                d = pd.to_datetime(s, format=fmt, errors="coerce", utc=True)
            except (ValueError, TypeError, OverflowError):
                d = pd.to_datetime(s, format="mixed", errors="coerce", utc=True)
    if getattr(d.dt, "tz", None) is not None:
        # one clock for every row: offsets in the data must not shift the hour/day parts
        d = d.dt.tz_convert("UTC")
    return d


def datetime_format(s: pd.Series, sample: int = DATETIME_SAMPLE) -> str | None:
    """The date format most of a string column parses with, or None when it is not dates."""
    values = s.dropna()
    if values.empty:
        return None
    values = pd.Series(str_values(values.iloc[:sample]), dtype=object)
    tried: set[str] = set()
    for first in values.iloc[:5]:
        for dayfirst in (False, True):  # 01/02/2021 is ambiguous; let the data decide
            try:
                fmt = guess_datetime_format(first, dayfirst=dayfirst)
            except (ValueError, TypeError):
                fmt = None
            if fmt is None or fmt in tried or not _has_date_parts(fmt):
                continue
            tried.add(fmt)
            if to_datetime(values, fmt).notna().mean() >= DATETIME_MIN_PARSED:
                return fmt
    return None


def _camel_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def _looks_like_id_name(name: str) -> bool:
    tokens = _camel_tokens(name)
    return bool(tokens) and (tokens[-1] in _ID_TOKENS or name.lower() in _ID_TOKENS)


def _kind_of(name: str, s: pd.Series, n_rows: int, n_unique: int, n_missing: int) -> tuple[str, str | None]:
    """(kind, drop reason or None) of one feature column; the caller checked the dtype."""
    if n_unique == 0:
        return "constant", "all values are missing"
    if n_unique == 1 and n_missing == 0:
        return "constant", "it holds a single value"
    unique_per_row = n_unique == n_rows and n_missing == 0 and n_rows >= ID_MIN_ROWS
    if is_bool_series(s):
        return "boolean", None
    if ptypes.is_datetime64_any_dtype(s.dtype):
        return "datetime", None
    if is_numeric_series(s):
        is_int = ptypes.is_integer_dtype(s.dtype) or (
            s.dtype == object and ptypes.infer_dtype(s, skipna=True) == "integer"
        )
        if is_int and unique_per_row and (
            _looks_like_id_name(name) or s.is_monotonic_increasing or s.is_monotonic_decreasing
        ):
            return "id", "it is an integer key unique per row (id-like)"
        return "numeric", None
    if isinstance(s.dtype, pd.CategoricalDtype):
        if unique_per_row:
            return "id", "it is a category unique per row (id-like)"
        return "categorical", None
    # object / string columns (possibly mixed scalars, viewed as strings)
    if s.dtype == object and ptypes.infer_dtype(s, skipna=True) in ("datetime", "date", "datetime64"):
        return "datetime", None
    text = as_str(s).dropna()
    if datetime_format(text) is not None:
        return "datetime", None
    words = float(text.iloc[:DATETIME_SAMPLE].str.split().str.len().median())
    ratio = n_unique / max(1, len(text))
    if ratio >= ID_MIN_UNIQUE_RATIO and len(text) >= ID_MIN_ROWS:
        # nearly unique: several words per value is free text (a Name), one token is a key
        if words >= 2:
            return "text", None
        if unique_per_row or _looks_like_id_name(name):
            return "id", "it is a short token unique per row (id-like)"
    if words >= TEXT_MIN_WORDS and (ratio >= TEXT_MIN_UNIQUE_RATIO or n_unique >= TEXT_MIN_UNIQUE):
        return "text", None
    return "categorical", None


# --------------------------------------------------------------------------- target


def _check_target(frame: pd.DataFrame, target: Any) -> pd.Series:
    if not isinstance(target, str):
        raise ConfigError(f"The target must be a column name (str), got {type(target).__name__}; pass the name of the label column.")
    if target not in frame.columns:
        cols = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(target, cols, n=3, cutoff=0.6)
        close += [c for c in cols if c.lower() == target.lower() and c not in close]
        hint = f"did you mean {name_list(close)}?" if close else f"the columns are {name_list(cols)}."
        raise DataError(f"Target column {target!r} is not in the frame; {hint}")
    y = frame[target]
    reason = _unsupported_reason(y)
    if reason is None and ptypes.is_datetime64_any_dtype(y.dtype):
        reason = "holds datetimes; use a numeric or categorical label"
    if reason is not None:
        raise DataError(f"Target column {target!r} {reason}.")
    n_na = int(y.isna().sum())
    if n_na == len(y):
        raise DataError(f"Target column {target!r} is entirely missing; pick a column that holds the labels.")
    if n_na:
        raise DataError(
            f"Target column {target!r} has {n_na} missing value(s); drop those rows first, e.g. frame.dropna(subset=[{target!r}])."
        )
    if is_numeric_series(y):
        values = pd.to_numeric(y).to_numpy(dtype=np.float64)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise DataError(f"Target column {target!r} has {n_inf} infinite value(s); drop or fix those rows first.")
    return y


def infer_task(y: pd.Series, task: TaskType | str | None = None) -> TaskType:
    """The task `profile` would give labels `y` (or the forced `task`), before any feature is looked at."""
    forced = parse_task(task)
    return forced if forced is not None else _infer_task(y.dropna(), int(y.nunique()))


def _infer_task(y: pd.Series, n_unique: int) -> TaskType:
    if not is_numeric_series(y):
        return TaskType.BINARY if n_unique == 2 else TaskType.MULTICLASS
    values = pd.to_numeric(y).to_numpy(dtype=np.float64)
    if not np.all(np.mod(values, 1.0) == 0.0):
        return TaskType.REGRESSION
    if n_unique == 2:
        return TaskType.BINARY
    if n_unique <= MAX_INFERRED_CLASSES and n_unique * MIN_ROWS_PER_INFERRED_CLASS <= len(y):
        return TaskType.MULTICLASS
    return TaskType.REGRESSION


def _classes(y: pd.Series, target: str) -> tuple[tuple[Any, ...], dict[Any, int]]:
    counts = y.value_counts(sort=False, dropna=True)
    counts = counts[counts > 0]  # category dtype reports unused categories with 0
    labels = [plain(v) for v in counts.index]
    try:
        order = sorted(range(len(labels)), key=lambda i: labels[i])
    except TypeError:
        raise DataError(
            f"Target column {target!r} mixes value types (e.g. numbers and strings); cast it to one type, e.g. .astype(str)."
        ) from None
    classes = tuple(labels[i] for i in order)
    return classes, {labels[i]: int(counts.iloc[i]) for i in order}


# --------------------------------------------------------------------------- leakage


def _leak_reason(s: pd.Series, y: pd.Series, n_unique: int, n_classes: int, task: TaskType) -> str | None:
    """A reason to drop a column that is the target in disguise, or None."""
    n = len(y)
    if task.is_classification:
        if n_unique != n_classes or s.isna().any():
            return None
    else:
        y_unique = y.nunique()
        # two columns unique per row are trivially 1-to-1; only repeated values are evidence
        if n_unique != y_unique or y_unique > n // 2:
            if is_numeric_series(s) and s.notna().all():
                same = np.array_equal(pd.to_numeric(s).to_numpy(np.float64), pd.to_numeric(y).to_numpy(np.float64))
                return "it equals the target (leakage)" if same else None
            return None
    pairs = pd.DataFrame({"f": s.to_numpy(), "y": y.to_numpy()}).drop_duplicates()
    if len(pairs) == n_unique:
        return "it is a copy or 1-to-1 relabeling of the target (leakage)"
    return None


def _determines_target(s: pd.Series, y: pd.Series, n_unique: int) -> bool:
    """True when every value of a low-cardinality column maps to a single class."""
    n = len(y)
    if n < LEAK_HINT_MIN_ROWS or n_unique > LEAK_HINT_MAX_UNIQUE_RATIO * n:
        return False
    per_value = pd.DataFrame({"f": s.to_numpy(), "y": y.to_numpy()}).dropna().groupby("f", sort=False)["y"].nunique()
    return bool(len(per_value)) and bool((per_value == 1).all())


def _extremes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a float64 matrix: (count, largest magnitude) of finite values beyond EXTREME_ABS or
    EXTREME_RATIO x the column's p99 magnitude. Vectorized: synthesized views have thousands of columns."""
    mag = np.abs(values)
    mag[~np.isfinite(mag)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no quantile: it counts nothing
        p99 = np.nanquantile(mag, 0.99, axis=0)
        largest = np.nanmax(mag, axis=0)
    with np.errstate(over="ignore"):  # a p99 near 1e308 times the ratio is inf: the absolute limit applies
        limit = np.where(p99 > 0, np.minimum(EXTREME_ABS, EXTREME_RATIO * np.nan_to_num(p99)), EXTREME_ABS)
    return (mag > limit).sum(axis=0), np.nan_to_num(largest)


@dataclass(frozen=True)
class _NumericStats:
    """One numeric-dtype column summarized in a vectorized pass (as float64)."""

    n_extreme: int
    largest: float
    n_missing: int
    n_unique: int
    n_inf: int
    maps_to_target: bool  # each of its values occurs with a single target value
    equals_target: bool  # regression: every value equals the target's
    is_int: bool


def _numeric_stats(frame: pd.DataFrame, columns: list[str], y: pd.Series, cells: int = 4_000_000) -> dict[str, _NumericStats]:
    """`_extremes` of the numeric-dtype `columns`, their missing, distinct and infinite counts and whether they map
    to the target, a chunk of columns at a time: synthesized views have thousands of columns, where one pandas call
    per column per statistic cost seconds (and a float64 copy of a wide, long frame is big)."""
    dtypes = frame.dtypes
    numeric = [
        c for c in columns
        if ptypes.is_numeric_dtype(dtypes[c]) and not ptypes.is_bool_dtype(dtypes[c]) and not ptypes.is_complex_dtype(dtypes[c])
    ]
    codes = pd.factorize(y)[0]
    y_float = pd.to_numeric(y).to_numpy(np.float64) if is_numeric_series(y) else None
    chunk = max(8, cells // max(1, len(frame)))
    out: dict[str, _NumericStats] = {}
    for i in range(0, len(numeric), chunk):
        part = numeric[i : i + chunk]
        values = frame[part].to_numpy(dtype=np.float64, na_value=np.nan)
        counts, largest = _extremes(values)
        order = np.argsort(values, axis=0, kind="stable")  # NaN sorts last
        ordered = np.take_along_axis(values, order, axis=0)
        same = ordered[1:] == ordered[:-1]  # NaN == NaN is False: missing values count nowhere, as in pandas
        n_unique = (~np.isnan(ordered)).sum(axis=0) - same.sum(axis=0)
        target = codes[order]
        maps = ~(same & (target[1:] != target[:-1])).any(axis=0)
        equals = (values == y_float[:, None]).all(axis=0) if y_float is not None else np.zeros(len(part), bool)
        missing, n_inf = np.isnan(values).sum(axis=0), np.isinf(values).sum(axis=0)
        for j, c in enumerate(part):
            out[c] = _NumericStats(int(counts[j]), float(largest[j]), int(missing[j]), int(n_unique[j]), int(n_inf[j]),
                                   bool(maps[j]), bool(equals[j]), ptypes.is_integer_dtype(dtypes[c]))
    return out


def _numeric_verdict(stats: _NumericStats, n_rows: int, task: TaskType, n_classes: int, y_unique: int) -> tuple[str | None, bool] | None:
    """(drop reason or None, determines-target hint) of a numeric column from its `stats`, exactly as `_kind_of`,
    `_leak_reason` and `_determines_target` decide them; None where they need the values (constant columns,
    integer keys, integers beyond float64's exact range)."""
    if stats.n_unique == 0 or (stats.n_unique == 1 and stats.n_missing == 0):
        return None
    if stats.is_int and (stats.largest >= 2**53 or (stats.n_unique == n_rows and stats.n_missing == 0 and n_rows >= ID_MIN_ROWS)):
        return None
    if task.is_classification:
        if stats.n_unique == n_classes and stats.n_missing == 0 and stats.maps_to_target:
            return "it is a copy or 1-to-1 relabeling of the target (leakage)", False
        low = n_rows >= LEAK_HINT_MIN_ROWS and stats.n_unique <= LEAK_HINT_MAX_UNIQUE_RATIO * n_rows
        return None, low and stats.maps_to_target
    if stats.n_missing:
        return None, False
    if stats.n_unique != y_unique or y_unique > n_rows // 2:  # two columns unique per row are trivially 1-to-1
        return ("it equals the target (leakage)" if stats.equals_target else None), False
    return ("it is a copy or 1-to-1 relabeling of the target (leakage)" if stats.maps_to_target else None), False


# --------------------------------------------------------------------------- profile


def profile(frame: pd.DataFrame, target: str, task: TaskType | str | None = None) -> DataProfile:
    """Validate a training frame and describe its columns, task and classes (raises DataError)."""
    forced = parse_task(task)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"Expected a pandas DataFrame, got {type(frame).__name__}; wrap the data with pd.DataFrame(...).")
    if frame.shape[1] == 0:
        raise DataError("The frame has no columns; pass a DataFrame with feature columns and a target column.")
    if frame.shape[0] == 0:
        raise DataError("The frame has no rows; pass at least a few labelled rows.")
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"The frame has duplicate column names {name_list([str(d) for d in dup])}; rename or drop the duplicates.")
    bad_names = [c for c in frame.columns if not isinstance(c, str)]
    if bad_names:
        raise DataError(
            f"Column names must be strings but {name_list([str(c) for c in bad_names])} are not; "
            "rename them, e.g. frame.columns = frame.columns.astype(str)."
        )
    y = _check_target(frame, target)
    features = [c for c in frame.columns if c != target]
    if not features:
        raise DataError(f"The frame holds only the target column {target!r}; add at least one feature column.")
    n_rows = len(frame)

    # ---- task and classes
    y_unique = int(y.nunique())
    if y_unique < 2:
        raise DataError(
            f"Target column {target!r} has a single value ({plain(y.iloc[0])!r}); a model needs at least two classes or distinct values."
        )
    if forced is None:
        task_ = _infer_task(y, y_unique)
    else:
        task_ = forced
        if task_ is TaskType.REGRESSION and not is_numeric_series(y):
            raise ConfigError(
                f"task='regression' needs a numeric target but {target!r} has dtype {y.dtype}; convert it with pd.to_numeric or use a classification task."
            )
        if task_ is TaskType.BINARY and y_unique != 2:
            raise ConfigError(f"task='binary' needs exactly 2 classes but {target!r} has {y_unique}; use task='multiclass' or leave task unset.")
        if task_ is TaskType.MULTICLASS and y_unique < 3:
            raise ConfigError(f"task='multiclass' needs at least 3 classes but {target!r} has {y_unique}; use task='binary' or leave task unset.")
    classes: tuple[Any, ...] | None = None
    class_counts: dict[Any, int] | None = None
    if task_.is_classification:
        classes, class_counts = _classes(y, target)
        rare = [c for c, k in class_counts.items() if k < 2]
        if rare:
            raise DataError(
                f"Target column {target!r} has class(es) {name_list([str(c) for c in rare])} with fewer than 2 rows; drop or merge those rows."
            )

    # ---- feature columns
    hints: list[str] = []
    cols: list[ColumnProfile] = []
    n_missing_total = 0
    stats = _numeric_stats(frame, features, y)
    dtypes = frame.dtypes
    for name in features:
        known = stats.get(name)
        verdict = None if known is None else _numeric_verdict(known, n_rows, task_, len(classes or ()), y_unique)
        s: pd.Series | None = None
        if known is not None and verdict is not None:
            n_missing, n_unique, n_inf, kind = known.n_missing, known.n_unique, known.n_inf, "numeric"
            drop, determines = verdict
        else:
            s = frame[name]
            reason = _unsupported_reason(s)
            if reason is not None:
                raise DataError(f"Column {name!r} {reason}.")
            n_missing = int(s.isna().sum())
            n_unique = int(s.nunique(dropna=True))
            kind, drop = _kind_of(name, s, n_rows, n_unique, n_missing)
            if drop is None:
                drop = _leak_reason(s, y, n_unique, len(classes or ()), task_)
            determines = drop is None and task_.is_classification and kind in ("categorical", "boolean", "numeric") and _determines_target(s, y, n_unique)
            n_inf = int(np.isinf(s.to_numpy(dtype=np.float64, na_value=np.nan)).sum()) if ptypes.is_float_dtype(s.dtype) else 0
        if determines:
            hints.append(f"Column {name!r} alone determines the target on every row; check it is not derived from the label.")
        n_missing_total += n_missing
        if drop is not None:
            hints.append(f"Dropped column {name!r}: {drop}.")
        if kind == "numeric" and drop is None and n_inf:
            hints.append(f"Column {name!r} has {n_inf} infinite value(s); they are treated as missing.")
        if kind == "numeric" and drop is None:
            if known is not None:
                n_extreme, largest = known.n_extreme, known.largest
            else:  # numbers held as text
                assert s is not None
                counts, top = _extremes(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1))
                n_extreme, largest = int(counts[0]), float(top[0])
            if n_extreme:
                hints.append(
                    f"Column {name!r} has {n_extreme} extreme value(s) (up to {largest:.3g} in magnitude); linear models, forests and the MLP "
                    "clip it to its training 1%-99% quantiles, boosters use it as is; if they stand for 'unknown', replace them with NaN."
                )
        cols.append(ColumnProfile(name, kind, str(dtypes[name]), n_missing, n_unique, drop))

    result = DataProfile(
        n_rows=n_rows,
        target=target,
        task=task_,
        columns=tuple(cols),
        classes=classes,
        class_counts=class_counts,
        missing_fraction=n_missing_total / (n_rows * len(features)),
        hints=tuple(hints),
    )
    if not result.feature_columns:
        why = "; ".join(f"{c.name!r}: {c.drop_reason}" for c in cols[:10])
        raise DataError(f"No usable feature column is left ({why}); add informative columns.")
    for h in hints:
        log.info("%s", h)
    log.debug("profiled %d rows x %d features, task %s", n_rows, len(result.feature_columns), task_.value)
    return result
