"""Entry point of ``panel serve app`` (Bokeh's directory-app format: this ``main.py`` is served at ``/app``;
``make app``): one Dashboard per browser session. The package itself is imported as ``sigprop_app``."""

import panel as pn

try:
    from sigprop_app import serving
    from sigprop_app.dashboard import Dashboard, start_warmup, warm_first_view, warm_run
except ImportError:  # not installed (pip install -e .): import from the source tree
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app import serving
    from app.dashboard import Dashboard, start_warmup, warm_first_view, warm_run

from sigprop._jax_cache import configure as _configure_jax_cache  # noqa: E402

# JAX's persistent compilation cache (on by default in the engine, sigprop/_jax_cache.py): a restarted server
# reuses what an earlier one compiled. SIGPROP_JAX_CACHE sets the folder; an empty value disables it.
_configure_jax_cache()

pn.extension("katex", notifications=True, sizing_mode="stretch_width")
warm_first_view()  # once per process (--warm: before the server accepts connections): the first page's curves
start_warmup()  # once per process: the default view's other tabs, in the background
serving.tune()  # once per process: websockets without Nagle delays, fewer garbage collections (app/serving.py)
if not warm_run():  # `panel serve --warm` runs this file once before serving, only to import the modules
    Dashboard().servable(title="sigprop")
