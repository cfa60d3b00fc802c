"""Load figures of the served dashboard on this machine (issue 10), printed, at full size:

1. a class: 100 sessions arriving at random within 30 s, each changing its depth, σ_w, method or activation
   every 3–6 s for 2 minutes (targets: opening p95 ≤ 5 s, change → new data p95 ≤ 300 ms, 0 errors), then a
   second wave of the same size (server RSS within 10 % of the first);
2. ten light sessions beside a heavy neighbour (depth 10,000, four configurations, a typed expression, TAT,
   its slider moved continuously): change → data p95 ≤ 500 ms;
3. the class of 1. through nginx in front of two `panel serve app` processes.

The sessions are the light protocol client of tests/app/loadclient.py (a browser elsewhere costs the server only
its messages); it runs in this process, on the same two cores as the server. ``python benchmarks/bench_load.py
[n] [duration]`` runs a smaller class. CI runs the same scenarios at the size stated in tests/app/test_load.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "app"), str(ROOT)]

import loadclient  # noqa: E402
from conftest import Server, nginx_in_front  # noqa: E402
from test_load import SETTLE, report, server_errors, ws  # noqa: E402


def depth_stops():
    from app.config import DEPTH_STOPS

    return DEPTH_STOPS


def main(n: int = 100, duration: float = 120.0) -> None:
    print(f"== 1. a class of {n} on one process (arriving within 30 s, changing for {duration:.0f} s)")
    server = Server()
    try:
        server.wait()
        t = time.perf_counter()
        first = loadclient.run_class(ws(server.url), n, 30.0, duration, seed=1, depth_stops=depth_stops())
        report(f"wave 1 ({time.perf_counter() - t:.0f} s)", first)
        time.sleep(SETTLE)
        rss1 = server.rss_mb()
        second = loadclient.run_class(ws(server.url), n, 30.0, duration, seed=2, offset=1000,
                                      depth_stops=depth_stops())
        report("wave 2", second)
        time.sleep(SETTLE)
        rss2 = server.rss_mb()
        print(f"server RSS after wave 1 {rss1:.0f} MiB, after wave 2 {rss2:.0f} MiB ({100 * (rss2 / rss1 - 1):+.1f} %);"
              f" foreign state seen: {first['foreign'] + second['foreign']}; "
              f"server tracebacks: {len(server_errors(server.log()))}")
        print("== 2. ten light sessions beside a heavy neighbour")
        heavy = loadclient.run_with_heavy_neighbour(ws(server.url), 10, min(duration, 60.0), seed=3, offset=2000,
                                                    depth_stops=depth_stops())
        report("light sessions", heavy)
        print(f"heavy neighbour: {heavy['heavy']['moves']} slider moves, errors {heavy['heavy']['errors']}")
    finally:
        server.stop()
    print(f"== 3. the class of {n} through nginx in front of two processes")
    with nginx_in_front(2) as (url, servers):
        r = loadclient.run_class(ws(url), n, 30.0, duration, seed=4, offset=3000, depth_stops=depth_stops())
        report("through nginx", r)
        print(f"sessions per process: {[s.log().count('ServerConnection created') for s in servers]}; "
              f"server tracebacks: {sum(len(server_errors(s.log())) for s in servers)}")


if __name__ == "__main__":
    main(*(float(a) if i else int(a) for i, a in enumerate(sys.argv[1:3])))
