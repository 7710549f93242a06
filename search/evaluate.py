"""Run one candidate over the shared folds and measure it; refit the winner on all rows.

Every failure becomes a status on the record (failed / oom / timeout / pruned; partial when the
deadline stopped it after some folds) so the search goes on; nothing here raises for a bad candidate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from backends.contracts import Backend, Deadline, Device, FitContext, Model
from features.preprocess import Preprocessor
from features.profile import DataProfile
from search.criteria import verdicts
from search.leaderboard import SCORED, TrialRecord
from search.splits import Split
from search.task import SearchData, Task

logger = logging.getLogger(__name__)

LATENCY_SAMPLES = 30
LATENCY_MAX_S = 0.5  # stop probing one-row latency after this long (slow models), keeping >= 5 samples
BATCH_SAMPLE_ROWS = 2_000
# a refit on all rows sees more data than a fold, so it may use a few more rounds
REFIT_ROUNDS_FACTOR = 1.1
# predictions this flat across rows are a model that learned nothing (see `near_constant`)
FLAT_PROBA_SPREAD = 1e-3
FLAT_VALUE_SPREAD = 1e-3


class TrialPruned(Exception):
    """Raised by the pruning hook when a candidate is clearly worse than its peers."""


@dataclass
class FittedCandidate:
    """A preprocessor and a model fitted together: what a package holds."""

    backend: Backend
    preprocessor: Preprocessor
    model: Model
    params: Mapping[str, Any]
    flat: bool = False  # its predictions on its validation rows barely vary (see `near_constant`)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(self.preprocessor.transform(X))


SCREEN = -1  # the fold index of the screening split


class FoldCache:
    """Preprocessors fitted once per (view, recipe, fold) on the training fold only, and their outputs.

    A view with a selector gets its columns chosen once per fold, on that fold's training rows,
    shared by every recipe; features themselves were computed once per view, before the search.
    """

    def __init__(self, data: SearchData) -> None:
        self.data = data
        self._cache: dict[tuple[str, str, int], tuple[Preprocessor, pd.DataFrame, pd.DataFrame]] = {}
        self._profiles: dict[tuple[str, int | None], DataProfile] = {}
        # trials may run in parallel (GPU and CPU lanes): one lock per entry, so each is computed once
        self._guard = threading.Lock()
        self._locks: dict[tuple, threading.Lock] = {}

    def _lock(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def profile(self, view: str, fold: int | None) -> DataProfile:
        """The view's profile, restricted to the columns its selector keeps on `fold` (None: all rows)."""
        v = self.data.views[view]
        if v.select is None:
            return v.profile
        key = (view, fold)
        with self._lock(("profile", *key)):
            if key not in self._profiles:
                rows = np.arange(len(self.data.y)) if fold is None else self._split(fold)[0]
                chosen = v.select(v.X.iloc[rows][v.profile.feature_columns], self.data.y[rows])
                self._profiles[key] = v.profile.keep_only(chosen)
        return self._profiles[key]

    def _split(self, fold: int) -> Split:
        split = self.data.screen if fold == SCREEN else self.data.splits[fold]
        assert split is not None
        return split

    def get(self, view: str, recipe: str, fold: int) -> tuple[Preprocessor, pd.DataFrame, pd.DataFrame]:
        """(preprocessor, train input, validation input) of `fold`; `SCREEN` is the screening split."""
        key = (view, recipe, fold)
        with self._lock(key):
            if key not in self._cache:
                train, valid = self._split(fold)
                X = self.data.views[view].X
                pre = Preprocessor(recipe).fit(X.iloc[train], self.profile(view, fold))
                self._cache[key] = (pre, pre.transform(X.iloc[train]), pre.transform(X.iloc[valid]))
        return self._cache[key]


# how CUDA libraries word an allocation failure (torch raises its own OutOfMemoryError; XGBoost an XGBoostError)
_OOM_WORDS = ("out of memory", "cudaerrormemoryallocation", "memory allocation error", "std::bad_alloc", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` reports exhausted host or GPU memory (CUDA libraries raise their own types for it)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return any(word in str(exc).lower() for word in _OOM_WORDS)


def _status_of(exc: BaseException) -> str:
    if is_out_of_memory(exc):
        return "oom"
    if isinstance(exc, TrialPruned):
        return "pruned"
    return "failed"


def _latency(candidate: FittedCandidate, rows: pd.DataFrame) -> tuple[float, float]:
    """(ms per 1k rows in batch, p95 ms of one-row predictions), preprocessing included."""
    batch = rows.iloc[:BATCH_SAMPLE_ROWS]
    t0 = time.perf_counter()
    candidate.predict_raw(batch)
    per_1k = (time.perf_counter() - t0) * 1000.0 / len(batch) * 1000.0
    singles: list[float] = []
    for i in range(min(LATENCY_SAMPLES, len(rows))):
        row = rows.iloc[i : i + 1]
        t0 = time.perf_counter()
        candidate.predict_raw(row)
        singles.append((time.perf_counter() - t0) * 1000.0)
        if len(singles) >= 5 and sum(singles) > LATENCY_MAX_S * 1000.0:
            break
    return per_1k, float(np.percentile(singles, 95))


def near_constant(raw: np.ndarray, y: np.ndarray) -> bool:
    """Whether predictions barely vary across rows: every class probability within 0.001, or (regression)
    a spread under 0.1 % of the target's. Such a model ranks nothing, whatever its score says."""
    raw = np.asarray(raw, dtype=np.float64)
    if len(raw) < 2:
        return False
    if raw.ndim == 2:
        return bool((raw.max(axis=0) - raw.min(axis=0)).max() < FLAT_PROBA_SPREAD)
    scale = float(np.std(y)) if len(y) > 1 else 0.0
    return bool(np.std(raw) <= FLAT_VALUE_SPREAD * max(scale, 1e-12))


def evaluate(
    backend: Backend,
    params: Mapping[str, Any],
    record: TrialRecord,
    data: SearchData,
    task: Task,
    ctx: FitContext,
    cache: FoldCache,
    deadline: Deadline,
    on_fold: Callable[[int, float], None] | None = None,
    folds: Callable[[], int] | None = None,
    first_fold_all: bool = False,
) -> tuple[TrialRecord, list[FittedCandidate]]:
    """Fit `backend` with `params` on the planned folds; fill `record`; return it and the fold models of the
    first k-fold repeat (fold 0 first: the refit fallback, and together a bag; empty when nothing scored).

    On big data a screening fit on a row sample comes first. `on_fold(fold, loss)` is called
    after it (fold `SCREEN`) and after each fold, and may raise TrialPruned. `folds()` is how many
    of the shared splits the plan uses now (the search may shrink it after its first fold); a
    deadline reached after some folds leaves a "partial" score over those. `first_fold_all` lets
    fold 0 use the whole deadline (the search's first fit: a complete model before anything else).
    """
    started = time.perf_counter()
    planned = folds if folds is not None else (lambda: len(data.splits))
    oof_sum = oof_count = None  # repeated k-fold predicts each row once per repeat: average them
    fold_scores: list[float] = []
    fold_metrics: dict[str, list[float]] = {m.name: [] for m in task.metrics}
    fit_s = 0.0
    fitted: list[FittedCandidate] = []
    try:
        if data.screen is not None:
            pre, X_train, X_valid = cache.get(record.features, backend.recipe, SCREEN)
            train, valid = data.screen
            t0 = time.perf_counter()
            model = backend.fit(X_train, data.y[train], params, ctx, deadline.earlier(0.25 * deadline.remaining()),
                                eval_set=(X_valid, data.y[valid]))
            fit_s += time.perf_counter() - t0
            record.screen_score = task.metric.score(data.y[valid], model.predict(X_valid))
            if on_fold is not None:
                on_fold(SCREEN, task.metric.loss(record.screen_score))
        fold = 0
        while fold < planned():
            n_folds = planned()
            if deadline.expired():
                record.status = "partial" if fold else "timeout"
                record.error = f"deadline reached after {fold} of {n_folds} folds"
                break
            train, valid = data.splits[fold]
            pre, X_train, X_valid = cache.get(record.features, backend.recipe, fold)
            y_train, y_valid = data.y[train], data.y[valid]
            # share what is left evenly among the remaining folds
            share = 1.0 if fold == 0 and first_fold_all else 1.0 / (n_folds - fold)
            fold_deadline = deadline.earlier(deadline.remaining() * share)
            t0 = time.perf_counter()
            model = backend.fit(X_train, y_train, params, ctx, fold_deadline, eval_set=(X_valid, y_valid))
            fit_s += time.perf_counter() - t0
            raw = model.predict(X_valid)
            if not np.all(np.isfinite(raw)):
                raise ValueError("the model produced NaN or infinite predictions")
            if oof_sum is None:
                oof_sum, oof_count = np.zeros((len(data.y), *raw.shape[1:])), np.zeros(len(data.y))
            oof_sum[valid] += raw
            oof_count[valid] += 1
            for metric in task.metrics:
                fold_metrics[metric.name].append(metric.score(y_valid, raw))
            fold_scores.append(fold_metrics[task.metric.name][-1])
            if model.info.n_iterations is not None:
                record.n_iterations.append(int(model.info.n_iterations))
            record.truncated |= model.info.truncated
            record.fold_truncated.append(bool(model.info.truncated))
            if fold < data.folds_per_repeat:  # a later repeat's models would predict the same rows again
                fitted.append(FittedCandidate(backend, pre, model, params, flat=near_constant(raw, y_valid)))
            if on_fold is not None:
                on_fold(fold, task.metric.loss(fold_scores[-1]))
            fold += 1
    except Exception as exc:  # any candidate failure is a leaderboard row, not a crash
        record.status = _status_of(exc)
        record.error = "" if isinstance(exc, TrialPruned) else f"{type(exc).__name__}: {exc}"
        if record.status == "failed":
            logger.debug("trial %s failed:\n%s", record.model_id, traceback.format_exc())
    record.fit_s = fit_s
    record.duration_s = time.perf_counter() - started
    if record.status not in SCORED or not fitted:
        return record, []
    n = planned()
    fitted = fitted[:n]
    if len(fold_scores) > n:  # the plan shrank below the folds this trial had scored: compare on the same ones
        if len(record.n_iterations) == len(fold_scores):
            record.n_iterations = record.n_iterations[:n]
        record.fold_truncated = record.fold_truncated[:n]
        fold_scores = fold_scores[:n]
        fold_metrics = {name: vals[:n] for name, vals in fold_metrics.items()}
    record.fold_scores = fold_scores
    record.fold_metrics = fold_metrics
    record.score_mean = float(np.mean(fold_scores))
    record.score_std = float(np.std(fold_scores)) if len(fold_scores) > 1 else 0.0
    record.metrics = {name: float(np.mean(vals)) for name, vals in fold_metrics.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = (-1,) + (1,) * (oof_sum.ndim - 1)
        record.oof = np.where(oof_count.reshape(shape) > 0, oof_sum / oof_count.reshape(shape), np.nan)
    valid_rows = data.views[record.features].X.iloc[data.splits[0][1]]
    record.predict_ms_per_1k, record.predict_ms_p95 = _latency(fitted[0], valid_rows)
    record.model_mb = fitted[0].model.size_bytes() / 1e6
    record.verdicts = verdicts(task.criteria, record.measures())
    record.duration_s = time.perf_counter() - started
    return record, fitted


def refit_rounds(record: TrialRecord) -> int | None:
    """Rounds for the final refit: the folds' mean best round, scaled for the larger data."""
    if not record.n_iterations:
        return None
    return max(1, int(math.ceil(np.mean(record.n_iterations) * REFIT_ROUNDS_FACTOR)))


def refit_estimate(record: TrialRecord, data: SearchData) -> float:
    """Seconds a refit on all rows is expected to take, from the fold fits."""
    n_fits = len(record.fold_scores) or len(data.splits)  # a partial trial fitted fewer folds
    if not math.isfinite(record.fit_s) or n_fits == 0:
        return 0.0
    per_fold = record.fit_s / n_fits
    # a fold trained on part of the rows; all rows cost proportionally more
    scale = len(data.y) / max(1, len(data.splits[0][0]))
    return per_fold * scale * 1.2


def refit(
    backend: Backend,
    record: TrialRecord,
    data: SearchData,
    ctx: FitContext,
    deadline: Deadline,
    cache: FoldCache | None = None,
    preprocessors: dict[tuple[str, str], Preprocessor] | None = None,
) -> FittedCandidate:
    """Fit the preprocessor and the winning configuration on every row, by `deadline`.

    `preprocessors` caches the all-rows preprocessor per (view, recipe), so ensemble members share
    it; `cache` reuses the search's column selections (a fresh one selects on all rows).
    """
    cache = FoldCache(data) if cache is None else cache
    shared = {} if preprocessors is None else preprocessors
    key = (record.features, backend.recipe)
    X_all = data.views[record.features].X
    if key not in shared:
        shared[key] = Preprocessor(backend.recipe).fit(X_all, cache.profile(record.features, None))
    pre = shared[key]
    X_in, rounds = pre.transform(X_all), refit_rounds(record)
    try:
        model = backend.fit(X_in, data.y, record.params, ctx, deadline, n_iterations=rounds)
    except Exception as exc:
        # all rows may not fit in GPU memory where a fold did: the CPU has more
        if ctx.device is Device.CPU or Device.CPU not in backend.devices or not is_out_of_memory(exc):
            raise
        logger.warning("refit of %s ran out of GPU memory (%s); refitting on CPU", record.model_id, exc)
        model = backend.fit(X_in, data.y, record.params, replace(ctx, device=Device.CPU), deadline, n_iterations=rounds)
    return FittedCandidate(backend, pre, model, record.params)
