"""Entry point of ``panel serve app/serve.py`` (``make app``): one Dashboard per browser session."""

import panel as pn

try:
    from sigprop_app.dashboard import Dashboard, start_warmup, warm_run
except ImportError:  # not installed (pip install -e .): import from the source tree
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.dashboard import Dashboard, start_warmup, warm_run

# The HoloViews pane of the phase diagram loads HoloViews' Bokeh backend itself, on first use.
pn.extension("katex", notifications=True, sizing_mode="stretch_width")
start_warmup()  # once per process: the default view is computed while the first page loads
if not warm_run():  # `panel serve --warm` runs this file once before serving, only to import the modules
    Dashboard().servable(title="sigprop")
