"""sigprop: infinite-width signal propagation in deep networks.

Q and C maps (Poole et al. 2016; Schoenholz et al. 2017), whole-network kernel maps, and the initialisations
and activation transformations that shape them (EOC, DKS, TAT, Looks-Linear), with the NTK.

Everything is computed in float64: sigprop enables JAX's 64-bit mode only *inside* its own calls
(``with jax.enable_x64(True)``), so importing it never changes the dtypes of your own JAX code.

JAX is imported only when a computation needs it (a deep network used again, whose fold is then compiled in the
background; activations given only as JAX callables; a JAX input; training; PEP 562 module
attributes): ``import sigprop``, the shaping methods (``dks``, ``tat``, ``eoc``, ``standard``,
``looks_linear``), per-layer maps, networks of any depth on first use, their NTK and the phase diagram run on
NumPy alone: sigprop's quadrature rules, special functions and root finders are its own
(:mod:`sigprop.quadrature`, :mod:`sigprop.special`, :mod:`sigprop.roots`), as importing SciPy would cost more
than a whole first solve.

>>> import sigprop as sp
>>> phi = sp.activation("tanh")
>>> sp.c_map(phi, [0.0, 0.5], q=1.0)
>>> sp.mlp(phi, depth=50, sigma_w=1.5).c_map([0.0, 0.5])
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

# The NumPy engine core is imported now (no JAX, no SciPy): activations, the methods and the network units, so a
# first solve or a first network is fast.
from .activations import Activation, activation, list_activations  # noqa: F401
from .errors import (  # noqa: F401
    ActivationError,
    ConfigurationError,
    DivergenceError,
    SigpropError,
    UnachievableError,
)
from .methods import (  # noqa: F401
    EOCResult,
    InitResult,
    LooksLinearResult,
    ShapingResult,
    dks,
    eoc,
    looks_linear,
    min_depth_for_eta,
    standard,
    tat,
)
from .network import mlp  # noqa: F401

#: public name -> the module that defines it
_WHERE = {
    **dict.fromkeys(("Activation", "activation", "list_activations"), "activations"),
    **dict.fromkeys(("c_map", "c_map_curvature", "c_map_slope", "one_minus_c_map", "q_map", "q_map_slope"),
                    "maps"),
    **dict.fromkeys(("EOCResult", "InitResult", "LooksLinearResult", "PhaseDiagram", "ShapingResult", "dks", "eoc",
                     "looks_linear", "min_depth_for_eta", "phase_diagram", "standard", "tat"), "methods"),
    **dict.fromkeys(("Dense", "LayerNorm", "LooksLinear", "Network", "Residual", "Serial", "Sum", "c_deviation_bound",
                     "concatenate", "mlp", "modified_resnet", "resnet", "theorem13_bounds"), "network"),
    **dict.fromkeys(("NTKResult", "circle_cosines", "ntk", "ntk_bound", "ntk_condition_numbers"), "ntk"),
    **dict.fromkeys(("FiniteWidthResult", "finite_width"), "finite"),
    **dict.fromkeys(("TrainResult", "train"), "training"),
    **dict.fromkeys(("SweepResult", "sweep"), "sweeps"),
}

__version__ = "0.1.0"

__all__ = sorted(["ActivationError", "ConfigurationError", "DivergenceError", "SigpropError", "UnachievableError",
                  *_WHERE], key=lambda n: (n[0].islower(), n))


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        if name in ("methods", "network", "maps", "ntk", "kernels", "activations", "local_maps", "jets",
                    "expression", "quadrature", "finite", "training", "datasets", "sweeps"):
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'sigprop' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """sigprop's own module type, for one thing: Python sets a package's attribute to a submodule when the
    submodule is first imported, so the first ``from ..ntk import ntk`` inside sigprop (``Network.ntk``) made
    ``sp.ntk`` the module ``sigprop/ntk.py`` rather than the function. A submodule never replaces a public name
    (``sys.modules["sigprop.ntk"]`` is the module)."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in _WHERE:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .activations import Activation, activation, list_activations  # noqa: F401
    from .maps import c_map, c_map_curvature, c_map_slope, one_minus_c_map, q_map, q_map_slope  # noqa: F401
    from .methods import (  # noqa: F401
        EOCResult,
        InitResult,
        LooksLinearResult,
        PhaseDiagram,
        ShapingResult,
        dks,
        eoc,
        looks_linear,
        min_depth_for_eta,
        phase_diagram,
        standard,
        tat,
    )
    from .network import (  # noqa: F401
        Dense,
        LayerNorm,
        LooksLinear,
        Network,
        Residual,
        Serial,
        Sum,
        c_deviation_bound,
        concatenate,
        mlp,
        modified_resnet,
        resnet,
        theorem13_bounds,
    )
    from .ntk import NTKResult, circle_cosines, ntk, ntk_bound, ntk_condition_numbers  # noqa: F401
