"""Before (a10353a) against after (stacking) per dataset, from two bench folders' results:

    python before_after.py BEFORE/results.csv AFTER/results.csv ../shared/datasets-more/MANIFEST.tsv
"""

import csv
import json
import sys

HIGHER = {"roc_auc", "accuracy", "r2"}


def automl_rows(path: str) -> dict[str, dict]:
    return {r["dataset"]: r for r in csv.DictReader(open(path)) if r["framework"] == "automl"}


half = {r["name"]: r["half"] for r in csv.DictReader(open(sys.argv[3]), delimiter="\t")}
before, after = automl_rows(sys.argv[1]), automl_rows(sys.argv[2])
rows = []
for d in (d for d in after if d in before):
    metric = after[d]["metric"]
    sb, sa = float(before[d]["test_score"]), float(after[d]["test_score"])
    rel = (sa - sb) / abs(sb) * (1 if metric in HIGHER else -1) * 100
    ia, ib = json.loads(after[d]["info"]), json.loads(before[d]["info"])
    members = ", ".join(x.split("-", 1)[1] for x in ia["members"])
    rows.append((half[d], d, metric, sb, sa, rel, ib["n_trials"], ia["n_trials"], float(after[d]["wall_s"]), ia.get("basis", "?"), members))
rows.sort(key=lambda r: (r[0] != "check", r[1]))
print("| dataset | half | metric | before | after | after vs before | trials before / after | wall s | basis | packaged |")
print("|---|---|---|---|---|---|---|---|---|---|")
for h, d, m, sb, sa, rel, tb, ta, w, basis, mem in rows:
    print(f"| {d} | {h} | {m} | {sb:.4f} | {sa:.4f} | {rel:+.2f} % | {tb} / {ta} | {w:.1f} | {basis} | {mem} |")
for h in ("check", "tune"):
    rs = [r for r in rows if r[0] == h]
    if rs:
        better, worse = sum(r[5] > 0.05 for r in rs), sum(r[5] < -0.05 for r in rs)
        changes = sorted(r[5] for r in rs)
        print(f"\n{h}: {len(rs)} sets, {better} better, {worse} worse, {len(rs) - better - worse} within 0.05 %; "
              f"mean change {sum(changes) / len(rs):+.2f} %, median {changes[len(rs) // 2]:+.2f} %")
