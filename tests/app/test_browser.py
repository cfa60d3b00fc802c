"""The dashboard in a real browser (Debian chromium through Playwright) against `panel serve app` (served at /app)."""

from __future__ import annotations

import csv
import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import deep_text, open_app, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

# The C-map figure's curve named `name`: its y data as a plain array (null until it exists).
CURVE_JS = """(name) => {
  const doc = Bokeh.documents[0];
  const fig = [...doc.all_models].find(m => m.type === 'Figure' && m.name === 'c_map');
  if (!fig) return null;
  const r = fig.renderers.find(r => r.name === name);
  return r ? Array.from(r.data_source.data.y) : null; }"""


def wait_loaded(page, timeout=120_000):
    """Wait until no configuration is still computing (readouts filled)."""
    page.locator(".sigprop-readouts").first.wait_for(timeout=timeout)
    page.wait_for_function(
        """() => { const out = [];
        const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
          for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent); else walk(c); } };
        walk(document.body); const t = out.join(' ');
        return t.includes('Readouts') && !t.includes('computing…'); }""",
        timeout=timeout,
    )


def element_text(locator) -> str:
    """Text of an element including its shadow root (Panel panes render into one)."""
    return locator.evaluate("""(el) => { const out = [];
        const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
          for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent); else walk(c); } };
        walk(el); return out.join(' '); }""")


def edit_configuration(page, i: int) -> None:
    """Show configuration ``i``'s editor (its tab in the sidebar)."""
    page.locator(".sigprop-editors .bk-tab").nth(i).click()


def readout_rows(page) -> list[str]:
    rows = page.locator(".sigprop-readouts tr")
    return [rows.nth(i).inner_text() for i in range(rows.count())]


def test_loads_without_console_errors(page, console, app_server):
    open_app(page, app_server.url)
    wait_loaded(page)
    page.wait_for_timeout(500)
    screenshot(page, "default")
    text = deep_text(page)
    for expected in ("Readouts", "ReLU · He · L=100", "tanh · DKS ζ=1.5 · L=100", "Method constants", "C maps",
                     "Phase diagram"):
        assert expected in text
    rows = readout_rows(page)
    assert len(rows) == 5  # header + 4 configurations
    assert console == [], console


def test_depth_slider_changes_curve_data(page, console, app_server):
    open_app(page, app_server.url)
    wait_loaded(page)
    before = page.evaluate(CURVE_JS, "ReLU · He · L=100")
    assert before and len(before) == 201
    handle = page.locator(".sigprop-depth .noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowLeft")  # 100 -> 91, the previous log-scale stop
    # the curve's name follows the depth
    page.wait_for_function(
        f"() => {{ const y = ({CURVE_JS})('ReLU · He · L=91'); return y && y[100] !== {before[100]}; }}",
        timeout=60_000)
    after = page.evaluate(CURVE_JS, "ReLU · He · L=91")
    # A shallower ReLU network is less degenerate: C_f(0) moves down, away from 1.
    assert after[100] < before[100]
    page.wait_for_function("() => location.search.includes('c0.L=91')", timeout=10_000)
    assert console == [], console


def test_switching_method_to_dks_changes_constants(page, console, app_server):
    open_app(page, app_server.url)
    wait_loaded(page)
    row = page.locator(".sigprop-constants tr").nth(2)  # header, config 1, config 2 (tanh · EOC)
    before = row.inner_text()
    assert "EOC" in before and "alpha" not in before
    edit_configuration(page, 1)
    page.locator(".sigprop-method select").first.select_option(label="DKS")
    page.wait_for_function(
        """() => { const rows = [];
        const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
          for (const c of n.children || []) { if (c.tagName === 'TR') rows.push(c.innerText); walk(c); } };
        walk(document.body); return rows.some(r => r.includes('tanh · DKS ζ=1.5 · L=100 (2)')); }""",
        timeout=60_000,
    )
    after = row.inner_text()
    assert after != before and "DKS" in after
    header = page.locator(".sigprop-constants tr").nth(0).inner_text()
    assert "alpha" in header and "gamma" in header
    # the DKS constants of tanh at depth 100: α, β, γ, δ are finite numbers in that row
    cells = after.split("\t")
    assert sum(c.strip() not in ("–", "") for c in cells) >= 6
    assert console == [], console


def test_unsafe_expression_is_refused(page, console, app_server):
    marker = Path("/tmp/sigprop_pwned")
    marker.unlink(missing_ok=True)
    open_app(page, app_server.url)
    wait_loaded(page)
    box = page.locator(".sigprop-activation input").first
    box.fill("__import__('os').system('touch /tmp/sigprop_pwned')")
    box.press("Enter")
    error = page.locator(".sigprop-error").first
    error.wait_for(state="visible", timeout=30_000)
    assert "ActivationError" in element_text(error)
    assert not marker.exists() and not os.path.exists("/tmp/sigprop_pwned")
    # the other configurations keep drawing: their readouts are numbers
    page.wait_for_timeout(500)
    rows = readout_rows(page)
    assert "ActivationError" in rows[1]
    assert all("ActivationError" not in r and any(ch.isdigit() for ch in r) for r in rows[2:])
    screenshot(page, "unsafe_expression", allow_errors=True)
    assert console == [], console


def test_url_round_trips_state(page, console, app_server):
    query = "n=2&active=1&c0.name=deep%20tanh&c0.act=tanh&c0.m=dks&c0.zeta=2.0&c0.L=50&c1.act=relu&c1.m=eoc&c1.L=20"
    open_app(page, f"{app_server.url}?{query}")
    wait_loaded(page)
    rows = readout_rows(page)
    assert len(rows) == 3
    assert "deep tanh" in rows[1] and "DKS" in rows[1] and "50" in rows[1]
    assert "EOC" in rows[2] and "20" in rows[2]
    # active=1: the second configuration's editor is the one shown
    assert page.locator(".sigprop-activation input").first.input_value() == "relu"
    # change one widget: the URL follows, and a fresh page opened on it shows the same state
    page.locator(".sigprop-method select").first.select_option(label="Standard")
    page.wait_for_function("() => location.search.includes('c1.m=standard')", timeout=30_000)
    state = parse_qs(urlparse(page.url).query)
    assert state["c0.zeta"] == ["2.0"] and state["c0.L"] == ["50"] and state["active"] == ["1"]
    url = page.url
    wait_loaded(page)
    first = readout_rows(page)
    page2 = page.context.new_page()
    open_app(page2, url)
    wait_loaded(page2)
    assert readout_rows(page2) == first
    page2.close()
    assert console == [], console


@pytest.mark.parametrize("fmt", ["png", "svg", "csv"])
def test_export(page, console, app_server, fmt):
    from PIL import Image

    open_app(page, app_server.url)
    wait_loaded(page)
    button = page.locator(f".sigprop-export-c_map-{fmt} button").first
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = Path(info.value.path())
    data = path.read_bytes()
    out = Path(__file__).resolve().parents[2] / "build" / "exports"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"c_map.{fmt}").write_bytes(data)
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        img = Image.open(io.BytesIO(data))
        img.load()
        assert img.size[0] >= 400 and img.size[1] >= 250 and len(data) > 10_000
    elif fmt == "svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and len(data) > 10_000
    else:
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert {r["series"] for r in rows} >= {"identity", "ReLU · He · L=100", "tanh · DKS ζ=1.5 · L=100"}
        assert len(rows) >= 201 * 5
    assert console == [], console


PHASE_TITLE_JS = """() => { const fig = [...Bokeh.documents[0].all_models].find(
    m => m.type === 'Figure' && m.name === 'phase' && m.title && m.title.text.startsWith('φ = '));
  return fig ? fig.title.text : null; }"""


def test_phase_diagram_follows_the_edited_configuration_and_a_click_sets_sigma(page, console, app_server):
    open_app(page, app_server.url)
    wait_loaded(page)
    page.locator(".sigprop-plots .bk-tab", has_text="Phase diagram").click()
    page.wait_for_function(f"() => ({PHASE_TITLE_JS})() !== null", timeout=60_000)
    assert "φ = relu" in page.evaluate(PHASE_TITLE_JS)  # configuration 1 (ReLU · He) is edited at first
    edit_configuration(page, 1)  # tanh · EOC σ_b=0.22
    page.wait_for_function(f"() => ({PHASE_TITLE_JS})().includes('φ = tanh')", timeout=60_000)
    assert page.locator(".sigprop-activation input").first.input_value() == "tanh"
    page.wait_for_function("() => location.search.includes('active=1')", timeout=10_000)
    # a click inside the diagram makes the edited configuration Standard at the clicked (σ_w², σ_b²)
    box = page.locator(".sigprop-card-phase canvas").first.bounding_box()
    page.mouse.click(box["x"] + 0.4 * box["width"], box["y"] + 0.5 * box["height"])
    page.wait_for_function("() => location.search.includes('c1.m=standard')", timeout=30_000)
    state = parse_qs(urlparse(page.url).query)
    assert 0.1 < float(state["c1.sw"][0]) < 3.0 and float(state["c1.sb"][0]) >= 0.0
    wait_loaded(page)
    assert "Standard" in readout_rows(page)[2]
    screenshot(page, "phase_diagram", min_canvases=2)
    assert console == [], console


# The data of plot `key`'s figure (named by the key): per renderer name, its y (and y2 for bands) lengths.
FIGURE_DATA_JS = """(key) => { const fig = [...Bokeh.documents[0].all_models].find(
    m => m.type === 'Figure' && m.name === key);
  if (!fig) return null;
  return fig.renderers.map(r => ({name: r.name, n: r.data_source.data.x ? r.data_source.data.x.length : 0,
                                  y: r.data_source.data.y ? Array.from(r.data_source.data.y) : []})); }"""


def test_finite_width_band_and_live_training(page, console, app_server):
    """Plot 8 draws every configuration's band of random networks; plots 9a/9b train the four defaults (20 steps)
    with a progress bar and draw each configuration's loss and test accuracy as they arrive."""
    open_app(page, app_server.url)
    wait_loaded(page)
    page.locator(".sigprop-plots .bk-tab", has_text="Finite width").click()
    page.wait_for_function(
        f"""() => {{ const d = ({FIGURE_DATA_JS})('finite');
        return d !== null && d.filter(r => r.n === 17).length >= 4; }}""", timeout=120_000)
    page.locator(".sigprop-train-steps select").select_option("20")
    page.locator(".sigprop-train button").click()
    page.wait_for_function(
        f"""() => {{ const d = ({FIGURE_DATA_JS})('training');
        return d !== null && d.filter(r => r.n === 3).length === 4; }}""", timeout=240_000)
    loss = {r["name"]: r["y"] for r in page.evaluate(FIGURE_DATA_JS, "training") if r["n"] == 3}
    assert set(loss) == {"ReLU · He · L=100", "tanh · EOC σ_b=0.22 · L=100", "tanh · DKS ζ=1.5 · L=100",
                         "leaky ReLU · TAT η=0.9 · L=100"}
    assert all(y[-1] < y[0] for y in loss.values()), loss  # 20 Adam steps lower every loss
    accuracy = [r for r in page.evaluate(FIGURE_DATA_JS, "accuracy") if r["n"] == 3]
    assert len(accuracy) == 4 and all(0 <= v <= 1 for r in accuracy for v in r["y"])
    page.wait_for_function(
        """() => { const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
          for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent); else walk(c); } };
          walk(document.body); return out.join(' ').includes('done'); }""", timeout=60_000)
    screenshot(page, "finite_width_and_training", min_canvases=2)
    assert console == [], console
