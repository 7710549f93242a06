"""The paired table: per dataset the test scores of the greedy ensemble, the stack and the best single model from
one search, and which of the two combiners each selection rule picks (rule A: the greedy ensemble's in-sample score
against the stack's cross-fitted one, as shipped; rule B: both cross-fitted).

    python benchmarks/results/2026-12-03-stacking/table.py benchmarks/results/2026-12-03-stacking/paired.csv
"""

import sys

import pandas as pd

COLS = ["dataset", "half", "metric", "shipped", "wall", "shipped_test", "ens_test", "ens_val", "ens_rank", "stack_test",
        "stack_val", "stack_rank", "single_test", "single_val", "single_rank", "ens_cross"]
LOWER = {"log_loss", "rmse"}


def gain(a: float, b: float, metric: str) -> float:
    """Relative improvement of a over b, + = a better."""
    return (b - a) / abs(b) if metric in LOWER else (a - b) / abs(b)


df = pd.read_csv(sys.argv[1], header=None, names=COLS).dropna(subset=["ens_test", "stack_test"])
rows = []
for r in df.itertuples():
    better_val = (lambda a, b: a < b) if r.metric in LOWER else (lambda a, b: a > b)
    pick_a = "stack" if better_val(r.stack_val, r.ens_val) else "ensemble"
    pick_b = "stack" if better_val(r.stack_val, r.ens_cross) else "ensemble"
    test = {"stack": r.stack_test, "ensemble": r.ens_test}
    rows.append({"dataset": r.dataset, "half": r.half, "metric": r.metric, "ensemble test": round(r.ens_test, 4),
                 "stack test": round(r.stack_test, 4), "stack vs ensemble": f"{100 * gain(r.stack_test, r.ens_test, r.metric):+.2f} %",
                 "ensemble val (in-sample / cross-fitted)": f"{r.ens_val:.4f} / {r.ens_cross:.4f}", "stack val": round(r.stack_val, 4),
                 "rule A picks": pick_a, "rule B picks": pick_b,
                 "B vs A on test": f"{100 * gain(test[pick_b], test[pick_a], r.metric):+.2f} %"})
out = pd.DataFrame(rows)
print("| " + " | ".join(out.columns) + " |\n|" + "---|" * len(out.columns))
for row in out.itertuples(index=False):
    print("| " + " | ".join(map(str, row)) + " |")
for half in ("check", "tune"):
    part = df[df["half"] == half]
    wins = sum(gain(r.stack_test, r.ens_test, r.metric) > 0 for r in part.itertuples())
    print(f"\n{half}: stack better on test on {wins} of {len(part)}; median stack vs ensemble "
          f"{100 * pd.Series([gain(r.stack_test, r.ens_test, r.metric) for r in part.itertuples()]).median():+.2f} %")
