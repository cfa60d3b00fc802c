"""LooksLinear: one CReLU layer with mirrored weights (Balduzzi et al. 2017, arXiv:1702.08591).

The layer is ``h' = W̃ ρ(h)`` with ρ(h) = [φ(h); φ(−h)] (φ of the ReLU family, slope s on the negative side) and
W̃ = γ[W, −W], so at initialisation ``h' = γ(1 + s) W h`` is linear in h, at any width. Kernel rules at
infinite width, with γ(1 + s) = 1 and W q-preserving (orthogonal, or σ_w² = 2 on the CReLU fan-in 2N):

    q' = q,    c' = c                                        (the NNGP maps of the identity),
    Θ' = Θ + q·κ(c),    κ(c) = E[φ(u)φ(v)] / E[φ(u)²]        (u, v ~ N(0, q), corr c).

The NTK is not the identity network's: layer l's weights multiply the CReLU features ρ(h^{l−1}), whose kernel
is E[φ(u)φ(v)] + E[φ(−u)φ(−v)] = 2E[φ(u)φ(v)] (the arc-cosine kernel for ReLU, κ(c) = (sin θ + (π − θ)c)/π,
Cho & Saul 2009), while the backward signal of a linear network does not depend on the input (Σ̇ = 1). So
Θ_0 = q c₀ and Θ_l = q κ(c₀) for l ≥ 1 (κ(0) = 1/π ≈ 0.318 for ReLU), not q c₀ as the identity network has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import Activation
from ..errors import ConfigurationError
from ..kernels import _ns
from .base import Layer, NumpyMemo


@dataclass(frozen=True)
class LooksLinear(Layer):
    """A Looks-Linear (mirrored CReLU) layer of base φ: the identity for q and c, its own NTK term."""

    base: Activation

    def __post_init__(self):
        from ..methods.common import _is_homogeneous

        if not _is_homogeneous(self.base):
            raise ConfigurationError(f"LooksLinear needs a positively homogeneous φ (ReLU family), got "
                                     f"{self.base.display_name}")

    def signature(self):
        return ("looks_linear",)

    def fold(self, x, on_layer, branches):
        return x  # linear at initialisation: C'(1) = 1, C''(1) = 0, C(0) = 0 (the identity in every semiring)

    def slot(self, index, scales):
        return IdentitySlot()

    def ntk_forward(self, ctx, q, c, theta):
        kern = self.base.kernel(1.0)  # positively homogeneous: E[φ(u)φ(v)]/E[φ(u)²] does not depend on q
        features = q * kern.cross(1.0, c) / kern.second_moment(1.0)
        return q, c, theta + features, features

    def ntk_backward(self, rec, B, layers):
        layers.append(rec * B)
        return B

    @property
    def gamma(self) -> float:
        """γ = 1/(φ(1) − φ(−1)), so that γ(φ(h) − φ(−h)) = h (φ positively homogeneous)."""
        return 1.0 / float(self.base(1.0) - self.base(-1.0))

    def sample(self, h, sampler):
        """γ[W, −W][φ(h); φ(−h)] = W·γ(φ(h) − φ(−h)) with W q-preserving (fan-in variance 1/n or orthogonal)."""
        return sampler.linear(self.gamma * (self.base(h) - self.base(-h)), 1.0)

    def init_params(self, rng, n_in, spec):
        """The mirrored weights γ[W; −W] (2·n_in × width): linear at initialisation, two independent halves once
        training moves them (Balduzzi et al. 2017)."""
        from ..training import init_weight

        w = init_weight(rng, n_in, spec.width, 1.0, spec)
        return {"w": self.gamma * np.concatenate([w, -w], axis=0), "b": np.zeros(spec.width)}, spec.width

    def apply_params(self, params, h):
        return _ns(h).concatenate([self.base(h), self.base(-h)], axis=-1) @ params["w"] + params["b"]


@dataclass(frozen=True)
class IdentitySlot:
    """A layer that leaves the kernel state (q, d) — and d's tangent — unchanged."""

    def apply(self, kernels, scales, q, d, cache, mode):
        return (float(q) if isinstance(cache, NumpyMemo) else q), d, cache
