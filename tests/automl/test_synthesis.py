"""Feature synthesis inside the search, end to end: related tables (mutagenesis) and time series (UCR/UEA sets).

Small trial counts keep these fast; the 120 s measurements live in benchmarks/synthesis.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn import metrics as skm

import automl
from automl.cli import main
from backends.errors import ConfigError, DataError
from tests.conftest import DATASETS

FAST = ["linear", "lightgbm"]


def _need(name: str) -> None:
    if not (DATASETS / name).is_dir():
        pytest.skip(f"shared dataset {name} not found")


def _series(name: str, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    _need(name)
    base = DATASETS / name / name
    return pd.read_csv(f"{base}.{split}.series.csv.gz"), pd.read_csv(f"{base}.{split}.labels.csv.gz")


@pytest.fixture(scope="module")
def mutagenesis():
    _need("mutagenesis")
    from features.relational import read_schema

    schema = DATASETS / "mutagenesis" / "mutagenesis.schema.json"
    tables, spec = read_schema(schema, "train")
    test_tables, _ = read_schema(schema, "test")
    result = automl.fit(tables=tables, **spec.fit_arguments(), feature_recipes=["dfs-d1", "dfs-d2"], n_trials=8, time_budget=120, backends=FAST, seed=0)
    return result, test_tables, spec


def test_relational_fit_searches_recipes_and_scores_well(mutagenesis):
    result, test_tables, spec = mutagenesis
    board = result.leaderboard
    trials = board[~board["backend"].isin(["ensemble", "stack"])]
    # the warm start tries the first configuration on every recipe, so both recipes were searched
    assert {"dfs-d1", "dfs-d2"} <= set(trials["features"])
    recipes = {r["recipe"]: r for r in result.report["features"]["recipes"]}
    assert recipes["dfs-d2"]["n_features"] > recipes["dfs-d1"]["n_features"] > 4
    assert result.report["input"] == "relational" and result.report["features"]["peak_rss_mb"] > 0
    proba = result.predict_proba(test_tables)
    truth = test_tables[spec.target_table][spec.target].to_numpy()
    assert len(proba) == len(truth) and list(proba.index) == list(test_tables[spec.target_table].index)
    assert skm.roc_auc_score(truth == 1, proba[1]) > 0.75


def test_relational_package_round_trip(mutagenesis, tmp_path):
    result, test_tables, spec = mutagenesis
    path = result.save(tmp_path / "model")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["input"] == "relational"
    synth_files = [fs["synth"] for fs in manifest["feature_sets"].values()]
    assert synth_files and all(f and (path / f).is_file() for f in synth_files)
    # plain data: Featuretools feature definitions as JSON, restricted to the columns the model reads
    stored = json.loads((path / synth_files[0]).read_text())
    assert stored["kind"] == "dfs"
    loaded = automl.load(path)
    np.testing.assert_allclose(loaded.predict_proba(test_tables).to_numpy(), result.predict_proba(test_tables).to_numpy(), atol=1e-12)
    # rows come back in input order: reversing the target table reverses the predictions
    flipped = dict(test_tables)
    flipped[spec.target_table] = test_tables[spec.target_table].iloc[::-1]
    np.testing.assert_allclose(loaded.predict_proba(flipped)[1].to_numpy(), result.predict_proba(test_tables)[1].to_numpy()[::-1], atol=1e-9)
    with pytest.raises(DataError, match="related tables"):
        loaded.predict(test_tables[spec.target_table])


@pytest.fixture(scope="module")
def gunpoint():
    series, labels = _series("gunpoint", "train")
    result = automl.fit(series=series, labels=labels, feature_recipes=["ts-raw", "ts-minimal"], n_trials=8, time_budget=120,
                        backends=FAST, seed=0)
    return result


def test_series_fit_predicts_one_row_per_id(gunpoint, tmp_path):
    result = gunpoint
    test_series, test_labels = _series("gunpoint", "test")
    assert {"ts-raw", "ts-minimal"} <= set(result.leaderboard["features"])
    proba = result.predict_proba(test_series)
    assert list(proba.index) == list(pd.unique(test_series["id"]))
    truth = test_labels.set_index("id").loc[proba.index, "label"].to_numpy()
    accuracy = np.mean(result.predict(test_series) == truth)
    assert accuracy > 0.75
    loaded = automl.load(result.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict(test_series), result.predict(test_series))
    frame = loaded.predict_frame(test_series, proba=True)
    assert list(frame.columns)[:2] == ["id", "prediction"] and len(frame) == test_labels.shape[0]


def test_multivariate_series_with_relevance_selection():
    series, labels = _series("basicmotions", "train")
    test_series, test_labels = _series("basicmotions", "test")
    result = automl.fit(series=series, labels=labels, column_kind="channel", feature_recipes=["ts-minimal", "ts-efficient-relevant"],
                        n_trials=4, time_budget=120, backends=["lightgbm"], seed=0)
    assert {"ts-minimal", "ts-efficient-relevant"} <= set(result.leaderboard["features"])
    truth = test_labels.set_index("id").loc[pd.unique(test_series["id"]), "label"].to_numpy()
    assert np.mean(result.predict(test_series) == truth) > 0.6


def test_synthesis_argument_errors():
    frame = pd.DataFrame({"x": range(10), "y": [0, 1] * 5})
    with pytest.raises(ConfigError, match="exactly one"):
        automl.fit(frame, "y", series=frame)
    with pytest.raises(ConfigError, match="labels"):
        automl.fit(series=frame)
    with pytest.raises(ConfigError, match="target_table"):
        automl.fit(tables={"a": frame})
    with pytest.raises(ConfigError, match="feature recipe"):
        series, labels = _series("gunpoint", "train")
        automl.fit(series=series, labels=labels, feature_recipes=["dfs-d9"], n_trials=1)


def test_cli_schema_and_series_round_trip(tmp_path):
    _need("mutagenesis")
    schema = DATASETS / "mutagenesis" / "mutagenesis.schema.json"
    runner = CliRunner()
    fit = runner.invoke(main, ["fit", "--schema", str(schema), "--recipes", "dfs-d1", "--n-trials", "3", "--backend", "linear",
                               "--time-budget", "60", "--out", str(tmp_path / "rel")])
    assert fit.exit_code == 0, fit.output
    assert "features dfs-d1:" in fit.output
    out = tmp_path / "rel.csv"
    pred = runner.invoke(main, ["predict", str(tmp_path / "rel" / "model"), "--schema", str(schema), "--split", "test", "--proba", "--out", str(out)])
    assert pred.exit_code == 0, pred.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["prediction", "proba_0", "proba_1"] and len(frame) == 47

    _need("arrowhead")
    base = DATASETS / "arrowhead" / "arrowhead"
    fit = runner.invoke(main, ["fit", "--series", f"{base}.train.series.csv.gz", "--labels", f"{base}.train.labels.csv.gz", "--target", "label",
                               "--recipes", "ts-minimal", "--n-trials", "3", "--backend", "linear", "--time-budget", "60", "--out", str(tmp_path / "ts")])
    assert fit.exit_code == 0, fit.output
    pred = runner.invoke(main, ["predict", str(tmp_path / "ts" / "model"), "--series", f"{base}.test.series.csv.gz"])
    assert pred.exit_code == 0, pred.output
    frame = pd.read_csv(__import__("io").StringIO(pred.stdout))
    assert list(frame.columns) == ["id", "prediction"] and len(frame) == 175
    bad = runner.invoke(main, ["fit", "--series", f"{base}.train.series.csv.gz", "--time-budget", "10"])
    assert bad.exit_code == 2 and "--labels" in bad.output


def test_cutoff_times_keep_future_child_rows_out_of_the_search():
    # each customer's label is written into one order dated after its cutoff time; before the
    # cutoff every order is noise. Features that saw the future would score a perfect AUC.
    import numpy as np

    rng = np.random.default_rng(0)
    n = 120
    customers = pd.DataFrame({
        "customer_id": np.arange(n),
        "cutoff": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        "region": rng.choice(["north", "south"], n),
        "churned": np.tile([0, 1], n // 2),
    })
    past = pd.DataFrame({
        "customer_id": np.repeat(np.arange(n), 4),
        "amount": rng.normal(50, 10, 4 * n),
        "at": np.repeat(customers["cutoff"].to_numpy(), 4) - pd.to_timedelta(rng.integers(1, 60, 4 * n), unit="D"),
    })
    future = pd.DataFrame({
        "customer_id": np.arange(n),
        "amount": 1000.0 * customers["churned"].to_numpy(),
        "at": customers["cutoff"].to_numpy() + pd.Timedelta(days=5),
    })
    orders = pd.concat([past, future], ignore_index=True).assign(order_id=lambda f: np.arange(len(f)))
    result = automl.fit(
        tables={"customers": customers, "orders": orders}, target_table="customers", target="churned",
        relationships=[("customers", "customer_id", "orders", "customer_id")], time_index={"customers": "cutoff", "orders": "at"},
        index={"orders": "order_id"}, feature_recipes=["dfs-d1"], n_trials=3, time_budget=120, backends=["lightgbm"], seed=0,
    )
    assert result.report["features"]["recipes"][0]["n_features"] > 3
    assert result.report["best"]["score_mean"] < 0.8  # noise only: the future orders were not used


def test_a_target_table_with_only_its_key_skips_the_recipe_that_has_no_features():
    """storm_hurricane's target table holds a key, a time and the label: DFS at depth 0 makes nothing, deeper recipes do."""
    _need("mutagenesis")
    from features.relational import read_schema

    tables, spec = read_schema(DATASETS / "mutagenesis" / "mutagenesis.schema.json", "train")
    tables = dict(tables)
    tables["molecule"] = tables["molecule"][["molecule_id", "mutagenic"]]  # nothing of its own left to learn from
    args = spec.fit_arguments()
    args["categorical"] = {t: cols for t, cols in args["categorical"].items() if t != "molecule"}
    with pytest.raises(DataError, match="dfs-d0 makes no features for table 'molecule'"):
        automl.fit(tables=tables, **args, feature_recipes=["dfs-d0"], n_trials=2, time_budget=30, backends=FAST, seed=0)
    result = automl.fit(tables=tables, **args, feature_recipes=["dfs-d0", "dfs-d1"], n_trials=2, time_budget=30, backends=FAST, seed=0)
    recipes = [r["recipe"] for r in result.report["features"]["recipes"]]
    assert recipes == ["dfs-d1"] and result.report["best"]["features"] == "dfs-d1"


def test_a_metric_that_does_not_fit_the_labels_fails_before_any_feature_is_synthesized(monkeypatch):
    """pigcvp's integer class labels read as a regression target; `accuracy` then failed only after 74 s of tsfresh."""
    _need("gunpoint")
    import automl.api as api

    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesis started before the metric was checked")

    monkeypatch.setattr(api, "series_views", no_synthesis)
    monkeypatch.setattr(api, "relational_views", no_synthesis)
    series = pd.read_csv(DATASETS / "gunpoint" / "gunpoint.train.series.csv.gz")
    labels = pd.read_csv(DATASETS / "gunpoint" / "gunpoint.train.labels.csv.gz")
    with pytest.raises(ConfigError, match="does not apply to a regression task"):
        automl.fit(series=series, labels=labels, target="label", task="regression", metric="accuracy", time_budget=30)
    with pytest.raises(ConfigError, match="rmse"):
        automl.fit(series=series, labels=labels, target="label", success="rmse <= 1", time_budget=30)
    from features.relational import read_schema

    tables, spec = read_schema(DATASETS / "mutagenesis" / "mutagenesis.schema.json", "train")
    with pytest.raises(ConfigError, match="does not apply to a regression task"):
        automl.fit(tables=tables, **spec.fit_arguments(), task="regression", metric="roc_auc", time_budget=30)
