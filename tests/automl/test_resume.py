"""A search killed with SIGKILL resumes from its Optuna storage and loses no finished trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import load_slice

N_TRIALS = 10


def _complete(url: str, name: str) -> list[int]:
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return []
    return [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    train = tmp_path / "train.csv"
    load_slice("german_credit", 750).to_csv(train, index=False)
    url = f"sqlite:///{tmp_path / 'run.db'}"
    args = [sys.executable, "-m", "automl.cli", "fit", str(train), "--target", "credit", "--storage", url,
            "--study-name", "resume-test", "--n-trials", str(N_TRIALS), "--time-budget", "300",
            "--backend", "lightgbm", "--backend", "linear", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_complete(url, "resume-test")) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "search made no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = set(_complete(url, "resume-test"))
    assert 3 <= len(before) < N_TRIALS

    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="resume-test", storage=url)
    after = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    assert before <= after  # no finished trial lost
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= N_TRIALS
    # finished trials were not re-run: the resumed run added only the missing ones
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) <= N_TRIALS + 1
    board = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()
    assert len(board) - 1 >= len(before)
