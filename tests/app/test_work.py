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


# ---- engine processes ------------------------------------------------------------------------------------
ENGINE_SPECS = [  # a solve (DKS), a refusal (no EOC for ReLU at σ_b > 0), a residual network, a TAT solve
    dict(activation="gelu", method="dks", depth=37),
    dict(activation="relu", method="eoc", sigma_b=0.5, depth=37),
    dict(activation="tanh", method="eoc", sigma_b=0.3, architecture="residual", depth=38),
    dict(activation="softplus", method="tat", tau=0.25, depth=37),
]
PARTS = ("curves", "point", "ntk")


@pytest.fixture
def engine(monkeypatch):
    """One engine process for the test (stopped after it), and the test's configurations' caches emptied."""
    from sigprop_app import data

    monkeypatch.setenv("SIGPROP_APP_ENGINE_PROCESSES", "1")
    for fn in data.SPEC_PARTS.values():
        fn.cache_clear()
    assert work.start_engine_processes()
    yield data
    work.stop_engine_processes()
    for fn in data.SPEC_PARTS.values():
        fn.cache_clear()


def _same(a, b) -> bool:
    """Results equal bit for bit (arrays, NaN in the same places), errors of the same type and message."""
    import dataclasses

    import numpy as np

    if isinstance(a, Exception):
        return type(a) is type(b) and str(a) == str(b)
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)  # (NaN readouts)


def test_an_engine_process_returns_what_the_server_process_computes(engine):
    data = engine
    for state in ENGINE_SPECS:
        spec = data.Spec(**state).relevant()
        data.compute_elsewhere(spec, PARTS)
        assert all(data.SPEC_PARTS[p].cached(spec) for p in PARTS), state
        here = {p: _local(data, p, spec) for p in PARTS}
        for part in PARTS:
            there = data.SPEC_PARTS[part].peek(spec)
            if there is None:  # refused there: the same error here
                with pytest.raises(type(here[part][1])) as refused:
                    data.SPEC_PARTS[part](spec)
                assert not here[part][0] and str(refused.value) == str(here[part][1]), (state, part)
            else:
                assert here[part][0] and _same(there, here[part][1]), (state, part)
    refused = data.Spec(**ENGINE_SPECS[1]).relevant()
    assert data.curves.peek(refused) is None and data.curves.cached(refused)  # the refusal is cached too


def _local(data, part: str, spec):
    """``part`` of ``spec`` computed in this process, bypassing the caches the engine process filled."""
    return data.attempt(data.SPEC_PARTS[part].__wrapped__, spec)


def test_a_killed_engine_process_leaves_the_server_process_computing(engine, caplog):
    import os
    import signal

    data = engine
    child = work._engine.submit(os.getpid).result(timeout=60)
    assert child != os.getpid()
    os.kill(child, signal.SIGKILL)
    spec = data.Spec(**ENGINE_SPECS[0]).relevant()
    data.compute_elsewhere(spec, PARTS)  # the pool is broken: logged, nothing cached, nothing raised
    assert "ended abruptly" in caplog.text and not data.curves.cached(spec)
    assert data.curves(spec).readouts["depth"] == 37  # computed here from now on
    data.compute_elsewhere(spec, PARTS)  # no engine processes left: a no-op
    assert work._engine is None


def test_engine_processes_end_with_a_killed_server(tmp_path):
    """A server killed with SIGKILL runs no clean-up: its engine processes still end (PR_SET_PDEATHSIG)."""
    import subprocess
    import sys

    code = ("import os, sys, time\n"
            "os.environ['SIGPROP_APP_ENGINE_PROCESSES'] = '1'\n"
            "from sigprop_app import work\n"
            "work.start_engine_processes()\n"
            "print(work._engine.submit(os.getpid).result(timeout=60), flush=True)\n"
            "time.sleep(120)\n")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(server.stdout.readline())
        assert _running(child)
    finally:
        server.kill()
        server.wait(10)
    deadline = time.monotonic() + 10
    while _running(child):
        assert time.monotonic() < deadline, f"engine process {child} outlived its server"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by its new parent, does not)."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
