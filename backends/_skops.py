"""Save scikit-learn estimators with skops and load them back without trusting the file.

Also holds `SkopsModel`, the `Model` shared by the scikit-learn families (linear, forests).

skops already refuses types outside its default-trusted set, but that set includes every
scikit-learn estimator and numpy function (a `FunctionTransformer(np.log1p)` or a
`Pipeline` loads silently). We therefore read the file's schema ourselves and refuse any
type or loader that is not in an explicit allowlist of what our estimators consist of,
before skops constructs anything.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import skops.io as sio

from backends._common import expand_proba, read_meta_file, task_from_meta
from backends.contracts import FitInfo, Model, TaskType
from backends.errors import PackageError

logger = logging.getLogger(__name__)

_NUMPY_SCALARS = (
    "bool",
    "bool_",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)

# Every "module.Class" our linear, tree and neighbours estimators serialize to (checked against
# skops 0.16 / scikit-learn 1.9); anything else in a model file is refused.
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "numpy.ndarray",
        "numpy.dtype",
        *(f"numpy.{name}" for name in _NUMPY_SCALARS),
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._regression.KNeighborsRegressor",
    }
)

# skops node kinds that only rebuild plain data or the allowed classes above; kinds
# such as FunctionNode, MethodNode or ReduceNode can reach arbitrary callables.
ALLOWED_LOADERS: frozenset[str] = frozenset(
    {
        "DictNode",
        "ListNode",
        "TupleNode",
        "JsonNode",
        "TypeNode",
        "NdArrayNode",
        "DTypeNode",
        "ObjectNode",
        "TreeNode",
    }
)


def dump_estimator(estimator: Any, path: Path) -> None:
    """Write `estimator` to `path` in the skops format (no pickle)."""
    sio.dump(estimator, path)


def estimator_size(estimator: Any) -> int:
    """Size in bytes of `estimator` serialized with skops."""
    return len(sio.dumps(estimator))


def _schema_types(node: Any, found: set[tuple[str, str]]) -> None:
    """Collect (module.Class, loader) of every node in a skops schema, recursively."""
    if isinstance(node, dict):
        if "__class__" in node or "__module__" in node or "__loader__" in node:
            found.add((f"{node.get('__module__')}.{node.get('__class__')}", str(node.get("__loader__"))))
        for value in node.values():
            _schema_types(value, found)
    elif isinstance(node, list):
        for value in node:
            _schema_types(value, found)


def file_types(path: Path) -> set[tuple[str, str]]:
    """Every (module.Class, loader) pair named in the skops file at `path`, read as plain JSON."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise PackageError(f"{path.name} is not a readable skops file ({exc}); the package is corrupt.") from exc
    found: set[tuple[str, str]] = set()
    _schema_types(schema, found)
    return found


def load_estimator(path: Path) -> Any:
    """Load a skops file written by `dump_estimator`, refusing any type outside the allowlist."""
    path = Path(path)
    if not path.is_file():
        raise PackageError(f"Model file {path.name} is missing; the package is incomplete.")
    found = file_types(path)
    bad_types = sorted({t for t, _ in found if t not in ALLOWED_TYPES})
    bad_loaders = sorted({loader for _, loader in found if loader not in ALLOWED_LOADERS})
    if bad_types or bad_loaders:
        raise PackageError(
            f"Refusing to load {path.name}: it contains untrusted content "
            f"({', '.join(bad_types + bad_loaders)}); only models written by this engine can be loaded."
        )
    # skops re-checks on load; pass exactly the types it flags, all of which passed our allowlist
    untrusted = sio.get_untrusted_types(file=path)
    outside = sorted(set(untrusted) - ALLOWED_TYPES)
    if outside:  # cannot happen if our schema walk is complete; kept as a second lock
        raise PackageError(f"Refusing to load {path.name}: skops flags untrusted types {', '.join(outside)}.")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild means a bad package
        raise PackageError(f"Could not load {path.name} ({exc}); the package is corrupt or from another version.") from exc


class SkopsModel(Model):
    """A fitted scikit-learn estimator behind the `Model` contract, saved as one skops file.

    Subclasses set `backend` and `estimator_types` (the class names `load` accepts).
    """

    backend: ClassVar[str] = ""
    estimator_types: ClassVar[frozenset[str]] = frozenset()
    file_name: ClassVar[str] = "model.skops"

    def __init__(self, estimator: Any, task: TaskType, n_classes: int, info: FitInfo) -> None:
        self.estimator = estimator
        self.task = task
        self.n_classes = n_classes
        self.info = info

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities in label order for classification, (n,) values for regression."""
        if self.task.is_classification:
            proba = self.estimator.predict_proba(X)
            return expand_proba(proba, self.estimator.classes_, self.n_classes)
        return np.asarray(self.estimator.predict(X), dtype=np.float64).reshape(-1)

    def save(self, directory: Path) -> dict[str, Any]:
        """Write `model.skops` into `directory`; return the metadata `load_model` needs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        dump_estimator(self.estimator, directory / self.file_name)
        return {
            "file": self.file_name,
            "task": self.task.value,
            "n_classes": self.n_classes,
            "n_iterations": self.info.n_iterations,
            "truncated": self.info.truncated,
        }

    def size_bytes(self) -> int:
        """Size of the skops serialization in bytes."""
        return estimator_size(self.estimator)

    @classmethod
    def load_model(cls, directory: Path, meta: Mapping[str, Any]) -> SkopsModel:
        """Rebuild a model written by `save`, refusing files with untrusted or unexpected content."""
        task, k = task_from_meta(meta)
        estimator = load_estimator(Path(directory) / read_meta_file(meta, cls.file_name))
        if type(estimator).__name__ not in cls.estimator_types:
            raise PackageError(
                f"{cls.backend} model file holds a {type(estimator).__name__}, "
                f"expected one of {', '.join(sorted(cls.estimator_types))}; the package is inconsistent."
            )
        n_iter = meta.get("n_iterations")
        info = FitInfo(n_iterations=int(n_iter) if n_iter is not None else None, truncated=bool(meta.get("truncated")))
        return cls(estimator, task, k, info)
