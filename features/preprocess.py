"""Turn profiled feature columns into model input, learned on one training fold.

Two recipes, chosen by the backend:

* ``native`` (gradient boosters): numbers as float32 with NaN kept, booleans 0/1,
  categoricals as pandas ``category`` with the training levels fixed (top 255 by frequency;
  unseen or rarer levels become NaN), datetimes split into numeric parts, text reduced to
  its length and word count.
* ``dense`` (linear models, sklearn forests): everything float32 without NaN. Numeric
  values (and the datetime/text parts) are clipped to their training 1%/99% quantiles
  (see `backends.numeric`), imputed with the training median, get a missing-indicator column
  where the training fold had gaps, and are standardized with statistics of the clipped
  values; categoricals are one-hot over the top 32 training levels (unseen -> all zeros).

The fitted state is plain JSON-safe data (`to_dict` / `from_dict`), never a pickle.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from backends.errors import ConfigError, DataError
from backends.numeric import F32_MAX, numeric_stats
from features.profile import DataProfile, as_str, datetime_format, name_list, str_values, to_datetime

log = logging.getLogger(__name__)

RECIPES = ("native", "dense")
_STAT_KEYS = ("median", "mean", "std", "indicator")
_CLIP_KEYS = ("clip_low", "clip_high")  # optional: absent from states saved before clipping
MAX_LEVELS = {"native": 255, "dense": 32}
FORMAT = "features.preprocessor/1"
DATE_PARTS = ("year", "month", "day", "dayofweek")

# LightGBM rejects JSON-special characters and XGBoost rejects [ ] < in feature names
_UNSAFE_NAME = re.compile(r'[\[\]<>{}":,\s]')
_BOOL_WORDS = {
    "true": 1.0, "t": 1.0, "yes": 1.0, "y": 1.0, "1": 1.0, "1.0": 1.0,
    "false": 0.0, "f": 0.0, "no": 0.0, "n": 0.0, "0": 0.0, "0.0": 0.0,
}  # fmt: skip


def _to_float(s: pd.Series) -> np.ndarray:
    """Float64 values of a numeric-like column; unparseable and infinite values become NaN."""
    if ptypes.is_bool_dtype(s.dtype) or (ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_complex_dtype(s.dtype)):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _to_bool(s: pd.Series) -> np.ndarray:
    """0/1 float values of a boolean-like column; anything else becomes NaN."""
    if ptypes.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_complex_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where((v == 0.0) | (v == 1.0), v, np.nan)
    words = as_str(s).str.strip().str.lower().map(_BOOL_WORDS)
    return words.to_numpy(dtype=np.float64, na_value=np.nan)


def _date_parts(d: pd.Series, parts: list[str]) -> list[np.ndarray]:
    acc = d.dt
    return [getattr(acc, p).to_numpy(dtype=np.float64, na_value=np.nan) for p in parts]


def _text_parts(s: pd.Series) -> list[np.ndarray]:
    text = as_str(s)
    length = text.str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    words = text.str.count(r"\S+").to_numpy(dtype=np.float64, na_value=np.nan)
    return [length, words]


def _f32(a: np.ndarray) -> np.ndarray:
    """Float32 copy; magnitudes beyond float32 are clipped rather than turned into inf."""
    return np.clip(a, -F32_MAX, F32_MAX).astype(np.float32)


def _codes(s: pd.Series, dtype: pd.CategoricalDtype) -> np.ndarray:
    """Level codes of a column under fixed categories; missing and unseen values get -1."""
    return dtype.categories.get_indexer(str_values(s))


def _safe(name: str, taken: set[str]) -> str:
    """A backend-safe, unique output column name."""
    base = _UNSAFE_NAME.sub("_", name) or "_"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}__{i}", i + 1
    taken.add(out)
    return out


class Preprocessor:
    """Fit on a training fold, then transform any frame with the same columns (see module doc)."""

    def __init__(self, recipe: str) -> None:
        if recipe not in RECIPES:
            raise ConfigError(f"Unknown feature recipe {recipe!r}; use one of {', '.join(RECIPES)}.")
        self.recipe = recipe
        self._steps: list[dict[str, Any]] = []
        self._stats: dict[str, list[Any]] | None = None
        self._names: list[str] = []
        self._fitted = False
        self._cache()

    # ------------------------------------------------------------------ fit

    def fit(self, frame: pd.DataFrame, profile: DataProfile) -> Preprocessor:
        """Learn levels, formats and statistics from `frame` (the training fold) only."""
        _check_frame(frame)
        if len(frame) == 0:
            raise DataError("The training fold has no rows; fit the preprocessor on at least one row.")
        cols = profile.feature_columns
        _require(frame, cols)
        kinds = {c.name: c.kind for c in profile.columns}
        steps: list[dict[str, Any]] = []
        for name in cols:
            kind = kinds[name]
            s = frame[name]
            step: dict[str, Any] = {"column": name, "kind": kind}
            if kind == "categorical":
                counts = as_str(s).value_counts(dropna=True)
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                step["levels"] = [str(k) for k, _ in ranked[: MAX_LEVELS[self.recipe]]]
            elif kind == "datetime":
                fmt = None if ptypes.is_datetime64_any_dtype(s.dtype) else datetime_format(s)
                d = to_datetime(s, fmt).dropna()
                # the hour is a feature only when the training fold has times of day
                has_time = bool(len(d)) and bool((d != d.dt.normalize()).any())
                step["format"] = fmt
                step["parts"] = list(DATE_PARTS) + (["hour"] if has_time else [])
            elif kind not in ("numeric", "boolean", "text"):
                raise ConfigError(f"Column {name!r} has kind {kind!r} that cannot be a feature; re-profile the data.")
            steps.append(step)
        # numeric kinds first (one vectorised block), then parts, then categoricals
        order = {"numeric": 0, "boolean": 1, "datetime": 1, "text": 1, "categorical": 2}
        self._steps = sorted(steps, key=lambda st: order[st["kind"]])
        self._stats = None
        self._fitted = True
        self._cache()
        if self.recipe == "dense":
            raw = self._numeric_matrix(frame)
            missing = np.isnan(raw)
            st = numeric_stats(raw)
            self._stats = {
                "clip_low": [float(v) for v in st.low],
                "clip_high": [float(v) for v in st.high],
                "median": [float(v) for v in st.median],
                "mean": [float(v) for v in st.mean],
                "std": [float(v) for v in st.std],
                "indicator": [bool(v) for v in missing.any(axis=0)],
            }
        self._cache()
        log.debug("fitted %s preprocessor: %d inputs -> %d outputs", self.recipe, len(cols), len(self._names))
        return self

    # ------------------------------------------------------------------ transform

    @property
    def feature_names_out(self) -> list[str]:
        """Output column names, in output order."""
        self._check_fitted()
        return list(self._names)

    @property
    def input_columns(self) -> list[str]:
        """The input columns `transform` reads."""
        return [st["column"] for st in self._steps]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model input for `frame`: fixed columns and order, same index; the input is not changed."""
        self._check_fitted()
        _check_frame(frame)
        _require(frame, self._inputs)
        raw = self._numeric_matrix(frame)
        if self.recipe == "native":
            out = pd.DataFrame(_f32(raw), columns=self._num_names, index=frame.index, copy=False)
            if self._cat_steps:
                cats = {
                    out_name: pd.Categorical.from_codes(_codes(frame[st["column"]], dtype), dtype=dtype)
                    for st, out_name, dtype in zip(self._cat_steps, self._cat_names, self._dtypes)
                }
                out = pd.concat([out, pd.DataFrame(cats, index=frame.index)], axis=1)
            return out
        assert self._stats is not None
        missing = np.isnan(raw)
        filled = np.where(missing, self._median, np.clip(raw, self._clip_low, self._clip_high))
        blocks = [(filled - self._mean) / self._std, missing[:, self._indicator].astype(np.float64)]
        n = len(frame)
        for st, dtype in zip(self._cat_steps, self._dtypes):
            codes = _codes(frame[st["column"]], dtype)
            onehot = np.zeros((n, len(dtype.categories)), dtype=np.float64)
            hit = codes >= 0
            onehot[np.flatnonzero(hit), codes[hit]] = 1.0
            blocks.append(onehot)
        dense = _f32(np.hstack(blocks))
        return pd.DataFrame(dense, columns=self._names, index=frame.index, copy=False)

    def fit_transform(self, frame: pd.DataFrame, profile: DataProfile) -> pd.DataFrame:
        """`fit` then `transform` on the same frame."""
        return self.fit(frame, profile).transform(frame)

    def _numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Float64 matrix of every numeric output before imputation (NaN = missing)."""
        n = len(frame)
        mat = np.empty((n, len(self._num_names)), dtype=np.float64)
        j = 0
        if self._num_cols:
            block = frame[self._num_cols]
            if all(ptypes.is_numeric_dtype(t) and not ptypes.is_complex_dtype(t) for t in block.dtypes):
                mat[:, : len(self._num_cols)] = block.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                for i, c in enumerate(self._num_cols):
                    mat[:, i] = _to_float(block[c])
            j = len(self._num_cols)
        for st in self._part_steps:
            s = frame[st["column"]]
            if st["kind"] == "boolean":
                cols = [_to_bool(s)]
            elif st["kind"] == "datetime":
                cols = _date_parts(to_datetime(s, st["format"]), st["parts"])
            else:
                cols = _text_parts(s)
            for c in cols:
                mat[:, j] = c
                j += 1
        mat[np.isinf(mat)] = np.nan  # boosters and scalers both choke on inf; treat as missing
        return mat

    # ------------------------------------------------------------------ state

    def _cache(self) -> None:
        """Derive the lookup structures transform needs from the plain-data state."""
        self._inputs = [st["column"] for st in self._steps]
        self._num_cols = [st["column"] for st in self._steps if st["kind"] == "numeric"]
        self._part_steps = [st for st in self._steps if st["kind"] in ("boolean", "datetime", "text")]
        self._cat_steps = [st for st in self._steps if st["kind"] == "categorical"]
        self._dtypes = [pd.CategoricalDtype(pd.Index(st["levels"], dtype=object)) for st in self._cat_steps]
        taken: set[str] = set()
        raw_names = list(self._num_cols)
        for st in self._part_steps:
            c = st["column"]
            if st["kind"] == "boolean":
                raw_names.append(c)
            elif st["kind"] == "datetime":
                raw_names += [f"{c}__{p}" for p in st["parts"]]
            else:
                raw_names += [f"{c}__len", f"{c}__words"]
        self._num_names = [_safe(n, taken) for n in raw_names]
        names = list(self._num_names)
        if self.recipe == "native":
            self._cat_names = [_safe(st["column"], taken) for st in self._cat_steps]
            names += self._cat_names
        else:
            self._cat_names = []
            if self._stats is not None:
                names += [_safe(f"{n}__missing", taken) for n, ind in zip(raw_names, self._stats["indicator"]) if ind]
                self._median = np.asarray(self._stats["median"], dtype=np.float64)
                self._mean = np.asarray(self._stats["mean"], dtype=np.float64)
                self._std = np.asarray(self._stats["std"], dtype=np.float64)
                self._indicator = np.asarray(self._stats["indicator"], dtype=bool)
                # states saved before clipping existed have no bounds: they keep transforming without clipping
                n = len(self._median)
                self._clip_low = np.asarray(self._stats.get("clip_low", [-np.inf] * n), dtype=np.float64)
                self._clip_high = np.asarray(self._stats.get("clip_high", [np.inf] * n), dtype=np.float64)
            for st in self._cat_steps:
                names += [_safe(f"{st['column']}={lvl}", taken) for lvl in st["levels"]]
        self._names = names

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise ConfigError("This Preprocessor is not fitted; call fit(frame, profile) before transform.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data that `from_dict` turns back into an identical preprocessor."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "recipe": self.recipe,
            "steps": copy.deepcopy(self._steps),
            "stats": copy.deepcopy(self._stats),
            "feature_names_out": list(self._names),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocessor:
        """Rebuild a fitted preprocessor from `to_dict` output."""
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            found = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise ConfigError(f"Preprocessor state has format {found!r}, expected {FORMAT!r}; refit the preprocessor with this version.")
        try:
            self = cls(str(d["recipe"]))
            self._steps = copy.deepcopy([dict(st) for st in d["steps"]])
            stats = d.get("stats")
            self._stats = None
            if stats is not None:
                self._stats = {k: list(stats[k]) for k in _STAT_KEYS} | {k: list(stats[k]) for k in _CLIP_KEYS if k in stats}
                if len({len(v) for v in self._stats.values()}) > 1:
                    raise ValueError("statistics of different lengths")
            if self.recipe == "dense" and self._stats is None:
                raise ValueError("dense state without statistics")
            self._fitted = True
            self._cache()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"Preprocessor state is malformed ({exc}); refit the preprocessor and save it again.") from None
        if list(d.get("feature_names_out", self._names)) != self._names:
            raise ConfigError("Preprocessor state is inconsistent (output names differ); refit the preprocessor.")
        return self

    def __repr__(self) -> str:
        state = f"{len(self._inputs)} inputs -> {len(self._names)} outputs" if self._fitted else "unfitted"
        return f"Preprocessor({self.recipe!r}, {state})"


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"Expected a pandas DataFrame, got {type(frame).__name__}; wrap the data with pd.DataFrame(...).")


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    if not frame.columns.is_unique:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()] if c in set(columns)})
        if dup:
            raise DataError(f"The frame has duplicate column(s) {name_list(dup)}; keep one column per name.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"The frame lacks feature column(s) {name_list(missing)}; pass every column the model was trained on.")
