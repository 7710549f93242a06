"""The artifacts of a search: each trial's out-of-fold predictions and the best trials' fold models.

A trial writes them before it is told COMPLETE, and its record keeps a reference to each (id and
SHA-256), so a resumed or multi-process search ensembles and packages trials finished anywhere.

* `FileStore` (a folder in the run's work directory) goes through Optuna's artifact API: every
  artifact is registered on its trial with `optuna.artifacts.upload_artifact`, and written to a
  temporary name, fsynced and renamed, so a crash never leaves half a file under a final name.
* `MemoryStore` keeps the objects as they are: a search whose study lives in memory cannot resume.

Reading checks the SHA-256; a missing or corrupt artifact raises `ArtifactError`, which the search
turns into a warning and leaves that trial out (it never crashes the search).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from backends.contracts import Backend, FitInfo
from features.preprocess import Preprocessor
from search.evaluate import FittedCandidate

OOF = "oof"
MODEL = "model"


class ArtifactError(Exception):
    """An artifact is missing or does not match its recorded SHA-256."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AtomicFileStore(FileSystemArtifactStore):
    """Optuna's file-system store, writing each artifact to a temporary name, fsynced, then renamed."""

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        target = self._get_filepath(artifact_id)
        fd, tmp = tempfile.mkstemp(prefix=f".{artifact_id}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(content_body, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:  # the rename itself must reach the disk too
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class MemoryStore:
    """Artifacts of a search that cannot resume: kept in this process as they are."""

    durable = False

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    def put_oof(self, trial: Any, oof: np.ndarray) -> dict[str, str]:
        return self._keep(oof)

    def put_model(self, trial: Any, fitted: list[FittedCandidate]) -> dict[str, str]:
        return self._keep(list(fitted))

    def _keep(self, item: Any) -> dict[str, str]:
        key = str(uuid.uuid4())
        self._items[key] = item
        return {"id": key, "sha256": ""}

    def discard(self, ref: dict[str, str]) -> None:
        """Forget an artifact no one will read (a fold model that fell out of the best few)."""
        self._items.pop(ref["id"], None)

    def oof(self, ref: dict[str, str]) -> np.ndarray:
        if ref["id"] not in self._items:
            raise ArtifactError(f"artifact {ref['id']} is not in this process (the search that wrote it kept it in memory)")
        return self._items[ref["id"]]

    def model(self, ref: dict[str, str], backends: dict[str, Backend]) -> list[FittedCandidate]:
        return self.oof(ref)  # type: ignore[return-value]


class FileStore:
    """Artifacts in a folder, registered on their trials through Optuna's artifact API."""

    durable = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = AtomicFileStore(self.root)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": str(self.root)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]

    def put_oof(self, trial: Any, oof: np.ndarray) -> dict[str, str]:
        buf = io.BytesIO()
        np.save(buf, np.asarray(oof), allow_pickle=False)
        return self._upload(trial, buf.getvalue(), f"{OOF}.npy")

    def put_model(self, trial: Any, fitted: list[FittedCandidate]) -> dict[str, str]:
        return self._upload(trial, model_bytes(fitted), f"{MODEL}.zip")

    def _upload(self, trial: Any, data: bytes, filename: str) -> dict[str, str]:
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".incoming.") as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            artifact_id = upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=trial)
        return {"id": artifact_id, "sha256": sha256(data)}

    def _read(self, ref: dict[str, str]) -> bytes:
        try:
            with self.store.open_reader(ref["id"]) as f:
                data = f.read()
        except Exception as exc:  # optuna raises ArtifactNotFound; an unreadable file is as good as missing
            raise ArtifactError(f"artifact {ref['id']} cannot be read ({type(exc).__name__}: {exc})") from exc
        if sha256(data) != ref["sha256"]:
            raise ArtifactError(f"artifact {ref['id']} does not match its SHA-256 (corrupted on disk)")
        return data

    def oof(self, ref: dict[str, str]) -> np.ndarray:
        return np.load(io.BytesIO(self._read(ref)), allow_pickle=False)

    def model(self, ref: dict[str, str], backends: dict[str, Backend]) -> list[FittedCandidate]:
        return model_from_bytes(self._read(ref), backends)


Store = MemoryStore | FileStore


def model_bytes(fitted: list[FittedCandidate]) -> bytes:
    """A trial's fold models as a zip of plain files: `candidates.json` (each preprocessor as JSON) and folder
    `i/model` per fold model in its backend's native format."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        heads = []
        for i, candidate in enumerate(fitted):
            meta = candidate.model.save(root / str(i) / MODEL)
            info = candidate.model.info
            heads.append({
                "backend": candidate.backend.name, "params": dict(candidate.params), "meta": meta, "flat": candidate.flat,
                "info": {"n_iterations": info.n_iterations, "truncated": info.truncated},
                "preprocessor": candidate.preprocessor.to_dict(),
            })
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("candidates.json", json.dumps(heads, default=str))
            for file in sorted(root.rglob("*")):
                if file.is_file():
                    zf.write(file, file.relative_to(root).as_posix())
        return buf.getvalue()


def model_from_bytes(data: bytes, backends: dict[str, Backend]) -> list[FittedCandidate]:
    """The fold models `model_bytes` wrote (their backend must be one of `backends`)."""
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = Path(tmp)
        for name in zf.namelist():  # our own files, written by `model_bytes`; still, nothing outside `root`
            if name.startswith("/") or ".." in Path(name).parts:
                raise ArtifactError(f"model artifact holds an unsafe path {name!r}")
        zf.extractall(root)
        fitted = []
        for i, head in enumerate(json.loads((root / "candidates.json").read_text())):
            backend = backends[head["backend"]]
            model = backend.load(root / str(i) / MODEL, head["meta"])
            model.info = FitInfo(n_iterations=head["info"]["n_iterations"], truncated=bool(head["info"]["truncated"]))
            fitted.append(FittedCandidate(backend, Preprocessor.from_dict(head["preprocessor"]), model, head["params"],
                                          flat=bool(head["flat"])))
    return fitted
