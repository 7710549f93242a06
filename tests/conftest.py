"""Shared fixtures: the real datasets folder, small real slices, an injectable clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def dataset_path(name: str, split: str = "train") -> Path:
    path = DATASETS / name / f"{name}.{split}.csv.gz"
    if not path.is_file():
        pytest.skip(f"shared dataset {name} not found at {path}")
    return path


def load_slice(name: str, rows: int, split: str = "train", seed: int = 0) -> pd.DataFrame:
    """A reproducible random slice of a shared dataset."""
    frame = pd.read_csv(dataset_path(name, split), low_memory=False)
    if rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    return frame


ADULT_NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


def with_extremes(f: pd.DataFrame, columns: list[str], share: float = 0.005, seed: int = 0) -> pd.DataFrame:
    """A copy of `f` with `share` of the rows of each column set to values near +-1e308 (sentinels of a broken export)."""
    g = f.copy()
    rng = np.random.default_rng(seed)
    for c in columns:
        rows = rng.choice(len(g), max(1, int(share * len(g))), replace=False)
        g[c] = g[c].astype(np.float64)
        g.loc[g.index[rows], c] = rng.choice([-1.0, 1.0], len(rows)) * rng.uniform(0.5, 1.0, len(rows)) * 1e308
    return g
