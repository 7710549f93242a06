"""What `fit` packages, and what it may claim about it.

The package holds the best-ranked candidate whose model is complete: refitted on every row when the
budget allows (judged by the cross-validation estimate of its configuration). Else, on k-fold validation,
its bag: the k fold models averaged (AutoGluon's bagging), judged by the k-fold score, which is the bag's
own (each row's out-of-fold prediction came from one of its models), latency and size counting k models;
else (holdout, or a bag incomplete or failing a criterion one model passes) its fold-0 model (judged on
its own validation fold: the CV mean describes other models). A model the deadline cut far
below its configuration, or one whose predictions barely vary, is never packaged while a complete
candidate exists; when none is complete, the best one is packaged and flagged, with a warning.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.pipeline import Member
from backends.contracts import FitInfo
from backends.errors import SearchError
from backends.numeric import Stacker
from search.artifacts import MODEL
from search.budget import Budget
from search.controller import SearchOutcome
from search.criteria import verdicts
from search.ensemble import ensemble_record
from search.evaluate import FittedCandidate, near_constant, refit_rounds
from search.finalize import RefitPlan
from search.leaderboard import TrialRecord, failure_reasons
from search.stacking import restack
from search.task import Task

logger = logging.getLogger(__name__)

MIN_ROUNDS = 10  # a deadline-stopped fit with fewer rounds (or epochs), and nothing to compare with, is cut short
CUT_FRACTION = 0.5  # ... or with under this fraction of the rounds its configuration reached on other folds
FLAT_SAMPLE_ROWS = 2_000  # rows a refitted model predicts to check that its predictions vary
_NO_ENSEMBLE_REFIT = "refitting every member does not fit the budget"
MAX_CANDIDATES = 10  # candidates tried in rank order before the best incomplete one is packaged
MIN_FIRST_FIT_ESTIMATE_S = 2.0  # what a first fit is assumed to need when none was measured
OPERATIONAL = ("predict_ms_per_1k", "predict_ms_p95", "model_mb")  # measured on one model: a bag of k costs k times


@dataclass
class Packaged:
    """The members to package, the leaderboard row they come from, and the scores they are judged by.

    `basis` is "bag" for bags of fold models (their k-fold score), "cv" for models refitted on every
    row (the CV estimate of their configuration; also an ensemble mixing bags and refits) or "fold" for
    fold-0 models (their own validation fold). `complete` is False when every candidate's
    model was cut short or flat, and `notes` say what was skipped and why.
    """

    members: list[Member]
    record: TrialRecord
    basis: str
    metrics: dict[str, float]
    verdicts: dict[str, bool]
    refit: dict[str, Any]
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    stacker: Stacker | None = None  # the stacking layer over the members, for a stack

    @property
    def passed(self) -> bool:
        return all(self.verdicts.values())

    @property
    def model_id(self) -> str:
        return self.record.model_id

    def judged_on(self) -> str:
        """One phrase: what the claimed scores were measured on."""
        if self.basis == "bag":
            k = len(self.record.fold_scores[: self.refit.get("bagged", len(self.record.fold_scores))])
            return f"its {k}-fold validation score, the out-of-fold predictions of the {k} fold models it averages (its fold models, bagged)"
        if self.basis == "cv":
            return f"the {len(self.record.fold_scores)}-fold validation estimate of its configuration (refitted on all rows)"
        return f"its own validation fold (a model trained on {self.refit['n_rows']} rows, not refitted on all rows)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "basis": self.basis,
            "judged_on": self.judged_on(),
            "metrics": self.metrics,
            "verdicts": self.verdicts,
            "passed_all": self.passed,
            "complete": self.complete,
            "notes": self.notes,
        }


def cut_short(info: FitInfo, reference: float | None) -> bool:
    """Whether the deadline stopped a fit far below its configuration: under `CUT_FRACTION` of `reference`
    rounds (what the configuration reached where it was not stopped), or under `MIN_ROUNDS` without one."""
    if not info.truncated or info.n_iterations is None:
        return False
    floor = CUT_FRACTION * reference if reference else MIN_ROUNDS
    return info.n_iterations < floor


def untruncated_rounds(record: TrialRecord) -> float | None:
    """The median rounds of the trial's folds that the deadline did not stop; None if every fold was stopped."""
    if len(record.n_iterations) != len(record.fold_truncated):
        return None
    rounds = [n for n, cut in zip(record.n_iterations, record.fold_truncated) if not cut]
    return float(np.median(rounds)) if rounds else None


def fold_problem(record: TrialRecord, fitted: FittedCandidate) -> str | None:
    """Why the fold-0 model of `record` must not be packaged while a complete one exists, or None."""
    info = fitted.model.info
    if cut_short(info, untruncated_rounds(record)):
        return f"its fold-0 model was stopped by the deadline after {info.n_iterations} rounds"
    if fitted.flat:
        return "its fold-0 model predicts nearly the same value for every row"
    return None


def refit_problem(record: TrialRecord, fitted: FittedCandidate, X: Any, y: np.ndarray) -> str | None:
    """Why a model refitted on all rows must not be packaged while a complete one exists, or None (`X`: raw input rows)."""
    if record.fold_truncated and all(record.fold_truncated) and record.n_iterations and max(record.n_iterations) < MIN_ROUNDS:
        # its CV estimate describes cut-short models, and the refit repeats their round count
        return f"the deadline stopped every fold of its configuration after at most {max(record.n_iterations)} rounds"
    info, asked = fitted.model.info, refit_rounds(record)
    if cut_short(info, asked):
        return f"its refit was stopped by the deadline after {info.n_iterations} of {asked} rounds"
    rows = np.arange(min(len(y), FLAT_SAMPLE_ROWS))
    if near_constant(fitted.predict_raw(X.iloc[rows]), y[rows]):
        return "its refit predicts nearly the same value for every row"
    return None


def judged(record: TrialRecord, basis: str, criteria: Sequence[Any], operational: dict[str, float] | None = None,
           k: int = 0) -> tuple[dict[str, float], dict[str, bool]]:
    """The metrics and verdicts a package may claim: the CV means of a refit, the fold-0 scores of a fold model, the
    means over the first `k` folds (the repeat its fold models come from) of a bag; `operational` replaces the
    record's latency and size (a bag's are k models')."""
    if basis == "cv":
        metrics = dict(record.metrics)
    elif basis == "bag":
        metrics = {name: float(np.mean(vals[:k])) for name, vals in record.fold_metrics.items() if vals}
    else:
        metrics = {name: vals[0] for name, vals in record.fold_metrics.items() if vals}
    metrics = metrics or dict(record.metrics)
    if basis == "cv" and not operational:
        return metrics, dict(record.verdicts)
    return metrics, verdicts(criteria, record.measures() | (operational or {}) | metrics)


def member(record: TrialRecord, fitted: FittedCandidate, weight: float) -> Member:
    """A pipeline member from a fitted candidate and its leaderboard record."""
    return Member(
        model_id=record.model_id, backend=record.backend, params=dict(record.params),
        preprocessor=fitted.preprocessor, model=fitted.model, weight=weight, features=record.features,
    )


class Finalizer:
    """Chooses and fits what `fit` packages (see the module docstring), within the budget's refit deadline."""

    def __init__(self, outcome: SearchOutcome, plan: RefitPlan, task: Task, budget: Budget) -> None:
        self.outcome, self.plan, self.task, self.budget = outcome, plan, task, budget
        self.data = plan.data  # the validation plan the search ended with
        self.criteria = task.criteria
        self.notes: list[str] = []

    def run(self) -> Packaged:
        """The first complete candidate in rank order; else the best incomplete one, flagged."""
        ranked = [r for r in self.outcome.leaderboard.records() if r.ok]
        fallback: Packaged | None = None
        for record in ranked[:MAX_CANDIDATES]:
            if fallback is not None and self._unaffordable(record):
                self.notes.append(f"{record.model_id} skipped: no time left to refit it and no fold model kept")
                continue
            try:
                packaged, problem = self._ensemble(record) if record.is_ensemble else self._single(record)
            except Exception as exc:  # a refit that fails only moves on to the next candidate
                logger.warning("could not package %s (%s: %s); trying the next candidate", record.model_id, type(exc).__name__, exc)
                self.notes.append(f"{record.model_id} skipped: {type(exc).__name__}: {exc}")
                continue
            if problem is None:
                packaged.notes = self.notes
                return packaged
            self.notes.append(f"{record.model_id} skipped: {problem}")
            logger.info("not packaging %s: %s", record.model_id, problem)
            if fallback is None:
                fallback = packaged
                fallback.complete = False
        if fallback is None:
            raise SearchError("Every candidate failed to refit or package; rerun with a larger time_budget.")
        fallback.notes = self.notes
        return fallback

    # -- one candidate ----------------------------------------------------------------
    def _single(self, record: TrialRecord) -> tuple[Packaged, str | None]:
        """Refit on all rows when the budget allows, else its bag, else the fold-0 model; the problem that bars it, if any."""
        fold_model = self.outcome.fold_model(record.number)
        deadline = self.budget.refit_deadline()
        estimate = self.plan.estimate(record)
        reason = ""
        if fold_model is None or deadline.remaining() >= estimate:
            try:
                fitted = self._refit(record, deadline)
                problem = refit_problem(record, fitted, self.data.views[record.features].X, self.data.y)
                if problem is None or fold_model is None:
                    return self._packaged([(record, fitted, 1.0)], record, "cv", self._refit_note(fitted)), problem
                reason = problem
            except Exception as exc:
                if fold_model is None:
                    raise
                reason = f"refit failed: {type(exc).__name__}: {exc}"
                logger.warning("refit of %s on all rows failed (%s); trying its bag or fold-0 model", record.model_id, exc)
        else:
            reason = f"not enough time left for a refit (needs ~{estimate:.1f}s, {deadline.remaining():.1f}s left)"
        if self._bag(record):
            models = self.outcome.fold_models(record.number)
            note = {"on_all_rows": False, "bagged": len(models), "n_rows": len(self.data.y), "reason": reason}
            logger.info("%s: its %d fold models, bagged, instead of a refit: %s", record.model_id, len(models), reason)
            return self._packaged([(record, m, 1.0) for m in models], record, "bag", note), None
        note = self._fold_note(reason)
        logger.info("%s: its fold-0 model (%d rows) instead of a refit: %s", record.model_id, note["n_rows"], reason)
        return self._packaged([(record, fold_model, 1.0)], record, "fold", note), fold_problem(record, fold_model)

    def _bag(self, record: TrialRecord) -> bool:
        """Whether `record` is packaged as its bag: complete (see `_complete_bag`), and passing as many criteria
        as one of its models would (a bag predicts k times as slowly and weighs k times as much)."""
        if not self._complete_bag(record):
            return False
        k = len(self.outcome.fold_models(record.number))
        one = sum(judged(record, "bag", self.criteria, k=k)[1].values())
        bag = sum(judged(record, "bag", self.criteria, self._operational({record.model_id: (record, k)}), k=k)[1].values())
        if bag < one:
            self.notes.append(f"{record.model_id} not bagged: {k} fold models fail a criterion one model passes")
            return False
        return True

    def _complete_bag(self, record: TrialRecord) -> bool:
        """Whether every fold model of the plan's k-fold is stored for `record`, none cut short or flat."""
        if not self.plan.bags() or record.partial or MODEL not in record.artifacts:
            return False
        models = self.outcome.fold_models(record.number)
        if len(models) != self.data.folds_per_repeat:
            return False
        reference = untruncated_rounds(record)
        return not any(cut_short(m.model.info, reference) or m.flat for m in models)

    def _ensemble(self, record: TrialRecord) -> tuple[Packaged, str | None]:
        """Every member refitted, or (when the search said there is no time) as its bag on k-fold data, else its fold-0
        model; members that fail or come out incomplete are dropped and the rest rescored; None left, or one:
        the problem / a single model."""
        ensemble = self.outcome.combined(record.number)
        records = {r.number: r for r in self.outcome.leaderboard.records()}
        chosen = sorted(ensemble.weights.items(), key=lambda kv: -kv[1])
        kept: list[tuple[TrialRecord, list[FittedCandidate], float]] = []
        notes: list[dict[str, Any]] = []
        deadline = self.budget.refit_deadline()
        bagged = {n for n, _ in chosen if not ensemble.refit and self._complete_bag(records[n])}
        # a member whose fold-0 model is cut short or flat is dropped whatever the others hold: it does not stop them being bags
        doomed = {n for n, _ in chosen if not ensemble.refit and n not in bagged and self._fold_doomed(records[n])}
        if len(bagged) < len(chosen) - len(doomed):  # bags and fold-0 models mixed would claim scores no model of it has
            bagged = set()
        estimates = [0.0 if n in bagged else self.plan.estimate(records[n]) for n, _ in chosen]
        for i, (number, weight) in enumerate(chosen):
            rec = records[number]
            try:
                if number in bagged:
                    fitted, problem = self.outcome.fold_models(number), None
                elif ensemble.refit:
                    share = self.plan.share(estimates, i)
                    logger.debug("refitting member %s: ~%.1fs expected, %.1fs of %.1fs left", rec.model_id, estimates[i],
                                 deadline.remaining() * share, deadline.remaining())
                    fitted = [self._refit(rec, deadline.earlier(deadline.remaining() * share))]
                    problem = refit_problem(rec, fitted[0], self.data.views[rec.features].X, self.data.y)
                else:
                    one = self.outcome.fold_model(number)
                    assert one is not None
                    fitted, problem = [one], fold_problem(rec, one)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                logger.warning("ensemble member %s dropped: %s", rec.model_id, problem)
                notes.append({"model_id": rec.model_id, "dropped": problem})
                self.notes.append(f"{record.model_id} member {rec.model_id} dropped: {problem}")
                continue
            kept.append((rec, fitted, weight))
            info = fitted[0].model.info
            notes.append({"model_id": rec.model_id, "n_iterations": info.n_iterations, "truncated": info.truncated}
                         | ({"bagged": len(fitted)} if number in bagged else {}))
        if not kept:
            raise SearchError("every ensemble member failed to refit or came out incomplete")
        k = self.data.folds_per_repeat
        all_bags = all(rec.number in bagged for rec, _, _ in kept)
        basis = "bag" if all_bags else "cv" if ensemble.refit else "fold"
        if len(kept) == 1:
            rec, fitted, _ = kept[0]
            self.notes.append(f"{record.model_id} reduced to its one complete member {rec.model_id}")
            if all_bags:
                note = {"on_all_rows": False, "bagged": len(fitted), "n_rows": len(self.data.y)}
            else:
                note = self._refit_note(fitted[0]) if ensemble.refit else self._fold_note(_NO_ENSEMBLE_REFIT)
            return self._packaged([(rec, m, 1.0) for m in fitted], rec, basis, note), None
        stacker = ensemble.stacker
        if len(kept) < len(chosen):
            # what is left is another ensemble (or stack, its layer refitted): claim its own scores, on the same folds
            if stacker is not None:
                restacked = restack([r for r, _, _ in kept], self.data.y, self.data.splits, self.task, record.number)
                record, stacker = restacked.record, restacked.stacker
            else:
                total = sum(w for _, _, w in kept)
                record = ensemble_record([(r, w / total) for r, _, w in kept], self.data.y, self.data.splits, self.task, record.number)
            self.notes.append(f"{record.model_id} packaged with {len(kept)} of {len(chosen)} members, rescored")
        if all_bags:
            note = {"on_all_rows": False, "bagged": k, "n_rows": len(self.data.y), "reason": _NO_ENSEMBLE_REFIT, "members": notes}
        elif ensemble.refit:
            note = {"on_all_rows": True, "n_rows": len(self.data.y), "members": notes}
        else:
            note = self._fold_note(_NO_ENSEMBLE_REFIT) | {"members": notes}
            logger.warning("packaging the ensemble's fold-0 models (%d rows each): %s", note["n_rows"], _NO_ENSEMBLE_REFIT)
        # a stack's layer weighs the members; within a member, its bag averages the fold models
        parts = [(rec, m, (1.0 if stacker else w) / len(fitted)) for rec, fitted, w in kept for m in fitted]
        packaged = self._packaged(parts, record, basis, note)
        packaged.stacker = stacker
        return packaged, None

    # -- helpers ------------------------------------------------------------------------
    def _fold_doomed(self, record: TrialRecord) -> bool:
        """Whether `record`'s fold-0 model, the one it would be packaged as without a refit, must not be packaged."""
        fold_model = self.outcome.fold_model(record.number)
        return fold_model is not None and fold_problem(record, fold_model) is not None

    def _unaffordable(self, record: TrialRecord) -> bool:
        """A single candidate that could only be refitted, with the refit time gone: trying it would be a wasted fit."""
        return not record.is_ensemble and self.outcome.fold_model(record.number) is None and self.budget.refit_deadline().expired()

    def _refit(self, record: TrialRecord, deadline: Any) -> FittedCandidate:
        return self.plan.refit(record, deadline)

    def _fold_note(self, reason: str) -> dict[str, Any]:
        return {"on_all_rows": False, "n_rows": len(self.data.splits[0][0]), "reason": reason}

    def _refit_note(self, fitted: FittedCandidate) -> dict[str, Any]:
        info = fitted.model.info
        return {"on_all_rows": True, "n_rows": len(self.data.y), "n_iterations": info.n_iterations, "truncated": info.truncated}

    @staticmethod
    def _operational(counts: dict[str, tuple[TrialRecord, int]]) -> dict[str, float]:
        """Latency and size of a package holding `count` models of each record (each measured on one model)."""
        return {m: sum(getattr(rec, m) * n for rec, n in counts.values()) for m in OPERATIONAL}

    def _packaged(self, parts: Sequence[tuple[TrialRecord, FittedCandidate, float]], record: TrialRecord, basis: str,
                  note: dict[str, Any]) -> Packaged:
        total = sum(w for _, _, w in parts) or 1.0
        members = [member(rec, fitted, w / total) for rec, fitted, w in parts]
        counts = Counter(rec.model_id for rec, _, _ in parts)
        by_id = {rec.model_id: rec for rec, _, _ in parts}
        operational = self._operational({i: (by_id[i], n) for i, n in counts.items()})
        metrics, verdict = judged(record, basis, self.criteria, operational, k=self.data.folds_per_repeat)
        return Packaged(members, record, basis, {k: v for k, v in metrics.items() if math.isfinite(v)}, verdict, note)


def no_model_error(board: Any, budget: Budget, before_search_s: float) -> SearchError:
    """Why no candidate has a score, as one error: the trials' own failures, or a budget too small, naming the
    smallest budget that would afford one fit (the time spent before the search plus a first fit)."""
    records = [r for r in board.records() if not r.is_ensemble]
    failures = [r for r in records if r.status in ("failed", "oom")]
    if records and len(failures) == len(records):
        return SearchError(f"No candidate finished successfully ({failure_reasons(failures)}); check the data or the backends.")
    durations = [r.duration_s for r in records if math.isfinite(r.duration_s)]
    first_fit = max([MIN_FIRST_FIT_ESTIMATE_S, *(2 * d for d in durations)])
    reserve = budget.packaging_reserve() + budget.slack()
    needed = math.ceil(max(budget.seconds + 1, before_search_s + first_fit + reserve) * 1.2)
    spent = "no trial could start" if not records else f"{len(records)} trial(s) ran out of time before a first fold was scored"
    return SearchError(
        f"No model could be trained in time_budget={budget.seconds:g}s: reading and preparing the data took "
        f"{before_search_s:.1f}s and {spent}; rerun with time_budget >= {needed}."
    )
