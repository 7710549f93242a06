"""The library's root logger; only the CLI (an application) attaches handlers."""

from __future__ import annotations

import logging

LIBRARY_LOGGERS = ("automl", "search", "features", "backends")


def set_verbosity(level: int | str) -> None:
    """Set the level of every engine logger (e.g. logging.INFO to see each trial)."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
