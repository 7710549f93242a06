"""The output folder of a run (`fit --out`): checked before any work, written whole or not at all.

A run is written into a temporary folder beside the target and moved into place at the end, so a
crash never leaves half a run, and a folder is only ever replaced when it is empty or an earlier run.
The search's own folder (`search/`: study journal, artifacts) lives in it from the start and is kept.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from backends.errors import ConfigError

SEARCH_DIR = "search"  # the search's journal and artifacts: kept across runs, so the same command resumes
RUN_ENTRIES = frozenset({"leaderboard.csv", "leaderboard.json", "report.json", "model", SEARCH_DIR})


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a folder an earlier run wrote: its report (or, interrupted, its search) and nothing but run files."""
    entries = {p.name for p in path.iterdir()}
    return bool(entries & {"report.json", SEARCH_DIR}) and entries <= RUN_ENTRIES


def check_run_dir(out: str | Path) -> Path:
    """Refuse an output location a run must not replace (a file, an unrelated non-empty folder, an unwritable
    parent), before any work; return it as a Path."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file; pass a folder for the run (it is created if missing).")
    if path.is_dir() and any(path.iterdir()) and not is_run_dir(path):
        raise ConfigError(
            f"--out {str(path)!r} is a non-empty folder that holds no earlier run; pass a new or empty folder "
            "(an earlier run's folder is replaced)."
        )
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"Cannot create --out {str(path)!r}: {str(parent)!r} is a file.")
    return path


def write_run(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(folder)` on a temporary folder beside `out`, then move it into place (replacing an earlier run)."""
    path = check_run_dir(out)
    path.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.absolute().parent))
    try:
        write(tmp)
        if (path / SEARCH_DIR).is_dir() and not (tmp / SEARCH_DIR).exists():
            (path / SEARCH_DIR).rename(tmp / SEARCH_DIR)  # the study goes with the run: a rerun resumes it
        old = None
        if path.exists():
            old = path.with_name(f"{tmp.name}.old")
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
