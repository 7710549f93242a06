"""Time-series features: tsfresh and raw extraction on the shared UCR/UEA sets, restriction, round trips, relevance, validation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from backends.errors import ConfigError, DataError
from features.timeseries import SETTINGS, SeriesFeatures, SeriesSpec, align_labels, estimate_seconds, relevant_features
from tests.conftest import DATASETS

UNI = SeriesSpec()
MULTI = SeriesSpec(column_kind="channel")
_CACHE: dict[tuple[str, str, str], pd.DataFrame] = {}


def _load(name: str, split: str = "train", what: str = "series") -> pd.DataFrame:
    """A shared time-series file (read once per session, a fresh copy each call); skip when absent."""
    key = (name, split, what)
    if key not in _CACHE:
        path = DATASETS / name / f"{name}.{split}.{what}.csv.gz"
        if not path.is_file():
            pytest.skip(f"shared dataset {name} not found at {path}")
        _CACHE[key] = pd.read_csv(path)
    return _CACHE[key].copy()


def _synthetic(lengths: dict[int, int], seed: int = 0) -> pd.DataFrame:
    """Univariate long-format series: id -> number of points, random values."""
    rng = np.random.default_rng(seed)
    rows = [(i, t, float(rng.normal())) for i, n in lengths.items() for t in range(n)]
    return pd.DataFrame(rows, columns=["id", "time", "value"])


@pytest.fixture(scope="module")
def gunpoint_efficient() -> tuple[pd.DataFrame, np.ndarray]:
    """Efficient features of the 50 gunpoint training series and their labels."""
    series, labels = _load("gunpoint"), _load("gunpoint", what="labels")
    ids = labels["id"].to_numpy()
    X = SeriesFeatures(UNI, "efficient").fit_transform(series, ids=ids)
    return X, labels.set_index("id").loc[ids, "label"].to_numpy()


def _tsfresh_relevant(X: pd.DataFrame, y: np.ndarray) -> list[str]:
    """What tsfresh's own calculate_relevance_table keeps (median-imputed, constants dropped), in X's order."""
    from tsfresh.feature_selection.relevance import calculate_relevance_table

    Xi = X.fillna(X.median())
    Xi = Xi.loc[:, Xi.nunique() > 1].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = calculate_relevance_table(Xi, pd.Series(y), ml_task="classification", multiclass=len(set(y)) > 2, n_jobs=0)
    return [c for c in X.columns if c in table.index and bool(table.loc[c, "relevant"])]


# -- labels --------------------------------------------------------------------------------------


def test_align_labels_keeps_label_file_order_and_two_columns() -> None:
    series, labels = _load("gunpoint"), _load("gunpoint", what="labels")
    labels = labels.iloc[::-1].assign(extra=1.0)
    out = align_labels(series, labels, UNI, "label")
    assert list(out.columns) == ["id", "label"]
    assert out["id"].tolist() == labels["id"].tolist()
    assert out.index.tolist() == list(range(len(labels)))


def test_align_labels_mismatches_are_data_errors() -> None:
    series, labels = _load("gunpoint"), _load("gunpoint", what="labels")
    with pytest.raises(DataError, match=r"1 series id\(s\) have no label \(e.g. 7\)"):
        align_labels(series, labels[labels["id"] != 7], UNI, "label")
    extra = pd.concat([labels, pd.DataFrame({"id": [999, 1000], "label": [1, 2]})])
    with pytest.raises(DataError, match=r"2 labelled id\(s\) have no series \(e.g. 999\)"):
        align_labels(series, extra, UNI, "label")
    with pytest.raises(DataError, match="repeat 1 id"):
        align_labels(series, pd.concat([labels, labels.iloc[:1]]), UNI, "label")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['target'\]"):
        align_labels(series, labels, UNI, "target")
    with pytest.raises(DataError, match="dtype"):
        align_labels(series, labels.assign(id=labels["id"].astype(str)), UNI, "label")


# -- tsfresh extraction --------------------------------------------------------------------------


def test_minimal_gunpoint_one_float_row_per_id_in_the_given_order() -> None:
    series = _load("gunpoint")
    ids = [17, 3, 44, 0, 25, 9, 31, 12]
    X = SeriesFeatures(UNI, "minimal").fit_transform(series, ids=ids)
    assert X.index.tolist() == ids
    assert X.shape[1] >= 8 and all(c.startswith("value__") for c in X.columns)
    assert (X.dtypes == np.float64).all()
    assert np.isfinite(X.to_numpy()).all()
    assert X.loc[17, "value__maximum"] == pytest.approx(series.loc[series["id"] == 17, "value"].max())
    # without ids: order of first appearance, not tsfresh's sorted order
    shuffled = pd.concat([series[series["id"] == i] for i in ids])
    assert SeriesFeatures(UNI, "minimal").fit_transform(shuffled).index.tolist() == ids


def test_multivariate_kinds_appear_in_column_names() -> None:
    series = _load("basicmotions")
    ids = pd.unique(series["id"])[::5]
    X = SeriesFeatures(MULTI, "minimal").fit_transform(series, ids=ids)
    channels = set(series["channel"])
    assert len(channels) == 6
    assert {c.split("__")[0] for c in X.columns} == channels
    assert X.index.tolist() == list(ids)


def test_transform_new_ids_gives_the_fitted_columns() -> None:
    train, test = _load("gunpoint"), _load("gunpoint", "test")
    feats = SeriesFeatures(UNI, "minimal")
    X = feats.fit_transform(train)
    test_ids = pd.unique(test["id"])[:10]
    Z = feats.transform(test, ids=test_ids)
    assert list(Z.columns) == list(X.columns) == feats.columns
    assert Z.index.tolist() == list(test_ids)
    # a fitted column the settings no longer produce comes back as NaN, not as an error
    state = feats.to_dict()
    state["columns"] = state["columns"] + ['value__fft_coefficient__attr_"real"__coeff_3']
    W = SeriesFeatures.from_dict(state).transform(test, ids=test_ids)
    assert W.iloc[:, -1].isna().all() and W.iloc[:, :-1].equals(Z)


@pytest.mark.parametrize("name,spec,settings", [("gunpoint", UNI, "minimal"), ("basicmotions", MULTI, "minimal"), ("gunpoint", UNI, "raw")])
def test_json_round_trip_transforms_identically(name: str, spec: SeriesSpec, settings: str) -> None:
    train, test = _load(name), _load(name, "test")
    feats = SeriesFeatures(spec, settings)
    feats.fit_transform(train, ids=pd.unique(train["id"])[:20])
    back = SeriesFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    assert back.to_dict() == feats.to_dict()
    ids = pd.unique(test["id"])[:8]
    pd.testing.assert_frame_equal(back.transform(test, ids=ids), feats.transform(test, ids=ids))


def test_restrict_efficient_computes_only_the_columns_with_equal_values() -> None:
    series = _load("gunpoint")
    ids = [5, 1, 30, 12, 40, 22]
    full = SeriesFeatures(UNI, "efficient")
    X = full.fit_transform(series, ids=ids)
    # parameters with tuples (cwt widths) and quoted strings survive from_columns and JSON
    picks = [next(c for c in X.columns if "cwt_coefficients" in c), next(c for c in X.columns if '"' in c)]
    picks += [c for c in ("value__mean", "value__maximum", "value__sample_entropy") if c in X.columns]
    small = full.restrict(picks)
    assert small.settings_name == "selected" and small.columns == picks
    assert set(small.settings) == {"value"} and len(small.settings["value"]) == len(picks)
    pd.testing.assert_frame_equal(small.transform(series, ids=ids), X[picks])
    back = SeriesFeatures.from_dict(json.loads(json.dumps(small.to_dict())))
    pd.testing.assert_frame_equal(back.transform(series, ids=ids), X[picks])
    with pytest.raises(ConfigError, match="unknown column"):
        full.restrict(["value__no_such_feature"])


def test_integer_kinds_string_ids_and_no_sort_column() -> None:
    multi = _load("basicmotions")
    multi = multi[multi["id"] < 5].sort_values(["id", "channel", "time"])
    frame = pd.DataFrame({"sid": "s" + multi["id"].astype(str), "v": multi["value"], "ch": multi["channel"].astype("category").cat.codes})
    spec = SeriesSpec(column_id="sid", column_sort=None, column_value="v", column_kind="ch")
    feats = SeriesFeatures(spec, "minimal")
    X = feats.fit_transform(frame)
    assert X.index.tolist() == [f"s{i}" for i in range(5)] and X.columns[0].startswith("0__")
    # feature names carry kinds as text, so the restricted settings must find the integer kinds again
    picks = [X.columns[0], X.columns[-1]]
    pd.testing.assert_frame_equal(feats.restrict(picks).transform(frame), X[picks])


def test_chunked_extraction_equals_one_call() -> None:
    series = _load("gunpoint")
    ids = pd.unique(series["id"])[:20][::-1]
    one = SeriesFeatures(UNI, "minimal").fit_transform(series, ids=ids)
    pd.testing.assert_frame_equal(SeriesFeatures(UNI, "minimal", chunk_ids=3).fit_transform(series, ids=ids), one)
    multi = _load("basicmotions")
    mids = pd.unique(multi["id"])[:7]
    pd.testing.assert_frame_equal(
        SeriesFeatures(MULTI, "minimal", chunk_ids=2).fit_transform(multi, ids=mids), SeriesFeatures(MULTI, "minimal").fit_transform(multi, ids=mids)
    )


def test_process_pool_only_for_large_data() -> None:
    feats = SeriesFeatures(UNI, "efficient", n_jobs=2)
    assert feats._jobs(10_000) == 0
    assert feats._jobs(200_000) == 2
    assert SeriesFeatures(UNI, "minimal", n_jobs=2)._jobs(200_000) == 0  # minimal is too cheap to pay for a pool
    assert SeriesFeatures(UNI, "efficient")._jobs(200_000) >= 1


# -- raw -----------------------------------------------------------------------------------------


def test_raw_pivot_shape_names_and_time_order() -> None:
    series = _load("gunpoint")
    X = SeriesFeatures(UNI, "raw").fit_transform(series)
    assert X.shape == (50, 150) and X.columns[0] == "value__t0" and X.columns[-1] == "value__t149"
    first = series[series["id"] == 0].sort_values("time")["value"].to_numpy()
    np.testing.assert_array_equal(X.loc[0].to_numpy(), first)
    # rows out of time order are sorted by the time column
    shuffled = series.sample(frac=1.0, random_state=0)
    ids = pd.unique(series["id"])
    pd.testing.assert_frame_equal(SeriesFeatures(UNI, "raw").fit_transform(shuffled, ids=ids), X)
    multi = SeriesFeatures(MULTI, "raw").fit_transform(_load("basicmotions"))
    assert multi.shape == (40, 600) and "gyro_z__t99" in multi.columns


def test_raw_pads_short_and_cuts_long_series() -> None:
    feats = SeriesFeatures(UNI, "raw")
    X = feats.fit_transform(_synthetic({0: 5, 1: 5, 2: 4}))
    assert feats.columns == [f"value__t{i}" for i in range(5)]
    assert np.isnan(X.loc[2, "value__t4"])
    new = _synthetic({7: 3, 8: 9}, seed=1)
    Z = feats.transform(new)
    assert Z.shape == (2, 5)
    assert Z.loc[7, ["value__t3", "value__t4"]].isna().all()
    np.testing.assert_array_equal(Z.loc[8].to_numpy(), new.loc[new["id"] == 8, "value"].to_numpy()[:5])
    sub = feats.restrict(["value__t3", "value__t0"])
    pd.testing.assert_frame_equal(sub.transform(new), Z[["value__t3", "value__t0"]])


def test_constant_and_all_nan_columns_are_dropped() -> None:
    frame = _synthetic({0: 4, 1: 4, 2: 4})
    frame.loc[frame["time"] == 0, "value"] = 1.5  # t0 constant
    feats = SeriesFeatures(UNI, "raw")
    assert "value__t0" not in feats.fit_transform(frame).columns
    with pytest.raises(DataError, match="No raw feature varies"):
        SeriesFeatures(UNI, "raw").fit_transform(frame, ids=[1])


# -- relevance -----------------------------------------------------------------------------------


def test_relevant_features_gunpoint_matches_tsfresh(gunpoint_efficient: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = gunpoint_efficient
    kept = relevant_features(X, y, classification=True, min_keep=0)
    assert 0 < len(kept) < X.shape[1]
    assert kept == [c for c in X.columns if c in set(kept)]
    assert kept == _tsfresh_relevant(X, y)
    minimal = SeriesFeatures(UNI, "minimal").fit_transform(_load("gunpoint"))
    y_all = _load("gunpoint", what="labels").set_index("id").loc[minimal.index, "label"].to_numpy()
    # z-normalized gunpoint: tsfresh finds none of the minimal features relevant, so min_keep takes the smallest p-values
    assert relevant_features(minimal, y_all, classification=True, min_keep=0) == _tsfresh_relevant(minimal, y_all) == []
    kept = relevant_features(minimal, y_all, classification=True, min_keep=3)
    assert len(kept) == 3 and "value__absolute_maximum" in kept


def test_relevant_features_min_keep_constants_and_nan(gunpoint_efficient: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = gunpoint_efficient
    noise = np.random.default_rng(0).permutation(np.tile(["a", "b"], len(X) // 2))
    assert len(relevant_features(X, noise, classification=True, min_keep=7)) == 7
    X = X.iloc[:, :40].copy()
    X.iloc[:5, 0] = np.nan
    X.iloc[3, 1] = np.inf
    X["all_nan"] = np.nan
    X["constant"] = 2.0
    kept = relevant_features(X, noise, classification=True, min_keep=100)
    assert "constant" not in kept and "all_nan" not in kept and len(kept) == 40


def test_relevant_features_multiclass_arrowhead() -> None:
    series, labels = _load("arrowhead"), _load("arrowhead", what="labels")
    X = SeriesFeatures(UNI, "minimal").fit_transform(series)
    y = labels.set_index("id").loc[X.index, "label"].to_numpy()
    assert len(set(y)) == 3
    kept = relevant_features(X, y, classification=True, min_keep=0)
    assert kept and kept == _tsfresh_relevant(X, y)
    assert len(relevant_features(X, y, classification=True, min_keep=X.shape[1])) == X.shape[1]


def test_relevant_features_regression_finds_the_signal() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(40, 30)), columns=[f"f{i}" for i in range(30)])
    y = 3 * X["f7"].to_numpy() + 0.1 * rng.normal(size=40)
    assert "f7" in relevant_features(X, y, classification=False, min_keep=0)
    assert relevant_features(X, np.ones(40), classification=False, min_keep=2) == ["f0", "f1"]


# -- cost ----------------------------------------------------------------------------------------


def test_estimate_seconds() -> None:
    series = _load("gunpoint")
    assert estimate_seconds(series, UNI, "raw") == 0.0
    seconds = estimate_seconds(series, UNI, "efficient")
    assert 0.0 < seconds < 120.0
    assert estimate_seconds(series, UNI, "minimal") < seconds


# -- validation ----------------------------------------------------------------------------------


def _multi_missing_kind() -> pd.DataFrame:
    a = _synthetic({0: 4, 1: 4}).assign(channel="x")
    b = _synthetic({0: 4}).assign(channel="y")
    return pd.concat([a, b], ignore_index=True)


@pytest.mark.parametrize(
    "frame,spec,pattern",
    [
        (np.zeros((3, 3)), UNI, "pandas DataFrame.*got ndarray"),
        (_synthetic({0: 4}), SeriesSpec(column_kind="channel"), r"no column for column_kind='channel'.*column_kind=None"),
        (pd.DataFrame(columns=["id", "time", "value"]), UNI, "empty"),
        (_synthetic({0: 4}).rename(columns={"value": "v"}), UNI, r"no column for column_value='value' \(its columns are \['id', 'time', 'v'\]\)"),
        (_synthetic({0: 4}).assign(value=["1", "2", "oops", "4"]), UNI, "must hold numbers.*'oops'"),
        (_synthetic({0: 4, 1: 4}).assign(value=[1.0, np.nan, 2, 3, 4, np.inf, 5, 6]), UNI, "has 2 NaN or infinite.*interpolate"),
        (pd.concat([_synthetic({0: 4}), _synthetic({0: 1})]), UNI, r"1 row\(s\) repeat.*id=0, time=0"),
        (_synthetic({0: 4, 5: 2, 6: 1}), UNI, r"id 5 has only 2 point\(s\) \(2 series"),
        (_multi_missing_kind(), MULTI, r"id 1 lacks kind\(s\) \['y'\]"),
    ],
    ids=["not-frame", "missing-kind-column", "empty", "missing-column", "non-numeric", "nan-inf", "duplicates", "too-short", "missing-kind"],
)
def test_validation_errors(frame: pd.DataFrame, spec: SeriesSpec, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        spec.validate(frame)
    with pytest.raises(DataError):
        SeriesFeatures(spec, "minimal").fit_transform(frame)


def test_argument_errors() -> None:
    frame = _synthetic({0: 4, 1: 5})
    with pytest.raises(ConfigError, match="Unknown time-series settings"):
        SeriesFeatures(UNI, "comprehensive")
    with pytest.raises(ConfigError, match="feature calculator"):
        SeriesFeatures(UNI, {"value": {"no_such_calculator": None}})
    with pytest.raises(ConfigError, match="n_jobs"):
        SeriesFeatures(UNI, "minimal", n_jobs=-1)
    with pytest.raises(ConfigError, match="same column twice"):
        SeriesSpec(column_sort="id")
    with pytest.raises(ConfigError, match="not fitted"):
        SeriesFeatures(UNI, "minimal").transform(frame)
    with pytest.raises(ConfigError, match="format"):
        SeriesFeatures.from_dict({"format": "features.timeseries/0"})
    with pytest.raises(ConfigError, match="malformed"):
        SeriesFeatures.from_dict({"format": "features.timeseries/1", "spec": UNI.to_dict(), "settings": "raw", "columns": ["value__t0"]})
    with pytest.raises(DataError, match=r"1 requested id\(s\) have no series \(e.g. 9\)"):
        SeriesFeatures(UNI, "raw").fit_transform(frame, ids=[0, 9])
    assert SETTINGS == ("raw", "minimal", "efficient", "minirocket")
    assert SeriesSpec.from_dict(MULTI.to_dict()) == MULTI


def test_minirocket_round_trip_restrict_and_separation() -> None:
    series, labels = _load("gunpoint", "train"), _load("gunpoint", "train", "labels")
    ids = labels["id"].tolist()
    feats = SeriesFeatures(SeriesSpec(), "minirocket")
    X = feats.fit_transform(series, ids=ids)
    assert X.shape[0] == len(ids) and 5_000 < X.shape[1] <= 10_000 and X.notna().all().all()
    assert ((X >= 0) & (X <= 1)).all().all()  # proportions of positive values
    again = SeriesFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    test_series = _load("gunpoint", "test")
    pd.testing.assert_frame_equal(again.transform(test_series), feats.transform(test_series))
    some = X.columns[::500].tolist()
    pd.testing.assert_frame_equal(feats.restrict(some).transform(test_series), feats.transform(test_series)[some])
    # a ridge classifier on these features separates GunPoint's test set (MiniRocket's published accuracy is ~0.99)
    from sklearn.linear_model import RidgeClassifierCV

    test_labels = _load("gunpoint", "test", "labels")
    model = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(X.to_numpy(), labels.set_index("id").loc[ids, "label"])
    Xt = feats.transform(test_series, ids=test_labels["id"].tolist())
    assert model.score(Xt.to_numpy(), test_labels["label"]) > 0.95
    assert estimate_seconds(series, SeriesSpec(), "minirocket") > 0
