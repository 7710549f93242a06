"""Data profiling, validation and preprocessing: the layer between user frames and models."""

from __future__ import annotations

from features.preprocess import Preprocessor
from features.profile import ColumnProfile, DataProfile, profile
from features.schema import conform, input_schema

__all__ = ["ColumnProfile", "DataProfile", "Preprocessor", "conform", "input_schema", "profile"]
