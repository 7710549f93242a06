"""A stacking layer over the candidates' out-of-fold predictions, a candidate like the greedy ensemble.

The layer is linear with non-negative coefficients (H2O's stacked-ensemble metalearner default): for
regression a non-negative least-squares fit of the target on the members' predictions, for classification a
weighted geometric pooling of their probabilities with per-class offsets, fitted by multinomial log loss
(`backends.numeric.Stacker`). Where the greedy blend can only average, this also sharpens or softens the
probabilities and corrects class priors, which is where it gains on log loss.

Its score must not come from the rows it was fitted on: the layer is cross-fitted (5 folds over the rows
every member predicts), and those predictions are scored on the candidates' own folds, so the stack's
leaderboard row is as honest as theirs (the greedy ensemble's weights, chosen on all rows, are slightly
optimistic by comparison). The layer packaged is then fitted on all those rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize, nnls
from sklearn.model_selection import KFold, StratifiedKFold

from backends.contracts import STACK_BACKEND, Deadline
from backends.numeric import PROBA_FLOOR, Stacker
from search.ensemble import Ensemble, combined_record, rows_finite
from search.leaderboard import TrialRecord
from search.splits import Split
from search.task import Task

logger = logging.getLogger(__name__)

CROSS_FOLDS = 5  # folds the layer is cross-fitted on
MIN_ROWS = 50  # rows every member predicts, below which a cross-fitted layer says nothing
MAX_ROWS = 100_000  # rows the layer is fitted on (a seeded sample beyond): a few parameters need no more
L2 = 1e-4  # ridge on the classification layer's parameters: pins the offsets (softmax ignores a common shift)
MIN_COEF = 1e-6  # a member whose coefficient is below this is left out of the package


def fit_stacker(preds: Sequence[np.ndarray], y: np.ndarray, classification: bool, members: Sequence[str]) -> Stacker:
    """The layer over `preds` (one out-of-fold prediction per member, rows all scored) fitted to targets `y`."""
    if not classification:
        X = np.stack([np.asarray(p, dtype=np.float64) for p in preds], axis=1)
        mean_x, mean_y = X.mean(axis=0), float(np.mean(y))
        coef, _ = nnls(X - mean_x, np.asarray(y, dtype=np.float64) - mean_y)
        return Stacker(tuple(members), tuple(map(float, coef)), (mean_y - float(mean_x @ coef),), False)
    logs = np.stack([np.log(np.clip(np.asarray(p, dtype=np.float64), PROBA_FLOOR, 1.0)) for p in preds])  # (m, n, k)
    m, n, k = logs.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), np.asarray(y, dtype=int)] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[:m], theta[m:]
        z = np.einsum("m,mnk->nk", a, logs) + b
        z -= z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -float((onehot * log_p).sum()) / n + 0.5 * L2 * float(theta @ theta)
        g = (np.exp(log_p) - onehot) / n
        return value, np.concatenate([np.einsum("mnk,nk->m", logs, g), g.sum(axis=0)]) + L2 * theta

    start = np.concatenate([np.full(m, 1.0 / m), np.zeros(k)])  # the geometric mean of the members
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * m + [(None, None)] * k,
                      options={"maxiter": 200})
    return Stacker(tuple(members), tuple(map(float, result.x[:m])), tuple(map(float, result.x[m:])), True)


def cross_folds(y: np.ndarray, classification: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds the layer is cross-fitted on (`CROSS_FOLDS`, stratified where every class can be)."""
    counts = np.bincount(np.asarray(y, dtype=int)) if classification else None
    stratify = counts is not None and counts[counts > 0].min() >= CROSS_FOLDS
    splitter = (StratifiedKFold if stratify else KFold)(CROSS_FOLDS, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y if stratify else None))


def cross_fit(preds: Sequence[np.ndarray], y: np.ndarray, classification: bool, seed: int) -> np.ndarray:
    """Out-of-fold predictions of the layer itself: each row predicted by a layer fitted on the other folds."""
    ids = [str(i) for i in range(len(preds))]
    out = np.zeros_like(np.asarray(preds[0], dtype=np.float64))
    for train, valid in cross_folds(y, classification, seed):
        layer = fit_stacker([p[train] for p in preds], y[train], classification, ids)
        out[valid] = layer.combine([p[valid] for p in preds])
    return out


def build_stack(
    pool: Sequence[TrialRecord], y: np.ndarray, splits: Sequence[Split], task: Task, number: int,
    deadline: Deadline | None = None,
) -> Ensemble | None:
    """A stack over `pool` (ranked records with out-of-fold predictions), or None when fewer than two members
    qualify or earn a coefficient, too few rows are predicted by all of them, or the deadline passed."""
    pool = [r for r in pool if r.ok and r.oof is not None]
    if len(pool) < 2:
        return None
    scored = np.flatnonzero(np.stack([rows_finite(r.oof) for r in pool]).all(axis=0))
    if len(scored) < MIN_ROWS or (deadline is not None and deadline.expired()):
        return None
    classification = task.type.is_classification
    fit_rows = scored
    if len(fit_rows) > MAX_ROWS:
        fit_rows = np.sort(np.random.default_rng(task.seed).choice(scored, MAX_ROWS, replace=False))
    preds = [r.oof[fit_rows] for r in pool]
    layer = fit_stacker(preds, y[fit_rows], classification, [r.model_id for r in pool])
    chosen = [(rec, c) for rec, c in zip(pool, layer.coef) if c > MIN_COEF]
    if len(chosen) < 2 or (deadline is not None and deadline.expired()):
        return None
    stack = restack([rec for rec, _ in chosen], y, splits, task, number, rows=fit_rows)
    assert stack.stacker is not None
    terms = ", ".join(f"{m}x{c:.2f}" for m, c in zip(stack.stacker.members, stack.stacker.coef))
    logger.info("stack of %d: %s -> %s=%.5f", len(chosen), terms, task.metric.name, stack.record.score_mean)
    return stack


def restack(
    members: Sequence[TrialRecord], y: np.ndarray, splits: Sequence[Split], task: Task, number: int,
    rows: np.ndarray | None = None,
) -> Ensemble:
    """The stack of exactly `members`: its layer fitted on `rows` (default: every row all of them predict), its
    leaderboard row scored on the layer's cross-fitted predictions of those rows."""
    classification = task.type.is_classification
    if rows is None:
        rows = np.flatnonzero(np.stack([rows_finite(r.oof) for r in members]).all(axis=0))
    preds = [r.oof[rows] for r in members]
    layer = fit_stacker(preds, y[rows], classification, [r.model_id for r in members])
    oof = np.full_like(np.asarray(members[0].oof, dtype=np.float64), np.nan)
    oof[rows] = cross_fit(preds, y[rows], classification, task.seed)
    coef = np.asarray(layer.coef)
    weights = coef / coef.sum() if coef.sum() > 0 else np.full(len(coef), 1.0 / len(coef))
    record = combined_record(list(zip(members, weights)), oof, y, splits, task, number, STACK_BACKEND)
    record.params["layer"] = "log-linear" if classification else "linear"
    return Ensemble({rec.number: float(w) for rec, w in zip(members, weights)}, record, stacker=layer)
