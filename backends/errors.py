"""Typed errors for the whole engine.

They live in the lowest layer so every package can raise them; each message is one
sentence that says what is wrong and how to fix it.
"""

from __future__ import annotations


class AutoMLError(Exception):
    """Root of every error this engine raises on purpose."""


class DataError(AutoMLError, ValueError):
    """The input data cannot be used as given (empty, missing target, bad values, wrong columns)."""


class ConfigError(AutoMLError, ValueError):
    """An argument or option is invalid (unknown metric, budget <= 0, malformed criterion)."""


class PackageError(AutoMLError):
    """A model package is missing, tampered with, or of an incompatible format version."""


class BackendUnavailable(AutoMLError):
    """A backend or device was requested that cannot run on this machine."""


class SearchError(AutoMLError):
    """The search produced no usable model (every trial failed or the budget was too small)."""


class AutoMLWarning(UserWarning):
    """Root of the warnings this engine emits (also logged); filter them with `warnings.simplefilter`."""


class CriteriaNotMetWarning(AutoMLWarning):
    """The packaged model fails a declared success criterion (no candidate passes them all)."""


class IncompleteModelWarning(AutoMLWarning):
    """Only a model the deadline cut short, or one that predicts nearly a constant, could be packaged."""
