"""LayerNorm: each example's pre-activations rescaled to mean square 1, ``h ↦ h / √(‖h‖²/N)``.

Kernel rule at infinite width (Martens et al. 2021, arXiv:2110.01765, §"layer normalization layers"): the
variance becomes 1 and the cosine is unchanged,

    q' = 1,   c' = c,   Θ' = Θ / q,

(the radial direction it projects out is one of N, negligible in the limit; centring changes nothing there
either, since the mean over units of a zero-mean random layer's output vanishes). So it is the identity in
every C-map semiring (slope, curvature, C(0)) and DKS/TAT may use it. It also describes per-location
normalisation of the inputs (dks's ``per_location_normalization``): q = 1 per example, c kept. It has no
parameters (gain 1, offset 0, as at initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernels import _ns
from .base import NumpyMemo, Unit


@dataclass(frozen=True)
class LayerNorm(Unit):
    """Normalise each example's pre-activations to q = 1 (cosines unchanged)."""

    @property
    def depth(self) -> int:
        return 0

    def signature(self):
        return ("layer_norm",)

    def fold(self, x, on_layer, branches):
        return x

    def slot(self, index, scales):
        return LayerNormSlot()

    def ntk_forward(self, ctx, q, c, theta):
        return _ns(q).ones_like(q), c, theta / q, q

    def ntk_backward(self, rec, B, layers):
        return B / rec

    def sample(self, h, sampler):
        return self.apply_params(None, h)

    def apply_params(self, params, h):
        """``h / √(mean h²)`` over the features, in NumPy or JAX as ``h`` is."""
        xp = _ns(h)
        return h / xp.sqrt(xp.mean(h * h, axis=-1, keepdims=True))


@dataclass(frozen=True)
class LayerNormSlot:
    """LayerNorm as JAX compiles it: q → 1, d (and its tangent) unchanged."""

    def apply(self, kernels, scales, q, d, cache, mode):
        return (1.0 if isinstance(cache, NumpyMemo) else _ns(q).ones_like(q)), d, cache
