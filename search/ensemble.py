"""Greedy ensemble selection (Caruana et al., 2004) over the candidates' out-of-fold predictions.

Members are added one at a time, with replacement, each time the one whose addition makes
the averaged out-of-fold prediction score best; weights are the selection counts of the
best-scoring prefix. The ensemble becomes a leaderboard row of its own, scored on the same
folds as every candidate, and competes with them under the same selection rule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backends.contracts import ENSEMBLE_BACKEND, Deadline
from backends.numeric import Stacker, blend
from search.criteria import verdicts
from search.leaderboard import TrialRecord
from search.metrics import Metric
from search.splits import Split
from search.task import Task

logger = logging.getLogger(__name__)

MAX_POOL = 10  # best candidates the selection may draw from, besides the best of each other family
ROUNDS = 25


@dataclass(frozen=True)
class Ensemble:
    """Weights over leaderboard records (by trial number); the record describes it like a candidate.

    `refit` False: the members' fold-0 models are packaged as they are (no time to refit them all).
    `stacker` set: a stacking layer combines the members (search.stacking), the weights only rank them.
    """

    weights: dict[int, float]
    record: TrialRecord
    refit: bool = True
    stacker: Stacker | None = None


def greedy_weights(
    oofs: Sequence[np.ndarray], y: np.ndarray, metric: Metric, rounds: int = ROUNDS, deadline: Deadline | None = None
) -> np.ndarray:
    """Caruana selection with replacement over `oofs` (rows already restricted to scored ones).

    Returns normalized weights of the prefix that scored best; ties keep the smaller ensemble.
    """
    n = len(oofs)
    counts = np.zeros(n)
    total = np.zeros_like(oofs[0], dtype=np.float64)
    best_loss, best_counts = math.inf, None
    for r in range(1, rounds + 1):
        losses = [metric.loss(metric.score(y, (total + oof) / r)) for oof in oofs]
        pick = int(np.argmin(losses))  # first index on ties: the better-ranked candidate
        counts[pick] += 1
        total += oofs[pick]
        if losses[pick] < best_loss - 1e-12:
            best_loss, best_counts = losses[pick], counts.copy()
        if deadline is not None and deadline.expired():
            break
    assert best_counts is not None
    return best_counts / best_counts.sum()


def selection_pool(ranked: Sequence[TrialRecord], size: int = MAX_POOL) -> list[TrialRecord]:
    """The `size` best of `ranked`, plus the best of every family not among them: a family whose
    errors differ from the leaders' often earns a weight even when it ranks lower alone."""
    pool = list(ranked[:size])
    families = {r.backend for r in pool}
    for r in ranked[size:]:
        if r.backend not in families:
            pool.append(r)
            families.add(r.backend)
    return pool


def build_ensemble(
    pool: Sequence[TrialRecord],
    y: np.ndarray,
    splits: Sequence[Split],
    task: Task,
    number: int,
    deadline: Deadline | None = None,
) -> Ensemble | None:
    """Select an ensemble from `pool` (ranked records with out-of-fold predictions).

    Returns None when fewer than two candidates qualify or the selection keeps a single one.
    """
    pool = [r for r in pool if r.ok and r.oof is not None]
    if len(pool) < 2:
        return None
    scored = np.stack([rows_finite(r.oof) for r in pool]).all(axis=0)
    if not scored.any():
        return None
    weights = greedy_weights([r.oof[scored] for r in pool], y[scored], task.metric, deadline=deadline)
    chosen = [(rec, float(w)) for rec, w in zip(pool, weights) if w > 0]
    if len(chosen) < 2:
        return None
    record = ensemble_record(chosen, y, splits, task, number)
    logger.info(
        "ensemble of %d: %s -> %s=%.5f",
        len(chosen), ", ".join(f"{r.model_id}x{w:.2f}" for r, w in chosen), task.metric.name, record.score_mean,
    )
    return Ensemble({rec.number: w for rec, w in chosen}, record)


def rows_finite(oof: np.ndarray) -> np.ndarray:
    return np.isfinite(oof).all(axis=1) if oof.ndim == 2 else np.isfinite(oof)


def ensemble_record(
    chosen: Sequence[tuple[TrialRecord, float]], y: np.ndarray, splits: Sequence[Split], task: Task, number: int
) -> TrialRecord:
    """The leaderboard row of a blend of `chosen` (record, weight), scored on the same folds as the candidates."""
    oof = blend([rec.oof for rec, _ in chosen], [w for _, w in chosen])
    return combined_record(chosen, oof, y, splits, task, number, ENSEMBLE_BACKEND)


def combined_record(
    chosen: Sequence[tuple[TrialRecord, float]], oof: np.ndarray, y: np.ndarray, splits: Sequence[Split], task: Task,
    number: int, backend: str,
) -> TrialRecord:
    """The leaderboard row of a combination of `chosen` (record, weight) whose out-of-fold predictions are `oof`:
    scored on the same folds as the candidates (rows it predicts); operational measures add up over members."""
    fold_metrics: dict[str, list[float]] = {m.name: [] for m in task.metrics}
    for _, valid in splits:
        rows = valid[rows_finite(oof[valid])]
        if len(rows):
            for metric in task.metrics:
                fold_metrics[metric.name].append(metric.score(y[rows], oof[rows]))
    members = [rec for rec, _ in chosen]
    fold_scores = fold_metrics[task.metric.name]
    record = TrialRecord(
        number=number,
        backend=backend,
        device=",".join(sorted({r.device for r in members})),
        recipe="+".join(sorted({r.recipe for r in members})),
        features="+".join(sorted({r.features for r in members})),
        params={"members": {rec.model_id: round(w, 6) for rec, w in chosen}},
        score_mean=float(np.mean(fold_scores)),
        score_std=float(np.std(fold_scores)) if len(fold_scores) > 1 else 0.0,
        fold_scores=fold_scores,
        fold_metrics=fold_metrics,
        metrics={name: float(np.mean(vals)) for name, vals in fold_metrics.items()},
        fit_s=sum(r.fit_s for r in members),
        predict_ms_per_1k=sum(r.predict_ms_per_1k for r in members),
        predict_ms_p95=sum(r.predict_ms_p95 for r in members),
        model_mb=sum(r.model_mb for r in members),
        duration_s=sum(r.duration_s for r in members),
        source=backend,
    )
    record.verdicts = verdicts(task.criteria, record.measures())
    record.oof = oof
    return record
