"""The package: round trip, zip, tamper refusal, version refusal, predict-time checks."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

import automl
from automl.artifact import MANIFEST, SUMS
from backends.errors import DataError, PackageError
from tests.conftest import load_slice


@pytest.fixture(scope="module", params=["lightgbm", "xgboost", "linear", "extra_trees"])
def fitted(request):
    data = load_slice("titanic", 668)
    result = automl.fit(data, "Survived", n_trials=1, time_budget=60, backends=[request.param])
    return data, result


def test_round_trip_predicts_identically(fitted, tmp_path):
    data, result = fitted
    path = result.save(tmp_path / "pkg")
    loaded = automl.load(path)
    np.testing.assert_array_equal(loaded.predict(data), result.predict(data))
    np.testing.assert_allclose(loaded.predict_proba(data).to_numpy(), result.predict_proba(data).to_numpy(), atol=1e-12)
    zipped = automl.load(result.save(tmp_path / "pkg.zip"))
    np.testing.assert_array_equal(zipped.predict(data), result.predict(data))
    manifest = json.loads((path / MANIFEST).read_text())
    for key in ["format_version", "versions", "seed", "data_fingerprint", "input", "feature_sets", "task", "metrics", "verdicts", "leaderboard_row", "files"]:
        assert key in manifest
    # no pickle anywhere: only JSON, native model formats and skops
    suffixes = {p.suffix for p in path.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".txt", ".ubj", ".skops", ""}, suffixes


def _rewrite_sums(root):
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != SUMS:
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n")
    (root / SUMS).write_text("".join(lines))


def test_tampered_or_incompatible_package_is_refused(fitted, tmp_path):
    _, result = fitted
    path = result.save(tmp_path / "pkg")
    model_file = next(p for p in (path / "model" / "0").iterdir() if p.is_file())
    original = model_file.read_bytes()
    model_file.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(PackageError, match="Checksum mismatch"):
        automl.load(path)
    model_file.write_bytes(original)
    (path / "model" / "0" / "extra.bin").write_bytes(b"x")
    with pytest.raises(PackageError, match="altered"):
        automl.load(path)
    (path / "model" / "0" / "extra.bin").unlink()
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["format_version"] = 99
    (path / MANIFEST).write_text(json.dumps(manifest))
    _rewrite_sums(path)  # a consistent but incompatible package
    with pytest.raises(PackageError, match="not supported"):
        automl.load(path)
    with pytest.raises(PackageError, match="No model package"):
        automl.load(tmp_path / "missing")


def test_predict_time_column_checks(fitted):
    data, result = fitted
    with pytest.raises(DataError, match="Sex"):
        result.predict(data.drop(columns=["Sex"]))
    extra = data.assign(unrelated=1)
    np.testing.assert_array_equal(result.predict(extra), result.predict(data))
    shuffled = data[list(reversed(data.columns))]
    np.testing.assert_array_equal(result.predict(shuffled), result.predict(data))
    with pytest.raises(DataError):
        result.predict(data.iloc[:0])


def test_save_refuses_to_overwrite_a_foreign_directory(fitted, tmp_path):
    _, result = fitted
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(PackageError, match="not a model package"):
        result.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").exists()
    shutil.rmtree(tmp_path / "notes")
