"""A fork server: one process per driver that imports the search stack once and forks worker processes from it.

A worker started from scratch spends ~4 s of a 2-core machine's time importing torch, LightGBM, XGBoost,
scikit-learn and Optuna, per worker and per search, inside the search's budget. The server pays that
once, when `fit` starts (beside the driver's own one-time imports), and each worker is then a `fork` of
it: ready in a fraction of a second. This is multiprocessing's forkserver idea, without its re-import of
the user's `__main__`.

The server is a plain child process (``python -m search.forkserver``) that never runs a native fit, so no
OpenMP or CUDA state exists to be forked; each forked worker takes its environment (thread counts,
`CUDA_VISIBLE_DEVICES`) and `sys.path` from the driver's request, limits its thread pools, and runs
`search.worker.main`. The server reports each worker's exit status, so the driver sees a worker's pid and
its death (SIGKILL, segfault) as it did with a direct child; it leaves when the driver's socket closes.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection

LOST = 256  # a worker's return code when the server, and the worker's status with it, are gone (not a real code)
STARTUP_S = 5.0  # seconds the first workers of a process may wait: the fork server imports the stack (~4 s on 2 cores)
MIN_PARALLEL_BUDGET_S = 5 * STARTUP_S  # below this, worker start-up would not pay for itself


def _channel(sock: socket.socket) -> tuple[Connection, socket.socket]:
    """Messages go as multiprocessing's framed pickles; a worker's socket goes beside its request with
    `socket.send_fds` on a duplicate of the same stream (a request's bytes are read whole, the fd's after)."""
    return Connection(os.dup(sock.fileno())), sock


class ServerGone(RuntimeError):
    """The fork server ended; worker processes cannot be started through it."""


class Forked:
    """A worker forked by the server: the driver's handle on it, shaped like `subprocess.Popen`'s."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server, self.pid = server, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, timeout=0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, timeout=timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:  # once reaped, the pid may belong to another process
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ForkServer:
    """The driver's side: starts the server, asks it for workers, collects their exit codes."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p and os.path.isdir(p))
        self.proc = subprocess.Popen([sys.executable, "-m", "search.forkserver", str(theirs.fileno())], env=env,
                                     pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn, self.sock = _channel(mine)
        self.owner = os.getpid()
        self.codes: dict[int, int] = {}
        self.lock = threading.Lock()
        self.up = False  # the server finished its imports and forks at once

    def alive(self) -> bool:
        return self.proc.poll() is None and os.getpid() == self.owner

    def ready(self) -> bool:
        """Whether the server has finished its imports (a spawn now answers at once); never waits."""
        with self.lock:
            try:
                while not self.up and self._read(0.0) is not None:
                    pass
            except (OSError, EOFError):
                return True  # gone: a spawn says so at once, as ServerGone
            return self.up

    def spawn(self, argv: list[str], env: dict[str, str], fd: int, timeout: float = 60.0) -> Forked:
        """Fork a worker running ``search.worker.main(argv)`` with `env` and the socket `fd`; its handle."""
        with self.lock:
            try:
                self.conn.send(("spawn", argv, env, list(sys.path)))
                socket.send_fds(self.sock, [b"F"], [fd])
                end = time.monotonic() + timeout
                while True:
                    message = self._read(end - time.monotonic())
                    if message is None:
                        raise ServerGone("the fork server did not answer in time")
                    if message[0] == "pid":
                        return Forked(self, message[1])
                    if message[0] == "error":
                        raise ServerGone(message[1])
            except (OSError, EOFError) as exc:
                raise ServerGone(f"the fork server ended ({exc or type(exc).__name__})") from None

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        """The worker's return code (negative: killed by that signal) once the server reaped it; None meanwhile."""
        end = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while pid not in self.codes:
                left = None if end is None else end - time.monotonic()
                if left is not None and left < 0:
                    return None
                try:
                    if self._read(left) is None:
                        return None
                except (OSError, EOFError):  # the server is gone, and the worker's status with it
                    if not _exists(pid):
                        return self.codes.setdefault(pid, LOST)
                    time.sleep(0.05)
            return self.codes[pid]

    def _read(self, timeout: float | None) -> tuple | None:
        """One message (exit reports are filed, the server's "up" noted), or None when none came within `timeout`."""
        if not self.conn.poll(None if timeout is None else max(0.0, timeout)):
            return None
        message = self.conn.recv()
        if message[0] == "up":
            self.up = True
        if message[0] == "exit":
            self.codes[message[1]] = message[2]
        return message

    def close(self) -> None:
        if os.getpid() != self.owner:
            return
        try:
            self.conn.close()
            self.sock.close()
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _exists(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie no one reaps, once its server died, is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


_SERVER: ForkServer | None = None
_SERVER_LOCK = threading.Lock()


def fork_server(start: bool = True) -> ForkServer | None:
    """This process's fork server, started on the first call (returns at once: it imports in the background)."""
    global _SERVER
    with _SERVER_LOCK:
        if (_SERVER is None or not _SERVER.alive()) and start:
            _SERVER = ForkServer()
            atexit.register(_SERVER.close)
        return _SERVER


def prestart(workers: int | str, n_trials: int | None, budget_s: float) -> None:
    """Start the fork server now if a search with these options may run worker processes: early, so its imports
    overlap the caller's own. A `fit` with one worker runs here, and so does "auto" with a fixed trial count or
    a budget too short for workers; the server's ~4 s of imports would only take cores from such a search."""
    if str(workers) == "1" or (os.cpu_count() or 1) < 2:
        return
    if workers == "auto" and (n_trials is not None or budget_s < MIN_PARALLEL_BUDGET_S):
        return
    fork_server()


# -- the server process ------------------------------------------------------------------------
def _child(argv: list[str], env: dict[str, str], path: list[str], fd: int) -> int:
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = path + [p for p in sys.path if p not in path]
    threads = int(env.get("OMP_NUM_THREADS", "0") or 0)
    if threads > 0:  # the libraries read their thread counts when loaded, here in the server: set them now
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    from search.worker import main

    return main([*argv, "--fd", str(fd)])


def serve(fd: int) -> None:
    """Import the stack, then fork a worker for every request until the driver's socket closes."""
    from backends import registry

    registry.preload()
    import search.worker  # noqa: F401

    conn, sock = _channel(socket.socket(fileno=fd))
    try:
        _serve(conn, sock)
    except (BrokenPipeError, ConnectionResetError):
        return  # the driver left (e.g. `automl fit` stopped at a bad argument while the imports ran): so do we


def _serve(conn: Connection, sock: socket.socket) -> None:
    conn.send(("up",))
    children: set[int] = set()
    while True:
        ready = conn.poll(0.1)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                conn.send(("exit", pid, os.waitstatus_to_exitcode(status)))
        if not ready:
            continue
        try:
            kind, argv, env, path = conn.recv()
            _, fds, _, _ = socket.recv_fds(sock, 1, 1)
        except (EOFError, OSError):
            return  # the driver is gone; its workers see their own sockets close and leave
        if kind != "spawn" or len(fds) != 1:
            for extra in fds:
                os.close(extra)
            conn.send(("error", f"bad request {kind!r}"))
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                conn.close()
                sock.close()
                code = _child(argv, env, path, fds[0])
            except BaseException:  # noqa: BLE001 - a forked child must never return into the server's loop
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(fds[0])
        children.add(pid)
        conn.send(("pid", pid))


if __name__ == "__main__":
    serve(int(sys.argv[1]))
