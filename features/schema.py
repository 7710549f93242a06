"""The input schema a trained model expects, and the predict-time check against it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from backends.errors import ConfigError, DataError
from features.profile import FEATURE_KINDS, DataProfile, name_list

_BOOL_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True, "1.0": True,
               "false": False, "f": False, "no": False, "n": False, "0": False, "0.0": False}  # fmt: skip


_MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "null", "none"})


def input_schema(profile: DataProfile) -> list[dict[str, str]]:
    """One {name, kind, dtype} entry per feature column the model needs, in training order."""
    return [{"name": c.name, "kind": c.kind, "dtype": c.dtype} for c in profile.columns if c.is_feature]


def _check_schema(schema: Any) -> list[dict[str, str]]:
    if not isinstance(schema, Sequence) or isinstance(schema, (str, bytes)) or not schema:
        raise ConfigError("The input schema must be a non-empty list of {name, kind, dtype} entries; build it with input_schema(profile).")
    for entry in schema:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or entry.get("kind") not in FEATURE_KINDS:
            raise ConfigError(f"Malformed input schema entry {entry!r}; each entry needs a str 'name' and a feature 'kind'.")
    return list(schema)  # type: ignore[arg-type]


def _coerce_numeric(name: str, s: pd.Series) -> pd.Series:
    if ptypes.is_bool_dtype(s.dtype) or (ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_complex_dtype(s.dtype)):
        return s
    if ptypes.is_datetime64_any_dtype(s.dtype) or ptypes.is_timedelta64_dtype(s.dtype) or ptypes.is_complex_dtype(s.dtype):
        raise DataError(f"Column {name!r} must hold numbers but has dtype {s.dtype}; pass plain numeric values.")
    values = s.astype(object).where(s.notna(), np.nan)
    # blank strings and the usual null spellings are how CSV/JSON inputs say "missing"
    blank = np.fromiter(
        (isinstance(v, str) and v.strip().lower() in _MISSING_WORDS for v in values.to_numpy()),
        dtype=bool,
        count=len(values),
    )
    values = values.where(~blank, np.nan)
    coerced = pd.to_numeric(values, errors="coerce")
    bad = coerced.isna() & values.notna()
    if bad.any():
        n_bad = int(bad.sum())
        more = f" among {n_bad} unparseable values" if n_bad > 1 else ""
        raise DataError(f"Column {name!r} must hold numbers but has {values[bad].iloc[0]!r}{more}; fix or blank out such values.")
    return coerced


def _coerce_boolean(name: str, s: pd.Series) -> pd.Series:
    if ptypes.is_bool_dtype(s.dtype):
        return s
    if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_complex_dtype(s.dtype):
        bad = s.notna() & ~s.isin([0, 1])
        mapped = s.map({0: False, 1: True}, na_action="ignore")
    else:
        text = s.astype(object).where(s.notna(), np.nan).map(lambda v: str(v).strip().lower(), na_action="ignore")
        text = text.where(~text.isin(_MISSING_WORDS), np.nan)
        mapped = text.map(_BOOL_WORDS, na_action="ignore")
        bad = mapped.isna() & text.notna()
    if bad.any():
        example = s[bad].iloc[0]
        raise DataError(f"Column {name!r} must hold true/false values but has {example!r}; use True/False, yes/no or 1/0.")
    return mapped.astype("boolean")


def conform(frame: pd.DataFrame, schema: Sequence[Mapping[str, str]], target: str | None = None) -> pd.DataFrame:
    """Validate a predict-time frame against `schema` and return its required columns in order."""
    entries = _check_schema(schema)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"Expected a pandas DataFrame, got {type(frame).__name__}; wrap the rows with pd.DataFrame(...).")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError("The frame to predict on is empty; pass at least one row with the model's input columns.")
    required = [e["name"] for e in entries if e["name"] != target]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"The frame lacks required column(s) {name_list(missing)}; add them (use NaN where a value is unknown).")
    dup = sorted({c for c in frame.columns[frame.columns.duplicated()] if c in set(required)})
    if dup:
        raise DataError(f"The frame has duplicate column(s) {name_list(dup)}; keep one column per name.")
    out = frame.loc[:, required].copy(deep=False)
    for e in entries:
        name, kind = e["name"], e["kind"]
        if name == target:
            continue
        if kind == "numeric":
            coerced = _coerce_numeric(name, out[name])
        elif kind == "boolean":
            coerced = _coerce_boolean(name, out[name])
        else:
            continue
        if coerced is not out[name]:
            out[name] = coerced  # replaces the column in our shallow copy, never the caller's data
    return out
