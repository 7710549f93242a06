"""The model package: a directory (or .zip) that loads without executing code.

Layout::

    manifest.json     format version, versions, seed, fingerprint, schema, task, metrics, verdicts
    preprocess.json   the fitted preprocessing as plain data
    model/            native model file(s): LightGBM text, XGBoost UBJ, skops for scikit-learn
    SHA256SUMS        a checksum line for every other file

Loading verifies every checksum and the format version before reading anything else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from automl.pipeline import Pipeline
from backends import registry
from backends.contracts import TaskType
from backends.errors import PackageError
from features.preprocess import Preprocessor

logger = logging.getLogger(__name__)

FORMAT = "automl-package"
FORMAT_VERSION = 1
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
MODEL_DIR = "model"
_LIBRARIES = ("automl-engine", "numpy", "pandas", "scikit-learn", "lightgbm", "xgboost", "optuna", "skops")


def library_versions() -> dict[str, str]:
    """Installed versions of the engine and the libraries a package depends on."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_package(pipeline: Pipeline, path: str | Path, manifest_extra: dict[str, Any]) -> Path:
    """Write `pipeline` as a package at `path` (a directory, or a .zip file); return the path."""
    target = Path(path)
    if target.suffix == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            _write_dir(pipeline, Path(tmp) / "package", manifest_extra)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for file in sorted((Path(tmp) / "package").rglob("*")):
                    if file.is_file():
                        zf.write(file, file.relative_to(Path(tmp) / "package").as_posix())
        return target
    if target.exists():
        if not (target / MANIFEST).exists() and any(target.iterdir()):
            raise PackageError(f"{str(target)!r} exists and is not a model package; choose an empty or new directory.")
        shutil.rmtree(target)
    _write_dir(pipeline, target, manifest_extra)
    return target


def _write_dir(pipeline: Pipeline, root: Path, manifest_extra: dict[str, Any]) -> None:
    (root / MODEL_DIR).mkdir(parents=True)
    model_meta = pipeline.model.save(root / MODEL_DIR)
    (root / PREPROCESS).write_text(json.dumps(pipeline.preprocessor.to_dict(), indent=1))
    files = {
        p.relative_to(root).as_posix(): _sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": library_versions(),
        "task": pipeline.task.value,
        "target": pipeline.target,
        "classes": list(pipeline.classes) if pipeline.classes is not None else None,
        "schema": pipeline.schema,
        "model": {
            "backend": pipeline.backend,
            "model_id": pipeline.model_id,
            "params": pipeline.params,
            "meta": model_meta,
        },
        "files": files,
        **manifest_extra,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
    sums = {**files, MANIFEST: _sha256(root / MANIFEST)}
    (root / SUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))


def _verify(root: Path) -> dict[str, Any]:
    sums_file = root / SUMS
    if not sums_file.is_file() or not (root / MANIFEST).is_file():
        raise PackageError(f"{str(root)!r} is not a model package (no {MANIFEST} or {SUMS}); pass the directory `fit` wrote.")
    expected: dict[str, str] = {}
    for line in sums_file.read_text().splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {SUMS}
    if present != set(expected):
        extra = sorted(present - set(expected)) + sorted(set(expected) - present)
        raise PackageError(f"Package files do not match its checksum list ({', '.join(extra[:5])}); the package was altered, re-export it.")
    for name, digest in expected.items():
        if _sha256(root / name) != digest:
            raise PackageError(f"Checksum mismatch for {name!r}: the package was modified or corrupted; re-export it.")
    manifest = json.loads((root / MANIFEST).read_text())
    if manifest.get("files") != {k: v for k, v in expected.items() if k != MANIFEST}:
        raise PackageError("The manifest's file list does not match SHA256SUMS; the package was altered, re-export it.")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise PackageError(
            f"Package format {manifest.get('format')!r} v{manifest.get('format_version')!r} is not supported "
            f"(this engine reads {FORMAT} v{FORMAT_VERSION}); re-export the model with this version."
        )
    return manifest


def _warn_on_drift(manifest: dict[str, Any]) -> None:
    saved = manifest.get("versions", {})
    for name, now in library_versions().items():
        if name in saved and saved[name] != now:
            logger.warning("package was written with %s %s, this machine has %s", name, saved[name], now)


def load_package(path: str | Path) -> tuple[Pipeline, dict[str, Any]]:
    """Verify and load a package; return the pipeline and its manifest."""
    source = Path(path)
    if not source.exists():
        raise PackageError(f"No model package at {str(source)!r}; pass the directory or .zip that `fit` wrote.")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise PackageError(f"{str(source)!r} is neither a package directory nor a .zip package.")
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(source) as zf:
                for member in zf.namelist():
                    # refuse absolute paths and '..' so extraction cannot escape the folder
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise PackageError(f"Unsafe path {member!r} inside {str(source)!r}; the archive was tampered with.")
                zf.extractall(tmp)
            return _load_dir(Path(tmp))
    return _load_dir(source)


def _load_dir(root: Path) -> tuple[Pipeline, dict[str, Any]]:
    manifest = _verify(root)
    _warn_on_drift(manifest)
    model_info = manifest["model"]
    try:
        backend = registry.get(model_info["backend"])
        model = backend.load(root / MODEL_DIR, model_info["meta"])
        preprocessor = Preprocessor.from_dict(json.loads((root / PREPROCESS).read_text()))
    except PackageError:
        raise
    except Exception as exc:
        raise PackageError(
            f"Could not load the package's model ({type(exc).__name__}: {exc}); re-export it with this engine version."
        ) from exc
    pipeline = Pipeline(
        task=TaskType(manifest["task"]),
        target=manifest["target"],
        classes=manifest["classes"],
        schema=manifest["schema"],
        preprocessor=preprocessor,
        model=model,
        backend=model_info["backend"],
        params=model_info["params"],
        model_id=model_info["model_id"],
    )
    return pipeline, manifest
