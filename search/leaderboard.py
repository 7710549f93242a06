"""Trial records and the leaderboard built from them.

Ranking follows the selection rule: scored candidates first, then those passing every
declared criterion, then the primary metric, a complete candidate before a partial one
(scored on fewer folds than the plan: the deadline stopped it) at equal score. With several
feature sets, a candidate on fewer columns within noise of the best takes rank 1
(`search.selection`). Rank 1 is the selected candidate; `fit` packages it unless its model turns out incomplete (see automl.finalize).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backends.contracts import ENSEMBLE_BACKEND, STACK_BACKEND  # the combined rows' backends; still importable from here
from backends.errors import SearchError
from search.metrics import Metric
from search.selection import prefer_simpler

STATUSES = ("ok", "partial", "failed", "pruned", "timeout", "oom")
SCORED = ("ok", "partial")  # statuses with a validation score


@dataclass
class TrialRecord:
    """Everything measured about one candidate (features x backend x recipe x params)."""

    number: int
    backend: str
    device: str
    recipe: str
    params: dict[str, Any]
    features: str = "table"  # the view trained on: "table", or a synthesis recipe such as "dfs-d2"
    status: str = "ok"
    error: str = ""
    score_mean: float = math.nan
    score_std: float = math.nan
    fold_scores: list[float] = field(default_factory=list)
    fold_metrics: dict[str, list[float]] = field(default_factory=dict)  # every declared metric, per scored fold
    metrics: dict[str, float] = field(default_factory=dict)
    verdicts: dict[str, bool] = field(default_factory=dict)
    fit_s: float = math.nan
    predict_ms_per_1k: float = math.nan
    predict_ms_p95: float = math.nan
    model_mb: float = math.nan
    n_iterations: list[int] = field(default_factory=list)
    truncated: bool = False
    fold_truncated: list[bool] = field(default_factory=list)  # per scored fold: the deadline stopped its fit
    duration_s: float = math.nan
    source: str = "search"  # "portfolio" when the config came from the portfolio
    screen_score: float = math.nan  # the score of the screening fit on a row sample (big data)
    worker: str = ""  # host:pid of the process that ran it
    threads: int = 0  # host threads its fits used (0: not recorded)
    restored: bool = False  # finished by an earlier run of this study (a resumed search)
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)  # kind ("oof", "model") -> {"id", "sha256"}
    # out-of-fold predictions, kept in memory for ensembling; never serialized
    oof: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def model_id(self) -> str:
        return f"t{self.number:04d}-{self.backend}"

    @property
    def is_ensemble(self) -> bool:
        """Whether the row combines other candidates: a greedy ensemble or a stack."""
        return self.backend in (ENSEMBLE_BACKEND, STACK_BACKEND)

    @property
    def ok(self) -> bool:
        """Whether the candidate has a validation score (complete or partial)."""
        return self.status in SCORED and math.isfinite(self.score_mean)

    @property
    def partial(self) -> bool:
        return self.status == "partial"

    @property
    def passed(self) -> bool:
        return self.ok and all(self.verdicts.values())

    def measures(self) -> dict[str, float]:
        """Every value a criterion can name: model metrics and operational measures."""
        return {
            **self.metrics,
            "fit_s": self.fit_s,
            "predict_ms_per_1k": self.predict_ms_per_1k,
            "predict_ms_p95": self.predict_ms_p95,
            "model_mb": self.model_mb,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN becomes None), without the out-of-fold predictions."""
        data = asdict(self)
        data.pop("oof")
        return _json_safe(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        data = dict(data)
        for key in ("score_mean", "score_std", "fit_s", "predict_ms_per_1k", "predict_ms_p95", "model_mb", "duration_s", "screen_score"):
            if data.get(key) is None:
                data[key] = math.nan
        data["metrics"] = {k: (math.nan if v is None else v) for k, v in data.get("metrics", {}).items()}
        return cls(**data)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def failure_reasons(records: Iterable[TrialRecord]) -> str:
    """Up to five distinct "backend: status error" phrases, for an error that says why no trial succeeded."""
    return "; ".join(sorted({f"{r.backend}: {r.status} {r.error}".strip() for r in records})[:5])


class Leaderboard:
    """Every candidate of one search, ranked by the selection rule."""

    def __init__(
        self, metric: Metric, criteria_texts: Sequence[str] = (), view_columns: Mapping[str, int] | None = None,
        folds_per_repeat: int = 0,
    ) -> None:
        """`view_columns`: input columns per feature set (the simpler-set preference needs two sizes); `folds_per_repeat`:
        k of the k-fold plan, for the noise estimate."""
        self.metric = metric
        self.criteria_texts = list(criteria_texts)
        self.view_columns = dict(view_columns or {})
        self.folds_per_repeat = folds_per_repeat
        self._records: dict[int, TrialRecord] = {}

    def add(self, record: TrialRecord) -> None:
        self._records[record.number] = record

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[TrialRecord]:
        """Records in rank order (best first)."""
        ranked = sorted(self._records.values(), key=self._key)
        return prefer_simpler(ranked, self.metric, self.view_columns, self.folds_per_repeat)

    def _key(self, r: TrialRecord) -> tuple[int, int, float, int, int]:
        loss = self.metric.loss(r.score_mean) if r.ok else math.inf
        return (0 if r.ok else 1, 0 if r.passed else 1, loss, 1 if r.partial else 0, r.number)

    def best(self) -> TrialRecord:
        """The selected candidate; SearchError if no trial succeeded."""
        ranked = self.records()
        if not ranked or not ranked[0].ok:
            reasons = failure_reasons(ranked)
            raise SearchError(
                "No candidate finished successfully"
                + (f" ({reasons})" if reasons else "")
                + "; raise time_budget or check the data."
            )
        return ranked[0]

    def any_passed(self) -> bool:
        return any(r.passed for r in self._records.values())

    def counts(self, trials_only: bool = False) -> dict[str, int]:
        """Records per status; `trials_only` leaves out rows that are not trials (the ensemble)."""
        out = {s: 0 for s in STATUSES}
        for r in self._records.values():
            if trials_only and r.is_ensemble:
                continue
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate with every column the reports need."""
        rows = []
        metric_names = list(dict.fromkeys(n for r in self._records.values() for n in r.metrics))
        for rank, r in enumerate(self.records(), start=1):
            row: dict[str, Any] = {
                "rank": rank,
                "model_id": r.model_id,
                "backend": r.backend,
                "device": r.device,
                "features": r.features,
                "recipe": r.recipe,
                "source": r.source,
                "params": json.dumps(_json_safe(r.params), sort_keys=True),
                "score_mean": r.score_mean,
                "score_std": r.score_std,
                "n_folds": len(r.fold_scores),
            }
            for name in metric_names:
                row[name] = r.metrics.get(name, math.nan)
            for text in self.criteria_texts:
                row[f"pass[{text}]"] = r.verdicts.get(text, False) if r.ok else False
            row["passed_all"] = r.passed
            row.update(
                fit_s=r.fit_s,
                predict_ms_per_1k=r.predict_ms_per_1k,
                predict_ms_p95=r.predict_ms_p95,
                model_mb=r.model_mb,
                n_iterations=float(np.mean(r.n_iterations)) if r.n_iterations else math.nan,
                status=r.status,
                error=r.error,
                worker=r.worker,
                restored=r.restored,
            )
            rows.append(row)
        return pd.DataFrame(rows)

    @classmethod
    def from_records(cls, metric: Metric, criteria_texts: Sequence[str], records: Iterable[TrialRecord]) -> Leaderboard:
        board = cls(metric, criteria_texts)
        for r in records:
            board.add(r)
        return board
