"""`python -m benchmarks.portfolio` end to end on a tiny suite: it prepares tables through the public seam
(`search.prepare.prepare_table`), so a change to how `fit` encodes a target cannot break it unseen again."""

from __future__ import annotations

import json
from pathlib import Path

from backends import registry
from benchmarks import portfolio
from search.portfolio import load_portfolio


def test_the_portfolio_script_derives_a_loadable_portfolio_on_a_tiny_suite(suite: Path, tmp_path: Path) -> None:
    out, pool_csv = tmp_path / "portfolio.json", tmp_path / "pool.csv"
    argv = ["--suite", str(suite), "--out", str(out), "--pool-csv", str(pool_csv), "--max-rows", "150",
            "--n-random", "1", "--config-seconds", "5", "--max-configs", "3", "--datasets", "titanic", "cpu_act", "satimage"]
    assert portfolio.main(argv) == 0
    doc = json.loads(out.read_text())
    assert set(doc["derived"]["datasets"]) == {"titanic", "cpu_act", "satimage"}
    assert {d["task"] for d in doc["derived"]["datasets"].values()} == {"binary", "regression", "multiclass"}
    configs = load_portfolio(out)  # what the search would read: known backends, in order
    assert 1 <= len(configs) <= 3 and all(name in registry.names() for name, _ in configs)
    assert pool_csv.stat().st_size > 0  # the raw rows, which a rerun resumes from
