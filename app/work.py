"""Engine work off the server's event loop: one bounded thread pool per process, at most one job per session.

A served dashboard never computes on the event loop. It draws what the per-process caches of :mod:`.data`
hold and asks its :class:`Coalescer` for the rest. The coalescer runs the session's work in the shared pool;
a request made while that work runs (a slider still moving) is merged into one rerun after it, so

- a session holds at most one pool thread, and a heavy session cannot starve the others;
- a superseded state is never drawn: ``done`` runs on the session's event loop only when no newer request
  is waiting, and what it draws is read from the caches under the *current* settings;
- the session's own clicks stay live: its event loop only ever reads caches.

``SIGPROP_APP_WORKERS`` sets the pool's size (default: twice the number of CPUs, at least 4: the engine holds
the GIL only part of the time, and more threads than cores keep a light session's short job from queueing
behind a heavy one's long job; each session still holds at most one).

**Engine processes.** A pool thread does not compute the curves itself: it sends the configuration to one of
the process's *engine processes* (:func:`start_engine_processes`, :func:`sigprop_app.data.compute_elsewhere`)
and waits for the arrays. Most configurations are small NumPy folds whose Python code holds the GIL, and the
server's one GIL also builds every page and sends every message: with the engine in the same process, a class
arriving at once queued its page builds behind its own curves. ``SIGPROP_APP_ENGINE_PROCESSES`` sets how many
(default: the number of CPUs; 0 computes in the pool threads). Each engine process caches what it computed
(a configuration's model is solved once there), dies with the server, and a configuration whose engine process
fails is computed in the server process instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from . import data

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _count(variable: str, default: int) -> int:
    """A count from the environment (a bad value is logged and replaced by ``default``)."""
    raw = os.environ.get(variable, "")
    try:
        n = int(raw) if raw else default
    except ValueError:
        log.warning("%s=%r is not a number; using %d", variable, raw, default)
        n = default
    return max(n, 0)


def pool_size() -> int:
    """``SIGPROP_APP_WORKERS``, default twice the number of CPUs, at least 4."""
    return _count("SIGPROP_APP_WORKERS", 0) or max(4, 2 * (os.cpu_count() or 1))


def pool() -> ThreadPoolExecutor:
    """The process's engine pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="sigprop-engine")
        return _pool


def engine_process_count() -> int:
    """``SIGPROP_APP_ENGINE_PROCESSES``, default the number of CPUs (0: no engine processes)."""
    return _count("SIGPROP_APP_ENGINE_PROCESSES", os.cpu_count() or 1)


_engine: ProcessPoolExecutor | None = None


def _engine_process_init(server_pid: int) -> None:
    """In a new engine process: die with the server, however it ends (Linux's PR_SET_PDEATHSIG; a server killed
    with SIGKILL runs no clean-up), and leave Ctrl-C in a terminal to the server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown still ends it with a clean exit
        pass
    if os.getppid() != server_pid:  # the server ended before prctl took effect
        os._exit(0)


def start_engine_processes() -> bool:
    """Served, once per process, from the main thread (the engine processes are tied to the thread that starts
    them): start the engine processes and compute configurations in them from now on. Returns whether they
    were started now."""
    global _engine
    n = engine_process_count()
    with _pool_lock:
        if _engine is not None or n == 0:
            return False
        # spawn, not fork: the server has threads (a forked child could inherit a held lock)
        _engine = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_engine_process_init, initargs=(os.getpid(),))
        engine = _engine
    for _ in range(n):  # start them all now (a pool of "spawn" processes starts one per task submitted)
        engine.submit(os.getpid)
    data.set_elsewhere(_compute_in_engine)
    return True


def stop_engine_processes() -> None:
    """Stop the engine processes (after the work they hold); configurations are computed in this process again."""
    global _engine
    with _pool_lock:
        engine, _engine = _engine, None
        data.set_elsewhere(None)
    if engine is not None:
        engine.shutdown(wait=True, cancel_futures=True)


def _compute_in_engine(spec: data.Spec, parts: tuple[str, ...]) -> dict:
    """:func:`sigprop_app.data.compute_parts` in an engine process. If one ended abruptly (killed, out of memory),
    the pool is broken: the server process then computes everything itself, and says so once."""
    global _engine
    engine = _engine
    if engine is None:
        raise BrokenProcessPool("the engine processes were stopped")
    try:
        return engine.submit(data.compute_parts, spec, tuple(parts)).result()
    except BrokenProcessPool:
        with _pool_lock:
            if _engine is engine:
                _engine = None
                data.set_elsewhere(None)
                log.error("an engine process ended abruptly; the server process computes configurations from now on")
        engine.shutdown(wait=False, cancel_futures=True)
        raise


class Coalescer:
    """Run ``work()`` in the pool, then ``done()`` through ``schedule`` (which runs it on the session's event
    loop); requests made while ``work`` runs are merged into one rerun (see the module docstring)."""

    def __init__(self, work: Callable[[], None], done: Callable[[], None], schedule: Callable[[Callable], None]):
        self._work, self._done, self._schedule = work, done, schedule
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self.closed = False

    @property
    def busy(self) -> bool:
        return self._running

    def request(self) -> None:
        """Ask for the work to run (again) with the current settings."""
        with self._lock:
            if self.closed:
                return
            if self._running:
                self._again = True
                return
            self._running = True
        pool().submit(self._run)

    def close(self) -> None:
        """The session ended: drop what is queued, draw nothing more."""
        with self._lock:
            self.closed = True
            self._again = False

    def _run(self) -> None:
        try:
            if not self.closed:
                self._work()
        except Exception:  # noqa: BLE001 - engine errors are cached per configuration; anything else is logged
            log.exception("engine work failed")
        with self._lock:
            again, self._again = self._again, False
            if not again:
                self._running = False
            closed = self.closed
        if closed:
            return
        if again:  # superseded while running: compute the newest settings (back of the queue: fair to others)
            pool().submit(self._run)
        else:
            self._schedule(self._done)


_trainer: ThreadPoolExecutor | None = None


def trainer() -> ThreadPoolExecutor:
    """The process's training thread: one run at a time, so sessions pressing Train queue behind each other
    instead of taking the engine pool's threads (a run takes seconds to minutes; repeated runs are cached by
    :func:`sigprop.train` and replay at once)."""
    global _trainer
    with _pool_lock:
        if _trainer is None:
            _trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigprop-train")
        return _trainer
