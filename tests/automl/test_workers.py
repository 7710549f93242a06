"""Worker processes and durable artifacts under real faults: a worker killed mid-trial, the driver's whole process
group killed and the command rerun, a corrupted artifact; and workers=1 reproducing the leaderboard it had before
trials could run in other processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

import automl
from backends import registry
from backends.linear import LinearBackend
from features.profile import profile
from search.artifacts import OOF
from search.budget import Budget
from search.controller import Controller
from search.metrics import get_metric
from search.splits import make_splits
from search.task import SearchData, Task
from tests.conftest import load_slice

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "data" / "leaderboard_workers1_seed3.json"


def _journal(path: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(path)))
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    return optuna.load_study(study_name=name, storage=storage)


def _complete(study: optuna.Study) -> dict[int, float]:
    return {t.number: t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


def test_one_worker_with_a_seed_and_a_trial_count_gives_the_leaderboard_it_gave_before_worker_processes() -> None:
    """The golden leaderboard was written by commit a194465 (trials in threads of one process) with this same call,
    and rewritten once since, when the warm start began with the libraries' defaults (the floor). The stack row came
    later and is not in it: the trials and the greedy ensemble are what must not move."""
    data = load_slice("german_credit", 400)
    result = automl.fit(data, "credit", time_budget=120, n_trials=8, seed=3, backends=["linear", "lightgbm", "xgboost"], workers=1)
    rows = [{"model_id": m, "params": p, "score_mean": round(s, 12)}
            for m, p, s in zip(result.leaderboard["model_id"], result.leaderboard["params"], result.leaderboard["score_mean"])
            if not m.endswith("-stack")]
    assert rows == json.loads(GOLDEN.read_text())
    assert result.report["workers"]["workers"] == 1 and result.report["workers"]["storage"] == "memory"


class _Victim(LinearBackend):
    """A linear model whose first fit in a worker process hangs after leaving its pid in a file: the test kills that
    process. (The driver's own warm-up fit, in the test's process, is left alone.)"""

    name = "victim"  # type: ignore[assignment]

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)
        self.driver = os.getpid()

    def fit(self, X, y, params, ctx, deadline, eval_set=None, n_iterations=None):
        if os.getpid() == self.driver:
            return super().fit(X, y, params, ctx, deadline, eval_set, n_iterations)
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().fit(X, y, params, ctx, deadline, eval_set, n_iterations)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(120)  # killed long before this ends
        raise AssertionError("the victim was not killed")


@pytest.mark.slow
def test_a_worker_killed_mid_trial_fails_that_trial_which_is_retried_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    marker = tmp_path / "victim.pid"
    monkeypatch.setitem(registry._MODULES, "victim", __name__)
    monkeypatch.setitem(registry._REGISTRY, "victim", _Victim(marker))
    killed: list[int] = []

    def killer() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end and not killed:
            if marker.exists() and marker.read_text():
                pid = int(marker.read_text())
                assert pid != os.getpid()
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    budget = 30
    started = time.monotonic()
    result = automl.fit(load_slice("german_credit", 600), "credit", time_budget=budget, workers=2, workdir=tmp_path / "search",
                        backends=["victim", "lightgbm"])
    wall = time.monotonic() - started
    thread.join(5)
    assert killed, "the victim never started"
    assert wall <= budget * 1.05 + 5
    board = result.leaderboard
    failed = board[board["error"].str.contains(f"{killed[0]} was killed by SIGKILL", regex=False)]
    assert len(failed) == 1 and failed["status"].iloc[0] == "failed" and "retried as a new trial" in failed["error"].iloc[0]
    number = int(failed["model_id"].iloc[0][1:5])
    study = _journal(tmp_path / "search" / "study.journal")
    trials = study.get_trials(deepcopy=False)
    assert trials[number].state is TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get("retry_of") == number]
    assert len(retries) == 1 and retries[0].state is TrialState.COMPLETE and retries[0].params == trials[number].params
    same = [t for t in trials if t.params == trials[number].params and t.state is TrialState.COMPLETE]
    assert len(same) == 1  # no duplicate COMPLETE
    assert result.report["workers"]["processes"] and (board["status"] == "ok").sum() >= 3  # the other worker went on


_DRIVER = """
import json, sys
import automl
from tests.conftest import load_slice
data = load_slice("german_credit", 1000)
result = automl.fit(data, "credit", time_budget=30, workers=2, workdir=sys.argv[1], seed=0, backends=["linear", "lightgbm", "xgboost"])
records = result.board.records()
json.dump({
    "rows": [{"number": r.number, "restored": r.restored, "status": r.status, "score": r.score_mean, "error": r.error,
              "oof_rows": None if r.oof is None else len(r.oof)} for r in records],
    "n_rows": len(data),
}, open(sys.argv[2], "w"))
"""


@pytest.mark.slow
def test_the_driver_killed_with_its_process_group_resumes_keeping_every_finished_trial(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    work, out = tmp_path / "search", tmp_path / "out.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, str(script), str(work), str(out)]
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 60
        done: dict[int, float] = {}
        while time.monotonic() < end and len(done) < 4 and first.poll() is None:
            time.sleep(0.3)
            if (work / "study.journal").exists():
                try:
                    done = _complete(_journal(work / "study.journal"))
                except ValueError:  # the study is not created yet
                    done = {}
        assert first.poll() is None, f"the first run ended before it was killed: {first.stderr.read().decode()[-2000:]}"
        os.killpg(first.pid, signal.SIGKILL)  # the driver and its worker processes: one process group
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert len(done) >= 4
    before = _complete(_journal(work / "study.journal"))
    assert not out.exists()

    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    written = json.loads(out.read_text())
    rows = {r["number"]: r for r in written["rows"]}
    study = _journal(work / "study.journal")
    after = study.get_trials(deepcopy=False)
    for number, value in before.items():  # kept, restored, and not run again
        assert rows[number]["restored"] and after[number].state is TrialState.COMPLETE and after[number].value == value
        assert sum(t.params == after[number].params and t.state is TrialState.COMPLETE for t in after) == 1
    # the restored trials' out-of-fold predictions came back from the artifact store, verified, for the ensemble
    restored_ok = [r for r in rows.values() if r["restored"] and r["status"] == "ok"]
    assert restored_ok and all(r["oof_rows"] == written["n_rows"] for r in restored_ok)
    # trials the killed run left running were failed and retried once
    orphans = [r for r in rows.values() if "ended with an earlier run" in r["error"]]
    assert all(r["status"] == "failed" for r in orphans)
    assert any(not r["restored"] for r in rows.values())  # the rerun searched on


def _controller_search(tmp_path: Path, n_trials: int) -> Controller:
    data = load_slice("german_credit", 300)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    search_data = SearchData.table(data[prof.feature_columns], y, prof, make_splits(y, prof.task, 0))
    task = Task(prof.task, (get_metric("roc_auc", prof.task),), (), 2)
    families = [registry.get("linear"), registry.get("lightgbm")]
    return Controller(task, search_data, families, Budget(120), n_trials=n_trials, storage=str(tmp_path / "study.journal"),
                      workdir=tmp_path)


def test_a_corrupted_artifact_leaves_its_trial_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = _controller_search(tmp_path, 6).run()
    records = [r for r in first.leaderboard.records() if r.ok and not r.is_ensemble]
    victim = records[0]
    path = tmp_path / "artifacts" / victim.artifacts[OOF]["id"]
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # one flipped byte in its out-of-fold predictions
    path.write_bytes(bytes(raw))
    model_path = tmp_path / "artifacts" / victim.artifacts["model"]["id"]
    model_path.unlink()  # and its fold model gone
    with caplog.at_level(logging.WARNING):
        resumed = _controller_search(tmp_path, 6)
        outcome = resumed.run()
    assert all(r.restored for r in outcome.leaderboard.records() if not r.is_ensemble)
    again = {r.number: r for r in outcome.leaderboard.records()}
    assert again[victim.number].oof is None
    assert any(f"{victim.model_id} is left out of the ensemble" in m and "SHA-256" in m for m in caplog.messages)
    others = [again[r.number] for r in records[1:] if not r.partial]
    assert others and all(r.oof is not None for r in others)  # read back and verified
    assert all(victim.number not in e.weights for e in outcome.ensembles)
    assert outcome.fold_model(victim.number) is None
    assert any(f"the fold models of {victim.model_id} are left out" in m for m in caplog.messages)
    kept = next(r for r in records[1:] if "model" in r.artifacts)
    assert outcome.fold_model(kept.number) is not None  # an intact one loads
