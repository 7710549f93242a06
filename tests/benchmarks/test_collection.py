"""`automl bench run` over a whole collection: time series and related tables run beside the tabular sets, this
engine on their own input, every other framework on their table view, with the 1-NN and target-table floors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench, runners
from benchmarks.suite import read_collection, series_table
from benchmarks.synthesis import REFERENCES
from tests.conftest import DATASETS


def test_the_series_view_is_one_row_of_raw_values_per_series_in_label_order():
    series = pd.DataFrame({"id": [7, 7, 7, 3, 3], "time": [0, 1, 2, 1, 0], "value": [1.0, 2.0, 3.0, 5.0, 4.0]})
    labels = pd.DataFrame({"id": [3, 7], "label": ["b", "a"]})
    view = series_table(series, labels, "label")
    assert list(view.columns) == ["v_0", "v_1", "v_2", "label"]
    assert view["label"].tolist() == ["b", "a"]
    np.testing.assert_array_equal(view[["v_0", "v_1"]].to_numpy(), [[4.0, 5.0], [1.0, 2.0]])
    assert np.isnan(view.loc[0, "v_2"]) and view.loc[1, "v_2"] == 3.0  # a shorter series is padded


def test_every_kind_has_a_table_view(suite: Path):
    datasets, skipped = read_collection(suite)
    assert skipped == {"sunspots": "forecasting"}
    gunpoint, mutagenesis = datasets["gunpoint"], datasets["mutagenesis"]
    assert (gunpoint.kind, gunpoint.task, mutagenesis.kind, mutagenesis.task) == ("series", "binary", "relational", "binary")
    train, test = gunpoint.load()
    labels = pd.read_csv(gunpoint.files[3])
    assert train.shape == (50, 151) and test.shape == (150, 151) and list(test.columns) == list(train.columns)
    first = pd.read_csv(gunpoint.files[2]).query("id == @labels.id[0]").sort_values("time")["value"].to_numpy()
    np.testing.assert_allclose(test.iloc[0, :-1].to_numpy(dtype=float), first)  # rows follow the test labels
    assert test["label"].tolist() == labels["label"].tolist()
    # the related-tables floor sees the target table's own columns, without its key
    train, test = mutagenesis.load()
    assert list(train.columns) == ["ind1", "inda", "logp", "lumo", "mutagenic"] and len(train) == 141 and len(test) == 47
    plan = bench.plan(suite, frameworks=["automl"])
    assert {d.name for d in plan.datasets} == {"titanic", "cpu_act", "satimage", "gunpoint", "mutagenesis"}


def test_the_series_floor_is_the_published_one_nearest_neighbour_accuracy():
    ds = read_collection(DATASETS)[0]["gunpoint"]
    train, test = ds.load()
    out = runners.run("1nn-euclidean", train, test, ds.target, ds.task, ds.metric, 0.0, 0)
    assert out["test_score"] == pytest.approx(REFERENCES["gunpoint"]["1nn_euclidean"], abs=5e-4)


@pytest.mark.slow
def test_one_command_runs_series_and_related_tables_against_their_floors(suite: Path, tmp_path: Path):
    lines: list[str] = []
    frame = bench.run_bench(suite, 8, tmp_path, frameworks=["automl", "1nn-euclidean", "lightgbm-default"],
                            datasets=["gunpoint", "mutagenesis"], echo=lines.append)
    runs = set(zip(frame["dataset"], frame["framework"]))
    assert runs == {("gunpoint", "automl"), ("gunpoint", "1nn-euclidean"), ("gunpoint", "lightgbm-default"),
                    ("mutagenesis", "automl"), ("mutagenesis", "lightgbm-default")}  # the 1-NN floor is for series only
    assert set(frame["status"]) == {"ok"}, frame["error"].tolist()
    scores = frame.set_index(["dataset", "framework"])["test_score"]
    assert scores["gunpoint", "1nn-euclidean"] == pytest.approx(0.913, abs=5e-4)
    assert scores["gunpoint", "automl"] > 0.75 and scores["mutagenesis", "automl"] > 0.6
    info = json.loads(frame.set_index(["dataset", "framework"]).loc[("mutagenesis", "automl"), "info"])
    assert info["n_trials"] > 0 and info["constant_score"] == pytest.approx(0.5)
    assert (tmp_path / "views" / "gunpoint.test.csv.gz").is_file()
