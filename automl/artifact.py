"""The model package: a directory (or .zip) that loads without executing code.

Layout::

    manifest.json            format version, versions, seed, fingerprint, task, metrics, verdicts,
                             the input kind, the feature sets (schema, synthesis file) and the
                             members (feature set, backend, params, weight, files)
    synth/<features>.json    a feature synthesis as plain data (Featuretools feature definitions,
                             tsfresh settings), one per synthesized feature set in use
    preprocess/<recipe>.json the fitted preprocessing as plain data, one per recipe in use
    model/<i>/               member i's native model file(s): LightGBM text, XGBoost UBJ, skops
    SHA256SUMS               a checksum line for every other file

A single model is one member of weight 1; an ensemble has several; a stack's manifest adds its
stacking layer (coefficients and offsets, plain numbers).

Loading refuses links and special files, verifies every checksum and the format version before
reading anything else. The checksums catch corruption and partial edits; they are no signature: a
file changed with its sums recomputed loads (it still cannot run code: nothing is unpickled).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import stat
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from automl.pipeline import FeatureSet, Member, Pipeline
from backends import registry
from backends.contracts import TaskType
from backends.errors import PackageError
from backends.numeric import Stacker
from features.preprocess import Preprocessor
from features.synthesis import synthesizer_from_dict

logger = logging.getLogger(__name__)

FORMAT = "automl-package"
FORMAT_VERSION = 4  # 4 adds the stacking layer of a stack; 3 (without one) reads the same
READABLE_VERSIONS = (3, 4)
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
SYNTH_DIR = "synth"
PREPROCESS_DIR = "preprocess"
MODEL_DIR = "model"
_LIBRARIES = ("automl-engine", "numpy", "pandas", "scikit-learn", "lightgbm", "xgboost", "optuna", "skops", "featuretools", "tsfresh")


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
    (root / PREPROCESS_DIR).mkdir(parents=True)
    feature_sets = {}
    for name, fs in pipeline.feature_sets.items():
        synth_file = None
        if fs.synth is not None:
            (root / SYNTH_DIR).mkdir(exist_ok=True)
            synth_file = f"{SYNTH_DIR}/{name}.json"
            (root / synth_file).write_text(json.dumps(fs.synth.to_dict(), indent=1))
        feature_sets[name] = {"schema": fs.schema, "synth": synth_file}
    preprocess_files: dict[int, str] = {}
    members = []
    for i, member in enumerate(pipeline.members):
        key = id(member.preprocessor)
        if key not in preprocess_files:
            name = f"{PREPROCESS_DIR}/{member.preprocessor.recipe}-{len(preprocess_files)}.json"
            (root / name).write_text(json.dumps(member.preprocessor.to_dict(), indent=1))
            preprocess_files[key] = name
        model_dir = f"{MODEL_DIR}/{i}"
        meta = member.model.save(root / model_dir)
        members.append({
            "model_id": member.model_id,
            "features": member.features,
            "backend": member.backend,
            "params": member.params,
            "weight": member.weight,
            "preprocess": preprocess_files[key],
            "dir": model_dir,
            "meta": meta,
        })
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
        "input": pipeline.input_kind,
        "feature_sets": feature_sets,
        "model": {"model_id": pipeline.model_id, "backend": pipeline.backend, "members": members}
        | ({"stacker": pipeline.stacker.to_dict()} if pipeline.stacker is not None else {}),
        "files": files,
        **manifest_extra,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
    sums = {**files, MANIFEST: _sha256(root / MANIFEST)}
    (root / SUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))


def _check_entries(root: Path) -> None:
    """Refuse symbolic links and anything but regular files and folders inside the package (a link could make
    a checksummed name read a file outside it)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise PackageError(
                    f"{path.relative_to(root).as_posix()!r} in the package is a symbolic link; a package holds only regular files, re-export it."
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise PackageError(f"{path.relative_to(root).as_posix()!r} in the package is not a regular file; re-export the package.")


def _verify(root: Path) -> dict[str, Any]:
    _check_entries(root)
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
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READABLE_VERSIONS:
        raise PackageError(
            f"Package format {manifest.get('format')!r} v{manifest.get('format_version')!r} is not supported "
            f"(this engine reads {FORMAT} v{'/v'.join(map(str, READABLE_VERSIONS))}); re-export the model with this version."
        )
    return manifest


def _warn_on_drift(manifest: dict[str, Any]) -> None:
    saved = manifest.get("versions", {})
    for name, now in library_versions().items():
        if name in saved and saved[name] != now:
            logger.warning("package was written with %s %s, this machine has %s", name, saved[name], now)


def load(path: str | Path) -> Pipeline:
    """Load a package written by `Result.save` (checksums and format version are verified).

    Lives here, not in automl.api, so that loading and predicting import neither Optuna nor the search.
    """
    return load_package(path)[0]


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


def _inside(root: Path, name: str) -> Path:
    """`root / name`, refusing names that leave the package folder."""
    path = root / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise PackageError(f"Unsafe path {name!r} in the manifest; the package was tampered with.")
    return path


def _load_dir(root: Path) -> tuple[Pipeline, dict[str, Any]]:
    manifest = _verify(root)
    _warn_on_drift(manifest)
    model_info = manifest["model"]
    preprocessors: dict[str, Preprocessor] = {}
    members = []
    feature_sets = {}
    try:
        for name, entry in manifest["feature_sets"].items():
            synth = None
            if entry["synth"] is not None:
                synth = synthesizer_from_dict(json.loads(_inside(root, entry["synth"]).read_text()))
            feature_sets[name] = FeatureSet(schema=entry["schema"], synth=synth)
        for entry in model_info["members"]:
            name = entry["preprocess"]
            if name not in preprocessors:
                preprocessors[name] = Preprocessor.from_dict(json.loads(_inside(root, name).read_text()))
            model = registry.get(entry["backend"]).load(_inside(root, entry["dir"]), entry["meta"])
            members.append(Member(
                model_id=entry["model_id"], backend=entry["backend"], params=entry["params"],
                preprocessor=preprocessors[name], model=model, weight=float(entry["weight"]), features=entry["features"],
            ))
    except PackageError:
        raise
    except Exception as exc:
        raise PackageError(
            f"Could not load the package's model ({type(exc).__name__}: {exc}); re-export it with this engine version."
        ) from exc
    if not members:
        raise PackageError("The package lists no model; re-export it.")
    stacker = None
    if "stacker" in model_info:
        try:
            stacker = Stacker.from_dict(model_info["stacker"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageError(f"The package's stacking layer is unreadable ({exc}); re-export it with this engine version.") from exc
        if set(stacker.members) != {m.model_id for m in members} or len(stacker.coef) != len(stacker.members):
            raise PackageError("The package's stacking layer does not match its members; re-export it.")
    pipeline = Pipeline(
        task=TaskType(manifest["task"]),
        target=manifest["target"],
        classes=manifest["classes"],
        feature_sets=feature_sets,
        members=members,
        model_id=model_info["model_id"],
        stacker=stacker,
    )
    return pipeline, manifest
