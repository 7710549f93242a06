"""Derive the search's warm-start portfolio from a dataset suite (train files only).

    python -m benchmarks.portfolio --suite ../shared/datasets --out search/portfolio.json \
        [--max-rows 3000 --n-random 12 --seed 0 --config-seconds 30]

1. Every tabular dataset of the suite's MANIFEST.tsv: its *train* file only (the test files
   are never read), subsampled to `--max-rows` rows (stratified for classification),
   profiled, encoded and split exactly as `automl.fit` does, scored on the manifest metric.
2. A candidate pool per backend: its hand-picked `portfolio(ctx)` configurations plus
   seeded random draws from its `search_space(ctx)` (`--n-random` for the boosters, fewer for
   the forests and the linear models), each run through `search.evaluate.evaluate` on the
   engine's folds with one thread and a per-configuration deadline. The raw table goes to
   `benchmarks/results/portfolio-pool.csv` (rerunning resumes from it).
3. Greedy "zeroshot" selection (AutoGluon's portfolio / Caruana-style forward selection):
   losses are normalized per dataset to [0, 1] (0 = best of the pool, 1 = the pool's median),
   and configurations are added one at a time to minimize the mean over datasets of the best
   normalized loss in the portfolio, with a mild penalty for fit time.
4. A leave-one-dataset-out check: select on the other datasets, score the held-out one, next to
   the current hand-picked portfolio (`search.portfolio.portfolio_order`).
5. Writes the ordered portfolio and how it was derived to `--out` (see benchmarks/PORTFOLIO.md).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

import search.evaluate as evaluate_module
from backends import registry
from backends._common import clip_to_space
from backends.contracts import Backend, Deadline, Device, FitContext, TaskType
from benchmarks.suite import Dataset, read_suite
from search.evaluate import FoldCache, evaluate
from search.leaderboard import TrialRecord
from search.portfolio import portfolio_order
from search.prepare import prepare_table
from search.task import SearchData, Task

logger = logging.getLogger("benchmarks.portfolio")

BACKENDS = ("linear", "lightgbm", "xgboost", "extra_trees", "random_forest")
# random draws per backend, as a share of --n-random (the boosters have the large spaces)
RANDOM_SHARE = {"lightgbm": 1.0, "xgboost": 1.0, "extra_trees": 1 / 3, "random_forest": 1 / 3, "linear": 1 / 4}
# the context random configurations are drawn in: large enough that no bound is shrunk by data size
REFERENCE_ROWS = 1_000_000
MIN_ROWS_PER_CLASS = 5  # keep every class in the subsample often enough for 5 stratified folds
PREFIXES = (4, 8, 12)
POOL_FIELDS = [
    "dataset", "task", "metric", "n_rows", "n_folds", "config_id", "backend", "origin", "params",
    "status", "error", "score_mean", "loss", "fit_s", "duration_s", "n_iterations", "truncated",
]  # fmt: skip


# -- the pool -------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One configuration of the pool: raw values, clipped to each dataset's space at use."""

    id: str
    backend: str
    params: dict[str, Any] = field(hash=False)
    origin: str  # "hand" (a backend's current portfolio) or "random"


def reference_context(task: TaskType, n_classes: int = 0) -> FitContext:
    """A context whose spaces are the widest: values drawn here are raw, unclipped."""
    k = n_classes or (2 if task is TaskType.BINARY else 3 if task is TaskType.MULTICLASS else 0)
    return FitContext(task=task, n_rows=REFERENCE_ROWS, n_features=100, n_classes=k, n_jobs=1)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def sample_config(space: Mapping[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    """One uniform (log-uniform where the distribution is log) draw from `space`, floats to 4 digits."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            if dist.log:
                value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
            else:
                value = rng.uniform(dist.low, dist.high)
            out[name] = min(max(_round(value), dist.low), dist.high)
        elif isinstance(dist, IntDistribution):
            if dist.log:
                value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high + 1)))
            else:
                value = rng.uniform(dist.low, dist.high + 1)
            out[name] = int(min(max(math.floor(value), dist.low), dist.high))
        elif isinstance(dist, CategoricalDistribution):
            out[name] = dist.choices[int(rng.integers(len(dist.choices)))]
        else:  # pragma: no cover - backends only declare these three kinds
            raise TypeError(f"unsupported distribution {type(dist).__name__} for {name}")
    return out


def build_pool(n_random: int, seed: int) -> list[Candidate]:
    """Every backend's hand-picked configurations (all tasks), then seeded random draws."""
    pool: list[Candidate] = []
    seen: set[tuple[str, str]] = set()

    def add(backend: str, params: dict[str, Any], origin: str) -> None:
        key = (backend, json.dumps(params, sort_keys=True))
        if key in seen:
            return
        seen.add(key)
        n = sum(c.backend == backend and c.origin == origin for c in pool)
        pool.append(Candidate(f"{backend}:{origin}{n:02d}", backend, dict(params), origin))

    rng = np.random.default_rng(seed)
    for name in BACKENDS:
        backend = registry.get(name)
        for task in TaskType:
            for cfg in backend.portfolio(reference_context(task)):
                add(name, cfg, "hand")
    for name in BACKENDS:
        backend = registry.get(name)
        n = max(1, round(n_random * RANDOM_SHARE[name]))
        # a backend whose space keys differ by task (linear: C vs alpha) gets draws for each
        spaces = {json.dumps(sorted(backend.search_space(reference_context(t)))): t for t in TaskType}
        for task in spaces.values():
            space = backend.search_space(reference_context(task))
            for _ in range(n):
                add(name, sample_config(space, rng), "random")
    return pool


def applicable(candidate: Candidate, space: Mapping[str, BaseDistribution]) -> bool:
    """Whether the configuration's parameters are exactly those of `space` (linear: C or alpha)."""
    return set(candidate.params) == set(space)


def evaluated_params(cand: Candidate, train_rows: int) -> dict[str, Any]:
    """The values the pool actually measured: clipped to the space of the largest training fold.

    A draw above a data-sized bound (lightgbm num_leaves <= rows / 10) was run at that bound,
    so that is what the portfolio stores; the engine clips it further on smaller data.
    """
    backend = registry.get(cand.backend)
    for task in TaskType:
        space = backend.search_space(replace(reference_context(task), n_rows=train_rows))
        if applicable(cand, space):
            return clip_to_space(cand.params, space)
    return dict(cand.params)


def current_portfolio(pool: Sequence[Candidate], task: TaskType, n_classes: int) -> list[str]:
    """Ids of the engine's current hand-picked portfolio for `task`, in `portfolio_order`."""
    backends = [registry.get(n) for n in BACKENDS]
    ids = {(c.backend, json.dumps(c.params, sort_keys=True)): c.id for c in pool}
    order = portfolio_order(backends, reference_context(task, n_classes))
    return [ids[(name, json.dumps(params, sort_keys=True))] for name, params in order]


# -- evaluating the pool on one dataset ----------------------------------------------------
def subsample(frame: pd.DataFrame, target: str, classification: bool, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows; classification keeps class shares (and >= 5 rows of every class)."""
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    if not classification:
        return frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))].reset_index(drop=True)
    groups = {label: np.flatnonzero((frame[target] == label).to_numpy()) for label in frame[target].dropna().unique()}
    quota = {label: max(min(len(rows), MIN_ROWS_PER_CLASS), round(len(rows) / len(frame) * max_rows)) for label, rows in groups.items()}
    while sum(quota.values()) > max_rows:
        largest = max(quota, key=lambda label: quota[label])
        quota[largest] -= 1
    chosen = np.concatenate([rng.choice(rows, quota[label], replace=False) for label, rows in groups.items()])
    return frame.iloc[np.sort(chosen)].reset_index(drop=True)


@dataclass
class Prepared:
    """One dataset made ready the way `automl.fit` does it."""

    name: str
    task: Task
    data: SearchData
    ctx: FitContext
    cache: FoldCache


def prepare(ds: Dataset, max_rows: int, seed: int) -> Prepared:
    """Read the train file (only), subsample, profile, encode and split as `automl.fit` does."""
    frame = pd.read_csv(ds.train, low_memory=False)
    frame = subsample(frame, ds.target, ds.task != "regression", max_rows, seed)
    task, data = prepare_table(frame, ds.target, seed=seed, metric=ds.metric, task=ds.task)
    ctx = data.context(task, Device.CPU, n_jobs=1)
    return Prepared(ds.name, task, data, ctx, FoldCache(data))


def _no_latency(candidate: Any, rows: Any) -> tuple[float, float]:
    return math.nan, math.nan


def evaluate_candidate(prep: Prepared, backend: Backend, cand: Candidate, seconds: float, number: int) -> dict[str, Any]:
    """One pool row: `cand` clipped to this dataset's space, scored over the engine's folds."""
    params = clip_to_space(cand.params, backend.search_space(prep.ctx))
    record = TrialRecord(number=number, backend=backend.name, device="cpu", recipe=backend.recipe, params=params, source="portfolio")
    record, _ = evaluate(backend, params, record, prep.data, prep.task, prep.ctx, prep.cache, Deadline.after(seconds))
    ok = record.status == "ok" and math.isfinite(record.score_mean)
    return {
        "dataset": prep.name,
        "task": prep.task.type.value,
        "metric": prep.task.metric.name,
        "n_rows": len(prep.data.y),
        "n_folds": len(prep.data.splits),
        "config_id": cand.id,
        "backend": cand.backend,
        "origin": cand.origin,
        "params": json.dumps(cand.params, sort_keys=True),
        "status": record.status,
        "error": record.error[:200],
        "score_mean": record.score_mean if ok else "",
        "loss": prep.task.metric.loss(record.score_mean) if ok else "",
        "fit_s": round(record.fit_s, 4),
        "duration_s": round(record.duration_s, 4),
        "n_iterations": round(float(np.mean(record.n_iterations)), 1) if record.n_iterations else "",
        "truncated": record.truncated,
    }


def run_pool(
    datasets: Sequence[Dataset], pool: Sequence[Candidate], pool_csv: Path, max_rows: int, seed: int, seconds: float
) -> pd.DataFrame:
    """Evaluate every applicable (dataset, candidate) pair not already in `pool_csv`; return the table."""
    done: set[tuple[str, str]] = set()
    if pool_csv.is_file():
        old = pd.read_csv(pool_csv)
        done = set(zip(old["dataset"], old["config_id"]))
    else:
        pool_csv.parent.mkdir(parents=True, exist_ok=True)
        with pool_csv.open("w", newline="") as fh:
            csv.DictWriter(fh, POOL_FIELDS).writeheader()
    # the one-row latency probe is not needed here and costs up to 0.5 s per candidate
    evaluate_module._latency = _no_latency
    for ds in datasets:
        todo = [c for c in pool if (ds.name, c.id) not in done]
        if not todo:
            continue
        started = time.monotonic()
        prep = prepare(ds, max_rows, seed)
        rows = 0
        for number, cand in enumerate(todo):
            backend = registry.get(cand.backend)
            if cand.backend not in {b.name for b in registry.available(prep.task.type, Device.CPU, [cand.backend])}:
                continue
            if not applicable(cand, backend.search_space(prep.ctx)):
                continue
            row = evaluate_candidate(prep, backend, cand, seconds, number)
            with pool_csv.open("a", newline="") as fh:
                csv.DictWriter(fh, POOL_FIELDS).writerow(row)
            rows += 1
        logger.info("%-20s %5d rows %d folds: %3d configs in %5.1fs", ds.name, len(prep.data.y), len(prep.data.splits), rows, time.monotonic() - started)
    return pd.read_csv(pool_csv)


# -- selection: pure functions over a loss table --------------------------------------------
def normalize_losses(loss: np.ndarray, reference: str = "median") -> np.ndarray:
    """(configs, datasets) losses -> [0, 1] per dataset: 0 = best config, 1 = the reference or worse.

    NaN (failed, timed out, not applicable) becomes 1. `reference` is "median" or "worst" of the
    configurations that ran on that dataset.
    """
    loss = np.asarray(loss, dtype=float)
    out = np.ones_like(loss)
    for j in range(loss.shape[1]):
        col = loss[:, j]
        ok = np.isfinite(col)
        if not ok.any():
            continue
        best = col[ok].min()
        ref = float(np.median(col[ok])) if reference == "median" else float(col[ok].max())
        if ref <= best:  # every config as good as the best: only the best ones reach 0
            out[ok, j] = np.where(col[ok] <= best, 0.0, 1.0)
        else:
            out[ok, j] = np.clip((col[ok] - best) / (ref - best), 0.0, 1.0)
    return out


def time_costs(fit_s: np.ndarray) -> np.ndarray:
    """(configs, datasets) fit seconds -> one cost per config in [0, 1].

    Per dataset, log time scaled between the fastest (0) and slowest (1) config; averaged over
    the datasets where the config ran (1 where it never ran).
    """
    fit_s = np.asarray(fit_s, dtype=float)
    scaled = np.full_like(fit_s, np.nan)
    for j in range(fit_s.shape[1]):
        col = fit_s[:, j]
        ok = np.isfinite(col)
        if not ok.any():
            continue
        logs = np.log(np.maximum(col[ok], 1e-3))
        span = logs.max() - logs.min()
        scaled[ok, j] = (logs - logs.min()) / span if span > 0 else 0.0
    with np.errstate(all="ignore"):
        cost = np.nanmean(np.where(np.isfinite(scaled), scaled, np.nan), axis=1)
    return np.where(np.isfinite(cost), cost, 1.0)


@dataclass
class Selection:
    """Selected row indices in order, the round each was picked in, and the round's mean
    normalized loss after each addition."""

    order: list[int]
    trajectory: list[float]
    rounds: list[int] = field(default_factory=list)


def greedy_select(
    norm: np.ndarray,
    cost: np.ndarray,
    max_configs: int = 12,
    time_weight: float = 0.02,
    min_gain: float = 1e-3,
    refill: bool = True,
) -> Selection:
    """Forward selection of configurations (rows of `norm`) for a portfolio.

    The score of a portfolio is the mean over datasets (columns) of its best normalized loss; an
    empty portfolio scores 1 everywhere (the reference). Each step adds the config with the largest
    gain - time_weight * cost among those gaining more than `min_gain`; equal values go to the
    cheaper config, then to the lower index. When nothing gains enough (every dataset is covered)
    and `refill` is set, a new round starts from the empty score over the configs not yet chosen,
    so the later entries are a second, complementary cover rather than noise; it stops at
    `max_configs` or when a fresh round gains nothing either.
    """
    norm = np.asarray(norm, dtype=float)
    cost = np.asarray(cost, dtype=float)
    current = np.ones(norm.shape[1])
    picked = Selection([], [], [])
    round_no = 0
    while len(picked.order) < max_configs:
        err = current.mean()
        best: int | None = None
        best_value = -math.inf
        for c in range(norm.shape[0]):
            if c in picked.order:
                continue
            gain = err - np.minimum(current, norm[c]).mean()
            if gain <= min_gain:
                continue
            value = gain - time_weight * cost[c]
            if value > best_value + 1e-12 or (abs(value - best_value) <= 1e-12 and best is not None and cost[c] < cost[best]):
                best, best_value = c, value
        if best is None:
            if not refill or np.all(current == 1.0):
                break
            current, round_no = np.ones(norm.shape[1]), round_no + 1
            continue
        picked.order.append(best)
        picked.rounds.append(round_no)
        current = np.minimum(current, norm[best])
        picked.trajectory.append(float(current.mean()))
    return picked


# -- putting it together -----------------------------------------------------------------
def tables(pool_df: pd.DataFrame, ids: Sequence[str], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(loss, fit_s) matrices of shape (configs, datasets); NaN where a pair did not run or failed."""
    loss = np.full((len(ids), len(names)), np.nan)
    fit = np.full_like(loss, np.nan)
    row_of = {c: i for i, c in enumerate(ids)}
    col_of = {d: j for j, d in enumerate(names)}
    for rec in pool_df.itertuples(index=False):
        if rec.config_id not in row_of or rec.dataset not in col_of:
            continue
        i, j = row_of[rec.config_id], col_of[rec.dataset]
        fit[i, j] = float(rec.fit_s)
        if rec.status == "ok" and pd.notna(rec.loss):
            loss[i, j] = float(rec.loss)
    return loss, fit


def leave_one_out(
    norm: np.ndarray, fit: np.ndarray, names: Sequence[str], current: Mapping[str, Sequence[int]], **select: Any
) -> dict[str, Any]:
    """Select on all datasets but one; the held-out dataset's best normalized loss and fit seconds
    of the first k configs of the selected and of the current portfolio, k in PREFIXES."""
    per: dict[str, Any] = {}
    for j, name in enumerate(names):
        others = [i for i in range(len(names)) if i != j]
        sel = greedy_select(norm[:, others], time_costs(fit[:, others]), **select).order
        cur = list(current[name])
        entry: dict[str, Any] = {"selected_size": len(sel)}
        for k in PREFIXES:
            for label, order in (("selected", sel[:k]), ("current", cur[:k])):
                entry[f"{label}_top{k}"] = round(float(norm[order, j].min()), 4) if order else 1.0
                entry[f"{label}_top{k}_fit_s"] = round(float(np.nansum(fit[order, j])), 2)
        per[name] = entry
    mean = {key: round(float(np.mean([e[key] for e in per.values()])), 4) for key in next(iter(per.values())) if key != "selected_size"}
    wins = {f"top{k}": sum(e[f"selected_top{k}"] < e[f"current_top{k}"] for e in per.values()) for k in PREFIXES}
    losses = {f"top{k}": sum(e[f"selected_top{k}"] > e[f"current_top{k}"] for e in per.values()) for k in PREFIXES}
    return {"mean": mean, "selected_better_on": wins, "current_better_on": losses, "per_dataset": per}


def _param_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="../shared/datasets", help="folder with MANIFEST.tsv")
    parser.add_argument("--out", default="search/portfolio.json")
    parser.add_argument("--pool-csv", default="benchmarks/results/portfolio-pool.csv", help="raw results (resumed if present)")
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--n-random", type=int, default=12, help="random configs for lightgbm/xgboost; forests 1/3, linear 1/4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config-seconds", type=float, default=30.0, help="deadline for one config on one dataset (all folds)")
    parser.add_argument("--max-configs", type=int, default=12)
    parser.add_argument("--time-weight", type=float, default=0.02)
    parser.add_argument("--reference", choices=["median", "worst"], default="median")
    parser.add_argument("--no-refill", action="store_true", help="stop once every dataset is covered instead of starting a new round")
    parser.add_argument("--datasets", nargs="*", help="restrict to these dataset names")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("backends", "features", "search", "automl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    started = time.monotonic()
    suite = read_suite(args.suite)
    datasets = [ds for name, ds in suite.items() if not args.datasets or name in args.datasets]
    pool = build_pool(args.n_random, args.seed)
    logger.info("pool: %d configurations over %d datasets", len(pool), len(datasets))
    pool_df = run_pool(datasets, pool, Path(args.pool_csv), args.max_rows, args.seed, args.config_seconds)
    eval_s = time.monotonic() - started
    compute_s = float(pool_df["duration_s"].sum())

    names = [ds.name for ds in datasets]
    ids = [c.id for c in pool]
    loss, fit = tables(pool_df, ids, names)
    norm = normalize_losses(loss, args.reference)
    select = {"max_configs": args.max_configs, "time_weight": args.time_weight, "refill": not args.no_refill}
    chosen = greedy_select(norm, time_costs(fit), **select)
    info = pool_df.drop_duplicates("dataset").set_index("dataset")
    current = {
        name: [ids.index(c) for c in current_portfolio(pool, TaskType(info.loc[name, "task"]), 0)] for name in names
    }
    loo = leave_one_out(norm, fit, names, current, **select)

    by_id = {c.id: c for c in pool}
    print(f"\nselected portfolio ({len(chosen.order)} configs; mean normalized loss after each):")
    configs = []
    train_rows = int(pool_df.groupby("dataset")["n_rows"].first().max() * (1 - 1 / pool_df["n_folds"].max()))
    for step, (i, err, rnd) in enumerate(zip(chosen.order, chosen.trajectory, chosen.rounds), 1):
        cand = by_id[ids[i]]
        params = evaluated_params(cand, train_rows)
        configs.append({"backend": cand.backend, "params": params, "id": cand.id})
        print(f"{step:2d}. round {rnd} {cand.id:22s} {err:.4f}  median fit {np.nanmedian(fit[i]):6.2f}s  {_param_text(params)}")
    print("\nleave-one-dataset-out, held-out normalized loss (0 = best of pool, 1 = pool median):")
    print(f"{'dataset':20s} " + " ".join(f"sel@{k:<2d} cur@{k:<2d}" for k in PREFIXES))
    for name, entry in loo["per_dataset"].items():
        print(f"{name:20s} " + " ".join(f"{entry[f'selected_top{k}']:6.3f} {entry[f'current_top{k}']:6.3f}" for k in PREFIXES))
    print(f"{'mean':20s} " + " ".join(f"{loo['mean'][f'selected_top{k}']:6.3f} {loo['mean'][f'current_top{k}']:6.3f}" for k in PREFIXES))
    print(f"fit seconds of the first 8: selected {loo['mean']['selected_top8_fit_s']}, current {loo['mean']['current_top8_fit_s']}")

    in_sample = {
        f"top{k}": {
            "selected": round(float(np.mean([norm[chosen.order[:k], j].min() for j in range(len(names))])), 4),
            "current": round(float(np.mean([norm[current[n][:k], j].min() for j, n in enumerate(names)])), 4),
        }
        for k in PREFIXES
    }
    derived = {
        "date": dt.date.today().isoformat(),
        "command": "python -m benchmarks.portfolio " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "datasets": {
            name: {"task": str(info.loc[name, "task"]), "metric": str(info.loc[name, "metric"]), "rows": int(info.loc[name, "n_rows"]),
                   "folds": int(info.loc[name, "n_folds"])}
            for name in names
        },
        "max_rows": args.max_rows,
        "seed": args.seed,
        "pool_size": len(pool),
        "pool": {b: sum(c.backend == b for c in pool) for b in BACKENDS},
        "pool_evaluations": int(len(pool_df)),
        "config_seconds": args.config_seconds,
        "folds": "the engine's make_splits on the subsample (5-fold, stratified for classification), one repeat, n_jobs=1",
        "pool_compute_s": round(compute_s, 1),
        "this_run_s": round(eval_s, 1),
        "selection": {
            "method": "greedy forward selection minimizing the mean over datasets of the best normalized loss (AutoGluon zeroshot)",
            "normalization": f"per dataset, (loss - best) / ({args.reference} - best), clipped to [0, 1]; failed = 1",
            "time_penalty": f"gain - {args.time_weight} * cost, cost = mean over datasets of log fit time scaled to [0, 1]",
            "refill": (
                "when no config gains > 0.001 (every dataset covered), a new round restarts from the empty score over the rest"
                if select["refill"] else "off"
            ),
            "max_configs": args.max_configs,
            "trajectory": [round(x, 4) for x in chosen.trajectory],
            "rounds": chosen.rounds,
            "ids": [ids[i] for i in chosen.order],
            "in_sample": in_sample,
        },
        "leave_one_out": loo,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"derived": derived, "configs": configs}, indent=1) + "\n")
    logger.info("wrote %s (%d configs) in %.0fs", out, len(configs), time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
