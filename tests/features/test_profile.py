"""profile(): validation errors, kind and task inference, hints, and real-data slices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backends.contracts import TaskType
from backends.errors import ConfigError, DataError
from features import ColumnProfile, DataProfile, profile
from tests.conftest import load_slice


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
            "y": np.tile(["no", "yes"], n // 2),
        }
    )


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("bad", [[1, 2, 3], np.zeros((3, 2)), {"a": [1]}, None])
def test_not_a_dataframe(bad: object) -> None:
    with pytest.raises(DataError, match="DataFrame"):
        profile(bad, "y")  # type: ignore[arg-type]


def test_empty_frames() -> None:
    with pytest.raises(DataError, match="no rows"):
        profile(pd.DataFrame({"x": [], "y": []}), "y")
    with pytest.raises(DataError, match="no columns"):
        profile(pd.DataFrame(), "y")


def test_duplicate_columns_are_named() -> None:
    f = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=["dup", "dup", "y"])
    with pytest.raises(DataError, match="duplicate.*'dup'"):
        profile(f, "y")


def test_non_string_column_names() -> None:
    f = pd.DataFrame({0: [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match="strings"):
        profile(f, "y")


def test_missing_target_names_close_matches() -> None:
    f = _frame().rename(columns={"y": "Survived"})
    with pytest.raises(DataError, match="'Survived'"):
        profile(f, "Survivd")
    with pytest.raises(DataError, match="not in the frame.*columns are"):
        profile(f, "zzz")
    with pytest.raises(DataError, match="'Survived'"):
        profile(f, "survived")  # case-only difference


def test_target_must_be_a_name() -> None:
    with pytest.raises(ConfigError, match="column name"):
        profile(_frame(), 3)  # type: ignore[arg-type]


def test_target_all_nan() -> None:
    f = _frame().assign(y=np.nan)
    with pytest.raises(DataError, match="entirely missing"):
        profile(f, "y")


def test_target_some_nan_says_drop_rows() -> None:
    f = _frame()
    f.loc[3, "y"] = None
    with pytest.raises(DataError, match="1 missing.*drop"):
        profile(f, "y")


def test_target_inf() -> None:
    f = _frame().assign(y=np.linspace(0, 1, 60))
    f.loc[5, "y"] = np.inf
    with pytest.raises(DataError, match="infinite"):
        profile(f, "y")


def test_single_class() -> None:
    with pytest.raises(DataError, match="single value"):
        profile(_frame().assign(y="same"), "y")


def test_class_with_one_row() -> None:
    f = _frame()
    f.loc[0, "y"] = "rare"
    with pytest.raises(DataError, match="fewer than 2 rows.*'rare'|'rare'.*fewer than 2 rows"):
        profile(f, "y")


def test_target_mixing_types() -> None:
    f = _frame()
    f["y"] = [1 if i % 2 else "one" for i in range(len(f))]
    with pytest.raises(DataError, match="mixes value types"):
        profile(f, "y")


@pytest.mark.parametrize(
    ("values", "word"),
    [
        (np.array([1 + 2j] * 60), "complex"),
        (pd.to_timedelta(np.arange(60), unit="s"), "timedelta"),
        ([[1, 2]] * 60, "list"),
        ([{"a": 1}] * 30 + ["x"] * 30, "dict"),
        ([b"raw"] * 60, "bytes"),
        (pd.period_range("2020-01", periods=60, freq="M"), "unsupported dtype"),
    ],
)
def test_unsupported_feature_columns_are_named(values: object, word: str) -> None:
    f = _frame().assign(weird=values)
    with pytest.raises(DataError, match=f"'weird'.*{word}"):
        profile(f, "y")


def test_unsupported_target() -> None:
    f = _frame().assign(y=[[1]] * 60)
    with pytest.raises(DataError, match="Target.*list"):
        profile(f, "y")
    f = _frame().assign(y=pd.date_range("2020-01-01", periods=60))
    with pytest.raises(DataError, match="datetime"):
        profile(f, "y")


def test_no_usable_feature() -> None:
    n = 40
    f = pd.DataFrame(
        {
            "const": 1.0,
            "empty": np.nan,
            "row_id": np.arange(n),
            "y": np.tile([0, 1], n // 2),
        }
    )
    with pytest.raises(DataError, match="No usable feature.*'const'"):
        profile(f, "y")
    with pytest.raises(DataError, match="only the target"):
        profile(f[["y"]], "y")


def test_unknown_task_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="binary, multiclass, regression"):
        profile(_frame(), "y", task="ranking")
    with pytest.raises(ConfigError, match="Unknown task"):
        profile(_frame(), "y", task=3)  # type: ignore[arg-type]


def test_forced_task_is_validated() -> None:
    with pytest.raises(ConfigError, match="numeric target"):
        profile(_frame(), "y", task="regression")
    three = _frame().assign(y=np.tile(["a", "b", "c"], 20))
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        profile(three, "y", task="binary")
    with pytest.raises(ConfigError, match="at least 3 classes"):
        profile(_frame(), "y", task=TaskType.MULTICLASS)


def test_forced_task_accepted() -> None:
    f = _frame().assign(y=np.tile([0, 1, 2], 20))
    assert profile(f, "y", task="Regression").task is TaskType.REGRESSION
    assert profile(f, "y", task=TaskType.MULTICLASS).task is TaskType.MULTICLASS
    assert profile(f, "y", task="multiclass").classes == (0, 1, 2)


# ------------------------------------------------------------------ task inference


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (np.linspace(0.0, 1.0, 100), TaskType.REGRESSION),
        (np.tile([0, 1], 50), TaskType.BINARY),
        (np.tile([0.0, 1.0], 50), TaskType.BINARY),
        (np.tile([3, 7], 50), TaskType.BINARY),
        (np.tile(np.arange(5), 20), TaskType.MULTICLASS),
        (np.tile(np.arange(20), 5), TaskType.MULTICLASS),
        (np.tile(np.arange(21), 5)[:100], TaskType.REGRESSION),  # > 20 distinct values
        (np.tile(np.arange(50), 2), TaskType.REGRESSION),
        (np.tile(np.arange(10), 10)[:30], TaskType.REGRESSION),  # 10 values on 30 rows: too few rows each
        (np.tile(["a", "b"], 50), TaskType.BINARY),
        (np.tile(["a", "b", "c", "d"], 25), TaskType.MULTICLASS),
        (np.tile([True, False], 50), TaskType.BINARY),
        (pd.Categorical(np.tile(["lo", "mid", "hi"], 34)[:100]), TaskType.MULTICLASS),
    ],
)
def test_task_inference(y: object, task: TaskType) -> None:
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"x": rng.normal(size=len(y)), "y": y})  # type: ignore[arg-type]
    assert profile(f, "y").task is task


def test_classes_are_plain_sorted_scalars() -> None:
    f = pd.DataFrame({"x": np.arange(90) % 7, "y": np.tile(np.array([9, 2, 5], dtype=np.int64), 30)})
    p = profile(f, "y")
    assert p.classes == (2, 5, 9)
    assert all(type(c) is int for c in p.classes)
    assert p.class_counts == {2: 30, 5: 30, 9: 30}
    assert all(type(k) is int for k in p.class_counts)
    b = profile(f.assign(y=np.tile([True, False], 45)), "y")
    assert b.classes == (False, True) and type(b.classes[0]) is bool
    r = profile(f.assign(y=np.linspace(0, 1, 90)), "y")
    assert r.classes is None and r.class_counts is None


# ------------------------------------------------------------------ kinds


def _kinds(p: DataProfile) -> dict[str, str]:
    return {c.name: c.kind for c in p.columns}


def test_kinds_on_synthetic_frame() -> None:
    n = 200
    rng = np.random.default_rng(0)
    words = ["red", "green", "blue", "cyan", "mauve", "teal", "gold"]
    f = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "ints": rng.integers(0, 5, size=n),
            "flag": rng.random(n) > 0.5,
            "when": pd.date_range("2021-01-01", periods=n, freq="D"),
            "when_str": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "color": rng.choice(["r", "g", "b"], size=n),
            "cat": pd.Categorical(rng.choice(["u", "v"], size=n)),
            "comment": [" ".join(rng.choice(words, size=5)) + f" #{i}" for i in range(n)],
            "row": np.arange(n),
            "CustomerId": rng.permutation(n) + 1000,
            "token": [f"tk{i:05d}x" for i in rng.permutation(n)],
            "const": "same",
            "empty": np.nan,
            "one_or_nan": np.where(rng.random(n) > 0.5, 1.0, np.nan),
            "unique_floats": rng.normal(size=n),
            "y": np.tile([0, 1], n // 2),
        }
    )
    before = f.copy()
    p = profile(f, "y")
    pd.testing.assert_frame_equal(f, before)  # profile never changes the input
    assert _kinds(p) == {
        "num": "numeric",
        "ints": "numeric",
        "flag": "boolean",
        "when": "datetime",
        "when_str": "datetime",
        "color": "categorical",
        "cat": "categorical",
        "comment": "text",
        "row": "id",
        "CustomerId": "id",
        "token": "id",
        "const": "constant",
        "empty": "constant",
        "one_or_nan": "numeric",  # a value vs. missing still carries information
        "unique_floats": "numeric",
    }
    assert p.dropped_columns == ["row", "CustomerId", "token", "const", "empty"]
    assert "num" in p.feature_columns and "y" not in p.feature_columns
    assert [c.name for c in p.columns] == [c for c in f.columns if c != "y"]
    assert any("'row'" in h and "id" in h for h in p.hints)
    assert any("'empty'" in h and "missing" in h for h in p.hints)
    col = p.column("one_or_nan")
    assert col.n_missing == int(f["one_or_nan"].isna().sum()) and col.n_unique == 1
    assert p.missing_fraction == pytest.approx(f.drop(columns="y").isna().to_numpy().mean())


def test_unique_integers_without_key_signs_stay_numeric() -> None:
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"amount": rng.permutation(100) * 3 + 7, "y": np.tile([0, 1], 50)})
    assert _kinds(profile(f, "y"))["amount"] == "numeric"


def test_short_codes_are_categorical_not_dates_or_ids() -> None:
    f = pd.DataFrame({"code": np.tile(["A11", "A12", "2174", "A14"], 25), "y": np.tile([0, 1], 50)})
    assert _kinds(profile(f, "y"))["code"] == "categorical"


def test_leakage_copy_and_relabeling_are_dropped() -> None:
    f = _frame(100)
    f["y_copy"] = f["y"]
    f["y_code"] = f["y"].map({"no": 0, "yes": 1})
    p = profile(f, "y")
    assert "y_copy" in p.dropped_columns and "y_code" in p.dropped_columns
    assert p.feature_columns == ["x", "c"]
    assert sum("leakage" in h for h in p.hints) == 2
    assert p.column("y_code").drop_reason is not None


def test_leakage_in_regression() -> None:
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"x": rng.normal(size=100), "z": rng.normal(size=100), "y": rng.normal(size=100)})
    f["y_again"] = f["y"]
    p = profile(f, "y")
    assert p.dropped_columns == ["y_again"]
    # two unrelated columns unique per row are trivially 1-to-1 and must not be flagged
    assert p.feature_columns == ["x", "z"]


def test_hint_for_column_that_determines_target() -> None:
    f = _frame(100)
    f["grp"] = np.tile(["g1", "g2", "g3", "g4"], 25)
    f["y"] = np.where(f["grp"].isin(["g1", "g2"]), "no", "yes")
    p = profile(f, "y")
    assert "grp" in p.feature_columns
    assert any("'grp'" in h and "determines" in h for h in p.hints)


def _planted_numeric(task: str) -> pd.DataFrame:
    """Numeric columns that hit every branch of the per-column checks: constants, a key, leaks, low cardinality."""
    rng = np.random.default_rng(0)
    n = 120
    # a continuous target takes the equality test, one with repeated values the value-pairs test
    y = {"regression": rng.normal(size=n), "regression-repeated": np.round(rng.normal(size=n) * 3), "multiclass": np.tile([0, 1, 2], n // 3)}[task]
    f = pd.DataFrame({
        "noise": rng.normal(size=n), "ints": rng.integers(0, 1000, n), "key": np.arange(n), "zeros": np.zeros(n),
        "signed_zero": np.where(rng.random(n) < 0.5, 0.0, -0.0) + np.tile([0.0, 1.0], n // 2),
        "all_nan": np.full(n, np.nan), "one_and_nan": np.where(rng.random(n) < 0.5, 1.0, np.nan),
        "low": rng.integers(0, 4, n).astype(float), "holes": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "y": y,
    })
    f["copy"] = f["y"] * 1.0
    f["relabel"] = (f["y"] * 7).astype(np.int64) if task == "multiclass" else f["y"] * 10 + 3
    f["coarse"] = (f["y"] > 0).astype(float) + 2.0
    f["finer"] = f["y"] * 2.0 + rng.integers(0, 2, n)  # determines a class target, a refinement of it
    return f


@pytest.mark.parametrize("task", ["multiclass", "regression", "regression-repeated"])
def test_the_vectorized_numeric_pass_decides_what_the_per_column_checks_decide(task: str) -> None:
    # object columns take the per-column path; the same values in numeric dtypes take the vectorized one
    f = _planted_numeric(task)
    kind = "multiclass" if task == "multiclass" else "regression"
    fast = profile(f, "y", task=kind)
    slow = profile(f.astype({c: object for c in f.columns if c != "y"}), "y", task=kind)
    assert fast.hints == slow.hints
    strip = [(c.name, c.kind, c.n_missing, c.n_unique, c.drop_reason) for c in fast.columns]
    assert strip == [(c.name, c.kind, c.n_missing, c.n_unique, c.drop_reason) for c in slow.columns]
    dropped = {c.name for c in fast.columns if c.drop_reason}
    leaks = {"copy"} if task == "regression" else {"copy", "relabel"}  # a continuous target is 1-to-1 with any unique column
    assert dropped == {"zeros", "all_nan", "key"} | leaks
    assert fast.column("signed_zero").n_unique == 2  # -0.0 and 0.0 are one value, as pandas counts them
    assert any("'finer' alone determines" in h for h in fast.hints) == (task == "multiclass")


def test_inf_in_feature_gives_hint() -> None:
    f = _frame()
    f.loc[2, "x"] = np.inf
    p = profile(f, "y")
    assert any("infinite" in h and "'x'" in h for h in p.hints)


def test_extreme_values_give_a_hint_naming_the_column() -> None:
    f = _frame(200)
    f["sentinel"] = np.arange(200) % 17 * 1.0
    f.loc[[3, 50], "sentinel"] = [1e308, -9.9e307]
    f["unit_error"] = np.arange(200) % 13 + 1.0
    f.loc[7, "unit_error"] = 5e9  # nine orders of magnitude above the rest, below the absolute limit
    f["long_tail"] = np.exp(np.random.default_rng(0).normal(0.0, 2.0, 200))  # genuinely skewed, no hint
    hints = [h for h in profile(f, "y").hints if "extreme" in h]
    assert len(hints) == 2
    assert "'sentinel'" in hints[0] and "2 extreme" in hints[0] and "clip" in hints[0] and "quantiles" in hints[0]
    assert "'unit_error'" in hints[1] and "1 extreme" in hints[1]
    assert not [h for h in profile(_frame(200), "y").hints if "extreme" in h]


def test_extreme_value_hint_on_real_data(real) -> None:
    f = real("adult")
    assert not [h for h in profile(f, "income").hints if "extreme" in h]
    f["capital_gain"] = f["capital_gain"].astype(np.float64)
    f.loc[f.index[::100], "capital_gain"] = 1e308
    hints = [h for h in profile(f, "income").hints if "extreme" in h]
    assert len(hints) == 1 and "'capital_gain'" in hints[0] and "20 extreme" in hints[0]


def test_to_dict_is_json_safe_and_round_trips() -> None:
    f = _frame().assign(y=np.tile([1, 2, 3], 20), row=np.arange(60))
    p = profile(f, "y")
    d = p.to_dict()
    back = DataProfile.from_dict(json.loads(json.dumps(d)))
    assert back == p
    assert d["task"] == "multiclass" and d["classes"] == [1, 2, 3]
    assert d["dropped_columns"] == ["row"]
    c = p.columns[0]
    assert ColumnProfile.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# ------------------------------------------------------------------ real data


def test_adult_head(real) -> None:
    f = real("adult")
    p = profile(f, "income")
    assert p.n_rows == 2000
    assert p.task is TaskType.BINARY
    assert p.classes == ("<=50K", ">50K")
    assert sum(p.class_counts.values()) == 2000
    k = _kinds(p)
    assert k["workclass"] == "categorical" and k["education"] == "categorical"
    assert k["age"] == "numeric" and k["capital_gain"] == "numeric"
    assert p.dropped_columns == []
    assert p.column("workclass").n_missing > 0
    json.dumps(p.to_dict())


def test_titanic_head(real) -> None:
    p = profile(real("titanic"), "Survived")
    k = _kinds(p)
    assert p.task is TaskType.BINARY and p.classes == (0, 1)
    assert k["PassengerId"] == "id" and "PassengerId" in p.dropped_columns
    assert k["Name"] == "text"
    assert k["Sex"] == "categorical" and k["Embarked"] == "categorical" and k["Ticket"] == "categorical"
    assert k["Age"] == "numeric"
    assert any("PassengerId" in h for h in p.hints)


def test_titanic_shuffled_slice_still_drops_id() -> None:
    # shuffled rows: PassengerId is no longer monotonic, its name still marks it as a key
    p = profile(load_slice("titanic", 400, seed=3), "Survived")
    assert _kinds(p)["PassengerId"] == "id"


def test_california_housing_head(real) -> None:
    p = profile(real("california_housing"), "median_house_value")
    assert p.task is TaskType.REGRESSION and p.classes is None
    k = _kinds(p)
    assert k["ocean_proximity"] == "categorical"
    assert all(k[c] == "numeric" for c in ("longitude", "latitude", "total_rooms", "median_income"))


def test_satimage_head(real) -> None:
    p = profile(real("satimage"), "target")
    assert p.task is TaskType.MULTICLASS
    assert len(p.classes) == 6 and p.n_classes == 6
    assert len(p.feature_columns) == 36


def test_german_credit_head(real) -> None:
    p = profile(real("german_credit"), "credit")
    assert p.task is TaskType.BINARY and p.classes == (1, 2)
    assert _kinds(p)["purpose"] == "categorical"


def test_date_strings_day_first_and_offsets() -> None:
    n = 60
    f = pd.DataFrame(
        {
            "dmy": [f"{i % 28 + 1:02d}/{i % 12 + 1:02d}/2021" for i in range(n)],
            "iso_tz": [f"2020-01-{i % 28 + 1:02d}T10:00:00{'+01:00' if i % 2 else '+02:00'}" for i in range(n)],
            "year_only": [str(1990 + i % 20) for i in range(n)],  # a bare year is a number-like code, not a date
            "y": np.tile([0, 1], n // 2),
        }
    )
    k = _kinds(profile(f, "y"))
    assert k["dmy"] == "datetime" and k["iso_tz"] == "datetime"
    assert k["year_only"] == "categorical"


def test_nullable_and_extension_dtypes() -> None:
    n = 60
    rng = np.random.default_rng(0)
    f = pd.DataFrame(
        {
            "s": pd.array(rng.choice(["a", "b", None], size=n), dtype="string"),
            "i": pd.array(np.where(rng.random(n) > 0.2, rng.integers(0, 50, n), None), dtype="Int64"),
            "b": pd.array(np.where(rng.random(n) > 0.2, rng.random(n) > 0.5, None), dtype="boolean"),
            "tz": pd.date_range("2020-01-01", periods=n, freq="13h", tz="Europe/Paris"),
            "y": pd.array(np.tile([1, 2, 3], n // 3), dtype="Int64"),
        }
    )
    p = profile(f, "y")
    assert _kinds(p) == {"s": "categorical", "i": "numeric", "b": "boolean", "tz": "datetime"}
    assert p.task is TaskType.MULTICLASS and p.classes == (1, 2, 3) and type(p.classes[0]) is int


def test_unique_two_word_names_are_text_and_tokens_are_ids() -> None:
    n = 50
    first = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"]
    f = pd.DataFrame(
        {
            "full_name": [f"{first[i % 10]} Smith{i}" for i in range(n)],
            "sku": [f"SKU-{i:04d}" for i in range(n)],
            "y": np.tile([0, 1], n // 2),
        }
    )
    k = _kinds(profile(f, "y"))
    assert k == {"full_name": "text", "sku": "id"}
