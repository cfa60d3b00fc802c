"""Entry point of ``panel serve app/serve.py`` (``make app``): one Dashboard per browser session."""

import os
from pathlib import Path

import jax
import panel as pn

try:
    from sigprop_app.dashboard import Dashboard, start_warmup, warm_run
except ImportError:  # not installed (pip install -e .): import from the source tree
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.dashboard import Dashboard, start_warmup, warm_run

# JAX's persistent compilation cache: a restarted server reuses what an earlier one compiled (the default
# view's warm-up takes ~20 s cold, ~6 s from the cache). SIGPROP_JAX_CACHE sets the folder; empty disables it.
_default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sigprop" / "jax"
_cache = os.environ.get("SIGPROP_JAX_CACHE", str(_default_cache))
if _cache:
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

pn.extension("katex", notifications=True, sizing_mode="stretch_width")
start_warmup()  # once per process: the default view is computed while the first page loads
if not warm_run():  # `panel serve --warm` runs this file once before serving, only to import the modules
    Dashboard().servable(title="sigprop")
