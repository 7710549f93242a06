"""MiniRocket random-convolution features for time series (Dempster, Schmidt & Webb, KDD 2021), in numpy.

84 fixed kernels of length 9 (weights -1, with +2 at three positions) at exponentially spaced
dilations; each kernel/dilation pair gives "proportion of positive values" features against
biases taken from quantiles of its output on random training series. The fitted state is
three small arrays per channel (dilations, features per dilation, biases), so it is stored as
plain JSON. Multivariate series get one set per channel (channel-independent), the feature
count split between them. A port of the reference implementation's algorithm without numba,
vectorized over series; reference: github.com/angus924/minirocket (GPL-3.0 code not copied).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

KERNEL_LENGTH = 9
KERNEL_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)  # the 84 positions of the +2 weights
N_KERNELS = len(KERNEL_INDICES)
MAX_DILATIONS_PER_KERNEL = 32
CHUNK_CELLS = 20_000_000  # booleans compared at once (series x positions x biases), to bound memory


def _dilations(length: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponentially spaced dilations that fit the series length, and how many features each one gets."""
    per_kernel = max(1, n_features // N_KERNELS)
    true_max = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    multiplier = per_kernel / true_max
    max_exponent = np.log2(max(1.0, (length - 1) / (KERNEL_LENGTH - 1)))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int64), return_counts=True)
    counts = (counts * multiplier).astype(np.int64)
    remainder = per_kernel - int(counts.sum())
    i = 0
    while remainder > 0:  # hand out what rounding left, round robin
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations, counts


def _quantiles(n: int) -> np.ndarray:
    """Low-discrepancy quantiles (multiples of the golden ratio modulo 1), as the reference uses."""
    return (np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1


def _convolutions(X: np.ndarray, dilation: int) -> np.ndarray:
    """Outputs of the 84 kernels at `dilation` over series X (n x length), zero padded: (84, n, length)."""
    n, length = X.shape
    shifted = np.zeros((KERNEL_LENGTH, n, length), dtype=np.float64)
    for k in range(KERNEL_LENGTH):
        offset = (k - KERNEL_LENGTH // 2) * dilation  # tap k reads x[t + offset]
        if offset >= 0:
            if offset < length:
                shifted[k, :, : length - offset] = X[:, offset:]
        elif -offset < length:
            shifted[k, :, -offset:] = X[:, : length + offset]
    base = -shifted.sum(axis=0)  # every weight is -1 ...
    return base[None] + 3.0 * shifted[KERNEL_INDICES].sum(axis=1)  # ... and three of them +2


def fit(X: np.ndarray, n_features: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Fit MiniRocket on equal-length series X (n x length) of one channel: dilations, features per dilation, biases."""
    n, length = X.shape
    dilations, counts = _dilations(length, n_features)
    quantiles = _quantiles(N_KERNELS * int(counts.sum()))
    rng = np.random.RandomState(seed)
    biases = np.empty(len(quantiles))
    start = 0
    for dilation, count in zip(dilations, counts):
        conv = _convolutions(X, int(dilation))
        picks = rng.randint(n, size=N_KERNELS)  # one random training series per kernel
        for kernel in range(N_KERNELS):
            end = start + int(count)
            biases[start:end] = np.quantile(conv[kernel, picks[kernel]], quantiles[start:end])
            start = end
    return {"length": int(length), "dilations": dilations.tolist(), "counts": counts.tolist(), "biases": biases.tolist()}


def transform(X: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Features of series X (n x the fitted length) under a fitted `state`: n x (84 x sum of counts), float64."""
    n, length = X.shape
    biases = np.asarray(state["biases"], dtype=np.float64)
    out = np.empty((n, len(biases)))
    start = 0
    for d_index, (dilation, count) in enumerate(zip(state["dilations"], state["counts"])):
        conv = _convolutions(X, int(dilation))
        padding = ((KERNEL_LENGTH - 1) * int(dilation)) // 2
        for kernel in range(N_KERNELS):
            end = start + int(count)
            values = conv[kernel]
            # alternate kernels use only the positions the kernel fully covers, as the reference does
            if (d_index + kernel) % 2 == 1 and length > 2 * padding:
                values = values[:, padding : length - padding]
            b = biases[start:end]
            step = max(1, CHUNK_CELLS // max(1, values.shape[1] * len(b)))
            for i in range(0, n, step):
                out[i : i + step, start:end] = (values[i : i + step, :, None] > b).mean(axis=1)
            start = end
    return out


def feature_names(kind: str, state: dict[str, Any]) -> list[str]:
    """Column names of one channel's features: <kind>__minirocket_d<dilation>_k<kernel>_<i>."""
    names = []
    for dilation, count in zip(state["dilations"], state["counts"]):
        names += [f"{kind}__minirocket_d{dilation}_k{k}_{i}" for k in range(N_KERNELS) for i in range(int(count))]
    return names
