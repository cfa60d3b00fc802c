"""Standard initialisations: He, LeCun, Glorot."""

from __future__ import annotations

import math

from ..errors import ConfigurationError
from .common import _as_activation, _finite
from .results import InitResult, _frozen


def standard(phi, scheme: str = "he", sigma_b: float = 0.0, fan_in=None, fan_out=None) -> InitResult:
    """He, LeCun or Glorot scales for ``W ~ N(0, σ_w²/fan_in)``.

    - ``"he"`` (He et al. 2015): σ_w² = 2 (ReLU); for leaky ReLU with slope s, 2/(1 + s²) (PyTorch's
      ``kaiming_normal_`` gain); for other φ also 2 (the scheme, not a derivation).
    - ``"lecun"`` (LeCun et al. 1998): σ_w² = 1.
    - ``"glorot"`` (Glorot & Bengio 2010): Var W = 2/(fan_in + fan_out), i.e. σ_w² = 2/(1 + fan_out/fan_in)
      in the σ_w²/fan_in convention; 1 for square layers (the default when fans are not given).
    The activation is unchanged; ``sigma_b`` is user-set.
    """
    phi = _as_activation(phi)
    sb = _finite("sigma_b", sigma_b, nonneg=True)
    scheme_l = str(scheme).lower()
    if scheme_l == "he":
        slope = dict(phi.params).get("negative_slope", 0.0) if phi.name == "leaky_relu" else 0.0
        sw2 = 2.0 / (1.0 + slope**2)
        note = "He: σ_w² = 2/(1 + s²) keeps q constant for (leaky) ReLU with slope s."
    elif scheme_l == "lecun":
        sw2, note = 1.0, "LeCun: σ_w² = 1 (Var W = 1/fan_in)."
    elif scheme_l == "glorot":
        if (fan_in is None) != (fan_out is None):
            raise ConfigurationError("glorot needs both fan_in and fan_out (or neither, for square layers)")
        if fan_in is None:
            ratio = 1.0
        else:
            fi, fo = _finite("fan_in", fan_in, positive=True), _finite("fan_out", fan_out, positive=True)
            ratio = fo / fi
        sw2 = 2.0 / (1.0 + ratio)
        note = "Glorot: Var W = 2/(fan_in + fan_out), σ_w² = 2·fan_in/(fan_in + fan_out)."
    else:
        raise ConfigurationError(f"unknown scheme {scheme!r}; use 'he', 'lecun' or 'glorot'")
    return InitResult(method=f"standard ({scheme_l})", activation=phi, sigma_w=math.sqrt(sw2), sigma_b=sb,
                      constants=_frozen({"sigma_w2": sw2, "sigma_b2": sb**2}), notes=note)
