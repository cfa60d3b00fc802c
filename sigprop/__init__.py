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
from .network import Dense, Network, Residual, Serial, mlp, resnet

__version__ = "0.1.0"

__all__ = [
    "Activation", "ActivationError", "ConfigurationError", "Dense", "DivergenceError", "Network", "Residual",
    "Serial", "SigpropError", "UnachievableError", "activation", "c_map", "c_map_curvature", "c_map_slope",
    "list_activations", "mlp", "one_minus_c_map", "q_map", "q_map_slope", "resnet",
]
