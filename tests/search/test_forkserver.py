"""The fork server: workers forked from it get the driver's environment and socket, and their exit codes come back."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
from multiprocessing.connection import Connection

import pytest

from search.forkserver import LOST, ForkServer, ServerGone
from search.workers import describe_exit

ARGV = ["--bundle", "/nonexistent/bundle.pkl", "--control", "/nonexistent/control.bin", "--lane", "cpu:-1:1:0"]


def _spawn(server: ForkServer, env: dict[str, str], argv: list[str] = ARGV) -> tuple[object, Connection]:
    mine, theirs = socket.socketpair()
    try:
        handle = server.spawn(argv, env, theirs.fileno())
    finally:
        theirs.close()
    return handle, Connection(mine.detach())


@pytest.fixture
def server():
    srv = ForkServer()
    yield srv
    srv.close()


def test_a_forked_worker_answers_on_its_socket_and_its_exit_code_comes_back(server):
    handle, conn = _spawn(server, dict(os.environ))
    kind, message = conn.recv()
    assert kind == "error" and "FileNotFoundError" in message and "/nonexistent/bundle.pkl" in message
    assert handle.wait(timeout=30) == 1
    assert handle.poll() == 1
    assert handle.pid != os.getpid() and handle.pid != server.proc.pid


def test_a_killed_worker_reads_as_killed_by_sigkill(server, tmp_path):
    bundle = tmp_path / "bundle.pkl"
    os.mkfifo(bundle)  # opening it blocks: the worker waits until the test kills it
    handle, conn = _spawn(server, dict(os.environ), ["--bundle", str(bundle), "--control", "/nonexistent", "--lane", "cpu:-1:1:0"])
    with pytest.raises(subprocess.TimeoutExpired):
        handle.wait(timeout=0.5)
    os.kill(handle.pid, signal.SIGKILL)
    assert describe_exit(handle.wait(timeout=30)) == "killed by SIGKILL"
    conn.close()


class _Getenv:
    """Unpickles to the value of an environment variable in the process that loads it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self):
        return (os.getenv, (self.name, "unset"))


def test_the_worker_runs_with_the_environment_the_driver_sent(server, tmp_path):
    bundle = tmp_path / "bundle.pkl"
    # the worker sets its log level from the bundle: an unknown level's error message shows the value it read
    bundle.write_bytes(pickle.dumps({"log_level": _Getenv("CUDA_VISIBLE_DEVICES")}))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="7")
    handle, conn = _spawn(server, env, ["--bundle", str(bundle), "--control", "/nonexistent", "--lane", "cuda:7:1:0"])
    kind, message = conn.recv()
    assert kind == "error" and "'7'" in message, message
    assert handle.wait(timeout=30) == 1


def test_a_dead_server_is_a_clear_error_and_its_workers_read_as_lost(server):
    handle, conn = _spawn(server, dict(os.environ))
    conn.recv()
    server.proc.kill()
    server.proc.wait()
    assert handle.wait(timeout=30) in (1, LOST)  # reported before the server died, or lost with it
    with pytest.raises(ServerGone):
        _spawn(server, dict(os.environ))
    assert describe_exit(LOST) == "ended (its exit status went with the fork server)"


def test_ready_says_when_the_imports_are_done_without_waiting(server):
    import time

    assert server.ready() is False  # a poll, not a wait: torch, LightGBM, XGBoost and Optuna take seconds to import
    deadline = time.monotonic() + 60
    while not server.ready():
        assert time.monotonic() < deadline, "the fork server never finished its imports"
        time.sleep(0.05)
    handle, conn = _spawn(server, dict(os.environ))
    conn.recv()
    assert handle.wait(timeout=30) == 1


def test_a_dead_server_reads_as_ready_so_the_next_spawn_reports_it(server):
    server.proc.kill()
    server.proc.wait()
    assert server.ready() is True
    with pytest.raises(ServerGone):
        _spawn(server, dict(os.environ))


def test_a_driver_that_leaves_during_the_imports_leaves_no_traceback_behind():
    # `automl fit` with a bad argument exits while the prestarted server still imports; the server then finds
    # the driver gone when it reports "up", and must leave quietly (the CLI's one-line error stays one line)
    import sys

    script = "from search.forkserver import ForkServer; ForkServer()"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == ""  # captured until the server, which shares this stderr, has exited too


@pytest.mark.parametrize(("workers", "n_trials", "budget_s", "starts"), [
    ("auto", None, 60.0, True),
    ("auto", None, 5.0, False),  # too short for workers: the server's imports would only take cores from the fit
    ("auto", 10, 60.0, False),  # a fixed trial count runs in one process
    (1, None, 60.0, False),
    (2, None, 5.0, True),  # asked for by name: start it even for a short budget
])
def test_prestart_starts_the_server_only_for_a_search_that_may_use_workers(monkeypatch, workers, n_trials, budget_s, starts):
    import search.forkserver as fs

    started: list[bool] = []
    monkeypatch.setattr(fs, "fork_server", lambda: started.append(True))
    monkeypatch.setattr(fs.os, "cpu_count", lambda: 2)
    fs.prestart(workers, n_trials, budget_s)
    assert started == ([True] if starts else [])
