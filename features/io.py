"""Reading input tables (CSV, gzipped CSV, Parquet) with one clear error when that fails."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from backends.errors import DataError

_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
_PARQUET = (".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame."""
    p = Path(path)
    name = p.name.lower()
    if not p.exists():
        raise DataError(f"File {str(p)!r} does not exist; check the path.")
    if not p.is_file():
        raise DataError(f"{str(p)!r} is not a file; pass a CSV or Parquet file.")
    try:
        if name.endswith(_CSV):
            return pd.read_csv(p, low_memory=False)
        if name.endswith(_PARQUET):
            return pd.read_parquet(p)
    except Exception as exc:  # every reader error becomes one sentence for the user
        raise DataError(f"Could not read {str(p)!r} ({type(exc).__name__}: {exc}); check that it is a valid file of its type.") from exc
    raise DataError(f"Unsupported file type {p.name!r}; use .csv, .csv.gz or .parquet.")
