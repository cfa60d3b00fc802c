"""Initialisation and activation-shaping methods: standard, Edge of Chaos, DKS, TAT, Looks-Linear.

Each method returns an immutable :class:`InitResult` (or a subclass) holding the activation to use (the
transformed φ̂, a JAX callable whose constants are Python floats, so it follows the input dtype), the weight and
bias scales ``sigma_w``/``sigma_b`` of ``W_ij ~ N(0, σ_w²/N)``, ``b_i ~ N(0, σ_b²)``, and the named constants.

One module per method family:

=====================  ===================================================================================
``results``            the result records
``standard``           He, LeCun, Glorot
``eoc``                Edge of Chaos: fixed points of the Q map (NumPy)
``phase``              the phase diagram on a (σ_w², σ_b²) grid (NumPy; splines of tabulated moments for large grids)
``architecture``       global targets → local targets (DKS's maximal slope/curvature functions)
``solver``             roots of the local conditions (NumPy Newton, multi-start, continuation; no compile)
``dks``                Deep Kernel Shaping (Martens et al. 2021, arXiv:2110.01765)
``tat``                Tailored Activation Transformations (Zhang et al. 2022, arXiv:2203.08120)
``looks_linear``       Looks-Linear (Balduzzi et al. 2017, arXiv:1702.08591)
=====================  ===================================================================================

The local maps the shaping conditions are written in live in :mod:`sigprop.local_maps`.
"""

import importlib

from .architecture import local_curvature_target, local_slope_target
from .common import clear_cache
from .dks import dks
from .eoc import eoc
from .looks_linear import looks_linear
from .results import EOCResult, InitResult, LooksLinearResult, ShapingResult
from .standard import standard
from .tat import leaky_relu_c_map, min_depth_for_eta, tat

_ON_FIRST_USE = {"PhaseDiagram": "phase", "phase_diagram": "phase", "crelu": "looks_linear",
                 "looks_linear_weights": "looks_linear"}


def __getattr__(name):  # the phase diagram (SciPy splines) and the JAX helpers of Looks-Linear load on first use
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(f".{_ON_FIRST_USE[name]}", __name__), name)
    raise AttributeError(f"module 'sigprop.methods' has no attribute {name!r}")


__all__ = [
    "InitResult", "EOCResult", "ShapingResult", "LooksLinearResult", "PhaseDiagram",
    "standard", "eoc", "dks", "tat", "looks_linear", "phase_diagram",
    "local_slope_target", "local_curvature_target", "leaky_relu_c_map", "min_depth_for_eta",
    "looks_linear_weights", "crelu", "clear_cache",
]
