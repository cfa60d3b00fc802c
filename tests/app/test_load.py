"""Load test: 30 concurrent sessions (bokeh.client, no browser) change widgets on one `panel serve` process.

Each session renames its first configuration to a unique name, then moves that configuration's depth
slider a few times and waits, after each move, until the new readouts *and* new curve data arrive. It
checks that it never sees another session's name or depth, and that the server's URL state follows its
own changes. Latencies (change -> data arrived) are printed (p50/p95); the server's RSS is compared
after a first and a second wave of sessions (stable: the second wave adds little).

bokeh.client needs three work-arounds (docs/tooling.md §3): import panel's models, send DocumentReady
so that Panel releases plot updates, and pump the connection's loop instead of force_roundtrip().
"""

from __future__ import annotations

import html
import random
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

N_SESSIONS = 30
SECOND_WAVE = 5
CHANGES = 3
DEPTHS = (51, 62, 75, 121)  # log-slider stops near the default depth 100


def _client():
    import panel.models  # noqa: F401  (registers Panel's Bokeh models for deserialisation)
    import panel.models.katex  # noqa: F401
    import panel.template  # noqa: F401
    from bokeh.client import pull_session

    return pull_session


def _walk(model, seen):
    if id(model) in seen:
        return
    seen.add(id(model))
    yield model
    children = list(getattr(model, "children", None) or []) + list(getattr(model, "tabs", None) or [])
    if getattr(model, "child", None) is not None:  # a tab's panel
        children.append(model.child)
    for child in children:
        yield from _walk(child[1] if isinstance(child, tuple) else child, seen)


def _wait(session, pred, timeout=120.0):
    conn = session._connection
    handle = conn._loop.call_later(timeout, conn._loop.stop)  # never block forever
    try:
        if not pred():
            conn._loop_until(pred)
    finally:
        conn._loop.remove_timeout(handle)
    assert pred(), "update did not arrive in time"


def _first_row(readouts) -> str:
    rows = re.findall(r"<tr>(.*?)</tr>", html.unescape(readouts.text))
    return rows[1] if len(rows) > 1 else ""


def user(url: str, index: int, changes: int = CHANGES, gate=None) -> dict:
    """One session: open (at most ``gate``'s count opening at once), rename, wait at ``gate``'s barrier until
    every session is open, then make ``changes`` depth changes, each waited for."""
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import DocumentReady
    from bokeh.models import GlyphRenderer

    t0 = time.perf_counter()
    if gate is not None:
        with gate[0]:
            session = _client()(url=url)
    else:
        session = _client()(url=url)
    opened = time.perf_counter() - t0
    try:
        doc = session.document
        session._connection._send_patch_document(session.id, MessageSentEvent(doc, "bokeh_event", DocumentReady()))

        def widget(kind, css):  # in the first configuration's editor, rendered once the page has loaded
            seen: set = set()
            ordered = [m for root in doc.roots for m in _walk(root, seen)]
            return next((m for m in ordered if type(m).__name__ == kind and css in m.css_classes), None)

        _wait(session, lambda: widget("Slider", "sigprop-depth") is not None)
        slider, options = widget("Slider", "sigprop-depth"), widget("TextInput", "sigprop-title")
        readouts = next(m for m in doc.models if "sigprop-readouts" in (getattr(m, "css_classes", None) or []))
        name = f"user-{index}"
        options.value = name  # a unique name: rebuilds the figures under this name
        _wait(session, lambda: name in _first_row(readouts))

        def curve():
            return next(
                (
                    r
                    for r in doc.models
                    if isinstance(r, GlyphRenderer) and r.name == name and len(r.data_source.data.get("y", [])) == 201
                ),
                None,
            )

        _wait(session, lambda: curve() is not None)
        if gate is not None:
            gate[1].wait(timeout=600)  # all sessions open: now they change widgets concurrently
        rng = random.Random(index)
        stops = list(DEPTHS)
        rng.shuffle(stops)
        latencies, foreign = [], []
        for depth in stops[:changes]:
            before = np.asarray(curve().data_source.data["y"]).copy()
            t = time.perf_counter()
            slider.value = _stop_index(depth)

            def arrived(depth=depth, before=before):
                row = _first_row(readouts)
                c = curve()
                return (
                    f"<td>{depth}</td>" in row
                    and c is not None
                    and not np.array_equal(np.asarray(c.data_source.data["y"]), before)
                )

            _wait(session, arrived)
            latencies.append(time.perf_counter() - t)
            names = set(re.findall(r"user-\d+", html.unescape(readouts.text)))
            foreign += sorted(names - {name})
        location = next(m for m in doc.models if type(m).__name__ == "Location")
        last = stops[changes - 1]
        _wait(session, lambda: f"c0.L={last}" in location.search, timeout=30)  # the URL follows (a step later)
        return {
            "opened": opened,
            "latencies": latencies,
            "foreign": foreign,
            "depth": stops[changes - 1],
            "search": location.search,
            "name": name,
        }
    finally:
        session.close()


def _stop_index(depth: int) -> int:
    from sigprop_app.config import DEPTH_STOPS

    return DEPTH_STOPS.index(depth)


def _wave(url: str, n: int, offset: int) -> list[dict]:
    gate = (threading.Semaphore(4), threading.Barrier(n))  # open 4 at a time (sessions are built serially)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: user(url, i, gate=gate), range(offset, offset + n)))


def server_errors(log: str) -> list[str]:
    """Tracebacks in a server log, without tornado's report of a client that left while a message was being
    written to it ("Task exception was never retrieved … WebSocketClosedError"): with many clients opening and
    closing pages that race is expected, and harmless."""
    blocks = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log)
    return [b for b in blocks if "Traceback" in b and not b.rstrip().endswith("tornado.websocket.WebSocketClosedError")]


def test_concurrent_sessions(app_server):
    url = app_server.url
    log_start = len(app_server.log())  # the server is shared: judge only what this test's sessions logged
    with ThreadPoolExecutor(1) as pool:  # (a thread: the main thread may hold Playwright's event loop)
        pool.submit(user, url, 999, len(DEPTHS)).result()  # compiles the depth stops used below
    t0 = time.perf_counter()
    first = _wave(url, N_SESSIONS, 0)
    wall = time.perf_counter() - t0
    time.sleep(2)
    rss_first = app_server.rss_mb()
    second = _wave(url, SECOND_WAVE, N_SESSIONS)
    time.sleep(2)
    rss_second = app_server.rss_mb()
    results = first + second
    lat = np.array([x for r in results for x in r["latencies"]])
    opened = statistics.median(r["opened"] for r in first)
    print(
        f"\n{N_SESSIONS} concurrent sessions: {wall:.1f} s wall (opened 4 at a time); open median {opened:.2f} s;"
        f" change->data p50 {np.percentile(lat, 50):.2f} s, p95 {np.percentile(lat, 95):.2f} s, max {lat.max():.2f} s"
        f" ({lat.size} updates); server RSS after wave 1 {rss_first:.0f} MiB, after wave 2 {rss_second:.0f} MiB"
    )
    assert lat.size == len(results) * CHANGES  # every update arrived
    assert all(r["foreign"] == [] for r in results), "a session saw another session's configuration"
    for r in results:  # the URL state follows the session's own last change
        assert f"c0.L={r['depth']}" in r["search"] and f"c0.name={r['name']}" in r["search"]
    assert rss_second - rss_first < 0.25 * rss_first, "server memory grows with the number of sessions served"
    assert server_errors(app_server.log()[log_start:]) == []
