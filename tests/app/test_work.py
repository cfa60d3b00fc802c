"""app/work.py: a session's engine job runs in the pool, changes made meanwhile merge into one rerun, the
result is drawn once, after the last run, and never after the session closed."""

from __future__ import annotations

import threading
import time

import pytest

from sigprop_app import work


class Probe:
    """A work function that blocks until released, counting its runs; ``done`` records when it was called."""

    def __init__(self):
        self.runs = 0
        self.release = threading.Event()
        self.started = threading.Event()
        self.done_calls: list[int] = []
        self.drawn = threading.Event()

    def work(self):
        self.runs += 1
        self.started.set()
        assert self.release.wait(10), "the test never released the job"

    def done(self):
        self.done_calls.append(self.runs)
        self.drawn.set()


def coalescer(probe):
    return work.Coalescer(probe.work, probe.done, lambda fn: fn())  # schedule: run done at once


def test_changes_while_running_merge_into_one_rerun_and_one_drawing():
    probe = Probe()
    jobs = coalescer(probe)
    jobs.request()
    assert probe.started.wait(5) and jobs.busy
    for _ in range(5):  # a slider still moving while the first job runs
        jobs.request()
    probe.release.set()
    assert probe.drawn.wait(5)
    deadline = time.monotonic() + 5
    while jobs.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.runs == 2  # the first run, then one rerun with the newest settings
    assert probe.done_calls == [2]  # drawn once, after the rerun: the superseded run's state is never drawn
    assert not jobs.busy


def test_a_request_after_the_drawing_runs_again():
    probe = Probe()
    probe.release.set()
    jobs = coalescer(probe)
    jobs.request()
    assert probe.drawn.wait(5)
    probe.drawn.clear()
    jobs.request()
    assert probe.drawn.wait(5)
    assert probe.runs == 2 and probe.done_calls == [1, 2]


def test_a_closed_session_draws_nothing():
    probe = Probe()
    jobs = coalescer(probe)
    jobs.request()
    assert probe.started.wait(5)
    jobs.request()
    jobs.close()
    probe.release.set()
    time.sleep(0.3)
    assert probe.done_calls == [] and probe.runs == 1
    jobs.request()  # ignored
    time.sleep(0.1)
    assert probe.runs == 1


def test_a_failing_job_still_ends(caplog):
    drawn = threading.Event()

    def boom():
        raise RuntimeError("engine bug")

    jobs = work.Coalescer(boom, drawn.set, lambda fn: fn())
    jobs.request()
    assert drawn.wait(5) and not jobs.busy
    assert "engine work failed" in caplog.text


@pytest.mark.parametrize("raw, expected", [("3", 3), ("", None), ("zero", None), ("-1", None)])
def test_pool_size(monkeypatch, raw, expected):
    monkeypatch.setenv("SIGPROP_APP_WORKERS", raw)
    import os

    assert work.pool_size() == (expected or max(4, 2 * (os.cpu_count() or 1)))
