"""Fixtures for the dashboard tests: a `panel serve app` subprocess, Debian's chromium for
pytest-playwright, console-error capture and checked screenshots (saved under build/screenshots)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM = os.environ.get("SIGPROP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# Console messages that are known to be harmless on this set-up (no GPU, no network). Anything else
# at level "error" (and every uncaught page error) fails the test.
IGNORED_CONSOLE = (
    re.compile(r"Automatic fallback to software WebGL has been deprecated"),  # SwiftShader, no GPU
    re.compile(r"GPU stall due to ReadPixels"),  # SwiftShader
    re.compile(r"WebGL"),  # WebGL context warnings in headless chromium without a GPU
    re.compile(r"Failed to load resource: net::ERR_NAME_NOT_RESOLVED"),  # outside font requests, no network
    re.compile(r"favicon\.ico"),  # panel serve has no favicon at /favicon.ico
)

# Readiness: Bokeh document loaded with the live C-map figure's data sources.
READY_JS = """() => window.Bokeh && Bokeh.documents.length > 0 &&
    [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource' && m.data.x && m.data.x.length > 0)"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> float:
    """Wait until ``url`` answers 200; returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Server:
    """A `panel serve app` subprocess (the directory app: /app) on a free port (stopped by PID)."""

    def __init__(self, warm: bool = True, extra: tuple[str, ...] = (), env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/app"
        BUILD.mkdir(exist_ok=True)
        self.log_path = BUILD / f"app-server-{self.port}.log"
        cmd = [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(ROOT / "app"),
            "--port",
            str(self.port),
            "--address",
            "127.0.0.1",
            "--allow-websocket-origin",
            f"127.0.0.1:{self.port}",
            "--liveness",
            *(("--warm",) if warm else ()),
            *extra,
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def wait(self, timeout: float = 120.0) -> float:
        return wait_http(f"{self.base}/liveness", timeout, self.proc)

    def rss_mb(self) -> float:
        """Resident memory of the server process and of its children (the engine processes, app/work.py), in MiB,
        from /proc."""
        return sum(_rss_mb(pid) for pid in (self.proc.pid, *_children(self.proc.pid)))

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def _rss_mb(pid: int) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:  # ended meanwhile
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")), 0.0)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc/<pid>/task/*/children)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


NGINX_CONF = ROOT / "docs" / "nginx" / "sigprop.conf"


@contextlib.contextmanager
def nginx_in_front(processes: int = 2):
    """Debian's nginx with docs/nginx/sigprop.conf (its ports replaced by free ones) in front of ``processes``
    (2) `panel serve app` processes; yields (URL of the app through nginx, the Servers)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise FileNotFoundError("nginx is not installed (.ci/run installs Debian's nginx)")
    if processes != 2:
        raise ValueError("docs/nginx/sigprop.conf names two backends")
    port = free_port()
    servers = [Server(extra=("--use-xheaders", "--allow-websocket-origin", f"127.0.0.1:{port}"))
               for _ in range(processes)]
    prefix = BUILD / f"nginx-{port}"
    prefix.mkdir(parents=True, exist_ok=True)
    conf = NGINX_CONF.read_text()
    conf = conf.replace("127.0.0.1:5006", f"127.0.0.1:{servers[0].port}").replace(
        "127.0.0.1:5007", f"127.0.0.1:{servers[1].port}").replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    (prefix / "nginx.conf").write_text(conf)
    log = open(prefix / "nginx.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        for s in servers:
            s.wait()
        wait_http(f"http://127.0.0.1:{port}/liveness", 30, proc)
        yield f"http://127.0.0.1:{port}/app", servers
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        for s in servers:
            s.stop()


@pytest.fixture(scope="session")
def app_server():
    """One dashboard server for the whole test session (started with --warm)."""
    server = Server()
    try:
        server.wait()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright: drive Debian's chromium (no downloaded browsers here); skip if it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def console(page):
    """Collects console errors and uncaught page errors, minus the IGNORED_CONSOLE noise."""
    problems: list[str] = []

    def on_console(msg):
        if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
            problems.append(f"console.{msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


def open_app(page, url: str, timeout: float = 90_000):
    """Navigate and wait until the live plots hold data."""
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=timeout)
    return page


def screenshot(page, name: str, allow_errors: bool = False, min_canvases: int = 8) -> Path:
    """Full-page screenshot under build/screenshots; fails on an empty or error-filled page, or one with
    fewer than ``min_canvases`` plot canvases (the C maps tab has 8)."""
    from PIL import Image, ImageStat

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    png = page.screenshot(path=str(path), full_page=True)
    img = Image.open(io.BytesIO(png)).convert("L")
    assert img.size[0] >= 800 and img.size[1] >= 600, f"screenshot too small: {img.size}"
    assert ImageStat.Stat(img).stddev[0] > 10, "screenshot is (nearly) uniform: empty page"
    text = deep_text(page)
    for bad in ("Traceback", "Internal Server Error", "500: ", "Exception"):
        assert bad not in text, f"page shows {bad!r}"
    if not allow_errors:
        assert page.locator(".sigprop-error:visible").count() == 0, "a configuration shows an error"
    canvases = page.locator("canvas").count()
    assert canvases >= min_canvases, f"plots are missing ({canvases} canvases, expected ≥ {min_canvases})"
    return path


DEEP_TEXT_JS = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent); else walk(c); } };
  walk(document.body); return out.join(' '); }"""


def deep_text(page) -> str:
    """All text on the page, including inside the shadow roots Panel/Bokeh render into."""
    return page.evaluate(DEEP_TEXT_JS)
