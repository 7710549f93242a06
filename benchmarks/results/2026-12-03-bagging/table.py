import csv
import json

half = {}
for r in csv.DictReader(open("../shared/datasets-more/MANIFEST.tsv"), delimiter="\t"):
    half[r["name"]] = r["half"]
def load(p):
    return {r["dataset"]: r for r in csv.DictReader(open(p)) if r["framework"] == "automl"}
b, a = load("benchmarks/results/2026-12-03-bagging/before.csv"), load("benchmarks/results/2026-12-03-bagging/after.csv")
higher = {"roc_auc", "accuracy", "r2"}
rows = []
for d in a:
    if d not in b:
        continue
    m = a[d]["metric"]
    sb, sa = float(b[d]["test_score"]), float(a[d]["test_score"])
    rel = (sa - sb) / abs(sb) * (1 if m in higher else -1) * 100
    ia, ib = json.loads(a[d]["info"]), json.loads(b[d]["info"])
    rows.append((half[d], d, m, sb, sa, rel, ib["n_trials"], ia["n_trials"], float(a[d]["wall_s"]), ia.get("basis", "?"),
                 ", ".join(x.split("-", 1)[1] for x in ia["members"])))
rows.sort(key=lambda r: (r[0] != "check", r[1]))
print("| dataset | half | metric | before | after | after vs before | trials before / after | wall s | basis | packaged |")
print("|---|---|---|---|---|---|---|---|---|---|")
for h, d, m, sb, sa, rel, tb, ta, w, basis, mem in rows:
    print(f"| {d} | {h} | {m} | {sb:.4f} | {sa:.4f} | {rel:+.2f} % | {tb} / {ta} | {w:.1f} | {basis} | {mem} |")
for h in ("check", "tune"):
    rs = [r for r in rows if r[0] == h]
    if not rs:
        continue
    better = sum(r[5] > 0.05 for r in rs)
    worse = sum(r[5] < -0.05 for r in rs)
    mean, median = sum(r[5] for r in rs) / len(rs), sorted(r[5] for r in rs)[len(rs) // 2]
    print(f"\n{h}: {len(rs)} sets, {better} better, {worse} worse, {len(rs) - better - worse} within 0.05 %; "
          f"mean change {mean:+.2f} %, median {median:+.2f} %")
