"""The warm-start portfolio: configurations tuned on ../shared/datasets, in the order to try them.

`search/portfolio.json` ships with the package; `python -m benchmarks.portfolio` writes it and
`benchmarks/PORTFOLIO.md` says how it was derived. Values are raw (not sized by any data): the
search clips them into each task's space with `portfolio_for`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from backends import registry
from backends._common import clip_to_space, dedupe
from backends.contracts import Backend, FitContext
from backends.errors import ConfigError

PORTFOLIO_FILE = "portfolio.json"
_SCALARS = (bool, int, float, str)

# one context for every backend, or one per backend name (each sized for the device it runs on)
Contexts = FitContext | Mapping[str, FitContext]


def context_for(ctx: Contexts, name: str) -> FitContext:
    """The context of backend `name` in `ctx`."""
    return ctx if isinstance(ctx, FitContext) else ctx[name]


def _read(path: str | Path | None) -> tuple[str, str]:
    where = str(path) if path is not None else f"search/{PORTFOLIO_FILE} (packaged)"
    try:
        if path is None:
            return where, resources.files("search").joinpath(PORTFOLIO_FILE).read_text(encoding="utf-8")
        return where, Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the portfolio file {where} ({exc}); reinstall the package or regenerate it.") from exc


def load_portfolio(path: str | Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(backend name, raw params) pairs in portfolio order; ConfigError when the file is malformed.

    `path` defaults to the packaged `search/portfolio.json`.
    """
    where, text = _read(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"The portfolio file {where} is not valid JSON ({exc}); regenerate it with benchmarks.portfolio.") from exc
    configs = doc.get("configs") if isinstance(doc, dict) else None
    if not isinstance(configs, list) or not configs:
        raise ConfigError(f"The portfolio file {where} needs a non-empty list under 'configs'; regenerate it with benchmarks.portfolio.")
    known = registry.names()
    out: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(configs):
        backend = entry.get("backend") if isinstance(entry, dict) else None
        params = entry.get("params") if isinstance(entry, dict) else None
        if backend not in known:
            raise ConfigError(f"Portfolio entry {i} in {where} names backend {backend!r}; expected one of {', '.join(known)}.")
        if not isinstance(params, dict) or not params:
            raise ConfigError(f"Portfolio entry {i} in {where} needs a non-empty 'params' object.")
        bad = [k for k, v in params.items() if not isinstance(k, str) or not isinstance(v, _SCALARS)]
        if bad:
            raise ConfigError(f"Portfolio entry {i} in {where} has non-scalar values for {', '.join(map(str, bad))}.")
        out.append((backend, dict(params)))
    return out


def portfolio_for(
    backends: Sequence[Backend], ctx: Contexts, configs: Sequence[tuple[str, dict[str, Any]]] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The portfolio entries usable here, in order, clipped into each backend's space for `ctx`.

    An entry is kept when its backend is among `backends` and its parameters are exactly that
    backend's for this task (the linear family takes C for classification, alpha for regression).
    Entries that clipping makes equal to an earlier one are dropped.
    """
    by_name = {b.name: b for b in backends}
    out: list[tuple[str, dict[str, Any]]] = []
    for name, params in load_portfolio() if configs is None else configs:
        backend = by_name.get(name)
        if backend is None:
            continue
        space = backend.search_space(context_for(ctx, name))
        if set(params) != set(space):
            continue
        out.append((name, clip_to_space(params, space)))
    seen = dedupe([{"backend": n, **p} for n, p in out])
    return [(cfg.pop("backend"), cfg) for cfg in seen]


__all__ = ["PORTFOLIO_FILE", "Contexts", "context_for", "load_portfolio", "portfolio_for"]
