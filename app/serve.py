"""Entry point of ``panel serve app/serve.py`` (``make app``): one Dashboard per browser session."""

import holoviews as hv
import panel as pn

try:
    from sigprop_app import Dashboard
except ImportError:  # not installed (pip install -e .): import from the source tree
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app import Dashboard

pn.extension("katex", notifications=True, sizing_mode="stretch_width")
hv.extension("bokeh", logo=False)
Dashboard().servable(title="sigprop")
