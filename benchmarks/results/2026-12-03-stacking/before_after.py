"""Before (a10353a) against after (stacking) per dataset, from two bench folders:

    python before_after.py BEFORE/results.csv AFTER/results.csv ../shared/datasets-more/MANIFEST.tsv
"""
import csv, json, math, sys
half = {}
for r in csv.DictReader(open(sys.argv[3]), delimiter="\t"):
    half[r["name"]] = r["half"]
def load(p):
    return {r["dataset"]: r for r in csv.DictReader(open(p)) if r["framework"] == "automl"}
b, a = load(sys.argv[1]), load(sys.argv[2])
higher = {"roc_auc", "accuracy", "r2"}
rows = []
for d in a:
    if d not in b: continue
    m = a[d]["metric"]; sb, sa = float(b[d]["test_score"]), float(a[d]["test_score"])
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
    if not rs: continue
    better = sum(r[5] > 0.05 for r in rs); worse = sum(r[5] < -0.05 for r in rs)
    print(f"\n{h}: {len(rs)} sets, {better} better, {worse} worse, {len(rs)-better-worse} within 0.05 %; mean change {sum(r[5] for r in rs)/len(rs):+.2f} %, median {sorted(r[5] for r in rs)[len(rs)//2]:+.2f} %")
