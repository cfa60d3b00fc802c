"""How a ``panel serve app`` process is tuned for a class of sessions: once per process, from ``main.py``.

Measured on this project's 2-core machine (issue 10; the README's "Running the app for a class" has the load figures):

- **No Nagle delay on the websockets.** Bokeh sends every message as several websocket frames (header,
  metadata, content, buffers). Without ``TCP_NODELAY``, the kernel holds each frame after the first until the
  browser acknowledges the one before, and a browser delays its acknowledgements (40 ms on Linux): every
  answer to a slider move waited for it. Tornado's documentation asks a websocket handler that sends small
  messages to call ``set_nodelay(True)`` when it opens; neither Bokeh's handler nor Panel's does, so
  :func:`tune` wraps Panel's ``WSHandler.open`` to do so.
- **Fewer garbage collections.** Each session's page is a few hundred Bokeh models and several hundred
  thousand Python objects, many in reference cycles. With CPython's default thresholds (700, 10, 10) the
  collector ran ~60 times per page and scanned the whole heap (every open session's models) every few pages:
  ~90 ms of a ~0.8 s page build. :func:`tune` freezes what the process has loaded at start-up (modules, the
  warmed caches: never garbage) and collects the youngest generation every 20,000 allocations instead of 700;
  closed sessions' cycles are still collected (the older generations keep their default ratios).
- **The page's document is not re-validated per session.** Bokeh checks every new document's models for
  layout and data-source problems (~30 ms a page). The page is the same for every session, and the test suite
  validates it (``tests/app/test_serving.py``); ``BOKEH_VALIDATE_DOC=true`` turns the check back on.
"""

from __future__ import annotations

import gc
import os
import threading

GC_THRESHOLD = (20_000, 10, 10)  # CPython's default: (700, 10, 10)
_tuned = False
_lock = threading.Lock()


def _open_without_nagle(open_):
    def open(self, *args, **kwargs):  # noqa: A001 - Tornado's name for the handler's hook
        self.set_nodelay(True)
        return open_(self, *args, **kwargs)

    open.__wrapped__ = open_
    open.__doc__ = f"{open_.__doc__ or ''}\n\n(sigprop: with TCP_NODELAY set first, see sigprop_app.serving)"
    return open


def tune() -> bool:
    """Tune this server process (once; later calls do nothing and return False). Call it after the start-up
    work whose objects live as long as the process (imports, warmed caches), before sessions are built."""
    global _tuned
    with _lock:
        if _tuned:
            return False
        _tuned = True
    from bokeh.settings import settings
    from panel.io.server import WSHandler

    WSHandler.open = _open_without_nagle(WSHandler.open)
    if "BOKEH_VALIDATE_DOC" not in os.environ:
        settings.perform_document_validation.set_value(False)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return True
