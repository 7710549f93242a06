"""Preprocessor: both recipes, fold isolation, unseen levels, round trips and single rows."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from backends import registry
from backends.contracts import Deadline, FitContext, TaskType
from backends.errors import ConfigError, DataError
from features import DataProfile, Preprocessor, profile
from features.preprocess import MAX_LEVELS
from tests.conftest import ADULT_NUMERIC, load_slice, with_extremes


def _mixed(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "num": rng.normal(10, 3, size=n),
            "ints": rng.integers(0, 9, size=n),
            "flag": rng.random(n) > 0.3,
            "color": rng.choice(["red", "green", "blue"], size=n),
            "when": pd.date_range("2022-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "note": [f"word {i} and some more" if i % 4 else "short" for i in range(n)],
            "y": np.tile([0, 1], n // 2),
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )
    f.loc[f.index[::7], "num"] = np.nan
    f.loc[f.index[::11], "color"] = None
    return f


@pytest.fixture
def mixed() -> tuple[pd.DataFrame, DataProfile]:
    f = _mixed()
    return f, profile(f, "y")


# ------------------------------------------------------------------ errors


def test_unknown_recipe() -> None:
    with pytest.raises(ConfigError, match="native, dense"):
        Preprocessor("sparse")


def test_transform_before_fit() -> None:
    with pytest.raises(ConfigError, match="not fitted"):
        Preprocessor("dense").transform(pd.DataFrame({"a": [1]}))


def test_missing_columns_and_non_frames(mixed) -> None:
    f, p = mixed
    pre = Preprocessor("native").fit(f, p)
    with pytest.raises(DataError, match="'color'"):
        pre.transform(f.drop(columns=["color"]))
    with pytest.raises(DataError, match="DataFrame"):
        pre.transform(f.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(DataError, match="lacks"):
        Preprocessor("dense").fit(f[["num"]], p)


def test_from_dict_rejects_other_formats() -> None:
    with pytest.raises(ConfigError, match="format"):
        Preprocessor.from_dict({"format": "something-else/9", "recipe": "dense"})


# ------------------------------------------------------------------ native


def test_native_recipe(mixed) -> None:
    f, p = mixed
    pre = Preprocessor("native").fit(f, p)
    out = pre.transform(f)
    assert list(out.columns) == pre.feature_names_out
    assert out.index.equals(f.index)
    assert out["num"].dtype == np.float32 and out["num"].isna().sum() == f["num"].isna().sum()
    assert set(out["flag"].unique()) == {0.0, 1.0}
    assert isinstance(out["color"].dtype, pd.CategoricalDtype)
    counts = f["color"].value_counts()
    assert list(out["color"].cat.categories) == sorted(counts.index, key=lambda k: (-counts[k], k))
    assert out["color"].isna().sum() == f["color"].isna().sum()
    assert {"when__year", "when__month", "when__day", "when__dayofweek"} <= set(out.columns)
    assert "when__hour" not in out.columns  # all training times are midnight
    assert {"note__len", "note__words"} <= set(out.columns)
    assert out.loc[1000, "note__len"] == len("short") and out.loc[1000, "note__words"] == 1
    assert out.loc[1001, "note__words"] == 5
    assert out.loc[1000, "when__year"] == 2022 and out.loc[1000, "when__month"] == 3
    assert "y" not in out.columns
    assert all(out[c].dtype == np.float32 for c in out.columns if c != "color")


def test_native_unseen_and_rare_levels_become_nan() -> None:
    n = 2000
    # 300 levels with distinct frequencies: only the 255 most frequent are kept
    levels = np.repeat([f"L{i}" for i in range(300)], np.arange(300, 0, -1))[:n]
    f = pd.DataFrame({"lvl": levels, "x": np.arange(n) % 13, "y": np.tile([0, 1], n // 2)})
    p = profile(f, "y")
    pre = Preprocessor("native").fit(f, p)
    cats = pre.transform(f)["lvl"].cat.categories
    assert len(cats) <= MAX_LEVELS["native"] and cats[0] == "L0"
    new = pd.DataFrame({"lvl": ["L0", "never-seen", None], "x": [1, 2, 3]})
    out = pre.transform(new)
    assert out["lvl"].iloc[0] == "L0"
    assert out["lvl"].iloc[1:].isna().all()
    assert list(out["lvl"].cat.categories) == list(cats)  # categories fixed to the training levels


def test_native_datetime_hour_when_times_present() -> None:
    n = 60
    f = pd.DataFrame(
        {"ts": pd.date_range("2023-01-01 08:30", periods=n, freq="7h"), "x": np.arange(n) % 5, "y": np.tile([0, 1], n // 2)}
    )
    pre = Preprocessor("native").fit(f, profile(f, "y"))
    out = pre.transform(f)
    assert "ts__hour" in out.columns and out["ts__hour"].iloc[0] == 8


def test_inf_becomes_missing(mixed) -> None:
    f, p = mixed
    g = f.copy()
    g.loc[1001, "num"] = np.inf
    assert np.isnan(Preprocessor("native").fit(f, p).transform(g).loc[1001, "num"])
    assert np.isfinite(Preprocessor("dense").fit(g, p).transform(g).to_numpy()).all()


# ------------------------------------------------------------------ dense


def test_dense_recipe(mixed) -> None:
    f, p = mixed
    pre = Preprocessor("dense").fit(f, p)
    out = pre.transform(f)
    assert (out.dtypes == np.float32).all()
    assert not out.isna().any().any()
    assert "num__missing" in out.columns and "ints__missing" not in out.columns
    assert out["num__missing"].sum() == f["num"].isna().sum()
    # standardized with training statistics
    assert abs(float(out["ints"].mean())) < 1e-5 and abs(float(out["ints"].std(ddof=0)) - 1) < 1e-4
    onehot = [c for c in out.columns if c.startswith("color=")]
    assert sorted(onehot) == ["color=blue", "color=green", "color=red"]
    missing_color = f["color"].isna().to_numpy()
    assert (out[onehot].sum(axis=1).to_numpy()[missing_color] == 0).all()
    assert (out[onehot].sum(axis=1).to_numpy()[~missing_color] == 1).all()


def test_dense_top_levels_and_unseen() -> None:
    levels = np.repeat([f"L{i:02d}" for i in range(40)], np.arange(60, 20, -1))
    n = len(levels)
    f = pd.DataFrame({"lvl": levels, "x": np.arange(n) % 9, "y": np.tile([0, 1], n // 2)})
    pre = Preprocessor("dense").fit(f, profile(f, "y"))
    names = [c for c in pre.feature_names_out if c.startswith("lvl=")]
    assert len(names) == MAX_LEVELS["dense"] and names[0] == "lvl=L00"
    out = pre.transform(pd.DataFrame({"lvl": ["L00", "L39", "brand-new"], "x": [1, 2, 3]}))
    assert out[names].sum(axis=1).tolist() == [1.0, 0.0, 0.0]
    assert not out.isna().any().any()


def test_fit_uses_only_its_own_fold() -> None:
    f = _mixed(200)
    p = profile(f, "y")
    fold_a, fold_b = f.iloc[:100].copy(), f.iloc[100:].copy()
    fold_b["num"] = fold_b["num"] + 1000.0  # a very different fold must not leak into the fit
    fold_b.loc[fold_b.index[:10], "color"] = "purple"
    pre = Preprocessor("dense").fit(fold_a, p)
    state = pre.to_dict()
    j = pre.feature_names_out.index("num")
    assert state["stats"]["median"][j] == pytest.approx(float(fold_a["num"].median()))
    assert "color=purple" not in pre.feature_names_out
    # a missing value in the other fold is filled with fold A's median
    row = fold_b.iloc[[0]].copy()
    row["num"] = np.nan
    out = pre.transform(row)
    mean, std = state["stats"]["mean"][j], state["stats"]["std"][j]
    assert float(out["num"].iloc[0]) == pytest.approx((float(fold_a["num"].median()) - mean) / std, rel=1e-5)
    nat = Preprocessor("native").fit(fold_a, p)
    assert "purple" not in list(nat.transform(fold_b)["color"].cat.categories)


# ------------------------------------------------------------------ shared behaviour


@pytest.mark.parametrize("recipe", ["native", "dense"])
def test_round_trip_is_identical(recipe: str, real) -> None:
    for name, target in (("adult", "income"), ("titanic", "Survived")):
        f = real(name, 1000)
        pre = Preprocessor(recipe).fit(f.iloc[:700], profile(f, target))
        text = json.dumps(pre.to_dict())  # plain JSON, no numpy types, no pickle
        back = Preprocessor.from_dict(json.loads(text))
        assert back.feature_names_out == pre.feature_names_out
        pd.testing.assert_frame_equal(back.transform(f.iloc[700:]), pre.transform(f.iloc[700:]))


@pytest.mark.parametrize("recipe", ["native", "dense"])
def test_single_row_matches_batch(recipe: str, real) -> None:
    f = real("titanic", 668)
    p = profile(f, "Survived")
    pre = Preprocessor(recipe).fit(f, p)
    full = pre.transform(f)
    for i in (0, 5, 17):
        one = pre.transform(f.iloc[[i]])
        assert one.shape == (1, full.shape[1])
        pd.testing.assert_frame_equal(one, full.iloc[[i]])
    if recipe == "dense":
        assert not full.isna().any().any()


@pytest.mark.parametrize("recipe", ["native", "dense"])
def test_input_not_mutated_and_column_order_irrelevant(recipe: str, mixed) -> None:
    f, p = mixed
    before = f.copy()
    pre = Preprocessor(recipe).fit(f, p)
    out = pre.transform(f)
    pd.testing.assert_frame_equal(f, before)
    shuffled = f[list(reversed(f.columns))].assign(extra=1)
    pd.testing.assert_frame_equal(pre.transform(shuffled), out)


@pytest.mark.parametrize("recipe", ["native", "dense"])
def test_real_data_shapes(recipe: str, real) -> None:
    f = real("california_housing")
    p = profile(f, "median_house_value")
    out = Preprocessor(recipe).fit(f, p).transform(f)
    if recipe == "dense":
        assert not out.isna().any().any() and "total_bedrooms__missing" in out.columns
        assert any(c.startswith("ocean_proximity=") for c in out.columns)
    else:
        assert isinstance(out["ocean_proximity"].dtype, pd.CategoricalDtype)
        assert out["total_bedrooms"].isna().sum() == f["total_bedrooms"].isna().sum()


def test_dropped_columns_are_not_used(real) -> None:
    f = real("titanic", 668)
    pre = Preprocessor("native").fit(f, profile(f, "Survived"))
    assert "PassengerId" not in pre.input_columns
    assert "PassengerId" not in pre.feature_names_out
    pre.transform(f.drop(columns=["PassengerId", "Survived"]))  # neither is needed at predict time


def test_output_names_are_backend_safe_and_unique() -> None:
    n = 40
    f = pd.DataFrame(
        {
            "a [m]": np.arange(n) % 7 * 1.5,
            "a _m_": np.arange(n) % 5 * 1.0,
            "kind": np.tile(["<1H", "x:y"], n // 2),
            "y": np.tile([0, 1], n // 2),
        }
    )
    for recipe in ("native", "dense"):
        names = Preprocessor(recipe).fit(f, profile(f, "y")).feature_names_out
        assert len(set(names)) == len(names)
        assert not any(ch in nm for nm in names for ch in '[]<>{}":, ')


def test_boolean_strings_and_object_bools() -> None:
    n = 40
    f = pd.DataFrame({"b": [True, False, None, True] * (n // 4), "x": np.arange(n) % 3, "y": np.tile([0, 1], n // 2)})
    p = profile(f, "y")
    assert p.column("b").kind == "boolean"
    pre = Preprocessor("native").fit(f, p)
    out = pre.transform(pd.DataFrame({"b": ["yes", "False", None, 1], "x": [0, 1, 2, 3]}))
    assert out["b"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["b"].iloc[2]) and out["b"].iloc[3] == 1.0


def test_datetime_parsing_with_offsets_and_day_first() -> None:
    n = 60
    f = pd.DataFrame(
        {
            "dmy": [f"{i % 28 + 1:02d}/{i % 12 + 1:02d}/2021" for i in range(n)],
            "iso_tz": [f"2020-01-{i % 28 + 1:02d}T10:00:00{'+01:00' if i % 2 else '+02:00'}" for i in range(n)],
            "y": np.tile([0, 1], n // 2),
        }
    )
    pre = Preprocessor("native").fit(f, profile(f, "y"))
    out = pre.transform(f)
    assert out.loc[12, "dmy__day"] == 13 and out.loc[12, "dmy__month"] == 1  # "13/01/2021"
    assert out.loc[0, "iso_tz__hour"] == 8 and out.loc[1, "iso_tz__hour"] == 9  # both in UTC
    garbage = pre.transform(pd.DataFrame({"dmy": ["not a date"], "iso_tz": [None]}))
    assert garbage.isna().all().all()


def test_extension_dtypes_and_huge_values() -> None:
    n = 60
    rng = np.random.default_rng(0)
    f = pd.DataFrame(
        {
            "i": pd.array(np.where(rng.random(n) > 0.2, rng.integers(0, 50, n), None), dtype="Int64"),
            "s": pd.array(rng.choice(["a", "b", None], size=n), dtype="string"),
            "big": np.where(np.arange(n) % 2, 1e300, 1.0),
            "y": np.tile([0, 1], n // 2),
        }
    )
    p = profile(f, "y")
    for recipe in ("native", "dense"):
        out = Preprocessor(recipe).fit(f, p).transform(f)
        numeric = out.select_dtypes("number").to_numpy()
        assert not np.isinf(numeric).any()  # float32 overflow is clipped, never inf
    assert Preprocessor("native").fit(f, p).transform(f)["i"].isna().sum() == f["i"].isna().sum()


def test_bad_state_and_bad_frames(mixed) -> None:
    f, p = mixed
    state = Preprocessor("dense").fit(f, p).to_dict()
    broken = dict(state)
    del broken["stats"]
    with pytest.raises(ConfigError, match="malformed|statistics"):
        Preprocessor.from_dict(broken)
    with pytest.raises(ConfigError, match="malformed"):
        Preprocessor.from_dict(dict(state, steps=[{"kind": "numeric"}]))
    pre = Preprocessor("dense").fit(f, p)
    handed_out = pre.to_dict()
    handed_out["steps"][0]["column"] = "changed"  # to_dict hands out a copy, not the live state
    assert "changed" not in pre.input_columns
    dup = pd.concat([f, f[["num"]]], axis=1)
    with pytest.raises(DataError, match="duplicate.*'num'"):
        pre.transform(dup)
    with pytest.raises(DataError, match="no rows"):
        Preprocessor("native").fit(f.iloc[:0], p)


# ------------------------------------------------------------------ extreme values (dense clipping)



def _linear_auc(f: pd.DataFrame, n_train: int) -> float:
    p = profile(f, "income")
    y = pd.Categorical(f["income"], categories=list(p.classes)).codes.astype(np.int64)
    pre = Preprocessor("dense").fit(f.iloc[:n_train], p)
    X_tr, X_te = pre.transform(f.iloc[:n_train]), pre.transform(f.iloc[n_train:])
    b = registry.get("linear")
    ctx = FitContext(TaskType.BINARY, len(X_tr), X_tr.shape[1], n_classes=2, seed=0, n_jobs=2)
    model = b.fit(X_tr, y[:n_train], b.portfolio(ctx)[0], ctx, Deadline.after(60.0))
    return float(roc_auc_score(y[n_train:], model.predict(X_te)[:, 1]))


def test_linear_model_survives_extreme_values_on_adult() -> None:
    # before clipping: 0.50 with the extremes against 0.90 without; the std of a column holding 1e308 squeezed it to a constant
    f = load_slice("adult", 4000)
    clean = _linear_auc(f, 3000)
    extreme = _linear_auc(with_extremes(f, ADULT_NUMERIC), 3000)
    assert clean > 0.88
    assert extreme > clean - 0.03


def _clip_frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(0.0, 1.0, n), "rare": (np.arange(n) % 200 == 0) * 3.0, "y": np.tile([0, 1], n // 2)})


def test_dense_clip_bounds_come_from_the_training_fold_only() -> None:
    f = _clip_frame()
    p = profile(f, "y")
    fold_a, fold_b = f.iloc[:500], f.iloc[500:].copy()
    fold_b["x"] = fold_b["x"] * 1e6  # another fold's scale must not move the bounds
    pre = Preprocessor("dense").fit(fold_a, p)
    stats = pre.to_dict()["stats"]
    j = pre.feature_names_out.index("x")
    lo, hi = np.quantile(fold_a["x"], [0.01, 0.99])
    assert stats["clip_low"][j] == pytest.approx(lo) and stats["clip_high"][j] == pytest.approx(hi)
    out = pre.transform(fold_b)["x"].to_numpy()
    at_bounds = pre.transform(pd.DataFrame({"x": [lo, hi], "rare": [0.0, 0.0]}))["x"].to_numpy()
    assert out.min() == pytest.approx(at_bounds[0]) and out.max() == pytest.approx(at_bounds[1])
    # the std is the clipped training values' own
    clipped = np.clip(fold_a["x"].to_numpy(), lo, hi)
    assert stats["std"][j] == pytest.approx(clipped.std()) and stats["mean"][j] == pytest.approx(clipped.mean())


def test_dense_keeps_rare_values_of_a_flat_column() -> None:
    # 0.5% of the rows are 3, the rest 0: the 1%-99% range is flat, so the wide 0.1%-99.9% pair keeps the 3s
    f = _clip_frame()
    pre = Preprocessor("dense").fit(f, profile(f, "y"))
    out = pre.transform(f)["rare"].to_numpy()
    assert len(np.unique(out)) == 2 and out.max() > 5.0


def test_dense_clip_bounds_round_trip_and_old_states_load_unclipped() -> None:
    f = _clip_frame()
    pre = Preprocessor("dense").fit(f, profile(f, "y"))
    far = pd.DataFrame({"x": [50.0, -1e308, np.nan], "rare": [0.0, 1e300, 3.0]})
    state = json.loads(json.dumps(pre.to_dict(), allow_nan=False))  # bounds are finite: strict JSON
    pd.testing.assert_frame_equal(Preprocessor.from_dict(state).transform(far), pre.transform(far))
    # a state saved before clipping existed has no bounds and transforms as it did then
    old = {**state, "stats": {k: v for k, v in state["stats"].items() if k not in ("clip_low", "clip_high")}}
    back = Preprocessor.from_dict(old)
    assert "clip_low" not in back.to_dict()["stats"]
    j = back.feature_names_out.index("x")
    mean, std = old["stats"]["mean"][j], old["stats"]["std"][j]
    assert float(back.transform(far)["x"].iloc[0]) == pytest.approx((50.0 - mean) / std, rel=1e-5)
    assert float(pre.transform(far)["x"].iloc[0]) < float(back.transform(far)["x"].iloc[0])
    with pytest.raises(ConfigError, match="malformed"):
        Preprocessor.from_dict({**state, "stats": {**state["stats"], "clip_low": [0.0]}})


def test_extreme_values_raise_no_warning_and_stay_finite() -> None:
    f = _clip_frame()
    f.loc[::50, "x"] = 1.7e308
    f.loc[1::50, "x"] = -1.7e308
    f["all_big"] = np.where(np.arange(len(f)) % 2, 1e308, -1e308)  # more than 1% per tail: clipping cannot help, nothing may overflow
    p = profile(f, "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for recipe in ("native", "dense"):
            out = Preprocessor(recipe).fit(f, p).transform(f)
            assert np.isfinite(out.to_numpy(dtype=np.float64)).all()
