"""Network descriptions and whole-network kernel maps.

The network language (one file per unit, each owning its kernel rules; see :mod:`.base`):

- :class:`Dense` — φ then a random affine map (Gaussian, orthogonal or Delta-orthogonal conv weights alike);
- :class:`Sum` — a normalised weighted sum of branches (``concat=True``: concatenation);
  :func:`Residual` and :func:`concatenate` are sugar for it;
- :class:`LayerNorm` — q ↦ 1 per example (also per-location normalisation of inputs);
- :class:`Serial` — composition, runs of identical units kept compact.

:class:`Network` computes every whole-network quantity from one description; :func:`mlp`, :func:`resnet` and
:func:`modified_resnet` build descriptions.
"""

from .base import Serial, Unit
from .builders import RESNET_CONFIGS, mlp, modified_resnet, resnet
from .dense import Q_FLOOR, Dense
from .layer_norm import LayerNorm
from .looks_linear import LooksLinear
from .network import (
    INTERPOLATE_ATOL,
    INTERPOLATE_MIN_POINTS,
    MAX_DEPTH,
    PARAMS_RTOL,
    SETTLED_RTOL,
    Network,
    c_deviation_bound,
    theorem13_bounds,
)
from .propagate import bucket
from .sums import Residual, Sum, concatenate

__all__ = [
    "Dense", "LayerNorm", "LooksLinear", "Network", "RESNET_CONFIGS", "Residual", "Serial", "Sum", "Unit",
    "c_deviation_bound", "theorem13_bounds",
    "concatenate", "mlp", "modified_resnet", "resnet",
    "INTERPOLATE_ATOL", "INTERPOLATE_MIN_POINTS", "MAX_DEPTH", "PARAMS_RTOL", "Q_FLOOR", "SETTLED_RTOL", "bucket",
]


def __getattr__(name):
    if name == "_propagate":  # the jitted fold (JAX is imported here)
        from .propagate import jitted_propagate

        return jitted_propagate()
    raise AttributeError(f"module 'sigprop.network' has no attribute {name!r}")
