"""Issue 11 in a real browser (Debian chromium against `panel serve app`): the projector layout at 1280×720 in both
themes, names that follow the settings, distinct colours, one toast per configuration, the view in the URL, KaTeX,
and rendering with no internet. The screenshots of docs/img/ are taken here (named by size)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import DEEP_TEXT_JS, SCREENSHOTS, deep_text, screenshot
from test_browser import edit_configuration, element_text, wait_loaded

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PROJECTOR = {"width": 1280, "height": 720}
READY_JS = """() => window.Bokeh && Bokeh.documents.length > 0 &&
    [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource' && m.data.x && m.data.x.length > 0)"""

# Every visible text on the page (through the shadow roots): its font size, whether its box clips it, its box.
TEXTS_JS = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3 && c.textContent.replace(/[\\s\\u200b]/g, '')) {  // (KaTeX's struts: zero-width spaces)
        const el = c.parentElement; if (!el) continue;
        const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
        const st = getComputedStyle(el); if (st.visibility === 'hidden') continue;
        const clips = (st.overflowX !== 'visible' || st.textOverflow === 'ellipsis')
          && el.scrollWidth > el.clientWidth + 1;
        out.push({text: c.textContent.trim().slice(0, 40), size: parseFloat(st.fontSize), clips,
                  left: r.left, right: r.right, top: r.top, bottom: r.bottom});
      } else if (c.nodeType === 1) walk(c); } };
  walk(document.body); return out; }"""

# The font sizes (px) of every text a Bokeh figure draws on its canvas: title, axis labels, ticks, legends, colour bars.
FIGURE_FONTS_JS = """() => { const sizes = [];
  const px = (s) => s ? parseFloat(s.value !== undefined ? s.value : s) : null;
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type === 'Title' && m.text) sizes.push(['title', px(m.text_font_size)]);
    if (m.type === 'LinearAxis' || m.type === 'LogAxis') {
      sizes.push(['axis label', px(m.axis_label_text_font_size)]);
      sizes.push(['ticks', px(m.major_label_text_font_size)]); }
    if (m.type === 'Legend' && m.visible) sizes.push(['legend', px(m.label_text_font_size)]);
    if (m.type === 'ColorBar') { sizes.push(['colour bar', px(m.major_label_text_font_size)]); }
  } return sizes; }"""

# The boxes of the plot canvases of the shown plot tab (a figure draws on several canvases of one box).
CANVASES_JS = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.children || []) { if (c.tagName === 'CANVAS') { const r = c.getBoundingClientRect();
      if (r.width > 100 && r.height > 100 && !out.some(o => o.top === r.top && o.left === r.left))
        out.push({top: r.top, bottom: r.bottom, left: r.left, right: r.right}); }
      walk(c); } };
  walk(document.body); return out; }"""

# The live C-map figure's renderers: name and line colour.
LINES_JS = """() => { const fig = [...Bokeh.documents[0].all_models].find(
    m => m.type === 'Figure' && m.name === 'c_map');
  return fig.renderers.filter(r => r.glyph.type === 'Line' && r.name !== 'identity')
    .map(r => ({name: r.name, colour: r.glyph.line_color.value !== undefined ? r.glyph.line_color.value
                                                                          : r.glyph.line_color})); }"""

LEGEND_JS = """(key) => { const fig = [...Bokeh.documents[0].all_models].find(
    m => m.type === 'Figure' && m.name === key);
  const legend = [...Bokeh.documents[0].all_models].find(m => m.type === 'Legend' && fig.center.includes(m));
  return legend.items.map(i => i.label.value); }"""


# Every curve of the C-map figure holds data (all configurations computed).
DRAWN_JS = """() => { const fig = window.Bokeh && Bokeh.documents.length > 0 &&
    [...Bokeh.documents[0].all_models].find(m => m.type === 'Figure' && m.name === 'c_map');
  return !!fig && fig.renderers.filter(r => r.name)
    .every(r => r.data_source.data.x && r.data_source.data.x.length > 0); }"""


def open_at(page, url: str, size: dict, timeout: float = 120_000, drawn: bool = True) -> None:
    """Open ``url`` at viewport ``size`` and wait until every configuration's curves are drawn (``drawn``: a
    configuration that fails draws nothing) and, unless the readouts are folded, filled in."""
    page.set_viewport_size(size)
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=timeout)
    if drawn:
        page.wait_for_function(DRAWN_JS, timeout=timeout)
    if "present=1" not in url:
        wait_loaded(page)


def keep(path: Path, name: str) -> None:
    """Copy a checked screenshot into docs/img (the README and docs show them)."""
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMG / f"{name}.png")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_projector_layout(page, console, app_server, theme):
    """1280×720 in presentation mode: the plots fill the screen above the fold, every text is ≥ 18 px and none is
    cut off, the explanations are open, the tables are folded and open with one click."""
    open_at(page, f"{app_server.url}?n=4&present=1&theme={theme}&c0.act=relu&c0.m=standard&c0.s=he&c1.sb=0.22"
                  "&c2.m=dks&c3.act=leaky_relu&c3.m=tat", PROJECTOR)
    # the HTML list of names above the plots follows the curves (on a loaded machine, seconds later)
    page.wait_for_function(f"() => ({DEEP_TEXT_JS})().includes('leaky ReLU · TAT η=0.9 · L=100')", timeout=60_000)
    page.wait_for_timeout(1000)
    texts = page.evaluate(TEXTS_JS)
    assert len(texts) > 50
    small = [t for t in texts if t["size"] < 18]
    assert small == [], small[:10]
    clipped = [t for t in texts if t["clips"]]
    assert clipped == [], clipped[:10]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PROJECTOR["width"]
    fonts = page.evaluate(FIGURE_FONTS_JS)
    assert fonts and all(size is not None and size >= 18 for _, size in fonts), fonts
    canvases = page.evaluate(CANVASES_JS)
    assert len(canvases) == 2, canvases  # the C maps tab: plots 1 and 2, side by side, wholly on screen
    for box in canvases:
        assert 0 <= box["top"] and box["bottom"] <= PROJECTOR["height"] and box["right"] <= PROJECTOR["width"], box
    assert canvases[0]["top"] == pytest.approx(canvases[1]["top"], abs=40)
    # the names are shown above the plots (a large legend would hide the curves)
    legend = " ".join(t["text"] for t in texts if t["bottom"] <= canvases[0]["top"])
    assert "ReLU · He · L=100" in legend and "leaky ReLU · TAT η=0.9 · L=100" in legend
    # the explanation is open, and its formula rendered by KaTeX
    explanation = page.locator(".sigprop-explain-c_map").first
    assert "cosine" in element_text(explanation)
    # the tables are folded; one click opens them
    assert page.locator(".sigprop-readouts:visible").count() == 0
    shot = screenshot(page, f"presentation-1280x720-{theme}", min_canvases=2)
    page.locator(".sigprop-card-readouts .card-header").first.click()
    page.locator(".sigprop-readouts").first.wait_for(state="visible", timeout=10_000)
    keep(shot, f"presentation-1280x720-{theme}")
    assert console == [], console


def test_desktop_screenshot(page, console, app_server):
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    page.wait_for_timeout(500)
    keep(screenshot(page, "dashboard-1600x1000"), "dashboard-1600x1000")
    assert console == [], console


SIDEBAR_SHOWN_JS = "() => document.getElementById('sidebar').classList.contains('show')"

# Every KaTeX formula's pane: its box, and whether a formula wider than it scrolls (rather than being cut off).
FORMULAS_JS = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.children || []) { if (c.classList && c.classList.contains('katex')) {
        let pane = c; while (pane.parentElement) pane = pane.parentElement;  // the pane's shadow root's top
        const host = pane.parentNode && pane.parentNode.host; const box = (host || c).getBoundingClientRect();
        const st = getComputedStyle(host || c);
        out.push({left: box.left, right: box.right, width: c.getBoundingClientRect().width,
                  fits: host ? host.scrollWidth <= host.clientWidth + 1 : true, scrolls: st.overflowX === 'auto'});
      } else walk(c); } };
  walk(document.body); return out; }"""


def test_a_phone_sized_screen_scrolls_down_not_sideways(page, console, app_server):
    """390×844: the page opens on the plots with the sidebar folded, the header's title wraps instead of running off
    the screen, the plots stack, formulas wider than the screen scroll, and nothing is wider than the screen."""
    phone = {"width": 390, "height": 844}
    open_at(page, app_server.url, phone)
    page.wait_for_function(f"() => !({SIDEBAR_SHOWN_JS})()", timeout=10_000)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= phone["width"]
    title = page.evaluate("""() => { const t = document.querySelector('#header .title'), r = t.getBoundingClientRect();
      return {right: r.right, fits: t.scrollWidth <= t.clientWidth + 1, size: parseFloat(getComputedStyle(t).fontSize),
              text: t.textContent.trim()}; }""")
    assert "signal propagation laboratory" in title["text"]
    assert title["right"] <= phone["width"] and title["fits"], title
    canvases = page.evaluate(CANVASES_JS)
    assert len(canvases) == 2 and all(0 <= box["left"] and box["right"] <= 390 for box in canvases), canvases
    assert canvases[1]["top"] >= canvases[0]["bottom"]  # one above the other
    assert canvases[0]["top"] < phone["height"]  # the first plot on the first screen
    page.locator("#sidebar-toggle").click()  # the controls, one tap away
    page.wait_for_function(SIDEBAR_SHOWN_JS, timeout=10_000)
    formulas = page.evaluate(FORMULAS_JS)
    assert formulas, "no formula on the page"
    for f in formulas:
        assert f["right"] <= phone["width"] + 1 and (f["fits"] or f["scrolls"]), f
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "phone-390x844.png"), full_page=True)
    assert console == [], console


def test_presentation_mode_folds_the_sidebar_and_unfolds_it(page, console, app_server):
    """Switched on in the page (not only from ``?present=1``): the template's sidebar folds, and comes back when
    switched off."""
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    assert page.evaluate(SIDEBAR_SHOWN_JS)
    toggle = page.locator(".sigprop-present button").first
    toggle.click()
    page.wait_for_function(f"() => !({SIDEBAR_SHOWN_JS})()", timeout=10_000)
    page.wait_for_function("() => location.search.includes('present=1')", timeout=10_000)
    page.locator("#sidebar-toggle").click()  # (the controls stay one click away)
    page.wait_for_function(SIDEBAR_SHOWN_JS, timeout=10_000)
    toggle.click()  # off again: the sidebar stays open
    page.wait_for_function("() => !location.search.includes('present=1')", timeout=10_000)
    page.wait_for_timeout(500)
    assert page.evaluate(SIDEBAR_SHOWN_JS)
    assert console == [], console


def test_names_follow_the_settings_and_numbering_stays_in_order(page, console, app_server):
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    edit_configuration(page, 2)  # tanh · DKS ζ=1.5 · L=100
    handle = page.locator(".sigprop-zeta:visible .noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowRight")  # ζ = 1.51
    page.wait_for_function(f"() => ({LEGEND_JS})('c_map').includes('tanh · DKS ζ=1.51 · L=100')", timeout=60_000)
    page.locator(".sigprop-method:visible select").first.select_option(label="Looks-Linear")
    page.wait_for_function(f"() => ({LEGEND_JS})('c_map').includes('tanh · Looks-Linear · L=100')", timeout=60_000)
    # Remove the second configuration: the tabs are numbered 1, 2, 3 again
    edit_configuration(page, 1)
    page.locator(".sigprop-remove:visible button").first.click()
    page.wait_for_function("""() => { const t = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) { if (c.classList && c.classList.contains('bk-tab')) t.push(c.innerText);
          walk(c); } }; walk(document.body); return t.slice(0, 3).join(',').replace(/[^0-9,]/g, '') === '1,2,3'; }""",
                           timeout=30_000)
    # + Add: tanh at its edge of chaos with σ_b = 0.22, in a colour of its own
    page.locator(".sigprop-add button").first.click()
    page.wait_for_function(f"() => ({LEGEND_JS})('c_map').includes('tanh · EOC σ_b=0.22 · L=100')", timeout=60_000)
    lines = page.evaluate(LINES_JS)
    finals = {line["name"]: line["colour"] for line in lines if line["name"] and " · C_f at " not in line["name"]}
    assert len(set(finals.values())) == len(finals) == 4, finals
    assert console == [], console


def test_a_url_without_colours_gives_distinct_colours(page, console, app_server):
    open_at(page, f"{app_server.url}?n=3&c0.L=10&c1.L=20&c2.L=30", {"width": 1600, "height": 1000})
    colours = {line["name"]: line["colour"] for line in page.evaluate(LINES_JS)
               if line["name"] in ("tanh · EOC · L=10", "tanh · EOC · L=20", "tanh · EOC · L=30")}
    assert len(colours) == 3 and len(set(colours.values())) == 3, colours
    assert console == [], console


def test_an_unreachable_tat_target_shows_one_toast_not_a_stack(page, console, app_server):
    open_at(page, f"{app_server.url}?n=2&c0.act=leaky_relu&c0.m=tat&c0.eta=0.997", {"width": 1600, "height": 1000},
            drawn=False)
    page.locator(".notyf__toast").first.wait_for(timeout=30_000)
    for eta in (0.998, 0.999):  # unreachable too (the largest C_f(0) at depth 100 is 0.9964): slider steps
        page.evaluate("""(eta) => { [...Bokeh.documents[0].all_models].find(
            m => m.type === 'Slider' && m.title && m.title.startsWith('η')).value = eta; }""", eta)
        page.wait_for_timeout(1500)
    page.wait_for_function("() => location.search.includes('c0.eta=0.999')", timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.locator(".notyf__toast").count() == 1
    assert "0.999" in page.locator(".notyf__toast").first.inner_text()
    # the message beside the widget keeps what Markdown would eat (escaped HTML, shown as typed)
    assert "UnachievableError" in deep_text(page)
    assert console == [], console


def test_the_url_keeps_the_plot_tab_and_settings_and_reset_clears_them(page, console, app_server):
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    page.locator(".sigprop-plots .bk-tab", has_text="Finite width").click()
    page.locator(".sigprop-finite-width select").select_option("256")
    page.wait_for_function("() => location.search.includes('tab=4') && location.search.includes('width=256')",
                           timeout=30_000)
    url = page.url
    page2 = page.context.new_page()
    open_at(page2, url, {"width": 1600, "height": 1000}, drawn=False)  # (tab 5 has no C-map figure)
    assert page2.locator(".sigprop-finite-width select").input_value() == "256"
    assert "active" in page2.locator(".sigprop-plots .bk-tab", has_text="Finite width").get_attribute("class")
    page2.locator(".sigprop-reset button").click()
    page2.wait_for_function("() => !location.search.includes('tab=') && !location.search.includes('width=')",
                            timeout=30_000)
    assert not {"tab", "width"} & set(parse_qs(urlparse(page2.url).query))
    page2.close()
    assert console == [], console


def test_formulas_are_typeset_by_katex_with_its_fonts(page, console, app_server):
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    info = page.evaluate("""async () => { await document.fonts.ready; const out = [];
      const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) { if (c.classList && c.classList.contains('katex-html')) {
          const r = c.getBoundingClientRect(); const m = c.querySelector('.mathnormal');
          out.push({w: r.width, h: r.height, font: m ? getComputedStyle(m).fontFamily : ''}); } walk(c); } };
      walk(document.body);
      return {formulas: out, loaded: document.fonts.check('16px "sigprop-KaTeX_Math"') &&
              [...document.fonts].some(f => f.family.includes('KaTeX_Main') && f.status === 'loaded')}; }""")
    shown = [f for f in info["formulas"] if f["w"] > 0]
    assert len(shown) >= 4, info  # the readouts' four formulas (the explanations' are folded)
    assert all(f["h"] > 10 for f in shown) and any("KaTeX_Math" in f["font"] for f in shown), shown
    assert info["loaded"], info
    assert console == [], console


def test_renders_with_no_internet(page, console, app_server):
    """Every resource comes from the server: with every other host blocked, the page is the same."""
    outside = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith("data:") or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    open_at(page, app_server.url, {"width": 1600, "height": 1000})
    assert outside == []
    screenshot(page, "offline")
    assert page.locator(".katex-html").count() >= 4
    assert console == [], console


def test_the_readme_shows_the_screenshots():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("dashboard-1600x1000", "presentation-1280x720-light", "presentation-1280x720-dark"):
        assert f"docs/img/{name}.png" in readme and (DOCS_IMG / f"{name}.png").is_file(), name
