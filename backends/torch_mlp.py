"""A PyTorch multi-layer perceptron for tabular data, on CPU or CUDA.

Input is the "native" recipe: float32 numeric columns with NaN kept and pandas `category`
columns with fixed categories. The model owns its own preprocessing, learned on the
training rows: numerics are clipped to their training 1%/99% quantiles (see
`backends.numeric.clip_bounds`), median-imputed (plus a missing indicator where training had gaps),
standardized and clipped again; each category column feeds an embedding. Rounds are
epochs. Models are saved as one `model.safetensors` file (weights and preprocessing
arrays) plus JSON metadata: no pickle, nothing executed on load.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from backends._common import (
    IterationBudget,
    model_path,
    normalize_rows,
    shape_prediction,
    task_from_meta,
)
from backends.contracts import Availability, Backend, Deadline, Device, FitContext, FitInfo, FitPlan, Model, TaskType
from backends.errors import ConfigError, DataError, PackageError
from backends.numeric import F32_MAX, numeric_stats
from backends.registry import register

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

logger = logging.getLogger(__name__)

_FILE = "model.safetensors"
MAX_EPOCHS = 200  # upper bound with an eval set; early stopping ends far sooner in practice
PATIENCE = 8  # epochs without a better validation loss before stopping
_MIN_DELTA = 1e-4  # relative improvement of the validation loss that counts as better
_DEFAULT_STEPS = 500  # optimizer steps aimed at without an eval set or an epoch count (early stopping picks 50-500)
_MIN_BATCHES = 8  # on small data an epoch still takes this many steps, so a few epochs can learn
_CHUNK = 32  # batches between deadline checks inside a long epoch
_PREDICT_BATCH = 8192
_PAD_ROWS = 64  # prediction batches are padded to a multiple of this (see `_raw_outputs`)
_CLIP = 5.0  # standardized numerics beyond this many deviations are clipped, so outliers cannot dominate
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


def embedding_dim(cardinality: int) -> int:
    """Width of the embedding for a category column with `cardinality` levels (fast.ai's rule, capped at 16)."""
    return int(min(16, round(1.6 * (cardinality + 1) ** 0.56)))


def _epoch_batches(n_rows: int, batch_size: int) -> tuple[int, int]:
    """(batch size actually used, batches per epoch): at least `_MIN_BATCHES` steps an epoch on small data."""
    size = max(1, min(int(batch_size), n_rows, math.ceil(n_rows / _MIN_BATCHES)))
    return size, math.ceil(n_rows / size)


def default_epochs(n_rows: int, batch_size: int) -> int:
    """Epochs when neither an eval set nor an epoch count is given: about `_DEFAULT_STEPS` steps, 5 to 20 epochs.

    Capped at 20 because on small data (8 steps an epoch) early stopping settles within
    5-15 epochs and more only overfits.
    """
    _, per_epoch = _epoch_batches(n_rows, batch_size)
    return int(min(20, max(5, round(_DEFAULT_STEPS / per_epoch))))


# ---------------------------------------------------------------------------- preprocessing


@dataclass
class _Prep:
    """Column layout and training statistics that turn a native-recipe frame into tensors."""

    numeric: list[str]
    indicator: np.ndarray  # bool per numeric column: had NaN in training, so it gets an indicator input
    median: np.ndarray  # float32 per numeric column
    low: np.ndarray  # float32 per numeric column: clip bounds (-inf/inf in packages saved before clipping)
    high: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    categorical: list[str]
    categories: list[list[Any]]
    cat_maps: list[np.ndarray]  # int64 per column: pandas code + 1 -> embedding row (0 = NaN or unseen in training)
    target: np.ndarray  # float64 [mean, std] of a regression target; [0, 1] otherwise

    @classmethod
    def fit(cls, X: pd.DataFrame, y: np.ndarray, task: TaskType) -> _Prep:
        """Learn the statistics from the training rows."""
        categorical = [str(c) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        numeric = [str(c) for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        if not numeric and not categorical:
            raise DataError("The training set has no feature columns; pass at least one column.")
        raw = _numeric_matrix(X, numeric)
        missing = np.isnan(raw)
        # bounds in float32, as the transform clips with them; an all-NaN column is imputed 0 (it feeds its indicator)
        st = numeric_stats(raw, bound_dtype=np.float32)
        low, high, median, mean, std = st.low, st.high, st.median, st.mean, st.std
        categories: list[list[Any]] = []
        cat_maps: list[np.ndarray] = []
        for col in categorical:
            levels = X[col].cat.categories.tolist()
            if not all(isinstance(v, (str, int, float)) for v in levels):
                raise DataError(f"Category column {col!r} has levels that are not strings or numbers; use the native recipe.")
            codes = X[col].cat.codes.to_numpy()
            seen = np.zeros(len(levels) + 1, dtype=bool)
            seen[codes + 1] = True
            seen[0] = False
            # levels absent from the training rows share row 0 with NaN: their own rows never learn anything
            cat_maps.append(np.where(seen, np.arange(len(levels) + 1), 0).astype(np.int64))
            categories.append(levels)
        target = np.array([0.0, 1.0])
        if task is TaskType.REGRESSION:
            t_std = float(np.std(y))
            target = np.array([float(np.mean(y)), t_std if np.isfinite(t_std) and t_std > 1e-12 else 1.0])
        return cls(
            numeric=numeric,
            indicator=missing.any(axis=0),
            median=median.astype(np.float32),
            low=low,
            high=high,
            mean=mean.astype(np.float32),
            std=std.astype(np.float32),
            categorical=categorical,
            categories=categories,
            cat_maps=cat_maps,
            target=target.astype(np.float64),
        )

    @property
    def n_inputs(self) -> int:
        """Width of the numeric input block: standardized numerics plus indicators."""
        return len(self.numeric) + int(self.indicator.sum())

    @property
    def cardinalities(self) -> list[int]:
        """Number of levels of each category column."""
        return [len(c) for c in self.categories]

    def transform(self, X: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """(float32 numeric block, int64 embedding rows) for `X`, on CPU."""
        missing_cols = [c for c in self.numeric + self.categorical if c not in X.columns]
        if missing_cols:
            raise DataError(f"Input lacks column(s) {', '.join(missing_cols[:5])} the model was trained on; pass the same columns.")
        raw = _numeric_matrix(X, self.numeric)
        missing = np.isnan(raw)
        filled = np.where(missing, self.median, np.clip(raw, self.low, self.high))
        scaled = np.clip((filled - self.mean) / self.std, -_CLIP, _CLIP)
        num = np.hstack([scaled, missing[:, self.indicator]]).astype(np.float32)
        cat = np.zeros((len(X), len(self.categorical)), dtype=np.int64)
        for j, (col, levels, lookup) in enumerate(zip(self.categorical, self.categories, self.cat_maps)):
            s = X[col]
            if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.tolist() == levels:
                codes = s.cat.codes.to_numpy()
            else:  # other levels than in training (or not a category column): map by value, unknown -> NaN
                codes = pd.Categorical(s, categories=levels).codes
            cat[:, j] = lookup[codes.astype(np.int64) + 1]
        return torch.from_numpy(num), torch.from_numpy(cat)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays as named CPU tensors for the safetensors file."""
        out = {
            "prep.median": torch.from_numpy(self.median.copy()),
            "prep.low": torch.from_numpy(self.low.copy()),
            "prep.high": torch.from_numpy(self.high.copy()),
            "prep.mean": torch.from_numpy(self.mean.copy()),
            "prep.std": torch.from_numpy(self.std.copy()),
            "prep.target": torch.from_numpy(self.target.copy()),
        }
        for j, lookup in enumerate(self.cat_maps):
            out[f"prep.cat_map.{j}"] = torch.from_numpy(lookup.copy())
        return out

    def meta(self) -> dict[str, Any]:
        """The JSON-safe column layout."""
        return {
            "numeric_columns": list(self.numeric),
            "indicator_columns": [c for c, has in zip(self.numeric, self.indicator) if has],
            "category_columns": [{"name": c, "categories": list(levels)} for c, levels in zip(self.categorical, self.categories)],
        }

    @classmethod
    def from_saved(cls, meta: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> _Prep:
        """Rebuild from `meta()` and `tensors()`; PackageError on any inconsistency."""
        try:
            numeric = [str(c) for c in meta["numeric_columns"]]
            with_indicator = {str(c) for c in meta["indicator_columns"]}
            cat_meta = list(meta["category_columns"])
            categorical = [str(c["name"]) for c in cat_meta]
            categories = [list(c["categories"]) for c in cat_meta]
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageError(f"Model metadata lacks a valid column layout ({exc!r}); the package is corrupt.") from exc
        if not with_indicator <= set(numeric):
            raise PackageError("Model metadata names indicator columns that are not numeric columns; the package is corrupt.")

        def array(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
            t = tensors.get(name)
            if t is None or tuple(t.shape) != shape or t.dtype != dtype:
                raise PackageError(f"Tensor {name} is missing or has the wrong shape/type for the metadata; the package is corrupt.")
            return t.numpy().copy()

        n = len(numeric)
        # packages saved before clipping existed lack the bounds: they keep predicting without clipping
        no_bounds = "prep.low" not in tensors and "prep.high" not in tensors
        low = np.full(n, -np.inf, dtype=np.float32) if no_bounds else array("prep.low", (n,), torch.float32)
        high = np.full(n, np.inf, dtype=np.float32) if no_bounds else array("prep.high", (n,), torch.float32)
        cat_maps = [array(f"prep.cat_map.{j}", (len(levels) + 1,), torch.int64) for j, levels in enumerate(categories)]
        if any(m.min() < 0 or m.max() > len(levels) for m, levels in zip(cat_maps, categories)):
            raise PackageError("A category lookup points outside its embedding; the package is corrupt.")
        return cls(
            numeric=numeric,
            indicator=np.array([c in with_indicator for c in numeric], dtype=bool),
            median=array("prep.median", (n,), torch.float32),
            low=low,
            high=high,
            mean=array("prep.mean", (n,), torch.float32),
            std=array("prep.std", (n,), torch.float32),
            categorical=categorical,
            categories=categories,
            cat_maps=cat_maps,
            target=array("prep.target", (2,), torch.float64),
        )


def _numeric_matrix(X: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """float64 values of `columns` within float32 range (the native recipe's); infinities count as missing."""
    if not columns:
        return np.zeros((len(X), 0))
    raw = X[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    raw[np.isinf(raw)] = np.nan
    return np.clip(raw, -F32_MAX, F32_MAX)  # a float64 frame passed directly may hold 1e308: keep the arithmetic finite


# ---------------------------------------------------------------------------- network


class _Net(nn.Module):
    """Embeddings concatenated with numerics, `depth` blocks of Linear + activation + dropout, then the output."""

    def __init__(self, n_num: int, cardinalities: Sequence[int], width: int, depth: int, activation: str, n_out: int, dropout: float) -> None:
        super().__init__()
        # built on the meta device: no global random state is consumed; `init` or a state dict fills it
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, embedding_dim(c), device="meta") for c in cardinalities)
        n_in = n_num + sum(embedding_dim(c) for c in cardinalities)
        self.hidden = nn.ModuleList(nn.Linear(n_in if i == 0 else width, width, device="meta") for i in range(depth))
        self.out = nn.Linear(width, n_out, device="meta")
        self.act = _ACTIVATIONS[activation]()
        self.dropout = float(dropout)

    def init(self, generator: torch.Generator) -> _Net:
        """Materialize on CPU with weights drawn from `generator` only (reproducible in threads)."""
        self.to_empty(device="cpu")
        with torch.no_grad():
            for emb in self.embeddings:
                nn.init.normal_(emb.weight, std=0.1, generator=generator)
                emb.weight[0].zero_()  # the NaN/unseen row starts neutral and only moves if training has NaN
            for lin in self.hidden:
                nn.init.kaiming_uniform_(lin.weight, nonlinearity="relu", generator=generator)
                lin.bias.zero_()
            bound = 1.0 / math.sqrt(self.out.in_features)
            nn.init.uniform_(self.out.weight, -bound, bound, generator=generator)
            self.out.bias.zero_()
        return self

    def forward(self, num: torch.Tensor, cat: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Raw outputs (logits or standardized values); dropout only in training mode, drawn from `generator`."""
        parts = [num] + [emb(cat[:, j]) for j, emb in enumerate(self.embeddings)]
        h = torch.cat(parts, dim=1) if len(parts) > 1 else num
        for lin in self.hidden:
            h = self.act(lin(h))
            if self.training and self.dropout > 0.0:
                # an explicit mask instead of nn.Dropout, whose draws come from the global generator;
                # uniform_ then a threshold is about twice as fast on CPU as bernoulli_
                keep = torch.empty_like(h).uniform_(generator=generator).ge_(self.dropout).mul_(1.0 / (1.0 - self.dropout))
                h = h * keep
        return self.out(h)


def _loss(out: torch.Tensor, y: torch.Tensor, task: TaskType) -> torch.Tensor:
    if task is TaskType.MULTICLASS:
        return F.cross_entropy(out, y)
    if task is TaskType.BINARY:
        return F.binary_cross_entropy_with_logits(out[:, 0], y)
    return F.mse_loss(out[:, 0], y)


def _raw_outputs(net: _Net, num: torch.Tensor, cat: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Network outputs for all rows in eval mode, batch by batch, kept on `device`.

    Each batch is padded to a multiple of `_PAD_ROWS` rows: matrix kernels treat a ragged
    tail of rows differently, which would make a row's prediction depend on the batch size.
    """
    net.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(num), _PREDICT_BATCH):
            num_b, cat_b = num[start : start + _PREDICT_BATCH], cat[start : start + _PREDICT_BATCH]
            n = len(num_b)
            pad = -n % _PAD_ROWS
            if pad:
                num_b = torch.cat([num_b, num_b.new_zeros((pad, num_b.shape[1]))])
                cat_b = torch.cat([cat_b, cat_b.new_zeros((pad, cat_b.shape[1]))])
            outs.append(net(num_b.to(device), cat_b.to(device))[:n])
    return torch.cat(outs) if outs else torch.zeros((0, net.out.out_features), device=device)


# ---------------------------------------------------------------------------- model


class MLPModel(Model):
    """A fitted MLP with its preprocessing; predicts on the device it lives on."""

    backend: ClassVar[str] = "mlp"

    def __init__(self, net: _Net, prep: _Prep, arch: Mapping[str, Any], task: TaskType, n_classes: int, epochs: int, info: FitInfo) -> None:
        self.net = net
        self.prep = prep
        self.arch = dict(arch)
        self.task = task
        self.n_classes = n_classes
        self.epochs = epochs  # epochs the weights were trained for (the best one under early stopping)
        self.info = info

    @property
    def device(self) -> torch.device:
        """Where the network lives and predicts."""
        return self.net.out.weight.device

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities for classification, (n,) values for regression, float64."""
        num, cat = self.prep.transform(X)
        # link functions in float64 numpy, so probabilities sum to 1 exactly
        raw = _raw_outputs(self.net, num, cat, self.device).to("cpu", torch.float64).numpy()
        if self.task is TaskType.BINARY:
            return shape_prediction(1.0 / (1.0 + np.exp(-raw[:, 0])), self.task, self.n_classes)
        if self.task is TaskType.MULTICLASS:
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            return normalize_rows(shifted)
        return raw[:, 0] * self.prep.target[1] + self.prep.target[0]

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {f"net.{k}": v.detach().to("cpu").contiguous() for k, v in self.net.state_dict().items()}
        return out | self.prep.tensors()

    def save(self, directory: Path) -> dict[str, Any]:
        """Write `model.safetensors` (weights and preprocessing arrays); return the metadata `load` needs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(self._tensors(), str(directory / _FILE))
        return {
            "file": _FILE,
            "task": self.task.value,
            "n_classes": self.n_classes,
            "n_iterations": self.info.n_iterations,
            "epochs": self.epochs,
            "truncated": self.info.truncated,
            **self.arch,
            **self.prep.meta(),
            "torch_version": torch.__version__,
        }

    def size_bytes(self) -> int:
        """Size of the safetensors serialization."""
        return len(safetensors.torch.save(self._tensors()))


# ---------------------------------------------------------------------------- backend


@register
class MLPBackend(Backend):
    """A multi-layer perceptron with category embeddings, trained by AdamW; CPU or CUDA."""

    name: ClassVar[str] = "mlp"
    recipe: ClassVar[str] = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU, Device.CUDA})
    relative_cost: ClassVar[float] = 3.0  # measured: the first config on a CPU fold of adult takes a random forest's time

    def _probe_cuda(self) -> Availability:
        """A tiny forward and backward on the GPU: a driver/toolkit mismatch often shows only on the first kernel."""
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            return Availability(False, f"torch {torch.__version__} was built without CUDA support")
        if not torch.cuda.is_available():
            return Availability(False, "torch sees no usable CUDA GPU (torch.cuda.is_available() is False)")
        x = torch.ones((4, 2), device="cuda")
        w = torch.ones((2, 1), device="cuda", requires_grad=True)
        (x @ w).square().sum().backward()
        torch.cuda.synchronize()
        return Availability(True)

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """Network size, regularization and optimizer knobs; a GPU affords wider nets and bigger batches."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # lazily: load and predict never need optuna

        cuda = ctx.device is Device.CUDA
        batch_high = max(1, min(8192 if cuda else 2048, ctx.n_rows))
        batch_low = max(1, min(256 if cuda else 64, batch_high))
        return {
            "width": IntDistribution(32, 1024 if cuda else 512, log=True),
            "depth": IntDistribution(1, 4),
            "activation": CategoricalDistribution(("relu", "silu", "gelu")),
            "dropout": FloatDistribution(0.0, 0.5),
            "learning_rate": FloatDistribution(1e-4, 3e-2, log=True),
            "weight_decay": FloatDistribution(1e-7, 1e-2, log=True),
            "batch_size": IntDistribution(batch_low, batch_high, log=True),
        }

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """A small fast net with big steps, then a deeper, wider, more regularized one."""
        cuda = ctx.device is Device.CUDA
        configs = [
            {
                "width": 128,
                "depth": 2,
                "activation": "relu",
                "dropout": 0.1,
                "learning_rate": 3e-3,
                "weight_decay": 1e-5,
                "batch_size": 1024 if cuda else 512,
            },
            {
                "width": 512 if cuda else 256,
                "depth": 3,
                "activation": "silu",
                "dropout": 0.2,
                "learning_rate": 1e-3,
                "weight_decay": 1e-4,
                "batch_size": 512 if cuda else 256,
            },
        ]
        return configs

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Train until early stopping on `eval_set`, exactly `n_iterations` epochs, or a default count."""
        if p["activation"] not in _ACTIVATIONS:
            raise ConfigError(f"Unknown activation {p['activation']!r}; choose from {', '.join(_ACTIVATIONS)}.")
        k, n_iterations = plan.n_classes, plan.n_iterations
        if ctx.device is Device.CPU:
            torch.set_num_threads(max(1, ctx.n_jobs))
        device = torch.device(ctx.device_name)

        prep = _Prep.fit(X, y, ctx.task)
        n_out = k if ctx.task is TaskType.MULTICLASS else 1
        arch = {"width": int(p["width"]), "depth": int(p["depth"]), "activation": str(p["activation"])}
        init_gen = torch.Generator().manual_seed(ctx.seed)
        net = _Net(prep.n_inputs, prep.cardinalities, n_out=n_out, dropout=float(p["dropout"]), **arch).init(init_gen).to(device)

        num, cat = (t.to(device) for t in prep.transform(X))
        target = _target_tensor(y, prep, ctx.task).to(device)
        val = None
        if plan.eval_set is not None:
            X_val, y_val = plan.eval_set
            val = tuple(t.to(device) for t in (*prep.transform(X_val), _target_tensor(y_val, prep, ctx.task)))

        batch_size, per_epoch = _epoch_batches(len(X), int(p["batch_size"]))
        if n_iterations is not None:
            epochs = int(n_iterations)
        elif plan.eval_set is not None:
            epochs = MAX_EPOCHS
        else:
            epochs = default_epochs(len(X), batch_size)
        opt = torch.optim.AdamW(net.parameters(), lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"]), fused=True)
        shuffle_gen = torch.Generator().manual_seed(ctx.seed + 1)
        dropout_gen = torch.Generator(device=device).manual_seed(ctx.seed + 2)

        budget = IterationBudget(deadline)

        def out_of_time() -> bool:
            if device.type == "cuda":  # kernels run asynchronously: time the work, not its queueing
                torch.cuda.synchronize(device)
            return budget.step_done()

        best_loss, best_epoch, best_state = math.inf, 0, None
        trained = 0  # epochs begun (a deadline can cut the last one short)
        cut = False
        for epoch in range(1, epochs + 1):
            trained = epoch
            net.train()
            order = torch.randperm(len(X), generator=shuffle_gen).to(device)
            for b in range(per_epoch):
                idx = order[b * batch_size : (b + 1) * batch_size]
                opt.zero_grad(set_to_none=True)
                _loss(net(num[idx], cat[idx], dropout_gen), target[idx], ctx.task).backward()
                opt.step()
                # long epochs are split into chunks so one epoch cannot overrun a short deadline
                if (b + 1) % _CHUNK == 0 and b + 1 < per_epoch and out_of_time():
                    cut = True
                    break
            if cut:
                break
            if val is not None:
                loss = float(_loss(_raw_outputs(net, val[0], val[1], device), val[2], ctx.task))
                loss = loss if math.isfinite(loss) else math.inf  # a diverged epoch is never the best
                if best_state is None or loss < best_loss * (1.0 - _MIN_DELTA):  # losses are >= 0
                    best_loss, best_epoch = loss, epoch
                    best_state = {key: v.detach().clone() for key, v in net.state_dict().items()}
                elif epoch - best_epoch >= PATIENCE:
                    break
            if epoch < epochs and out_of_time():
                cut = True
                break
        if best_state is not None:
            net.load_state_dict(best_state)
            used = best_epoch
        else:  # fixed epochs, or a deadline before the first evaluation
            used = trained
        if cut:
            logger.info("mlp stopped after %d of %d epochs: deadline", trained, epochs)
        extra: dict[str, Any] = {"rounds_trained": trained, "batch_size": batch_size}
        if val is not None and best_state is not None:
            extra["best_score"] = best_loss
        net.eval()
        return MLPModel(net, prep, arch, ctx.task, k, used, FitInfo(n_iterations=used, truncated=cut, extra=extra))

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.safetensors` onto CPU and rebuild the network from the metadata (nothing is executed)."""
        task, k = task_from_meta(meta)
        path = model_path(directory, meta, _FILE)
        try:
            arch = {"width": int(meta["width"]), "depth": int(meta["depth"]), "activation": str(meta["activation"])}
            epochs = int(meta["epochs"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageError(f"Model metadata lacks a valid architecture ({exc!r}); the package is corrupt.") from exc
        if arch["width"] < 1 or arch["depth"] < 1 or arch["activation"] not in _ACTIVATIONS:
            raise PackageError(f"Model metadata has an invalid architecture {arch}; the package is corrupt.")
        try:
            tensors = safetensors.torch.load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged file
            raise PackageError(f"Could not read {path.name} ({exc}); the package is corrupt.") from exc
        prep = _Prep.from_saved(meta, tensors)
        n_out = k if task is TaskType.MULTICLASS else 1
        net = _Net(prep.n_inputs, prep.cardinalities, n_out=n_out, dropout=0.0, **arch).to_empty(device="cpu")
        state = {key[len("net.") :]: v for key, v in tensors.items() if key.startswith("net.")}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise PackageError(f"The weights in {path.name} do not match the metadata's architecture; the package is corrupt.") from exc
        net.eval()
        n_iter = meta.get("n_iterations")
        info = FitInfo(n_iterations=int(n_iter) if n_iter is not None else epochs, truncated=bool(meta.get("truncated")))
        return MLPModel(net, prep, arch, task, k, epochs, info)


def _target_tensor(y: np.ndarray, prep: _Prep, task: TaskType) -> torch.Tensor:
    """Training target as the loss wants it: class ints, 0/1 floats, or the standardized value."""
    if task is TaskType.MULTICLASS:
        return torch.from_numpy(y.astype(np.int64))
    if task is TaskType.BINARY:
        return torch.from_numpy(y.astype(np.float32))
    return torch.from_numpy(((y - prep.target[0]) / prep.target[1]).astype(np.float32))
