"""Time-series features for series classification and regression, learned on the training ids only.

The input is tsfresh's long format: one row per point with an id column, an optional sort (time)
column, a value column and, for multivariate data, a kind (channel) column; each (id, kind) is one
series. The output has one row per id. Settings:

* ``"minimal"`` / ``"efficient"``: tsfresh's MinimalFCParameters / EfficientFCParameters;
* ``"raw"``: no tsfresh, the values pivoted wide, one column ``"<kind>__t<pos>"`` per time position
  (what 1-NN Euclidean sees; a strong baseline for short equal-length series);
* ``"minirocket"``: MiniRocket random-convolution features (`features.rocket`), 10,000 split
  between the channels; shorter series are zero padded to the training length;
* a tsfresh ``kind_to_fc_parameters`` dict (``"selected"``), e.g. from ``restrict`` after selection.

tsfresh is imported inside the functions that need it: it takes over a second to import.
The fitted state is plain JSON-safe data (`to_dict` / `from_dict`), never a pickle.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from threadpoolctl import threadpool_limits

from backends.errors import ConfigError, DataError
from features import rocket
from features.profile import plain

SETTINGS = ("raw", "minimal", "efficient", "minirocket")
ROCKET_FEATURES = 10_000  # MiniRocket's default feature count, split between the channels
FORMAT = "features.timeseries/1"
MIN_POINTS = 3  # tsfresh's calculators (autocorrelation, trends, entropies) are meaningless below this
SMALL_POINTS = 50_000  # below this a process pool costs more (~1 s start-up) than it saves
SMALL_POINTS_MINIMAL = 1_000_000  # minimal settings cost ~2 us a point: 128k points took 0.2 s in-process, 1.5 s with a pool
PARALLEL_EFFICIENCY = 0.7  # each extra worker adds this much speed in estimates (tsfresh's pool does not scale linearly)
CHUNK_POINTS = 2_000_000  # points handed to one extract_features call by default (bounds its memory)
ESTIMATE_IDS = 8  # ids timed by estimate_seconds
POOL_SECONDS = 1.0  # start-up cost of tsfresh's process pool, added to parallel estimates
FDR_LEVEL = 0.05


@dataclass(frozen=True)
class SeriesSpec:
    """Which columns of a long-format frame hold the series id, time order, value and (multivariate) kind."""

    column_id: str = "id"
    column_sort: str | None = "time"
    column_value: str = "value"
    column_kind: str | None = None

    def __post_init__(self) -> None:
        for name in ("column_id", "column_value"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"SeriesSpec.{name} must be a non-empty column name, got {getattr(self, name)!r}; pass the column's name as a string.")
        for name in ("column_sort", "column_kind"):
            if getattr(self, name) is not None and (not isinstance(getattr(self, name), str) or not getattr(self, name)):
                raise ConfigError(f"SeriesSpec.{name} must be a column name or None, got {getattr(self, name)!r}; pass the column's name as a string.")
        if len(set(self.columns)) != len(self.columns):
            raise ConfigError(f"SeriesSpec names the same column twice ({self.columns}); give id, sort, value and kind distinct columns.")
        if self.column_kind is None and "__" in self.column_value:
            # univariate feature names are "<value column>__<feature>"; a "__" inside would break parsing them back
            raise ConfigError(f"Value column {self.column_value!r} contains '__', which tsfresh feature names cannot carry; rename the column.")

    @property
    def series_keys(self) -> list[str]:
        """The columns that identify one series: the id, and the kind for multivariate data."""
        return [self.column_id] + ([self.column_kind] if self.column_kind else [])

    @property
    def columns(self) -> list[str]:
        """The columns this spec reads, in id, sort, value, kind order."""
        return [c for c in (self.column_id, self.column_sort, self.column_value, self.column_kind) if c is not None]

    def validate(self, series: pd.DataFrame) -> None:
        """Raise DataError (one sentence: what is wrong, how to fix it) unless tsfresh can use `series` as given."""
        if not isinstance(series, pd.DataFrame):
            raise DataError(
                f"Expected the series as a pandas DataFrame in long format (one row per point), got {type(series).__name__}; build one with pd.DataFrame."
            )
        if len(series) == 0:
            raise DataError("The series frame is empty; pass at least one series in long format (id, time, value rows).")
        fields = {"column_id": self.column_id, "column_sort": self.column_sort, "column_value": self.column_value, "column_kind": self.column_kind}
        missing = {name: col for name, col in fields.items() if col is not None and col not in series.columns}
        if missing:
            present = [str(c) for c in series.columns[:20]]
            named = ", ".join(f"{name}={col!r}" for name, col in missing.items())
            hint = " (column_kind=None, or --column-kind none, for univariate series)" if "column_kind" in missing else ""
            raise DataError(f"The series frame has no column for {named} (its columns are {present}); pass the right column names{hint}.")
        values = series[self.column_value]
        if not ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values[parsed.isna() & values.notna()]
            example = bad.iloc[0] if len(bad) else values.iloc[0]
            raise DataError(
                f"Value column {self.column_value!r} must hold numbers but has dtype {values.dtype} (e.g. {plain(example)!r}); convert it with pd.to_numeric "
                "or point column_value at the numeric column."
            )
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        n_bad = int((~np.isfinite(v)).sum())
        if n_bad:
            first = plain(series[self.column_id].iloc[int(np.argmin(np.isfinite(v)))])
            raise DataError(
                f"Value column {self.column_value!r} has {n_bad} NaN or infinite value(s) (the first in id {first!r}) that tsfresh cannot use; "
                "interpolate them within each series or drop those rows."
            )
        for c in (self.column_id, self.column_sort, self.column_kind):
            if c is not None and (n_na := int(series[c].isna().sum())):
                raise DataError(f"Column {c!r} has {n_na} missing value(s); every point needs an id, a time and (multivariate) a kind: fill or drop them.")
        group = self.series_keys
        if self.column_sort is not None:
            dup = series.duplicated(subset=group + [self.column_sort])
            if dup.any():
                pos = int(np.argmax(dup.to_numpy()))
                at = ", ".join(f"{c}={plain(series[c].iloc[pos])!r}" for c in group + [self.column_sort])
                raise DataError(
                    f"{int(dup.sum())} row(s) repeat the (id, kind, time) of another row (e.g. {at}); drop the duplicates or aggregate them per time point."
                )
        sizes = series.groupby(group, sort=False, observed=True).size()
        short = sizes[sizes < MIN_POINTS]
        if len(short):
            key = plain(short.index[0])
            which = f"id {key[0]!r} kind {key[1]!r}" if self.column_kind else f"id {key!r}"
            raise DataError(
                f"Series {which} has only {int(short.iloc[0])} point(s) ({len(short)} series have fewer than {MIN_POINTS}); "
                f"tsfresh needs at least {MIN_POINTS} points per series: drop those ids or merge them."
            )
        if self.column_kind:
            kinds = series[self.column_kind].astype(str)
            bad_kinds = [k for k in pd.unique(kinds) if "__" in k]
            if bad_kinds:
                raise DataError(f"Kind {bad_kinds[0]!r} contains '__', which tsfresh feature names cannot carry; rename the channels of {self.column_kind!r}.")
            if kinds.nunique() != series[self.column_kind].nunique():
                raise DataError(f"Kinds in column {self.column_kind!r} collide once written as text; make the channel names distinct strings.")
            per_id = sizes.groupby(level=0, sort=False).size()
            n_kinds = int(series[self.column_kind].nunique())
            lacking = per_id[per_id < n_kinds]
            if len(lacking):
                first = plain(lacking.index[0])
                have = set(series.loc[series[self.column_id] == first, self.column_kind])
                absent = sorted(str(k) for k in set(pd.unique(series[self.column_kind])) - have)
                raise DataError(
                    f"Series id {first!r} lacks kind(s) {absent[:5]} that other ids have ({len(lacking)} id(s) are incomplete); "
                    "give every id every channel or drop the incomplete ids."
                )

    def to_dict(self) -> dict[str, Any]:
        """The four column names as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeriesSpec:
        """Rebuild a spec from `to_dict` output; ConfigError when malformed."""
        if not isinstance(d, Mapping) or set(d) - {"column_id", "column_sort", "column_value", "column_kind"}:
            raise ConfigError(f"SeriesSpec state is malformed ({d!r}); expected column_id, column_sort, column_value and column_kind.")
        return cls(**dict(d))


def align_labels(series: pd.DataFrame, labels: pd.DataFrame, spec: SeriesSpec, label_column: str) -> pd.DataFrame:
    """The labels frame restricted to [column_id, label_column], one row per series id, in label-file order.

    DataError when ids of the two frames do not match one to one, labels repeat an id, or lack a column.
    """
    spec.validate(series)
    if not isinstance(labels, pd.DataFrame):
        raise DataError(f"Expected the labels as a pandas DataFrame, got {type(labels).__name__}; read them with pd.read_csv.")
    missing = [c for c in (spec.column_id, label_column) if c not in labels.columns]
    if missing:
        present = [str(c) for c in labels.columns[:20]]
        raise DataError(f"The labels frame lacks column(s) {missing} (it has {present}); pass the right label_column or id column.")
    out = labels[[spec.column_id, label_column]].reset_index(drop=True)
    dup = out[spec.column_id].duplicated()
    if dup.any():
        raise DataError(f"The labels repeat {int(dup.sum())} id(s) (e.g. {plain(out[spec.column_id][dup].iloc[0])!r}); keep one label per series id.")
    series_ids = pd.Index(pd.unique(series[spec.column_id]))
    label_ids = pd.Index(out[spec.column_id])
    unlabelled = series_ids.difference(label_ids, sort=False)
    orphans = label_ids.difference(series_ids, sort=False)
    hint = ""
    if len(unlabelled) == len(series_ids) and series_ids.dtype != label_ids.dtype:
        # nothing matches: most often ints on one side and strings on the other
        hint = f" (the ids have dtype {series_ids.dtype} in the series and {label_ids.dtype} in the labels)"
    if len(unlabelled):
        raise DataError(f"{len(unlabelled)} series id(s) have no label (e.g. {plain(unlabelled[0])!r}){hint}; add their labels or drop those series.")
    if len(orphans):
        raise DataError(f"{len(orphans)} labelled id(s) have no series (e.g. {plain(orphans[0])!r}); add their series or drop those labels.")
    return out


class SeriesFeatures:
    """tsfresh (or raw) features of long-format series, one row per id; plain-data state.

    `n_jobs` caps tsfresh's worker processes (None: all cores); a call on fewer than SMALL_POINTS points
    (SMALL_POINTS_MINIMAL for "minimal") runs in-process because the pool's start-up would dominate.
    `chunk_ids` caps the ids per extract_features call (None: as many as hold about CHUNK_POINTS points).
    """

    input_kind = "series"  # what `transform` takes: one long-format frame (see features.synthesis.Synthesizer)

    def __init__(self, spec: SeriesSpec, settings: str | dict, n_jobs: int | None = None, chunk_ids: int | None = None) -> None:
        if not isinstance(spec, SeriesSpec):
            raise ConfigError(f"spec must be a SeriesSpec, got {type(spec).__name__}; build one with SeriesSpec(column_id=..., ...).")
        if isinstance(settings, str):
            if settings not in SETTINGS:
                raise ConfigError(f"Unknown time-series settings {settings!r}; use one of {', '.join(SETTINGS)} or a tsfresh kind_to_fc_parameters dict.")
            self.settings_name = settings
            self._params: dict[str, dict[str, Any]] | None = None
        elif isinstance(settings, Mapping):
            self.settings_name = "selected"
            self._params = _check_params(settings)
        else:
            raise ConfigError(f"settings must be one of {', '.join(SETTINGS)} or a tsfresh kind_to_fc_parameters dict, got {type(settings).__name__}.")
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 0):
            raise ConfigError(f"n_jobs must be None or an integer >= 0, got {n_jobs!r}.")
        if chunk_ids is not None and (isinstance(chunk_ids, bool) or not isinstance(chunk_ids, int) or chunk_ids < 1):
            raise ConfigError(f"chunk_ids must be None or an integer >= 1, got {chunk_ids!r}.")
        self.spec = spec
        self.n_jobs = n_jobs
        self.chunk_ids = chunk_ids
        self._columns: list[str] | None = None
        self._raw_length: int | None = None
        self._rocket: dict[str, dict[str, Any]] | None = None  # MiniRocket state per kind (plain lists)

    @property
    def settings(self) -> str | dict[str, dict[str, Any]]:
        """The settings name, or a copy of the kind_to_fc_parameters dict for "selected"."""
        return self.settings_name if self._params is None else copy.deepcopy(self._params)

    @property
    def columns(self) -> list[str]:
        """The feature columns learned by fit_transform, in output order."""
        self._check_fitted()
        return list(self._columns or [])

    def fit_transform(self, series: pd.DataFrame, ids: Sequence | None = None) -> pd.DataFrame:
        """Extract features for `ids` (default: every id in order of appearance), learn the columns that vary, return them."""
        frame, ids = self._prepare(series, ids)
        if self.settings_name == "raw":
            feats, self._raw_length = self._raw(frame, ids, None)
        elif self.settings_name == "minirocket":
            raw, self._raw_length = self._raw(frame, ids, None)
            self._rocket = self._rocket_fit(raw)
            feats = self._rocket_transform(raw)
        else:
            feats = self._tsfresh(frame, ids)
        feats = _as_float(feats)
        keep = _varying(feats)
        if not keep:
            raise DataError(
                f"No {self.settings_name} feature varies over the {len(ids)} training series; give more (or more different) series or another setting."
            )
        self._columns = keep
        return feats[keep]

    def transform(self, series: pd.DataFrame, ids: Sequence | None = None) -> pd.DataFrame:
        """The fitted columns for `ids` (default: every id in order of appearance); features not produced become NaN."""
        self._check_fitted()
        frame, ids = self._prepare(series, ids)
        if self.settings_name == "raw":
            feats, _ = self._raw(frame, ids, self._raw_length)
        elif self.settings_name == "minirocket":
            feats = self._rocket_transform(self._raw(frame, ids, self._raw_length)[0])
        else:
            feats = self._tsfresh(frame, ids)
        return _as_float(feats).reindex(columns=self._columns)

    def restrict(self, columns: Sequence[str]) -> SeriesFeatures:
        """A fitted copy that computes only `columns` (a subset of `self.columns`), with values equal to the full transform's."""
        self._check_fitted()
        columns = list(columns)
        known = set(self._columns or [])
        unknown = [c for c in columns if c not in known]
        if unknown or not columns or len(set(columns)) != len(columns):
            what = f"unknown column(s) {unknown[:3]}" if unknown else "no columns" if not columns else "repeated columns"
            raise ConfigError(f"restrict got {what}; pass distinct names taken from .columns.")
        if self.settings_name in ("raw", "minirocket"):
            # raw values are a column subset; MiniRocket computes every feature at once (cheap) and keeps the subset
            out = SeriesFeatures(self.spec, self.settings_name, n_jobs=self.n_jobs, chunk_ids=self.chunk_ids)
            out._raw_length = self._raw_length
            out._rocket = self._rocket
        else:
            from tsfresh.feature_extraction.settings import from_columns

            out = SeriesFeatures(self.spec, from_columns(columns), n_jobs=self.n_jobs, chunk_ids=self.chunk_ids)
        out._columns = columns
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data that `from_dict` turns back into an identical fitted extractor."""
        self._check_fitted()
        d: dict[str, Any] = {
            "kind": "tsfresh",
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "settings": self.settings_name if self._params is None else _json_safe(self._params),
            "columns": list(self._columns or []),
        }
        if self.settings_name in ("raw", "minirocket"):
            d["raw_length"] = self._raw_length
        if self.settings_name == "minirocket":
            d["minirocket"] = self._rocket
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeriesFeatures:
        """Rebuild a fitted extractor from `to_dict` output; ConfigError when malformed or of another format."""
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            found = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise ConfigError(f"Time-series feature state has format {found!r}, expected {FORMAT!r}; refit the features with this version.")
        try:
            settings = d["settings"]
            if settings == "selected":
                raise ValueError("settings 'selected' needs its parameter dict")
            self = cls(SeriesSpec.from_dict(d["spec"]), settings)
            columns = d["columns"]
            if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
                raise ValueError("columns must be a non-empty list of names")
            self._columns = list(columns)
            if self.settings_name in ("raw", "minirocket"):
                length = d["raw_length"]
                if isinstance(length, bool) or not isinstance(length, int) or length < 1:
                    raise ValueError(f"raw_length must be a positive integer, got {length!r}")
                self._raw_length = length
            if self.settings_name == "minirocket":
                states = d["minirocket"]
                if not isinstance(states, dict) or not all(isinstance(v, dict) and {"dilations", "counts", "biases"} <= set(v) for v in states.values()):
                    raise ValueError("minirocket must map each kind to its dilations, counts and biases")
                self._rocket = {str(k): dict(v) for k, v in states.items()}
        except ConfigError as exc:
            raise ConfigError(f"Time-series feature state is malformed ({exc}); refit the features and save them again.") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"Time-series feature state is malformed ({exc!r}); refit the features and save them again.") from None
        return self

    def __repr__(self) -> str:
        state = f"{len(self._columns)} columns" if self._columns is not None else "unfitted"
        return f"SeriesFeatures({self.settings_name!r}, {state})"

    # -- internals -------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self._columns is None:
            raise ConfigError("These SeriesFeatures are not fitted; call fit_transform(series) before transform.")

    def _prepare(self, series: pd.DataFrame, ids: Sequence | None) -> tuple[pd.DataFrame, list]:
        """The validated rows of the requested ids (only the spec's columns) and the ids in output order."""
        self.spec.validate(series)
        frame = series[self.spec.columns]
        present = pd.unique(frame[self.spec.column_id])
        if ids is None:
            return frame, list(present)
        ids = list(ids)
        wanted = pd.Index(ids)
        if not wanted.is_unique:
            raise ConfigError(f"ids repeat {int(wanted.duplicated().sum())} value(s) (e.g. {plain(wanted[wanted.duplicated()][0])!r}); pass each id once.")
        absent = wanted.difference(pd.Index(present), sort=False)
        if len(absent):
            raise DataError(f"{len(absent)} requested id(s) have no series (e.g. {plain(absent[0])!r}); pass only ids of column {self.spec.column_id!r}.")
        if len(wanted) < len(present):
            frame = frame[frame[self.spec.column_id].isin(wanted)]
        return frame, ids

    def _jobs(self, n_points: int) -> int:
        """Worker processes for one extract_features call on `n_points` points (0: in-process)."""
        if n_points < (SMALL_POINTS_MINIMAL if self.settings_name == "minimal" else SMALL_POINTS):
            return 0
        return self.n_jobs if self.n_jobs is not None else (os.cpu_count() or 1)

    def _tsfresh(self, frame: pd.DataFrame, ids: list) -> pd.DataFrame:
        """tsfresh features of `frame`, one row per id in `ids` order, extracted at most `chunk_ids` ids per call."""
        from tsfresh import extract_features
        from tsfresh.feature_extraction.settings import EfficientFCParameters, MinimalFCParameters

        spec = self.spec
        if spec.column_kind is not None:
            # feature names carry the kind as text, so restricted settings (from_columns) only match text kinds
            frame = frame.assign(**{spec.column_kind: frame[spec.column_kind].astype(str)})
        if self._params is not None:
            params: dict[str, Any] = {"kind_to_fc_parameters": copy.deepcopy(self._params)}
        else:
            with _quiet():  # EfficientFCParameters logs a warning when matrix_profile's optional dependency is missing
                params = {"default_fc_parameters": MinimalFCParameters() if self.settings_name == "minimal" else EfficientFCParameters()}
        per_id = len(frame) / max(len(ids), 1)
        chunk = self.chunk_ids or max(1, int(CHUNK_POINTS // max(per_id, 1.0)))
        codes = pd.Categorical(frame[spec.column_id], categories=ids).codes.astype(np.int64) // chunk
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(1, (len(ids) - 1) // chunk + 1))
        parts = []
        for rows in np.split(order, bounds):
            part = frame.iloc[rows]
            jobs = self._jobs(len(part))
            # tsfresh's pool workers are forked from this process: with its multi-threaded BLAS each would start
            # as many threads as there are cores, and on 2 cores the pool ran 7x slower than one process (pigcvp,
            # 40 series of 2000 points: 62 s against 8.5 s); limited to one thread each it runs 2x faster
            with _quiet(), threadpool_limits(1) if jobs > 1 else contextlib.nullcontext():
                parts.append(
                    extract_features(
                        part,
                        column_id=spec.column_id,
                        column_sort=spec.column_sort,
                        column_value=spec.column_value,
                        column_kind=spec.column_kind,
                        n_jobs=jobs,
                        disable_progressbar=True,
                        show_warnings=False,
                        **params,
                    )
                )
        feats = parts[0] if len(parts) == 1 else pd.concat(parts, axis=0)
        # tsfresh returns the ids sorted; callers want them in their own order
        return feats.reindex(pd.Index(ids, name=spec.column_id))

    def _channels(self, raw: pd.DataFrame) -> dict[str, np.ndarray]:
        """The raw pivot as one (ids x length) array per kind; gaps (shorter series) are zero padding, as MiniRocket expects."""
        assert self._raw_length is not None
        kinds = list(dict.fromkeys(c.rsplit("__t", 1)[0] for c in raw.columns))
        values = np.nan_to_num(raw.to_numpy(dtype=np.float64), nan=0.0)
        return {k: values[:, i * self._raw_length : (i + 1) * self._raw_length] for i, k in enumerate(kinds)}

    def _rocket_fit(self, raw: pd.DataFrame) -> dict[str, dict[str, Any]]:
        channels = self._channels(raw)
        per_channel = max(rocket.N_KERNELS, ROCKET_FEATURES // len(channels))
        return {k: rocket.fit(X, per_channel, seed=i) for i, (k, X) in enumerate(channels.items())}

    def _rocket_transform(self, raw: pd.DataFrame) -> pd.DataFrame:
        assert self._rocket is not None
        channels = self._channels(raw)
        blocks, names = [], []
        for kind, state in self._rocket.items():
            X = channels.get(kind)
            if X is None:
                raise DataError(f"The series lack kind {kind!r} that the model was trained on; pass every channel of the training data.")
            blocks.append(rocket.transform(X, state))
            names += rocket.feature_names(kind, state)
        return pd.DataFrame(np.hstack(blocks), index=raw.index, columns=names)

    def _raw(self, frame: pd.DataFrame, ids: list, length: int | None) -> tuple[pd.DataFrame, int]:
        """The values pivoted to one column per (kind, position), cut or NaN-padded to `length` (default: the longest series)."""
        spec = self.spec
        kind = frame[spec.column_kind].astype(str) if spec.column_kind else pd.Series(spec.column_value, index=frame.index)
        kinds = sorted(pd.unique(kind))
        work = pd.DataFrame(
            {
                "_id": pd.Categorical(frame[spec.column_id], categories=ids).codes.astype(np.int64),
                "_kind": pd.Categorical(kind, categories=kinds).codes.astype(np.int64),
                "_t": frame[spec.column_sort].to_numpy() if spec.column_sort else np.arange(len(frame)),
                "_v": frame[spec.column_value].to_numpy(dtype=np.float64),
            }
        ).sort_values(["_id", "_kind", "_t"], kind="stable")
        pos = work.groupby(["_id", "_kind"], sort=False).cumcount().to_numpy()
        if length is None:
            length = int(pos.max()) + 1
        inside = pos < length
        out = np.full((len(ids), len(kinds) * length), np.nan)
        out[work["_id"].to_numpy()[inside], work["_kind"].to_numpy()[inside] * length + pos[inside]] = work["_v"].to_numpy()[inside]
        names = [f"{k}__t{p}" for k in kinds for p in range(length)]
        return pd.DataFrame(out, index=pd.Index(ids, name=spec.column_id), columns=names), length


def relevant_features(X: pd.DataFrame, y: np.ndarray, classification: bool, min_keep: int = 10, n_jobs: int = 0) -> list[str]:
    """Columns of X that tsfresh's relevance test (Benjamini-Yekutieli FDR 0.05) finds relevant for y, in X's order.

    Classification tests one class against the rest with Mann-Whitney U (binary features: Fisher) and keeps
    a feature relevant for at least one class, exactly as tsfresh's calculate_relevance_table, but vectorized
    over the columns (tsfresh loops over them: ~6 s instead of ~0.1 s on 40 rows x 3,500 columns, 4 classes).
    Regression runs calculate_relevance_table itself (Kendall's tau; `n_jobs` processes). When fewer than
    `min_keep` are relevant, the `min_keep` smallest p-values are kept. NaN/inf are imputed with the column
    median; constant and all-NaN columns are never kept.
    """
    if not isinstance(X, pd.DataFrame):
        raise ConfigError(f"X must be a pandas DataFrame, got {type(X).__name__}.")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ConfigError(f"y must be one label per row of X ({len(X)}), got shape {y.shape}.")
    if isinstance(min_keep, bool) or not isinstance(min_keep, int) or min_keep < 0:
        raise ConfigError(f"min_keep must be an integer >= 0, got {min_keep!r}.")
    if X.shape[1] == 0 or len(X) == 0:
        return []
    values = X.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    values[~np.isfinite(values)] = np.nan
    usable = ~np.isnan(values).all(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: their median is NaN and they stay unusable
        median = np.nanmedian(values, axis=0)
    gaps = np.isnan(values)
    values[gaps] = np.take(median, np.nonzero(gaps)[1])
    ordered = np.sort(values, axis=0)
    n_unique = 1 + (np.diff(ordered, axis=0) != 0).sum(axis=0)
    usable &= n_unique > 1
    p = np.ones(X.shape[1])
    relevant = np.zeros(X.shape[1], dtype=bool)
    cols = np.nonzero(usable)[0]
    if len(cols):
        if classification:
            with _quiet():
                p_used, rel_used = _classification_relevance(values[:, cols], n_unique[cols], y)
        else:
            p_used, rel_used = _regression_relevance(values[:, cols], y, n_jobs)
        p[cols] = np.where(np.isnan(p_used), 1.0, p_used)
        relevant[cols] = rel_used
    keep = relevant & usable
    if keep.sum() < min_keep:
        ranked = [i for i in np.argsort(p, kind="stable") if usable[i]]
        keep[ranked[:min_keep]] = True
    return [str(c) for c, k in zip(X.columns, keep) if k]


def estimate_seconds(series: pd.DataFrame, spec: SeriesSpec, settings: str | dict, n_jobs: int | None = None) -> float:
    """Expected seconds to extract `settings` for every id of `series`: ESTIMATE_IDS spread ids timed, scaled by the id count (raw: 0)."""
    feats = SeriesFeatures(spec, settings, n_jobs=n_jobs)
    if feats.settings_name == "raw":
        return 0.0
    import tsfresh  # noqa: F401  (so that the import is not timed)

    spec.validate(series)
    ids = pd.unique(series[spec.column_id])
    picks = list(dict.fromkeys(ids[np.linspace(0, len(ids) - 1, min(ESTIMATE_IDS, len(ids))).round().astype(int)]))
    sample = series[series[spec.column_id].isin(picks)]
    timer = SeriesFeatures(spec, settings, n_jobs=0)
    start = time.perf_counter()
    if feats.settings_name == "minirocket":
        timer.fit_transform(sample[spec.columns], picks)  # fitting is a fixed cost, transforming grows with the ids
        return float((time.perf_counter() - start) * max(1.0, len(ids) / len(picks)))
    timer._tsfresh(sample[spec.columns], picks)
    seconds = (time.perf_counter() - start) * len(ids) / len(picks)
    jobs = feats._jobs(len(series))
    if jobs > 1:
        seconds = seconds / (1.0 + PARALLEL_EFFICIENCY * (min(jobs, len(ids)) - 1)) + POOL_SECONDS
    return float(seconds)


# -- helpers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence tsfresh's warnings and its logged warnings (pandas/numpy chatter about degenerate series) for one call."""
    logger = logging.getLogger("tsfresh")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _as_float(feats: pd.DataFrame) -> pd.DataFrame:
    """All columns float64, inf -> NaN (models and the relevance test treat both as missing)."""
    values = feats.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=feats.index, columns=[str(c) for c in feats.columns])


def _varying(feats: pd.DataFrame) -> list[str]:
    """Columns with at least two distinct non-NaN values (all-NaN and constant columns carry nothing)."""
    values = np.sort(feats.to_numpy(), axis=0)  # NaN sorts last
    finite = ~np.isnan(values)
    changes = (np.diff(values, axis=0) != 0) & finite[1:]
    return [c for c, v in zip(feats.columns, changes.any(axis=0)) if v]


def _check_params(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A deep copy of a kind_to_fc_parameters dict with its shape and calculator names checked, lists as tuples."""
    from tsfresh.feature_extraction import feature_calculators

    out: dict[str, dict[str, Any]] = {}
    for kind, calcs in settings.items():
        if not isinstance(kind, str) or not isinstance(calcs, Mapping):
            raise ConfigError(f"kind_to_fc_parameters must map kind names to {{calculator: parameters}} dicts, got {kind!r}: {type(calcs).__name__}.")
        out[kind] = {}
        for name, param in calcs.items():
            if not isinstance(name, str) or not hasattr(feature_calculators, name):
                raise ConfigError(f"Unknown tsfresh feature calculator {name!r} for kind {kind!r}; use names from tsfresh's feature_calculators module.")
            if param is not None and not (isinstance(param, (list, tuple)) and all(isinstance(x, Mapping) for x in param)):
                raise ConfigError(f"Parameters of {name!r} for kind {kind!r} must be None or a list of dicts, got {param!r}.")
            # JSON turns tuples into lists; tsfresh writes parameter values into feature names, where (2, 5) != [2, 5]
            out[kind][name] = None if param is None else [{str(k): _tuples(v) for k, v in x.items()} for x in param]
    if not out:
        raise ConfigError("kind_to_fc_parameters is empty; pass at least one kind with one calculator.")
    return out


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def _json_safe(v: Any) -> Any:
    """Tuples -> lists, numpy scalars -> Python scalars, None kept."""
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _classification_relevance(values: np.ndarray, n_unique: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column min p-value over one-vs-rest classes and whether BY-FDR keeps the column for some class."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    labels = pd.unique(y)
    p = np.full(values.shape[1], np.nan)
    relevant = np.zeros(values.shape[1], dtype=bool)
    if len(labels) < 2:
        return p, relevant
    binary = n_unique == 2
    ties = n_unique < len(values)
    # with two classes both one-vs-rest tests give the same p-values, so one suffices
    for label in labels if len(labels) > 2 else labels[:1]:
        mask = y == label
        n1, n0 = int(mask.sum()), int((~mask).sum())
        if not n1 or not n0:  # a NaN label equals nothing, not even itself
            continue
        p_class = np.empty(values.shape[1])
        real = ~binary
        # scipy's method="auto" picks exact vs asymptotic from ties anywhere in the array, so decide per column as
        # tsfresh's column-by-column calls do
        exact = real & ~ties & (min(n1, n0) <= 8)
        for method, cols in (("exact", exact), ("asymptotic", real & ~exact)):
            if cols.any():
                sub = values[:, cols]
                p_class[cols] = stats.mannwhitneyu(sub[mask], sub[~mask], use_continuity=True, alternative="two-sided", axis=0, method=method).pvalue
        for j in np.nonzero(binary)[0]:
            lo = values[:, j] == values[:, j].min()
            table = [[int((lo & mask).sum()), int((lo & ~mask).sum())], [int((~lo & mask).sum()), int((~lo & ~mask).sum())]]
            p_class[j] = stats.fisher_exact(table, alternative="two-sided")[1]
        relevant |= multipletests(p_class, FDR_LEVEL, "fdr_by")[0]
        p = np.fmin(p, p_class)
    return p, relevant


def _regression_relevance(values: np.ndarray, y: np.ndarray, n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """tsfresh's own relevance table for a real target (Kendall's tau; KS for binary features)."""
    target = pd.Series(np.asarray(y, dtype=np.float64))
    if target.nunique() < 2 or target.isna().any():
        return np.full(values.shape[1], np.nan), np.zeros(values.shape[1], dtype=bool)
    from tsfresh.feature_selection.relevance import calculate_relevance_table

    with _quiet():
        table = calculate_relevance_table(pd.DataFrame(values), target, ml_task="regression", n_jobs=n_jobs, fdr_level=FDR_LEVEL)
    table = table.reindex(range(values.shape[1]))
    return table["p_value"].to_numpy(dtype=np.float64), table["relevant"].fillna(False).to_numpy(dtype=bool)
