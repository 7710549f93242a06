"""Which synthesis recipes the budget affords, and the synthesizer registry (real mutagenesis and gunpoint data)."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest

import features.synthesis as synthesis
import features.timeseries as timeseries
from backends.errors import ConfigError
from search.budget import Budget
from tests.conftest import DATASETS


@pytest.fixture(scope="module")
def mutagenesis():
    if not (DATASETS / "mutagenesis").is_dir():
        pytest.skip("shared dataset mutagenesis not found")
    from features.relational import read_schema

    return read_schema(DATASETS / "mutagenesis" / "mutagenesis.schema.json", "train")


@pytest.fixture(scope="module")
def gunpoint():
    if not (DATASETS / "gunpoint").is_dir():
        pytest.skip("shared dataset gunpoint not found")
    series = pd.read_csv(DATASETS / "gunpoint" / "gunpoint.train.series.csv.gz")
    return series, timeseries.SeriesSpec(), list(pd.unique(series["id"]))


def test_deeper_recipes_are_skipped_when_their_estimate_exceeds_the_share(mutagenesis, monkeypatch):
    tables, spec = mutagenesis
    monkeypatch.setattr(synthesis, "_estimate_dfs", lambda spec, recipe, tables: {"dfs-d0": 0.1, "dfs-d1": 1.0}.get(recipe, 100.0))
    views = synthesis.relational_views(tables, spec, None, budget=Budget(60))
    assert [v.name for v in views] == ["dfs-d0", "dfs-d1"]
    assert list(views[0].frame.columns) == ["ind1", "inda", "logp", "lumo"]  # the baseline: the target table's own columns
    assert len(views[1].frame) == len(tables[spec.target_table]) and views[1].seconds > 0


def test_a_first_recipe_beyond_the_budget_is_a_clear_error(mutagenesis, monkeypatch):
    tables, spec = mutagenesis
    monkeypatch.setattr(synthesis, "_estimate_dfs", lambda spec, recipe, tables: 500.0)
    with pytest.raises(ConfigError, match="raise time_budget"):
        synthesis.relational_views(tables, spec, ["dfs-d1"], budget=Budget(60))


def test_the_estimate_is_zero_on_small_tables_and_positive_on_larger_ones(mutagenesis):
    tables, spec = mutagenesis
    assert synthesis._estimate_dfs(spec, "dfs-d1", tables) == 0.0
    bigger = dict(tables)
    target = tables[spec.target_table]
    # the same molecules under new ids: a 564-row target table whose sample is timed and scaled
    copies = [target.assign(molecule_id=target["molecule_id"] + f"-{i}") for i in range(4)]
    atoms = [tables["atom"].assign(molecule_id=tables["atom"]["molecule_id"] + f"-{i}", atom_id=tables["atom"]["atom_id"] + f"-{i}") for i in range(4)]
    bonds = [tables["bond"].assign(atom_id=tables["bond"]["atom_id"] + f"-{i}", bond_id=tables["bond"]["bond_id"] + f"-{i}") for i in range(4)]
    bigger.update({spec.target_table: pd.concat(copies), "atom": pd.concat(atoms), "bond": pd.concat(bonds)})
    assert synthesis._estimate_dfs(spec, "dfs-d1", bigger) > 0.0


def test_series_views_skip_efficient_beyond_the_share_and_share_the_matrix(gunpoint, monkeypatch):
    series, spec, ids = gunpoint
    monkeypatch.setattr(timeseries, "estimate_seconds", lambda *a, **k: 1e6)
    names = [v.name for v in synthesis.series_views(series, spec, ids, None, budget=Budget(30), classification=True)]
    assert names == ["ts-raw", "ts-minimal"]  # MiniRocket and efficient both skipped
    monkeypatch.setattr(timeseries, "estimate_seconds", lambda *a, **k: 0.1)
    views = {v.name: v for v in synthesis.series_views(series, spec, ids, ["ts-efficient", "ts-efficient-relevant"], Budget(30), True)}
    assert views["ts-efficient-relevant"].frame is views["ts-efficient"].frame  # computed once, selected per fold
    assert views["ts-efficient-relevant"].select == synthesis.RelevanceSelector(classification=True) and views["ts-efficient"].select is None
    assert pickle.loads(pickle.dumps(views["ts-efficient-relevant"].select)) == views["ts-efficient-relevant"].select  # sent to workers


def test_unknown_recipes_and_kinds_are_config_errors(gunpoint):
    series, spec, ids = gunpoint
    with pytest.raises(ConfigError, match="ts-minimal"):
        synthesis.series_views(series, spec, ids, ["dfs-d1"], Budget(30), True)
    with pytest.raises(ConfigError, match="kind"):
        synthesis.synthesizer_from_dict({"kind": "pickle"})
    fitted = timeseries.SeriesFeatures(spec, "minimal")
    fitted.fit_transform(series, ids=ids)
    again = synthesis.synthesizer_from_dict(json.loads(json.dumps(fitted.to_dict())))
    pd.testing.assert_frame_equal(again.transform(series), fitted.transform(series))
