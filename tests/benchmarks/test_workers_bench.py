"""`automl bench workers`: the storage part with a few instant trials, and one tiny side-by-side run."""

from __future__ import annotations

import csv
import math

import pytest

from benchmarks import workers
from tests.conftest import DATASETS, dataset_path


def _rows(path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_storage_part_times_every_storage(tmp_path) -> None:
    dataset_path("german_credit")  # skips without the shared datasets
    out = tmp_path / "out"
    code = workers.main([str(DATASETS), "--parts", "storage", "--storage-trials", "15", "--out", str(out)])
    assert code == 0
    rows = {r["storage"]: r for r in _rows(out / "storage.csv")}
    assert set(rows) == set(workers.STORAGES)
    for r in rows.values():
        assert int(r["trials"]) == 15 and int(r["timed"]) == 14
        assert math.isfinite(float(r["p50_ms"])) and math.isfinite(float(r["p95_ms"]))
        assert 0 < float(r["p50_ms"]) <= float(r["p95_ms"])
    assert float(rows["memory"]["p50_over_memory_ms"]) == 0.0
    text = (out / "workers.md").read_text()
    assert "journal overhead" in text and "| sqlite |" in text
    assert not (out / "results.csv").exists()  # the compare part did not run


def test_summary_sign_adjusts_losses_and_takes_the_geometric_mean() -> None:
    def run(name: str, w: str, completed: int, score: float, metric: str) -> dict:
        return {"dataset": name, "workers": w, "completed": completed, "test_score": score, "metric": metric, "status": "ok"}

    rows = [run("a", "1", 10, 0.80, "roc_auc"), run("a", "auto", 40, 0.82, "roc_auc"),
            run("b", "auto", 10, 3.0, "rmse"), run("b", "1", 10, 3.5, "rmse")]
    summary, geomean = workers.compare_summary(rows)
    by = {s["dataset"]: s for s in summary}
    assert by["a"]["ratio"] == 4.0 and by["a"]["gain"] == pytest.approx(0.02)
    assert by["b"]["ratio"] == 1.0 and by["b"]["gain"] == pytest.approx(0.5)  # a lower rmse is better
    assert geomean == pytest.approx(2.0)


@pytest.mark.slow
def test_side_by_side_on_titanic(suite, tmp_path) -> None:
    out = tmp_path / "out"
    workers.main([str(suite), "--parts", "compare", "--datasets", "titanic", "--budget", "8", "--out", str(out)])
    rows = {r["workers"]: r for r in _rows(out / "results.csv")}
    assert set(rows) == {"1", "auto"}
    for r in rows.values():
        assert r["status"] == "ok", r["error"]
        assert math.isfinite(float(r["test_score"])) and 0.5 <= float(r["test_score"]) <= 1.0
        assert int(r["completed"]) >= 1 and int(r["workers_chosen"]) >= 1 and float(r["peak_mb"]) > 0
    assert rows["1"]["workers_chosen"] == "1" and rows["1"]["order"] == "1"  # the first dataset runs workers=1 first
    assert "titanic" in (out / "workers.md").read_text()
