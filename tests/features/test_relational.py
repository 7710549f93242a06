"""Deep Feature Synthesis over related tables: real mutagenesis data plus small synthetic frames for keys, time and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backends.errors import ConfigError, DataError
from features.relational import RECIPES, RelationalFeatures, RelationalSpec, Relationship, max_features_for, read_schema
from tests.conftest import DATASETS

SCHEMA = DATASETS / "mutagenesis" / "mutagenesis.schema.json"


def _schema() -> Path:
    if not SCHEMA.is_file():
        pytest.skip(f"shared dataset mutagenesis not found at {SCHEMA}")
    return SCHEMA


@pytest.fixture(scope="module")
def train() -> tuple[dict[str, pd.DataFrame], RelationalSpec]:
    return read_schema(_schema())


@pytest.fixture(scope="module")
def test_tables() -> dict[str, pd.DataFrame]:
    return read_schema(_schema(), split="test")[0]


@pytest.fixture(scope="module")
def fitted(train) -> dict[str, tuple[RelationalFeatures, pd.DataFrame]]:
    tables, spec = train
    out = {}
    for recipe in ("dfs-d1", "dfs-d2"):
        rf = RelationalFeatures(spec, recipe)
        out[recipe] = (rf, rf.fit_transform(tables))
    return out


# ---- mutagenesis


def test_read_schema_builds_the_spec(train) -> None:
    tables, spec = train
    assert set(tables) == {"molecule", "atom", "bond"}
    assert spec.target_table == "molecule" and spec.target == "mutagenic"
    assert spec.tables["atom"].index == "atom_id" and "element" in spec.tables["atom"].categorical
    assert Relationship("atom", "atom_id", "bond", "atom_id") in spec.relationships
    assert RelationalSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_depth_two_stacks_aggregations(fitted, train) -> None:
    d1, d2 = fitted["dfs-d1"][1], fitted["dfs-d2"][1]
    assert len(d2.columns) > len(d1.columns)
    assert "MEAN(atom.charge)" in d1.columns and "MEAN(atom.COUNT(bond))" in d2.columns
    assert not any("bond" in c for c in d1.columns)
    for fm in (d1, d2):
        assert len(fm) == len(train[0]["molecule"]) and isinstance(fm.index, pd.RangeIndex)
        assert "mutagenic" not in fm.columns and "molecule_id" not in fm.columns
        assert {"logp", "lumo"} <= set(fm.columns)  # the target table's own columns come through
        for c in fm.columns:
            assert fm[c].dtype == np.float64 or isinstance(fm[c].dtype, pd.CategoricalDtype), (c, fm[c].dtype)
            assert fm[c].nunique(dropna=False) > 1


def test_rows_follow_input_order(fitted, train) -> None:
    tables, _ = train
    rf, fm = fitted["dfs-d1"]
    order = np.random.default_rng(0).permutation(len(tables["molecule"]))
    shuffled = {**tables, "molecule": tables["molecule"].iloc[order].reset_index(drop=True)}
    out = rf.transform(shuffled)
    pd.testing.assert_frame_equal(out, fm.iloc[order].reset_index(drop=True), check_categorical=False)


def test_transform_matches_fit_and_test_split(fitted, train, test_tables) -> None:
    tables, _ = train
    rf, fm = fitted["dfs-d2"]
    pd.testing.assert_frame_equal(rf.transform(tables), fm)
    no_target = {**tables, "molecule": tables["molecule"].drop(columns="mutagenic")}
    pd.testing.assert_frame_equal(rf.transform(no_target), fm)
    out = rf.transform(test_tables)
    assert list(out.columns) == rf.columns == list(fm.columns)
    assert len(out) == len(test_tables["molecule"]) and out["COUNT(atom)"].notna().all()
    assert [str(t) for t in out.dtypes] == [str(t) if str(t) != "category" else "category" for t in fm.dtypes]


def test_json_round_trip(fitted, train) -> None:
    tables, _ = train
    rf, fm = fitted["dfs-d2"]
    d = rf.to_dict()
    assert d["kind"] == "dfs" and d["format"] == "features.relational/1" and d["columns"] == rf.columns
    assert d["logical_types"]["atom"]["element"] == "Categorical"
    back = RelationalFeatures.from_dict(json.loads(json.dumps(d)))
    assert back.recipe == "dfs-d2" and back.columns == rf.columns
    pd.testing.assert_frame_equal(back.transform(tables), fm)
    as_string = {**d, "features": json.dumps(d["features"])}  # the ft.save_features string form is accepted too
    assert RelationalFeatures.from_dict(as_string).columns == rf.columns


def test_restrict_keeps_exactly_the_asked_columns(fitted, train) -> None:
    tables, _ = train
    rf, fm = fitted["dfs-d2"]
    cols = ["MEAN(atom.COUNT(bond))", "logp", "MODE(atom.element)"]
    small = rf.restrict(cols)
    assert small.columns == cols and len(small.to_dict()["features"]["feature_list"]) == 3
    pd.testing.assert_frame_equal(small.transform(tables), fm[cols])
    back = RelationalFeatures.from_dict(json.loads(json.dumps(small.to_dict())))
    pd.testing.assert_frame_equal(back.transform(tables), fm[cols])
    with pytest.raises(ConfigError, match="restrict"):
        rf.restrict(["NOT_A_FEATURE"])


def test_wide_recipe_and_multi_output_restrict(train) -> None:
    tables, spec = train
    rf = RelationalFeatures(spec, "dfs-d2-wide", max_features=60)
    fm = rf.fit_transform(tables)
    multi = [c for c in fm.columns if c.startswith("N_MOST_COMMON(")]
    assert multi and any(c.startswith("MEDIAN(") for c in fm.columns)
    small = rf.restrict([multi[-1], "logp"])
    pd.testing.assert_frame_equal(small.transform(tables), fm[[multi[-1], "logp"]])


def test_max_features_cap(train) -> None:
    tables, spec = train
    rf = RelationalFeatures(spec, "dfs-d2", max_features=25)
    assert 0 < len(rf.fit_transform(tables).columns) <= 25
    assert max_features_for(1000, memory_bytes=8 * 1000 * 100) == 100
    assert max_features_for(10**6, memory_bytes=1) == 20
    assert max_features_for(10, memory_bytes=1 << 40) == 2000
    assert 20 <= max_features_for(10_000) <= 2000


def test_read_schema_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="'train', 'test'|'test', 'train'"):
        read_schema(_schema(), split="valid")
    with pytest.raises(DataError, match="missing.schema.json"):
        read_schema(tmp_path / "missing.schema.json")
    bad = tmp_path / "bad.schema.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_schema(bad)
    schema = json.loads(_schema().read_text())
    base = _schema().parent  # absolute paths: the copied schema lives elsewhere
    for entry in schema["tables"].values():
        if "file" in entry:
            entry["file"] = str(base / entry["file"])
        if "files" in entry:
            entry["files"] = {k: str(base / v) for k, v in entry["files"].items()}
    schema["tables"]["atom"]["file"] = "nowhere.csv.gz"
    moved = tmp_path / "moved.schema.json"
    moved.write_text(json.dumps(schema))
    with pytest.raises(DataError, match="nowhere.csv.gz"):
        read_schema(moved)


# ---- synthetic frames: time, keys, errors


def test_cutoff_time_hides_later_child_rows() -> None:
    customers = pd.DataFrame(
        {"cid": [3, 1, 2], "signup": pd.to_datetime(["2020-01-05", "2020-01-01", "2020-01-03"]), "age": [30, 40, 50], "y": [0, 1, 0]}
    )
    orders = pd.DataFrame(
        {
            "oid": range(6),
            "cid": [1, 1, 2, 3, 3, 1],
            "t": pd.to_datetime(["2019-12-01", "2019-12-31", "2020-01-02", "2020-01-01", "2020-01-05", "2020-01-01"]),
            "amount": [1.0, 6.0, 2.0, 3.0, 4.0, 10.0],
        }
    )
    tables = {"customers": customers, "orders": orders}
    spec = RelationalSpec.build(tables, "customers", "y", [("customers", "cid", "orders", "cid")], time_index={"customers": "signup", "orders": "t"})
    rf = RelationalFeatures(spec, "dfs-d1")
    fm = rf.fit_transform(tables)
    # customer 1 (row 1) at 2020-01-01 sees orders up to and including that day: 1 + 6 + 10
    assert fm.loc[1, "SUM(orders.amount)"] == 17.0 and fm.loc[1, "COUNT(orders)"] == 3.0
    assert list(fm["age"]) == [30.0, 40.0, 50.0]  # input order, not time order
    later = pd.concat([orders, pd.DataFrame({"oid": [99], "cid": [1], "t": pd.to_datetime(["2020-02-01"]), "amount": [1000.0]})], ignore_index=True)
    pd.testing.assert_frame_equal(rf.transform({"customers": customers, "orders": later}), fm)
    as_strings = {"customers": customers.assign(signup=customers["signup"].dt.strftime("%Y-%m-%d")), "orders": later}
    pd.testing.assert_frame_equal(rf.transform(as_strings), fm)  # CSV-style date strings are parsed


def _shop() -> dict[str, pd.DataFrame]:
    return {
        "customers": pd.DataFrame({"cid": [1, 2, 3, 4], "region": [10, 20, 10, 30], "age": [30.0, 41.0, 25.0, 60.0], "y": [0, 1, 0, 1]}),
        "orders": pd.DataFrame({"oid": [10, 11, 12, 13, 14], "cid": [1.0, 1.0, 2.0, np.nan, 4.0], "amount": [5.0, 7.0, 1.0, 2.0, 9.0]}),
        "items": pd.DataFrame({"oid": [10, 10, 11, 12, 14, 14], "price": [1.0, 2.0, 3.0, 4.0, 5.0, 8.0], "kind": ["a", "b", "a", "a", "b", "b"]}),
    }


_RELS = [("customers", "cid", "orders", "cid"), {"parent_table": "orders", "parent_key": "oid", "child_table": "items", "child_key": "oid"}]


def test_float_child_keys_with_missing_values_and_made_index() -> None:
    tables = _shop()
    spec = RelationalSpec.build(tables, "customers", "y", _RELS, categorical={"customers": ["region"]})
    assert spec.tables["items"].index is None and spec.tables["customers"].index == "cid"
    rf = RelationalFeatures(spec, "dfs-d2")
    fm = rf.fit_transform(tables)
    assert list(fm["COUNT(orders)"]) == [2.0, 1.0, 0.0, 1.0]
    assert fm.loc[0, "MEAN(orders.SUM(items.price))"] == 3.0 and fm.loc[0, "SUM(items.price)"] == 6.0
    assert isinstance(fm["region"].dtype, pd.CategoricalDtype)
    assert rf.to_dict()["logical_types"]["customers"]["region"] == "Categorical"
    # predict time: one new customer, child keys now plain ints, an extra column that is ignored
    new = {**tables, "customers": tables["customers"].iloc[[1]].drop(columns="y").assign(extra=1), "orders": tables["orders"].dropna().astype({"cid": int})}
    out = rf.transform(new)
    pd.testing.assert_frame_equal(out, fm.iloc[[1]].reset_index(drop=True), check_categorical=False)


def _error_cases() -> list[tuple[str, type[Exception], str, dict]]:
    t = _shop()
    dup = {**t, "orders": t["orders"].assign(oid=[10, 10, 12, 13, 14])}
    return [
        ("not a frame", DataError, "not a pandas DataFrame", {"tables": {**t, "items": [1, 2]}}),
        ("empty target", DataError, "has no rows", {"tables": {**t, "customers": t["customers"].iloc[:0]}}),
        ("target table", ConfigError, "target table 'shop'", {"target_table": "shop"}),
        ("unknown table", ConfigError, "unknown table 'payments'.*'customers'", {"relationships": [*_RELS, ("orders", "oid", "payments", "oid")]}),
        ("child key", DataError, "no child_key column 'customer'", {"relationships": [("customers", "cid", "orders", "customer"), _RELS[1]]}),
        ("index", DataError, "no index column 'id'", {"index": {"items": "id"}}),
        ("time index", DataError, "no time_index column 'when'", {"time_index": {"orders": "when"}}),
        ("duplicate index", DataError, "orders.oid has duplicate values", {"tables": dup}),
        ("missing index", DataError, "missing value", {"tables": {**t, "customers": t["customers"].assign(cid=[1, 2, None, 4])}}),
        ("key types", DataError, "int64.*object.*cast", {"tables": {**t, "items": t["items"].assign(oid=t["items"]["oid"].astype(str))}}),
        ("orphans", DataError, "1 row.*'items'.*matching no orders.oid", {"tables": {**t, "items": t["items"].assign(oid=[10, 10, 11, 12, 14, 99])}}),
        ("no match", DataError, "No row of table 'orders'", {"tables": {**t, "orders": t["orders"].assign(cid=[7.0, 8.0, 9.0, 9.0, 9.0])}}),
        ("target", DataError, "target column 'y' is missing", {"tables": {**t, "customers": t["customers"].drop(columns="y")}}),
        ("odd index", DataError, "index customers.cid has dtype complex128", {"tables": {**t, "customers": t["customers"].assign(cid=[1j, 2j, 3j, 4j])}}),
        ("unsupported", DataError, "items.kind holds values of type list", {"tables": {**t, "items": t["items"].assign(kind=[[1]] * 6)}}),
        ("bad relationship", ConfigError, "four names", {"relationships": [("customers", "cid", "orders")]}),
    ]


@pytest.mark.parametrize("case", _error_cases(), ids=lambda c: c[0])
def test_typed_errors(case) -> None:
    _, error, message, change = case
    args = {"tables": _shop(), "target_table": "customers", "target": "y", "relationships": _RELS, **change}
    with pytest.raises(error, match=message) as info:
        RelationalSpec.build(**args)
    assert str(info.value).count("; ") >= 1 and str(info.value).endswith(".")


def test_predict_time_checks() -> None:
    tables = _shop()
    spec = RelationalSpec.build(tables, "customers", "y", _RELS)
    rf = RelationalFeatures(spec, "dfs-d1")
    with pytest.raises(ConfigError, match="not fitted"):
        rf.transform(tables)
    rf.fit_transform(tables)
    spec.validate({**tables, "customers": tables["customers"].drop(columns="y")}, training=False)
    with pytest.raises(DataError, match="lacks column"):
        rf.transform({**tables, "customers": tables["customers"].drop(columns="age")})
    with pytest.raises(DataError, match="missing from the data"):
        rf.transform({"customers": tables["customers"]})
    with pytest.raises(ConfigError, match="Unknown relational recipe 'table'"):
        RelationalFeatures(spec, "table")
    with pytest.raises(ConfigError, match="format"):
        RelationalFeatures.from_dict({**rf.to_dict(), "format": "features.relational/0"})
    with pytest.raises(ConfigError, match="Malformed"):
        RelationalFeatures.from_dict({k: v for k, v in rf.to_dict().items() if k != "columns"})
    assert set(RECIPES) >= {"dfs-d1", "dfs-d2", "dfs-d2-wide"}


def test_target_table_as_child_gives_batch_independent_features() -> None:
    tables = _shop()
    orders = tables["orders"].dropna().assign(y=[0, 1, 1, 0])
    tables = {**tables, "orders": orders}
    spec = RelationalSpec.build(tables, "orders", "y", _RELS)
    rf = RelationalFeatures(spec, "dfs-d2")
    fm = rf.fit_transform(tables)
    assert "customers.age" in fm.columns and "SUM(items.price)" in fm.columns
    # the foreign key is an id, and an aggregation over the target table would count only the rows of one batch
    assert "cid" not in fm.columns and not any(c.startswith("customers.") and "orders" in c for c in fm.columns)
    out = rf.transform({**tables, "orders": orders.iloc[[2, 0]].drop(columns="y")})
    pd.testing.assert_frame_equal(out, fm.iloc[[2, 0]].reset_index(drop=True))
