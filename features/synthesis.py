"""Feature synthesis as the search sees it: build one feature set per recipe, once, before the search.

Related tables get Featuretools DFS recipes (`features.relational`), time series get tsfresh
settings or their raw values (`features.timeseries`). Each recipe is computed once on the
training rows and reused by every trial and fold (DFS aggregates and tsfresh features are
per-row functions of the raw inputs, so computing them on all training rows leaks nothing;
the supervised step, tsfresh's relevance filter, runs per training fold in the search).
Recipes the time budget cannot afford are skipped with a log line. A fitted synthesizer is
plain data (`to_dict` / `synthesizer_from_dict`), so the package still holds no pickle.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from backends.errors import AutoMLError, ConfigError, DataError

if TYPE_CHECKING:
    from search.budget import Budget

logger = logging.getLogger(__name__)

RELATIONAL_RECIPES = ("dfs-d0", "dfs-d1", "dfs-d2", "dfs-d2-wide")
SERIES_RECIPES = ("ts-raw", "ts-minimal", "ts-minirocket", "ts-efficient", "ts-efficient-relevant")
SYNTHESIS_SHARE = 0.25  # the most of the time budget feature synthesis may take
RAW_MAX_COLUMNS = 2_000  # the raw-values view only for series short enough to be a table


class Synthesizer(Protocol):
    """A fitted feature synthesis: raw inputs (related tables or long-format series) -> one row per example."""

    input_kind: str  # "relational" or "series"

    @property
    def columns(self) -> list[str]: ...

    def transform(self, data: Any) -> pd.DataFrame: ...

    def restrict(self, columns: Sequence[str]) -> Synthesizer: ...

    def to_dict(self) -> dict[str, Any]: ...


def synthesizer_from_dict(d: Mapping[str, Any]) -> Synthesizer:
    """Rebuild a fitted synthesizer from its `to_dict` output (ConfigError when the kind is unknown)."""
    kind = d.get("kind") if isinstance(d, Mapping) else None
    if kind == "dfs":
        from features.relational import RelationalFeatures

        return RelationalFeatures.from_dict(d)
    if kind == "tsfresh":
        from features.timeseries import SeriesFeatures

        return SeriesFeatures.from_dict(d)
    raise ConfigError(f"Unknown feature synthesis kind {kind!r}; re-export the package with this engine version.")


@dataclass(frozen=True)
class RelevanceSelector:
    """A view's fold-wise selector: the columns tsfresh's relevance tests keep on one training fold.

    A class rather than a closure so that it pickles (the search sends views to worker processes).
    """

    classification: bool

    def __call__(self, X: pd.DataFrame, y: np.ndarray) -> list[str]:
        from features.timeseries import relevant_features

        return relevant_features(X, y, classification=self.classification)


@dataclass
class BuiltView:
    """One synthesized feature set: its columns over the training rows, the synthesizer, and what it cost."""

    name: str
    frame: pd.DataFrame
    synth: Synthesizer
    seconds: float
    select: Callable[[pd.DataFrame, np.ndarray], list[str]] | None = None

    def summary(self) -> dict[str, Any]:
        return {"recipe": self.name, "n_features": int(self.frame.shape[1]), "seconds": round(self.seconds, 3)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children so far, in MB."""
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss is bytes on macOS, KiB elsewhere
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 1e6
    return max(own, kids)


def _check_recipes(recipes: Sequence[str] | None, known: Sequence[str], what: str) -> list[str]:
    chosen = list(known if recipes is None else recipes)
    unknown = [r for r in chosen if r not in known]
    if unknown or not chosen:
        raise ConfigError(f"Unknown {what} feature recipe(s) {unknown or chosen}; choose among {', '.join(known)}.")
    return list(dict.fromkeys(chosen))


def relational_views(
    tables: Mapping[str, pd.DataFrame], spec: Any, recipes: Sequence[str] | None, budget: Budget
) -> list[BuiltView]:
    """DFS feature sets for the target table's rows, cheapest recipe first, within `SYNTHESIS_SHARE` of the budget.

    On more than `2 * ESTIMATE_ROWS` target rows each recipe is first timed on a sample of
    them and scaled up (per-row cutoff times make DFS cost grow with the rows); a recipe is
    built only when that estimate fits in what is left of the share. The first recipe is
    built unless even it would take most of the budget (a ConfigError says so).
    """
    from features.relational import RelationalFeatures

    chosen = _check_recipes(recipes, RELATIONAL_RECIPES, "relational")
    time_budget = budget.seconds
    allowance = SYNTHESIS_SHARE * time_budget
    views: list[BuiltView] = []
    spent = 0.0
    for name in chosen:
        expected = _estimate_dfs(spec, name, tables)
        if expected > allowance - spent:
            if views:
                logger.info("skipping feature recipe %s: ~%.1fs expected, %.1fs of the synthesis share left", name, expected, allowance - spent)
                continue
            if expected > 0.8 * time_budget:
                raise ConfigError(
                    f"Deep Feature Synthesis ({name}) needs ~{expected:.0f}s on these tables, most of the {time_budget:.0f}s budget; "
                    "raise time_budget or pass fewer target rows."
                )
            logger.warning("feature recipe %s needs ~%.1fs, more than the synthesis share of %.1fs; building it anyway", name, expected, allowance)
        t0 = time.perf_counter()
        synth = RelationalFeatures(spec, name)
        try:
            frame = synth.fit_transform(tables)
        except DataError as exc:  # e.g. a target table with nothing but its key and time: depth 0 has no features
            if name == chosen[-1] and not views:
                raise
            logger.info("skipping feature recipe %s: %s", name, exc)
            spent += time.perf_counter() - t0
            continue
        seconds = time.perf_counter() - t0
        spent += seconds
        views.append(BuiltView(name, frame, synth, seconds))
        logger.info("feature recipe %s: %d features in %.1fs", name, frame.shape[1], seconds)
    return views


ESTIMATE_ROWS = 200


def _estimate_dfs(spec: Any, recipe: str, tables: Mapping[str, pd.DataFrame]) -> float:
    """Seconds DFS `recipe` is expected to take on all target rows, timed on a sample of them (0 on small tables)."""
    from features.relational import RelationalFeatures

    target = tables[spec.target_table]
    if len(target) <= 2 * ESTIMATE_ROWS:
        return 0.0
    sample = dict(tables)
    sample[spec.target_table] = target.sample(ESTIMATE_ROWS, random_state=0)
    t0 = time.perf_counter()
    try:
        RelationalFeatures(spec, recipe).fit_transform(sample)
    except AutoMLError:  # e.g. no feature varies on the sample: no estimate, build it and see
        return 0.0
    return (time.perf_counter() - t0) * len(target) / ESTIMATE_ROWS


def series_views(
    series: pd.DataFrame,
    spec: Any,
    ids: Sequence[Any],
    recipes: Sequence[str] | None,
    budget: Budget,
    classification: bool,
) -> list[BuiltView]:
    """Raw-value, MiniRocket and tsfresh feature sets of the series `ids` (rows in that order), within `SYNTHESIS_SHARE` of the budget.

    "ts-raw" is offered for series short enough to be a table; "ts-minirocket" (random
    convolution features) and "ts-efficient" only when their timed estimates fit the share;
    "ts-efficient-relevant" reuses the efficient matrix and filters it per training fold with
    tsfresh's relevance tests.
    """
    from features.timeseries import SeriesFeatures, estimate_seconds

    explicit = recipes is not None
    chosen = _check_recipes(recipes, SERIES_RECIPES, "time-series")
    time_budget = budget.seconds
    allowance = SYNTHESIS_SHARE * time_budget
    if not explicit and "ts-raw" in chosen:
        n_kinds = int(series[spec.column_kind].nunique()) if spec.column_kind else 1
        width = int(series.groupby(spec.series_keys).size().max()) * n_kinds
        if width > RAW_MAX_COLUMNS:
            logger.info("skipping feature recipe ts-raw: %d raw values per example is too wide a table", width)
            chosen.remove("ts-raw")
    left = allowance
    for settings in ("minirocket", "efficient"):  # the costly settings, each timed on a few series first
        if not explicit and any(r.startswith(f"ts-{settings}") for r in chosen):
            expected = estimate_seconds(series, spec, settings)
            if expected > left:
                logger.info("skipping the %s recipes: ~%.1fs expected, %.1fs of the synthesis share left", settings, expected, left)
                chosen = [r for r in chosen if not r.startswith(f"ts-{settings}")]
            else:
                left -= expected
    built: dict[str, BuiltView] = {}
    views: list[BuiltView] = []
    for name in chosen:
        settings = name.removeprefix("ts-").removesuffix("-relevant")
        key = f"ts-{settings}"
        if key not in built:
            built[key] = _series_view(key, SeriesFeatures(spec, settings), series, ids)
        base = built[key]
        if name.endswith("-relevant"):
            views.append(BuiltView(name, base.frame, base.synth, 0.0, select=RelevanceSelector(classification)))
        else:
            views.append(base)
    return views


def _series_view(name: str, synth: Any, series: pd.DataFrame, ids: Sequence[Any]) -> BuiltView:
    t0 = time.perf_counter()
    frame = synth.fit_transform(series, ids=ids).reset_index(drop=True)
    seconds = time.perf_counter() - t0
    logger.info("feature recipe %s: %d features in %.1fs", name, frame.shape[1], seconds)
    return BuiltView(name, frame, synth, seconds)
