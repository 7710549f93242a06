"""Fixtures for the features tests: the head of real shared datasets (read once per session)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.conftest import dataset_path

_CACHE: dict[tuple[str, int], pd.DataFrame] = {}


def head(name: str, rows: int = 2000) -> pd.DataFrame:
    """The first `rows` rows of a shared training file (a fresh copy each call)."""
    key = (name, rows)
    if key not in _CACHE:
        _CACHE[key] = pd.read_csv(dataset_path(name), nrows=rows, low_memory=False)
    return _CACHE[key].copy()


@pytest.fixture
def real() -> Callable[..., pd.DataFrame]:
    return head
