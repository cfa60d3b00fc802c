"""What a notebook reader sees: the README's "Using it in a notebook" snippet, one cell per paragraph, run in
JupyterLab and looked at in Debian's chromium with every request that leaves the machine refused (no internet).

The notebook is run once for the module (JupyterLab's Run > Run All Cells); the tests then read its outputs, and the
last one moves a widget of the dashboard. The executed notebooks of `make test` (nbmake) only check that the cells
run, never what they show."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from conftest import IGNORED_CONSOLE, ROOT, SCREENSHOTS, free_port, wait_http
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytest.importorskip("jupyterlab", reason="the notebook test needs JupyterLab (pip install -e '.[test]')")

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(420)]

TOKEN = "sigprop-notebook-test"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# Panel 1.9.4 inlines every stylesheet of a notebook output when it is drawn (inline=True), but an HTML pane whose
# content changes later is sent its theme's stylesheets again as CDN links (HTMLBasePane._update bypasses the
# inlining). Offline these three fail without a visible difference (the inlined copies still apply).
PANEL_UPDATE_STYLESHEETS = re.compile(
    r"stylesheet https://cdn\.holoviz\.org/panel/[^/]+/dist/(css/loading\.css|bundled/theme/(default|native)\.css)"
    r"(\?v=[^/]*)?"
)

# The C-map figure of the dashboard: every line's y data, as text (null until the figure exists).
C_MAP_JS = """() => {
  for (const doc of Bokeh.documents) {
    const fig = [...doc.all_models].find(m => m.type === 'Figure' && m.name === 'c_map');
    if (fig) return JSON.stringify(fig.renderers.map(r => Array.from(r.data_source.data.y || [])));
  }
  return null; }"""

# Every cell has run: its prompt shows an execution count ("[3]:"), neither "[ ]:" nor "[*]:".
CELLS_RUN_JS = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
  .every(p => /\\[\\d+\\]/.test(p.textContent))"""

# All text of the cells' outputs (not of their scripts and styles), including the shadow roots that Panel and
# Bokeh render into.
OUTPUT_TEXT_JS = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) out.push(c.textContent); else if (!['SCRIPT', 'STYLE'].includes(c.nodeName)) walk(c); } };
  document.querySelectorAll('.jp-OutputArea').forEach(walk); return out.join(' '); }"""


def readme_cells() -> list[str]:
    """The README's notebook snippet (the ```python block under "## Using it in a notebook"), split into one cell
    per paragraph, as a reader pastes it."""
    match = re.search(
        r"^## Using it in a notebook\n.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S | re.M
    )
    assert match, "README.md has no ```python block under '## Using it in a notebook'"
    return [cell.strip() for cell in match[1].split("\n\n") if cell.strip()]


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 (a free port, a known token, no browser) serving ``root/notebooks``, with its
    configuration, data, runtime, settings and IPython folders under ``root``: nothing of the user's is read or
    written. Stopped, with its kernels, by :meth:`stop`."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = root / "notebooks"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        dirs = {name: root / name for name in ("config", "data", "runtime", "ipython")}
        for path in (self.notebooks, *dirs.values()):
            path.mkdir(parents=True, exist_ok=True)
        self.runtime = dirs["runtime"]
        # no "official Jupyter news?" toast over the outputs, and no request to jupyter.org for news or updates
        settings = dirs["config"] / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "IPYTHONDIR": str(dirs["ipython"]),
        }
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.notebooks}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",  # never asks PyPI for extensions
            *(("--allow-root",) if os.geteuid() == 0 else ()),
        ]
        self.log_path = root / "jupyterlab.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=self.notebooks, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self, timeout: float = 60.0) -> float:
        """Seconds until the server answers."""
        return wait_http(f"{self.base}/api/status?token={TOKEN}", timeout, self.proc)

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={TOKEN}"

    def write_notebook(self, name: str, cells: list[str]) -> None:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(nb, self.notebooks / name)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def _kernel_pids(self) -> list[int]:
        """Kernels this server started (their own process sessions): the processes naming a connection file of
        its runtime folder."""
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(self.runtime).encode() in cmdline.read_bytes():
                    pids.append(int(cmdline.parent.name))
            except OSError:  # the process ended meanwhile
                continue
        return pids

    def stop(self) -> None:
        """SIGTERM to the server's process group (the server shuts its kernels down), SIGKILL after 15 s; then
        any kernel still running is killed by its process id."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for pid in self._kernel_pids():
            os.kill(pid, signal.SIGKILL)
        self._log.close()


class Notebook:
    """The README notebook open in a browser page, run; with what the page asked of the outside (refused) and the
    console errors and uncaught errors it reported."""

    def __init__(self, page, lab: JupyterLab):
        self.page = page
        self.lab = lab
        self.blocked: list[str] = []
        self.problems: list[str] = []
        self.run_seconds = 0.0

    def offline(self, route) -> None:
        """Playwright route handler: requests to this machine pass, every other one is refused."""
        url = route.request.url
        if urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(f"{route.request.resource_type} {url}")
            route.abort("internetdisconnected")

    def on_console(self, msg) -> None:
        """Console errors, except the noise of IGNORED_CONSOLE and the refusals of :meth:`offline` (``blocked``
        lists those)."""
        if msg.type == "error" and "net::ERR_INTERNET_DISCONNECTED" in msg.text:
            return
        if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
            self.problems.append(f"console.error: {msg.text}")

    def output_text(self) -> str:
        return self.page.evaluate(OUTPUT_TEXT_JS)

    def c_map(self) -> str | None:
        return self.page.evaluate(C_MAP_JS)

    def wait_computed(self, timeout: float) -> None:
        """Until the readouts are filled and no configuration is computing."""
        self.page.wait_for_function(
            f"() => {{ const t = ({OUTPUT_TEXT_JS})(); return t.includes('Readouts') && !t.includes('computing…'); }}",
            timeout=timeout,
        )

    def run_all(self, name: str) -> None:
        """Open notebook ``name``, wait for its kernel, Run > Run All Cells, and wait until the dashboard is drawn."""
        page = self.page
        t0 = time.perf_counter()
        page.goto(self.lab.url(name))
        page.locator(".jp-Notebook").wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=60_000)  # the status bar: kernel started
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        # the first compute in a fresh kernel imports JAX and compiles: tens of seconds on a small machine
        page.wait_for_function(CELLS_RUN_JS, timeout=180_000)
        try:
            page.wait_for_function(f"() => window.Bokeh !== undefined && ({C_MAP_JS})() !== null", timeout=60_000)
        except PlaywrightTimeoutError:
            bokeh = page.evaluate("() => window.Bokeh === undefined ? 'not loaded' : 'loaded'")
            pytest.fail(f"the cells ran but the dashboard was not drawn (BokehJS {bokeh}; refused: {self.blocked})")
        self.wait_computed(timeout=60_000)
        page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=30_000)
        self.run_seconds = time.perf_counter() - t0


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    lab = JupyterLab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        lab.wait()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def notebook(browser, jupyter_lab):
    """The README snippet as notebook readme.ipynb, run once in an offline browser page (1500×1000)."""
    jupyter_lab.write_notebook("readme.ipynb", readme_cells())
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    nb = Notebook(page, jupyter_lab)
    context.route("**/*", nb.offline)
    page.on("console", nb.on_console)
    page.on("pageerror", lambda exc: nb.problems.append(f"pageerror: {exc}"))
    try:
        nb.run_all("readme.ipynb")
        print(f"notebook run in {nb.run_seconds:.1f} s")
        yield nb
    except Exception:
        print(jupyter_lab.log()[-3000:])
        raise
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "notebook-readme.png"), full_page=True)
        context.close()


def test_readme_snippet_loads_the_resources_inline():
    """Every extension call of the snippet inlines its resources, and Panel's loads KaTeX."""
    calls = re.findall(r"\b(?:pn|hv)\.extension\(.*?\)", "\n".join(readme_cells()))
    assert calls and all("inline=True" in call for call in calls), calls
    assert any(call.startswith('pn.extension("katex"') for call in calls), calls


def test_dashboard_renders_inline(notebook):
    page = notebook.page
    outputs = page.locator(".jp-OutputArea")
    assert outputs.locator("canvas").count() >= 2, "no Bokeh canvas in the outputs"  # the curve, the dashboard
    text = notebook.output_text()
    assert "Traceback" not in text
    assert "Readouts" in text
    readouts = outputs.locator(".sigprop-readouts tr")
    assert readouts.count() >= 2, "the readouts table has no configuration row"
    assert "configuration" in readouts.first.inner_text()
    assert json.loads(notebook.c_map())[-1], "the C-map figure has no data"


def test_formulas_are_rendered_by_katex(notebook):
    from sigprop_app.dashboard import FORMULAS

    assert notebook.page.locator(".jp-OutputArea .katex").count() >= len(FORMULAS)
    text = notebook.output_text()
    raw = [f for f in FORMULAS if f"${f}$" in text]
    assert raw == [], "formulas shown as raw LaTeX"


def test_formulas_use_katex_fonts(notebook):
    """KaTeX's own fonts, not the browser's serif: the dashboard declares them in the notebook's page (data URLs)."""
    info = notebook.page.evaluate("""async () => { await document.fonts.ready; const fonts = [];
      const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) { if (c.classList && c.classList.contains('mathnormal'))
          fonts.push(getComputedStyle(c).fontFamily); walk(c); } };
      document.querySelectorAll('.jp-OutputArea').forEach(walk);
      return {fonts, loaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)}; }""")
    assert info["fonts"] and all("KaTeX_Math" in f for f in info["fonts"]), info["fonts"][:5]
    loaded = " ".join(info["loaded"])
    assert "sigprop-KaTeX_Math" in loaded and "sigprop-KaTeX_Main" in loaded, info["loaded"]


def test_nothing_is_loaded_from_the_internet(notebook):
    assert notebook.blocked == [], notebook.blocked


def test_depth_slider_changes_the_c_map(notebook):
    page = notebook.page
    before = notebook.c_map()
    blocked_before = len(notebook.blocked)
    handle = page.locator(".jp-OutputArea .sigprop-depth .noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowLeft")  # configuration 1's depth: the previous stop of the log scale
    page.wait_for_function(f"(before) => ({C_MAP_JS})() !== before", arg=before, timeout=90_000)
    notebook.wait_computed(timeout=90_000)
    assert notebook.c_map() != before
    asked = notebook.blocked[blocked_before:]
    assert [r for r in asked if not PANEL_UPDATE_STYLESHEETS.fullmatch(r)] == [], asked


def test_no_errors_in_the_page(notebook):
    assert notebook.problems == [], notebook.problems
