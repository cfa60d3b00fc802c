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
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool_size() -> int:
    raw = os.environ.get("SIGPROP_APP_WORKERS", "")
    try:
        n = int(raw) if raw else 0
    except ValueError:
        log.warning("SIGPROP_APP_WORKERS=%r is not a number; using the CPU count", raw)
        n = 0
    return n if n > 0 else max(4, 2 * (os.cpu_count() or 1))


def pool() -> ThreadPoolExecutor:
    """The process's engine pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="sigprop-engine")
        return _pool


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
