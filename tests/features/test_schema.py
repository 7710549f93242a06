"""input_schema() and conform(): the predict-time gate in front of a trained model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backends.errors import ConfigError, DataError
from features import Preprocessor, conform, input_schema, profile


@pytest.fixture
def titanic(real):
    f = real("titanic", 668)
    p = profile(f, "Survived")
    return f, p, input_schema(p)


def _schema(n: int = 3) -> list[dict[str, str]]:
    return [{"name": f"c{i}", "kind": "numeric", "dtype": "float64"} for i in range(n)]


def test_input_schema_lists_feature_columns_only(titanic) -> None:
    f, p, schema = titanic
    names = [e["name"] for e in schema]
    assert names == p.feature_columns
    assert "PassengerId" not in names and "Survived" not in names
    assert {"name": "Name", "kind": "text", "dtype": "object"} in schema
    assert {"name": "Age", "kind": "numeric", "dtype": "float64"} in schema
    json.dumps(schema)


@pytest.mark.parametrize("bad", [None, [1, 2], np.zeros((2, 3)), "c0"])
def test_not_a_dataframe(bad: object) -> None:
    with pytest.raises(DataError, match="DataFrame"):
        conform(bad, _schema())  # type: ignore[arg-type]


def test_empty_frame() -> None:
    with pytest.raises(DataError, match="empty"):
        conform(pd.DataFrame({"c0": [], "c1": [], "c2": []}), _schema())
    with pytest.raises(DataError, match="empty"):
        conform(pd.DataFrame(), _schema())


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError, match="'c1', 'c2'"):
        conform(pd.DataFrame({"c0": [1.0]}), _schema())
    with pytest.raises(DataError, match="'c9' and 5 more"):
        conform(pd.DataFrame({"other": [1.0]}), _schema(15))


def test_malformed_schema() -> None:
    with pytest.raises(ConfigError, match="schema"):
        conform(pd.DataFrame({"a": [1]}), [])
    with pytest.raises(ConfigError, match="schema"):
        conform(pd.DataFrame({"a": [1]}), [{"name": "a", "kind": "nonsense"}])


def test_extra_and_target_columns_ignored_and_order_follows_schema() -> None:
    f = pd.DataFrame({"zzz": ["x"], "c2": [3.0], "y": [1], "c0": [1.0], "c1": [2.0]})
    out = conform(f, _schema(), target="y")
    assert list(out.columns) == ["c0", "c1", "c2"]
    assert out.iloc[0].tolist() == [1.0, 2.0, 3.0]


def test_numeric_strings_are_coerced_without_touching_input() -> None:
    f = pd.DataFrame({"c0": ["1.5", " 2 ", "", None], "c1": [1, 2, 3, 4], "c2": ["7", "8", "9", "1e3"]}, index=[5, 6, 7, 8])
    before = f.copy()
    out = conform(f, _schema())
    pd.testing.assert_frame_equal(f, before)
    assert out["c0"].dtype.kind == "f"
    assert out["c0"].iloc[0] == 1.5 and out["c0"].iloc[1] == 2.0
    assert out["c0"].iloc[2:].isna().all()  # blank strings mean missing
    assert out["c2"].tolist() == [7, 8, 9, 1000]
    assert out.index.tolist() == [5, 6, 7, 8]


def test_unparseable_number_names_column_and_value() -> None:
    f = pd.DataFrame({"c0": ["1", "abc", "2"], "c1": [1, 2, 3], "c2": [1, 2, 3]})
    with pytest.raises(DataError, match="'c0'.*'abc'"):
        conform(f, _schema())
    f = pd.DataFrame({"c0": pd.date_range("2020-01-01", periods=3), "c1": [1, 2, 3], "c2": [1, 2, 3]})
    with pytest.raises(DataError, match="'c0'.*numbers"):
        conform(f, _schema())


def test_duplicate_required_column() -> None:
    f = pd.DataFrame([[1, 2, 3, 4]], columns=["c0", "c0", "c1", "c2"])
    with pytest.raises(DataError, match="duplicate.*'c0'"):
        conform(f, _schema())


def test_boolean_columns() -> None:
    schema = [{"name": "b", "kind": "boolean", "dtype": "bool"}]
    out = conform(pd.DataFrame({"b": ["yes", "FALSE", None, "1"]}), schema)
    assert out["b"].tolist()[:2] == [True, False] and out["b"].isna().iloc[2] and out["b"].iloc[3]
    with pytest.raises(DataError, match="'b'.*'maybe'"):
        conform(pd.DataFrame({"b": ["yes", "maybe"]}), schema)
    with pytest.raises(DataError, match="'b'"):
        conform(pd.DataFrame({"b": [0, 2]}), schema)


def test_predict_time_rows_from_json_strings(titanic) -> None:
    f, p, schema = titanic
    pre = Preprocessor("dense").fit(f, p)
    # a request as it would arrive over JSON: every value a string, extra id column included
    rows = f.iloc[:3].drop(columns=["Survived"]).astype(str).replace({"nan": ""})
    out = pre.transform(conform(rows, schema, target="Survived"))
    expected = pre.transform(f.iloc[:3])
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=1e-6)
