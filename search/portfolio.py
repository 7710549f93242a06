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
from backends.contracts import Backend, Device, FitContext
from backends.errors import ConfigError

PORTFOLIO_FILE = "portfolio.json"
_SCALARS = (bool, int, float, str)
BIG_FIT_WORK = 500_000  # fit_work beyond which the warm start runs its cheapest entries first
GPU_COST_FACTOR = 0.2  # a CUDA fit's cost relative to the same fit on the CPU cores (a rough, conservative speedup)

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


def estimated_cost(backend: Backend, params: dict, device: Device = Device.CPU) -> float:
    """A relative cost: the family's hint, times the extra rounds a small learning rate needs (boosters), less on a GPU."""
    lr = params.get("learning_rate") if backend.rounds_follow_learning_rate else None
    cost = backend.relative_cost * (max(1.0, 0.1 / float(lr)) if lr else 1.0)
    return cost * (GPU_COST_FACTOR if device is Device.CUDA else 1.0)


def fit_work(ctx: Contexts) -> int:
    """Rows x features x (classes for multiclass): what one fit's cost grows with."""
    ctx = ctx if isinstance(ctx, FitContext) else next(iter(ctx.values()))
    return ctx.n_rows * max(1, ctx.n_features) * (ctx.n_classes if ctx.n_classes > 2 else 1)


def warm_start_order(backends: Sequence[Backend], ctx: Contexts) -> list[tuple[str, dict]]:
    """What to enqueue before TPE, with each backend's space sized by its own context (`ctx` may map names
    to contexts: a backend on a GPU gets its GPU space and configs).

    The floor comes first: the cheapest family's library defaults (`Backend.defaults`), then the best tuned
    entry, then the other families' defaults, so the search is never worse on validation than the libraries'
    own settings, even when the tuned entries do not transfer to this data. Then the tuned portfolio
    (search/portfolio.json), except that each family it does not cover
    (a newer one, such as the MLP) gets its cheapest own config right after the best tuned entry, so even
    a short search tries it. Then the rest of the tuned portfolio; then, for families placed on a GPU, their
    own configs the tuned portfolio (derived on CPU) lacks; then the uncovered families' other configs.
    When one fit is costly (`BIG_FIT_WORK`), cheap entries go first after the first floor entry (a stable sort
    by `estimated_cost`), so the budget buys several models instead of a few slow ones."""
    tuned = portfolio_for(backends, ctx)
    covered = {name for name, _ in tuned}
    firsts: list[tuple[str, dict]] = []
    later: list[tuple[str, dict]] = []
    for name, cfg in portfolio_order([b for b in backends if b.name not in covered], ctx):
        (later if any(n == name for n, _ in firsts) else firsts).append((name, cfg))
    on_gpu = [
        (b.name, cfg)
        for b in backends
        if b.name in covered and context_for(ctx, b.name).device is Device.CUDA
        for cfg in b.portfolio(context_for(ctx, b.name))
        if (b.name, cfg) not in tuned
    ]
    ordered = sorted(backends, key=lambda b: b.relative_cost)
    floor = [(b.name, d) for b in ordered if (d := b.defaults(context_for(ctx, b.name))) is not None]
    rest = [e for e in firsts + tuned[1:] + on_gpu + later if e not in floor]
    entries = [e for e in tuned[:1] if e not in floor] + floor[1:] + rest
    if fit_work(ctx) > BIG_FIT_WORK:
        by_name = {b.name: b for b in backends}
        entries.sort(key=lambda e: estimated_cost(by_name[e[0]], e[1], context_for(ctx, e[0]).device))
    return floor[:1] + entries  # the cheapest family's defaults first, whatever the size: the floor is never skipped


def with_views(entries: Sequence[tuple[str, dict]], views: Sequence[str]) -> list[tuple[str, dict, str]]:
    """The warm start over several feature sets: the first (best) entry on every view, so each view gets
    a fair first look, then the other entries round-robin over the views."""
    if not entries:
        return []
    first, rest = entries[0], entries[1:]
    out = [(first[0], first[1], v) for v in views]
    out += [(name, params, views[i % len(views)]) for i, (name, params) in enumerate(rest)]
    return out


def portfolio_order(backends: Sequence[Backend], ctx: Contexts) -> list[tuple[str, dict]]:
    """The backends' own hand-picked configs, round-robin by relative cost (the pool and baseline of
    benchmarks/portfolio.py; the search enqueues `warm_start_order`)."""
    ordered = sorted(backends, key=lambda b: b.relative_cost)
    configs = {b.name: b.portfolio(context_for(ctx, b.name)) for b in ordered}
    out = []
    for i in range(max((len(c) for c in configs.values()), default=0)):
        out.extend((b.name, configs[b.name][i]) for b in ordered if i < len(configs[b.name]))
    return out
