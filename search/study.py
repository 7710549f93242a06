"""The Optuna study of a search and where it lives: in memory, a journal file, or an RDB URL.

* no storage: in memory (one worker; the search cannot resume);
* a file path (e.g. ``run/search/study.journal``): `optuna.storages.JournalStorage`, safe for local
  worker processes and the default for them;
* ``sqlite:///...``, ``postgresql://...``, ``mysql://...``: `RDBStorage`.

The driver samples and tells (ask/tell), which Optuna's heartbeats do not cover; instead a resumed
search marks the trials its earlier run left RUNNING failed and retries each once (see the controller).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from search.pruning import HalvingPruner, rung_steps

RDB_SCHEMES = frozenset({"sqlite", "postgresql", "mysql"})


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Our logger reports every trial (failures as one-line warnings); Optuna's lines, with a traceback
    per failed trial, would repeat them. Its verbosity is restored after."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, logging.ERROR))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def is_rdb_url(storage: str) -> bool:
    return storage.split(":", 1)[0].split("+", 1)[0] in RDB_SCHEMES


def make_storage(storage: str | None) -> BaseStorage | None:
    """The storage object for `storage`: None (in memory), an RDB URL, or a journal file path."""
    if storage is None:
        return None
    if is_rdb_url(storage):
        return RDBStorage(storage)
    return JournalStorage(JournalFileBackend(storage))


def pruner_for(n_folds: int, screen: bool) -> optuna.pruners.BasePruner:
    rungs = rung_steps(n_folds, screen)
    return HalvingPruner(rungs, screen) if rungs else optuna.pruners.NopPruner()


def open_study(
    storage: str | None, study_name: str, seed: int, n_folds: int, screen: bool = False, parallel: bool = False,
) -> optuna.Study:
    """Create or resume the study. With `parallel` trials, TPE treats running trials as bad ("constant liar")
    so that side-by-side trials do not all sample the same point."""
    # grouped TPE and the constant liar are marked experimental by Optuna; we rely on them on purpose
    with warnings.catch_warnings(), quiet_optuna():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10, constant_liar=parallel)
        return optuna.create_study(
            storage=make_storage(storage), study_name=study_name, direction="minimize", sampler=sampler,
            pruner=pruner_for(n_folds, screen), load_if_exists=True,
        )


def join_study(storage: str, study_name: str, n_folds: int, screen: bool) -> optuna.Study:
    """The study as a worker process sees it: it reports and prunes; the driver samples and tells."""
    with warnings.catch_warnings(), quiet_optuna():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.load_study(
            study_name=study_name, storage=make_storage(storage),
            sampler=optuna.samplers.RandomSampler(), pruner=pruner_for(n_folds, screen),
        )
