"""`automl bench report DIR [DIR ...]`: tables, wins/ties/losses, normalized scores, plots.

Normalized score, per dataset and budget: (score - constant) / (best - constant), where
`constant` is the constant predictor's test score and `best` the best mean score among the
frameworks on that dataset at that budget. 0 = no better than the floor, 1 = the best
framework; the formula holds for losses too (both differences are negative). Failed and
timed-out runs count with the constant predictor's score; `missing` rows (framework not
installed) are left out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backends.errors import DataError
from benchmarks.bench import read_results
from benchmarks.suite import lower_is_better

OURS = "automl"
TIE_REL = 1e-3  # |a - b| <= 0.001 * |b| is a tie
KEYS = ["budget_s", "dataset", "metric", "framework"]
FLOORS = ("flaml", "lightgbm-default", "1nn-euclidean")  # beat the better of these (1-NN: series only; LightGBM on a target table alone: related tables)


def load(dirs: Sequence[str | Path]) -> pd.DataFrame:
    """The rows of every DIR/results.csv, together (runs at several budgets combine)."""
    frames = []
    for d in dirs:
        path = Path(d) / "results.csv"
        if not path.is_file():
            raise DataError(f"No results.csv in {str(d)!r}; pass the --out folder of `automl bench run`.")
        frames.append(read_results(path))
    results = pd.concat(frames, ignore_index=True)
    if results.empty:
        raise DataError(f"No benchmark rows in {', '.join(map(str, dirs))}; run `automl bench run` first.")
    results["budget_s"] = results["budget_s"].astype(float)
    return results


def constant_scores(results: pd.DataFrame) -> dict[str, float]:
    """The floor per dataset: the `constant` framework's score, else the one runs recorded in `info`."""
    out: dict[str, float] = {}
    ran = results[(results["framework"] == "constant") & (results["status"] == "ok")]
    for name, group in ran.groupby("dataset"):
        out[str(name)] = float(group["test_score"].mean())
    for name, info in results[["dataset", "info"]].itertuples(index=False):
        if str(name) not in out:
            try:
                value = json.loads(info or "{}").get("constant_score")
            except ValueError:
                value = None
            if value is not None:
                out[str(name)] = float(value)
    return out


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (budget, dataset, framework): mean/std score, mean wall, peak memory, failures, normalized score."""
    ran = results[results["status"] != "missing"].copy()
    ran["failure"] = ran["status"].isin(["failed", "timeout"])
    summary = (
        ran.groupby(KEYS, sort=True)
        .agg(score=("test_score", "mean"), std=("test_score", "std"), wall_s=("wall_s", "mean"),
             peak_mb=("peak_mb", "max"), failures=("failure", "sum"), runs=("test_score", "size"))
        .reset_index()
    )
    summary["failures"] = summary["failures"].astype(int)
    return normalize(summary, constant_scores(results))


def normalize(summary: pd.DataFrame, constants: dict[str, float]) -> pd.DataFrame:
    """Add `constant`, `best` and `normalized` = (score - constant) / (best - constant) per (budget, dataset)."""
    out = summary.copy()
    out["constant"] = out["dataset"].map(constants).astype(float)
    lower = out["metric"].map(lower_is_better)
    signed = out["score"].where(~lower, -out["score"])
    best_signed = signed.groupby([out["budget_s"], out["dataset"]]).transform("max")
    out["best"] = best_signed.where(~lower, -best_signed)
    gap = out["best"] - out["constant"]
    out["normalized"] = ((out["score"] - out["constant"]) / gap).where(gap.abs() > 0)
    return out


def compare(a: float, b: float, metric: str) -> int:
    """+1 if `a` beats `b` on `metric`, -1 if it loses, 0 for a tie (|a - b| <= 0.001 |b|)."""
    if abs(a - b) <= TIE_REL * abs(b):
        return 0
    better = a < b if lower_is_better(metric) else a > b
    return 1 if better else -1


def wins_ties_losses(summary: pd.DataFrame, ours: str = OURS) -> pd.DataFrame:
    """Per budget and peer: datasets where `ours` has the better mean score, a tie, or the worse one."""
    rows = []
    for budget, at_budget in summary.groupby("budget_s"):
        scores = at_budget.pivot_table(index=["dataset", "metric"], columns="framework", values="score")
        if ours not in scores.columns:
            continue
        for peer in [c for c in scores.columns if c != ours]:
            pair = scores[[ours, peer]].dropna()
            verdicts = [compare(a, b, metric) for (_, metric), a, b in zip(pair.index, pair[ours], pair[peer])]
            rows.append({"budget_s": budget, "peer": peer, "wins": verdicts.count(1), "ties": verdicts.count(0),
                         "losses": verdicts.count(-1), "datasets": len(verdicts)})
    return pd.DataFrame(rows, columns=["budget_s", "peer", "wins", "ties", "losses", "datasets"])


def against_best_of(summary: pd.DataFrame, peers: Sequence[str] = FLOORS, ours: str = OURS) -> pd.DataFrame:
    """Per budget and dataset: `ours` against the better of `peers` (win / tie / loss)."""
    rows = []
    for (budget, dataset, metric), group in summary.groupby(["budget_s", "dataset", "metric"], sort=True):
        scores = dict(zip(group["framework"], group["score"]))
        present = [p for p in peers if p in scores]
        if ours not in scores or not present:
            continue
        lower = lower_is_better(str(metric))
        best_peer = min(present, key=lambda p: scores[p] if lower else -scores[p])
        verdict = compare(scores[ours], scores[best_peer], str(metric))
        rows.append({"budget_s": budget, "dataset": dataset, "metric": metric, ours: scores[ours], "best floor": best_peer,
                     "floor score": scores[best_peer], "verdict": {1: "win", 0: "tie", -1: "loss"}[verdict]})
    return pd.DataFrame(rows, columns=["budget_s", "dataset", "metric", ours, "best floor", "floor score", "verdict"])


def time_to_quality(summary: pd.DataFrame, peer: str = "flaml", ours: str = OURS) -> pd.DataFrame:
    """`ours` at its smallest budget against `peer` at its largest: does it match the peer's score sooner?"""
    mine, theirs = summary[summary["framework"] == ours], summary[summary["framework"] == peer]
    if mine.empty or theirs.empty or mine["budget_s"].min() >= theirs["budget_s"].max():
        return pd.DataFrame()
    small, large = mine["budget_s"].min(), theirs["budget_s"].max()
    a = mine[mine["budget_s"] == small].set_index("dataset")
    b = theirs[theirs["budget_s"] == large].set_index("dataset")
    rows = []
    for dataset in sorted(set(a.index) & set(b.index)):
        metric = str(a.loc[dataset, "metric"])
        verdict = compare(float(a.loc[dataset, "score"]), float(b.loc[dataset, "score"]), metric)
        rows.append({"dataset": dataset, "metric": metric, f"{ours} {small:g} s": float(a.loc[dataset, "score"]),
                     f"{peer} {large:g} s": float(b.loc[dataset, "score"]), "matched": verdict >= 0})
    return pd.DataFrame(rows)


def mean_normalized(summary: pd.DataFrame) -> pd.DataFrame:
    """Per budget and framework: the mean normalized score over datasets, best first."""
    table = (
        summary.groupby(["budget_s", "framework"])
        .agg(mean_normalized=("normalized", "mean"), datasets=("dataset", "nunique"), failures=("failures", "sum"),
             mean_wall_s=("wall_s", "mean"))
        .reset_index()
    )
    return table.sort_values(["budget_s", "mean_normalized"], ascending=[True, False], ignore_index=True)


# --- output -----------------------------------------------------------------------------


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{round(float(value), digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _budget_label(budget: float) -> str:
    return f"budget {budget:g} s"


def tables(summary: pd.DataFrame) -> list[tuple[str, int, pd.DataFrame]]:
    """(title, heading level, display frame) for every table of the report, in order."""
    out: list[tuple[str, int, pd.DataFrame]] = []
    quick = time_to_quality(summary)
    if not quick.empty:
        out.append((f"Time to quality: {quick.columns[2]} against {quick.columns[3]}", 2, pd.DataFrame({
            "dataset": quick["dataset"], "metric": quick["metric"],
            quick.columns[2]: [_fmt(v, 4) for v in quick.iloc[:, 2]], quick.columns[3]: [_fmt(v, 4) for v in quick.iloc[:, 3]],
            "matched": ["yes" if m else "no" for m in quick["matched"]],
        })))
    overall = mean_normalized(summary)
    wtl = wins_ties_losses(summary)
    for budget in sorted(summary["budget_s"].unique()):
        label = _budget_label(budget)
        table = overall[overall["budget_s"] == budget]
        out.append((f"Mean normalized score, {label}", 2, pd.DataFrame({
            "framework": table["framework"],
            "mean normalized score": [_fmt(v, 3) for v in table["mean_normalized"]],
            "datasets": table["datasets"], "failures": table["failures"],
            "mean wall s": [_fmt(v, 1) for v in table["mean_wall_s"]],
        })))
        floors = against_best_of(summary)
        floors = floors[floors["budget_s"] == budget]
        if not floors.empty:
            out.append((f"{OURS} against the best of {', '.join(FLOORS)}, {label}", 2, pd.DataFrame({
                "dataset": floors["dataset"], "metric": floors["metric"], OURS: [_fmt(v, 4) for v in floors[OURS]],
                "better floor": floors["best floor"], "its score": [_fmt(v, 4) for v in floors["floor score"]],
                "verdict": floors["verdict"],
            })))
        peers = wtl[wtl["budget_s"] == budget]
        if not peers.empty:
            out.append((f"{OURS} against each peer (wins / ties / losses over datasets), {label}", 2,
                        peers[["peer", "wins", "ties", "losses", "datasets"]].reset_index(drop=True)))
        at_budget = summary[summary["budget_s"] == budget]
        for (dataset, metric), group in at_budget.groupby(["dataset", "metric"], sort=True):
            direction = "lower is better" if lower_is_better(str(metric)) else "higher is better"
            group = group.sort_values("score", ascending=lower_is_better(str(metric)))
            out.append((f"{dataset}: test {metric} ({direction}), {label}", 3, pd.DataFrame({
                "framework": group["framework"],
                "score": [_fmt(v, 4) for v in group["score"]], "std": [_fmt(v, 4) for v in group["std"]],
                "normalized": [_fmt(v, 3) for v in group["normalized"]],
                "wall s": [_fmt(v, 1) for v in group["wall_s"]], "peak MB": [_fmt(v, 0) for v in group["peak_mb"]],
                "failures": [f"{f}/{r}" for f, r in zip(group["failures"], group["runs"])],
            })))
    return out


def _colors(frameworks: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    order = sorted(frameworks, key=lambda f: (f != OURS, f))
    return {f: cmap(i % 10) for i, f in enumerate(order)}


def plot_scores(summary: pd.DataFrame, path: Path) -> None:
    """Grouped bars: normalized score per dataset (x) and framework (bars), one panel per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted(summary["budget_s"].unique())
    colors = _colors(summary["framework"].unique())
    panels = [summary[summary["budget_s"] == b] for b in budgets]
    widest = max(p["dataset"].nunique() * p["framework"].nunique() for p in panels)
    fig, axes = plt.subplots(len(budgets), 1, figsize=(min(18.0, max(6.0, 0.35 * widest + 2)), 3.2 * len(budgets)), squeeze=False)
    for ax, budget, at_budget in zip(axes[:, 0], budgets, panels):
        frameworks = sorted(at_budget["framework"].unique(), key=lambda f: (f != OURS, f))
        datasets = sorted(at_budget["dataset"].unique())
        at = at_budget.set_index(["dataset", "framework"])["normalized"]
        width = 0.8 / len(frameworks)
        for k, fw in enumerate(frameworks):
            heights = [at.get((d, fw), np.nan) for d in datasets]
            ax.bar(np.arange(len(datasets)) + (k - (len(frameworks) - 1) / 2) * width, heights, width, label=fw.lstrip("_"), color=colors[fw])
        ax.set_xticks(np.arange(len(datasets)), datasets, rotation=20, ha="right")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("normalized score")
        ax.set_title(_budget_label(budget))
        low = float(np.nanmin(at.to_numpy())) if at.notna().any() else 0.0
        ax.set_ylim(min(0.0, low) - 0.05, 1.08)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_time_to_score(summary: pd.DataFrame, path: Path) -> None:
    """Mean normalized score against the budget, one line per framework; a single budget: score vs wall seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frameworks = sorted(summary["framework"].unique(), key=lambda f: (f != OURS, f))
    colors = _colors(frameworks)
    budgets = sorted(summary["budget_s"].unique())
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if len(budgets) > 1:
        overall = mean_normalized(summary)
        for fw in frameworks:
            line = overall[overall["framework"] == fw].sort_values("budget_s")
            ax.plot(line["budget_s"], line["mean_normalized"], marker="o", label=fw.lstrip("_"), color=colors[fw])
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("time budget (s)")
        ax.set_ylabel("mean normalized score")
        ax.set_title("Normalized score by budget")
    else:
        for fw in frameworks:
            points = summary[summary["framework"] == fw]
            ax.scatter(points["wall_s"].clip(lower=1e-3), points["normalized"], label=fw.lstrip("_"), color=colors[fw])
        ax.set_xscale("log")
        ax.set_xlabel("wall seconds (fit + predict)")
        ax.set_ylabel("normalized score")
        ax.set_title(f"Normalized score vs time, {_budget_label(budgets[0])}")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def render_markdown(summary: pd.DataFrame, sources: Sequence[str | Path]) -> str:
    lines = [f"# Benchmark report\n\nFrom {', '.join(str(s) for s in sources)}. Normalized score: 0 = constant predictor, "
             "1 = best framework on the dataset at that budget; failures count as the constant predictor.\n"]
    for title, level, frame in tables(summary):
        lines.append(f"{'#' * level} {title}\n\n{_markdown(frame)}\n")
    return "\n".join(lines)


def render_html(summary: pd.DataFrame, sources: Sequence[str | Path], images: Sequence[str]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Benchmark report</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse;margin-bottom:1.5em}",
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} td:first-child{text-align:left} img{max-width:100%}",
        "</style></head><body><h1>Benchmark report</h1>",
        f"<p>From {html.escape(', '.join(str(s) for s in sources))}. Normalized score: 0 = constant predictor, 1 = best framework "
        "on the dataset at that budget; failed and timed-out runs count as the constant predictor.</p>",
    ]
    parts += [f"<p><img src='{html.escape(img)}' alt='{html.escape(img)}'></p>" for img in images]
    for title, level, frame in tables(summary):
        parts.append(f"<h{level}>{html.escape(title)}</h{level}>")
        parts.append(frame.to_html(index=False, border=0))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(dirs: Sequence[str | Path], out: str | Path | None = None) -> tuple[str, dict[str, Path]]:
    """Write scores.png, time_to_score.png, report.html and report.md to `out` (default: the first DIR)."""
    results = load(dirs)
    summary = summarize(results)
    if summary.empty:
        raise DataError("Every row is `missing` (framework not installed); nothing to report.")
    target = Path(out) if out is not None else Path(dirs[0])
    target.mkdir(parents=True, exist_ok=True)
    paths = {name: target / name for name in ("scores.png", "time_to_score.png", "report.html", "report.md", "summary.csv")}
    plot_scores(summary, paths["scores.png"])
    plot_time_to_score(summary, paths["time_to_score.png"])
    markdown = render_markdown(summary, dirs)
    paths["report.md"].write_text(markdown)
    paths["report.html"].write_text(render_html(summary, dirs, ["scores.png", "time_to_score.png"]))
    summary.to_csv(paths["summary.csv"], index=False)
    return markdown, paths
