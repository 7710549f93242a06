"""Successive-halving pruning over folds: which steps are rungs, and who goes on at each.

A trial reports at step i the mean loss of its folds so far (with a screening fit on a row sample
as step 0 on big data), so every rung compares candidates on the same rows.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import TrialState

PRUNE_AFTER_TRIALS = 5  # no pruning before this many trials have finished


def rung_steps(n_folds: int, screen: bool) -> frozenset[int]:
    """Steps where successive halving compares trials: the screening fit, then after 2, 4, 8, ... folds."""
    offset = 1 if screen else 0
    rungs = {0} if screen else set()
    done = 2
    while done < n_folds:
        rungs.add(offset + done - 1)
        done *= 2
    return frozenset(rungs)


class HalvingPruner(optuna.pruners.BasePruner):
    """Successive halving: at each rung a trial goes on only if it is in the better half of its peers.

    A trial reports at step i the mean loss of its folds so far (with a screening fit on a row
    sample as step 0 on big data), so every rung compares candidates on the same rows. Portfolio
    configurations are spared on the folds (they are known-good and seed TPE and the ensemble),
    not on the screen; nothing is pruned before `PRUNE_AFTER_TRIALS` peers reached the rung.
    """

    def __init__(self, rungs: frozenset[int], screen: bool, keep: float = 0.5) -> None:
        self.rungs, self.screen, self.keep = rungs, screen, keep

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step not in self.rungs:
            return False
        if trial.user_attrs.get("source") == "portfolio" and not (self.screen and step == 0):
            return False
        value = trial.intermediate_values[step]
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if step in t.intermediate_values
        ]
        if len(peers) < PRUNE_AFTER_TRIALS:
            return False
        return bool(value > np.quantile(peers, self.keep))
