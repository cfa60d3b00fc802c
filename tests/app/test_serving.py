"""The served process's tuning (app/serving.py): what it changes, and the check it skips per session (Bokeh's
document validation) run here on the pages a session can build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import parse_qs, urlencode

import pytest
from bokeh.core.validation.check import check_integrity
from bokeh.server.contexts import ApplicationContext
from bokeh.util.token import generate_jwt_token
from conftest import ROOT
from loadclient import run_async
from panel.io.application import build_single_handler_application
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

PAGES = {  # the first page, each plot tab, presentation mode and the dark theme, eight configurations
    "default": {},
    **{f"tab {t}": {"tab": t} for t in range(1, 5)},
    "presentation": {"present": 1, "tab": 3},
    "dark": {"theme": "dark"},
    "eight configurations": {"n": 8, **{f"c{i}.act": a for i, a in enumerate(
        ("tanh", "relu", "gelu", "softplus", "elu", "selu", "erf", "tanh(x) + 0.1*x"))}},
}


def served_document(query: dict):
    """The document a `panel serve app` session builds for the link ``/app?<query>`` (Bokeh's own session
    machinery, in this process, without a socket)."""

    async def build():
        app = build_single_handler_application(str(ROOT / "app"))
        context = ApplicationContext(app, io_loop=None, url="/app")
        uri = f"/app/ws?{urlencode(query)}"
        request = HTTPServerRequest(headers=HTTPHeaders({"Host": "localhost"}),
                                    start_line=RequestStartLine("GET", uri, "HTTP/1.1"))
        arguments = {k: [v.encode() for v in vs] for k, vs in parse_qs(urlencode(query)).items()}
        token = generate_jwt_token("validation", extra_payload={"arguments": arguments})
        session = await context.create_session_if_needed("validation", request, token)
        return session.document

    return run_async(build)  # (in a thread of its own: this worker may run Playwright's event loop already)


@pytest.fixture
def untuned(monkeypatch):
    """main.py tunes the process it runs in (serving.tune); not this test process."""
    import sigprop_app.serving

    monkeypatch.setattr(sigprop_app.serving, "tune", lambda: False)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_a_session_builds_passes_bokehs_validation(page, untuned):
    """The served process skips Bokeh's per-session validation (serving.tune); the pages pass it here: no layout
    or data-source error or warning (e.g. a renderer whose columns differ in length, an empty layout)."""
    doc = served_document(PAGES[page])
    issues = check_integrity(list(doc.models))
    assert not issues.error and not issues.warning, issues
    if page == "eight configurations":  # (the URL was read: one editor tab per configuration)
        tabs = [m for m in doc.models if "sigprop-editors" in (getattr(m, "css_classes", None) or [])]
        assert len(tabs) == 1 and len(tabs[0].tabs) == 8


TUNED = """
import gc, json, sys
sys.path.insert(0, {root!r})
from app import serving
from bokeh.settings import settings
from panel.io.server import WSHandler
before = gc.get_threshold()
first, again = serving.tune(), serving.tune()
print(json.dumps({{"first": first, "again": again, "threshold": gc.get_threshold(), "before": before,
                  "frozen": gc.get_freeze_count(), "validate": settings.perform_document_validation(),
                  "wrapped": getattr(WSHandler.open, "__wrapped__", None) is not None}}))
"""


def _tuned(**env) -> dict:
    """serving.tune() in a fresh process (with ``env``, and BOKEH_VALIDATE_DOC only if given); what it set."""
    env = {**{k: v for k, v in os.environ.items() if k != "BOKEH_VALIDATE_DOC"}, **env}
    out = subprocess.run([sys.executable, "-c", TUNED.format(root=str(ROOT))], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_tune_sets_the_process_up_once():
    state = _tuned()
    assert state["first"] is True and state["again"] is False
    assert tuple(state["before"]) == (700, 10, 10)  # CPython's default, which tune replaces
    assert tuple(state["threshold"]) == (20_000, 10, 10)
    assert state["frozen"] > 100_000  # the start-up heap (modules: Panel, Bokeh, NumPy) is left out of collections
    assert state["validate"] is False and state["wrapped"] is True


def test_bokeh_validate_doc_in_the_environment_is_respected():
    assert _tuned(BOKEH_VALIDATE_DOC="true")["validate"] is True


def test_the_websocket_handler_sets_nodelay_before_it_opens():
    """The wrapper around Panel's ``WSHandler.open``: TCP_NODELAY first, then the handler's own ``open``, with
    its arguments and result."""
    from app.serving import _open_without_nagle

    calls = []

    class Handler:
        def set_nodelay(self, flag):
            calls.append(("nodelay", flag))

    def open_(self, *args, **kwargs):
        calls.append(("open", args, kwargs))
        return "opened"

    assert _open_without_nagle(open_)(Handler(), "app", suffix="/ws") == "opened"
    assert calls == [("nodelay", True), ("open", ("app",), {"suffix": "/ws"})]
