"""JAX's persistent compilation cache, on by default in the user's cache folder.

The network maps, the NTK and the phase diagram compile a few shared JAX functions (once per network
*structure*; σ, depth and DKS/TAT constants are traced). XLA compiles cost 0.3–2 s each on a small CPU, so
sigprop keeps them in ``$XDG_CACHE_HOME/sigprop/jax`` (``~/.cache/sigprop/jax``): a new process reuses what an
earlier one compiled. Set ``SIGPROP_JAX_CACHE`` to another folder, or to an empty value to turn it off. A cache
folder the user has configured in JAX already is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

_done = False


def cache_dir() -> str:
    """The folder sigprop uses ('' when turned off)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sigprop" / "jax"
    return os.environ.get("SIGPROP_JAX_CACHE", str(default))


def configure() -> None:
    """Turn the cache on (once per process), unless opted out or already configured."""
    global _done
    if _done:
        return
    _done = True
    import jax

    folder = cache_dir()
    if not folder or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
