"""Nothing a user or a shared link supplies runs as markup: the classic payloads through the URL, the name field
and the expression field, in a real browser (Debian chromium). A payload that ran would set ``window.__pwned``
or open a dialog, or leave its element (an ``img``/``svg``/``iframe``/``a`` with a script URL) in the page,
inside Panel's shadow roots included; each is checked. URL values that once left the page unloaded
(``c0.L=inf``, a malformed percent-escape) must load the page with a warning instead."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import deep_text, open_app

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    '<svg onload="window.__pwned=1"></svg>',
    '<iframe src="javascript:window.parent.__pwned=1"></iframe>',
    "[click me](javascript:window.__pwned=1) **bold** __under__",
]

INJECTED_JS = """() => { const found = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.children || []) {
      const tag = c.tagName.toLowerCase(), src = (c.getAttribute('src') || ''), href = (c.getAttribute('href') || '');
      if ((tag === 'img' && src === 'x') || (tag === 'svg' && c.hasAttribute('onload')) ||
          (tag === 'iframe' && src.startsWith('javascript')) || (tag === 'a' && href.startsWith('javascript')) ||
          (tag === 'script' && c.textContent.includes('__pwned'))) found.push(tag);
      walk(c); } };
  walk(document); return found; }"""


def watch(page):
    """Record dialogs (alert/confirm/prompt) the page opens."""
    dialogs: list[str] = []

    def on_dialog(d):
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def assert_inert(page, dialogs):
    page.wait_for_timeout(800)
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert page.evaluate("() => window.__pwned === undefined"), "a payload ran"
    assert page.evaluate(INJECTED_JS) == [], "a payload's element is in the page"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_url_payloads_are_shown_as_text(page, app_server, payload):
    dialogs = watch(page)
    q = quote(payload, safe="")
    open_app(page, f"{app_server.url}?n=1&c0.act={q}&c0.name={q}")
    page.locator(".sigprop-error").first.wait_for(timeout=60_000)
    assert_inert(page, dialogs)
    text = deep_text(page)
    assert payload.split(">")[0] in text or "__pwned" in text  # shown, escaped, as the text it is


def test_colour_from_the_url_cannot_break_out_of_a_style(page, app_server):
    dialogs = watch(page)
    q = quote('red"><img src=x onerror="window.__pwned=1">', safe="")
    open_app(page, f"{app_server.url}?n=2&c0.col={q}")
    assert_inert(page, dialogs)


@pytest.mark.parametrize("field", ["title", "activation"])
def test_typed_payloads_are_shown_as_text(page, app_server, field):
    dialogs = watch(page)
    open_app(page, app_server.url)
    for payload in PAYLOADS:
        box = page.locator(f".sigprop-{field} input").first
        box.fill(payload)
        box.press("Enter")
        if field == "title":  # a name is used in legends, tables, the editor's heading and notifications
            page.locator(".sigprop-activation input").first.fill("no_such_activation")
            page.locator(".sigprop-activation input").first.press("Enter")
        page.locator(".sigprop-error").first.wait_for(timeout=30_000)
        assert_inert(page, dialogs)
    text = deep_text(page)
    assert "**bold**" in text or field == "title"  # Markdown is not rendered either


@pytest.mark.parametrize("query", ["n=1&c0.L=inf", "n=1&c0.act=%E0%A4%A&%%%", "n=1&c0.L=1e400&c0.sw=nan"])
def test_bad_url_values_load_the_page(page, app_server, query):
    """The page loads (readouts drawn) and says what it ignored or could not use."""
    dialogs = watch(page)
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.goto(f"{app_server.url}?{query}")
    page.locator(".sigprop-readouts").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    text = deep_text(page)
    assert "ignored" in text or "cannot parse" in text or "Error" in text, text[:500]
    assert_inert(page, dialogs)
