"""sigprop: infinite-width signal propagation in deep networks.

Q and C maps (Poole et al. 2016; Schoenholz et al. 2017), whole-network kernel maps, and the initialisations
and activation transformations that shape them (EOC, DKS, TAT, Looks-Linear), with the NTK.

Everything is computed in float64: sigprop enables JAX's 64-bit mode only *inside* its own calls
(``with jax.enable_x64(True)``), so importing it never changes the dtypes of your own JAX code.

>>> import sigprop as sp
>>> phi = sp.activation("tanh")
>>> sp.c_map(phi, [0.0, 0.5], q=1.0)
>>> sp.mlp(phi, depth=50, sigma_w=1.5).c_map([0.0, 0.5])
"""

from .activations import Activation, activation, list_activations
from .errors import (
    ActivationError,
    ConfigurationError,
    DivergenceError,
    SigpropError,
    UnachievableError,
)
from .maps import c_map, c_map_curvature, c_map_slope, one_minus_c_map, q_map, q_map_slope
from .methods import (
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
from .network import Dense, Network, Residual, Serial, c_deviation_bound, mlp, resnet
from .ntk import NTKResult, circle_cosines, ntk, ntk_bound, ntk_condition_numbers

__version__ = "0.1.0"

__all__ = [
    "Activation", "ActivationError", "ConfigurationError", "Dense", "DivergenceError", "EOCResult", "InitResult",
    "LooksLinearResult", "NTKResult", "Network", "PhaseDiagram", "Residual", "Serial", "ShapingResult",
    "SigpropError", "UnachievableError", "activation", "c_deviation_bound", "c_map", "c_map_curvature", "c_map_slope",
    "circle_cosines", "dks", "eoc", "list_activations", "looks_linear", "min_depth_for_eta", "mlp", "ntk",
    "ntk_bound", "ntk_condition_numbers", "one_minus_c_map", "phase_diagram", "q_map", "q_map_slope", "resnet",
    "standard", "tat",
]
