"""Load tests at CI size: a class of sessions (the light protocol client, tests/app/loadclient.py) on one
`panel serve app` process, a heavy neighbour beside light sessions, and the same class through nginx in front of
two processes. `make bench` runs the full size (benchmarks/bench_load.py: 100 sessions) and prints the figures.

Each session names its first configuration ``user-<i>``, then changes its depth, σ_w, method or activation every
few seconds and waits, after each change, for that configuration's new curve data. The tests assert what must
hold at any load: every session opens and every change is answered, no session ever sees another's
configuration, the URL follows the session's own state, the server logs no traceback, and its memory after a
second wave stays bounded (25 % here, 10 % is the benchmark's target). The latencies are printed, not
asserted (a shared CI machine is noisy; the targets are checked by the benchmark)."""

from __future__ import annotations

import asyncio
import re
import time

import loadclient
import pytest
from conftest import nginx_in_front

pytestmark = [pytest.mark.server, pytest.mark.slow]

CI_CLASS = {"n": 16, "arrive_within": 8.0, "duration": 30.0}  # CI size; the benchmark runs 100 / 30 s / 120 s
CI_HEAVY = {"n_light": 5, "duration": 25.0}
SETTLE = 35.0  # s after a wave: Bokeh discards a closed session after 15 s unused, checking every 17 s
CI_NGINX = {"n": 10, "arrive_within": 5.0, "duration": 20.0}


def server_errors(log: str) -> list[str]:
    """Tracebacks in a server log, without tornado's report of a client that left while a message was being
    written to it ("Task exception was never retrieved … WebSocketClosedError"): with many clients opening and
    closing pages that race is expected, and harmless."""
    blocks = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log)
    return [b for b in blocks if "Traceback" in b and not b.rstrip().endswith("tornado.websocket.WebSocketClosedError")]


def _depth_stops():
    from sigprop_app.config import DEPTH_STOPS

    return DEPTH_STOPS


def report(label: str, r: dict) -> str:
    line = (f"{label}: {r['sessions']} sessions; open p50 {r['open_p50']:.2f} s, p95 {r['open_p95']:.2f} s; "
            f"change -> data p50 {1e3 * r['change_p50']:.0f} ms, p95 {1e3 * r['change_p95']:.0f} ms "
            f"({r['changes']} changes, {r['refused']} refused by the engine); failed {len(r['failed'])}")
    if r["failed"]:
        from collections import Counter

        kinds = Counter(f.split(" (at ")[0] for f in r["failed"])
        line += " (" + "; ".join(f"{n} × {k}" for k, n in kinds.most_common()) + ")"
    print("\n" + line)
    return line


def check(r: dict) -> None:
    assert r["failed"] == [], r["failed"][:3]
    assert r["foreign"] == [], "a session saw another session's configuration"
    assert all(res["latencies"] for res in r["results"]), "a session's changes were never answered"


def ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


def test_a_class_opens_and_works(app_server):
    log_start = len(app_server.log())  # the server is shared: judge only what this test's sessions logged
    first = loadclient.run_class(ws(app_server.url), **CI_CLASS, seed=1, depth_stops=_depth_stops())
    report("class, wave 1", first)
    check(first)
    time.sleep(SETTLE)
    rss_first = app_server.rss_mb()
    second = loadclient.run_class(ws(app_server.url), **CI_CLASS, seed=2, offset=1000, depth_stops=_depth_stops())
    report("class, wave 2", second)
    check(second)
    time.sleep(SETTLE)
    rss_second = app_server.rss_mb()
    print(f"server RSS after wave 1 {rss_first:.0f} MiB, after wave 2 {rss_second:.0f} MiB")
    # The target (within 10 %) is the benchmark's, at full size; here the bounded caches (LRU, 256 results per
    # kind) are still filling at CI size, so a leak is what this catches: measured +13 % at 16 + 16 sessions.
    assert rss_second <= 1.25 * rss_first, "server memory grows with the number of sessions served"
    assert server_errors(app_server.log()[log_start:]) == []


def test_one_sessions_changes_send_nothing_to_another(app_server):
    """A session's work reaches only its own page. (Panel's template spinner followed the process-wide
    ``state.busy``: every event of any session sent every open session two messages, and with 80 sessions open a
    slider move cost the server 125 ms instead of 12; the dashboard's template has no such spinner.)"""

    async def scenario():
        quiet = await loadclient.Session.open(ws(app_server.url))
        busy = await loadclient.Session.open(ws(app_server.url))
        try:
            for s in (quiet, busy):
                await s.wait(lambda s=s: s.find(("Slider",), "sigprop-depth") is not None
                             and "computing" not in " ".join(s.readout_rows()), timeout=120)
            await asyncio.sleep(2.0)  # the first page's own follow-ups (URL, readouts) are in
            before = quiet.patches
            slider = busy.find(("Slider",), "sigprop-depth")
            start = busy.models[slider]["attributes"].get("value")
            for value in (start + 1, start + 2, start + 3):
                t = time.perf_counter()
                await busy.set_value(slider, value)
                await busy.wait(lambda t=t: busy.touched.get(busy.find(("HTML",), "sigprop-readouts"), 0.0) > t
                                and "computing" not in " ".join(busy.readout_rows()), timeout=120)
            await asyncio.sleep(1.0)
            return quiet.patches - before, busy.patches
        finally:
            await quiet.close()
            await busy.close()

    received, sent_to_busy = loadclient.run_async(scenario)
    assert sent_to_busy > 0
    assert received == 0, f"another session's three depth changes sent this one {received} messages"


def test_a_heavy_neighbour_does_not_stall_light_sessions(app_server):
    log_start = len(app_server.log())
    r = loadclient.run_with_heavy_neighbour(ws(app_server.url), **CI_HEAVY, seed=3, offset=2000,
                                            depth_stops=_depth_stops())
    report("light sessions beside a heavy neighbour", r)
    print(f"heavy neighbour: {r['heavy']['moves']} slider moves")
    check(r)
    assert r["heavy"]["errors"] == [] and r["heavy"]["moves"] > 10
    assert server_errors(app_server.log()[log_start:]) == []


@pytest.fixture(scope="module")
def nginx_pair():
    """nginx (Debian's, docs/nginx/sigprop.conf with free ports) in front of two `panel serve app` processes."""
    try:
        with nginx_in_front(2) as pair:
            yield pair
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_the_same_class_through_nginx_in_front_of_two_processes(nginx_pair):
    import requests

    url, servers = nginx_pair
    first = requests.get(url, timeout=60)  # a browser's first request: nginx picks a backend and says which
    assert first.status_code == 200 and first.cookies.get("sigprop_backend") in ("sigprop_a", "sigprop_b")
    again = requests.get(url, cookies={"sigprop_backend": "sigprop_b"}, timeout=60)  # sticky: the cookie wins
    assert again.cookies.get("sigprop_backend") == "sigprop_b"
    bogus = requests.get(url, cookies={"sigprop_backend": "evil.example:80"}, timeout=60)  # never proxied
    assert bogus.status_code == 200 and bogus.cookies.get("sigprop_backend") in ("sigprop_a", "sigprop_b")
    before = [s.log().count("ServerConnection created") for s in servers]
    r = loadclient.run_class(ws(url), **CI_NGINX, seed=4, offset=3000, depth_stops=_depth_stops())
    report("class through nginx, two processes", r)
    check(r)
    served = [s.log().count("ServerConnection created") - b for s, b in zip(servers, before)]
    print(f"sessions per process: {served}")
    assert sum(served) == CI_NGINX["n"] and min(served) > 0, served  # both processes took part
    for s in servers:
        assert server_errors(s.log()) == []


def test_a_browser_through_nginx_keeps_its_session(nginx_pair, page, console):
    """The page's websocket reaches the process that built its session (the cookie), and the curves draw."""
    from conftest import READY_JS

    url, servers = nginx_pair
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=90_000)
    backend = next(c["value"] for c in page.context.cookies() if c["name"] == "sigprop_backend")
    built = servers[0 if backend == "sigprop_a" else 1]
    assert built.log().count("WebSocket connection opened") >= 1
    assert console == [], console


def test_a_session_stays_responsive_while_it_computes(app_server):
    """While a session's own engine job runs (two depth-10,000 TAT networks of typed expressions, ~2 s each
    here, never cached: the coefficient is new every run), its other clicks are answered at once: a rename
    reaches the readouts while they still say "computing…", and the curves arrive afterwards."""
    from urllib.parse import urlencode

    k = f"{0.05 + (time.time() % 1000) * 1e-6:.9f}"
    query = urlencode({"n": 2, "c0.act": f"tanh(x) + {k}*x", "c0.m": "tat", "c0.L": 10000,
                       "c1.act": f"tanh(x) + {k}*x + 0.01*x", "c1.m": "tat", "c1.L": 10000})

    async def scenario():
        session = await loadclient.Session.open(f"{ws(app_server.url)}?{query}")
        try:
            await session.wait(lambda: session.find(("TextInput",), "sigprop-title") is not None
                               and "computing" in " ".join(session.readout_rows()))
            t = time.perf_counter()
            await session.set_value(session.find(("TextInput",), "sigprop-title"), "renamed")
            await session.wait(lambda: any("renamed" in r for r in session.readout_rows()))
            answered = time.perf_counter() - t
            still_computing = "computing" in session.first_row()
            await session.wait(lambda: loadclient.has_points(session, session.renderer_source("renamed")),
                               timeout=240)
            return answered, still_computing, time.perf_counter() - t
        finally:
            await session.close()

    answered, still_computing, drawn = loadclient.run_async(scenario)
    print(f"\nrename answered after {1e3 * answered:.0f} ms; the computing curves drawn after {drawn:.1f} s")
    assert still_computing, "the rename waited for the session's computation"
    assert drawn > answered
