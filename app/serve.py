"""Entry point of ``panel serve app/serve.py`` (``make app``): one Dashboard per browser session."""

import holoviews as hv
import panel as pn

try:
    from sigprop_app.dashboard import Dashboard, start_warmup
except ImportError:  # not installed (pip install -e .): import from the source tree
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.dashboard import Dashboard, start_warmup

pn.extension("katex", notifications=True, sizing_mode="stretch_width")
hv.extension("bokeh", logo=False)
start_warmup()  # once per process: the default view is computed while the first page loads
Dashboard().servable(title="sigprop")
