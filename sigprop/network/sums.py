"""Normalised weighted sums of branches (and concatenation): ``y = Σᵢ wᵢ gᵢ(x)`` with ``Σᵢ wᵢ² = 1``.

Kernel rule (Martens et al. 2021, arXiv:2110.01765, §"weighted sum layers"): when the branches' outputs are
uncorrelated across branches (each but at most one ends in freshly initialised, zero-mean weights), covariances
add with the squared weights,

    q_y = Σ wᵢ² qᵢ,     q_y c_y = Σ wᵢ² qᵢ cᵢ,     Θ_y = Σ wᵢ² Θᵢ   (the NTK's cross terms vanish likewise),

so C_y = Σ wᵢ² Cᵢ when every branch preserves q. Concatenating branches whose widths are fractions pᵢ of the
total gives the next layer exactly these maps with wᵢ² = pᵢ, and needs no independence (the branches occupy
different coordinates). A residual block ``w x + √(1 − w²) g(x)`` is the sum of the identity (an empty
:class:`~sigprop.network.base.Serial`) and g.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..kernels import _ns
from .base import Serial, Unit

#: |Σ wᵢ² − 1| allowed for a normalised sum
WEIGHT_TOL = 1e-12


def _as_serial(branch) -> Serial:
    if isinstance(branch, Serial):
        return branch
    if isinstance(branch, Unit):
        return Serial(((branch, 1),))
    raise ConfigurationError(f"a branch must be a network unit or a Serial, got {type(branch).__name__}")


@dataclass(frozen=True)
class Sum(Unit):
    """``Σᵢ wᵢ branchᵢ(x)`` with non-trainable weights, ``Σ wᵢ² = 1`` (checked). ``concat=True``: the branches are
    concatenated instead, ``wᵢ²`` being the fraction of the width each one takes (same maps, no independence
    needed)."""

    branches: tuple[Serial, ...]
    weights: tuple[float, ...]
    concat: bool = False

    def __post_init__(self):
        branches = tuple(_as_serial(b) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        try:
            weights = tuple(float(w) for w in self.weights)
        except (TypeError, ValueError):
            raise ConfigurationError(f"sum weights must be numbers, got {self.weights!r}") from None
        object.__setattr__(self, "weights", weights)
        if not branches or len(branches) != len(weights):
            raise ConfigurationError(f"a sum needs one weight per branch (≥ 1), got {len(branches)} branches and "
                                     f"{len(weights)} weights")
        if not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ConfigurationError(f"sum weights must be finite and ≥ 0, got {weights}")
        total = math.fsum(w * w for w in weights)
        if abs(total - 1.0) > WEIGHT_TOL:
            what = "width fractions" if self.concat else "squared weights"
            raise ConfigurationError(
                f"the {what} of a normalised sum must add up to 1, got Σ wᵢ² = {total:.15g} for weights {weights}; "
                "divide the weights by √(Σ wᵢ²) (a sum that does not keep q changes every later map)")
        free = [i for i, b in enumerate(branches) if not b.has_weights and w_pos(weights[i])]
        if not self.concat and len(free) > 1:
            raise ConfigurationError(
                f"branches {free} of a sum have no weights of their own, so their outputs are correlated and "
                "Σ wᵢ² Kᵢ is not their kernel; give each of them a Dense layer (or use concat=True)")

    @property
    def depth(self) -> int:
        return max(b.depth for b in self.branches)

    @property
    def has_weights(self) -> bool:
        return all(b.has_weights for b, w in zip(self.branches, self.weights) if w_pos(w))

    def activations(self):
        seen: dict = {}
        for b in self.branches:
            for phi in b.activations():
                seen.setdefault(phi)
        return tuple(seen)

    def signature(self):
        return ("concat" if self.concat else "sum",
                tuple((round(w * w, 15), b.signature()) for b, w in zip(self.branches, self.weights)))

    def fold(self, x, on_layer, branches):
        out = 0.0
        for b, w in zip(self.branches, self.weights):
            if b.depth:
                branches[b] = None  # a branch on its own is a subnetwork (DKS's max over subnetworks)
            out = out + w * w * b.fold(x, on_layer, branches)
        return out

    def slot(self, index, scales):
        k = len(scales)
        scales.extend(w * w for w in self.weights)
        return SumSlot(tuple(b.slot(index, scales) for b in self.branches), k)

    def ntk_forward(self, ctx, q, c, theta):
        outs = [b.ntk_forward(ctx, q, c, theta) for b in self.branches]
        w2 = [w * w for w in self.weights]
        q_out = sum(a * o[0] for a, o in zip(w2, outs))
        c_out = sum(a * o[0] * o[1] for a, o in zip(w2, outs)) / q_out
        theta_out = sum(a * o[2] for a, o in zip(w2, outs))
        return q_out, c_out, theta_out, [o[3] for o in outs]

    def ntk_backward(self, rec, B, layers):
        B_in = 0.0
        for b, w, r in reversed(list(zip(self.branches, self.weights, rec))):  # reversed: layers in forward order
            B_in = B_in + b.ntk_backward(r, w * w * B, layers)
        return B_in


    def _branch_widths(self, n_in: int, width: int) -> tuple[int, ...]:
        """The width each branch creates: the layer width for a sum, a fraction wᵢ² of it for a concatenation."""
        if not self.concat:
            return (width,) * len(self.branches)
        if any(not b.has_weights for b in self.branches):
            raise ConfigurationError("a finite concatenation needs weights in every branch (a branch without them "
                                     "keeps the input's width, so its width fraction cannot be set)")
        return tuple(max(1, round(w * w * width)) for w in self.weights)

    def _combine(self, xp, outs):
        if self.concat:
            return xp.concatenate(outs, axis=-1)
        if len({o.shape[-1] for o in outs}) > 1:
            raise ConfigurationError(f"the branches of a finite sum have different widths {[o.shape[-1] for o in outs]}"
                                     ": a shortcut keeps the input's width, so the input must be as wide as the layers")
        return sum(w * o for w, o in zip(self.weights, outs))

    def sample(self, h, sampler):
        """Each branch on the same input, with weights of its own; then ``Σ wᵢ outᵢ`` (or concatenated)."""
        import numpy as np

        widths = self._branch_widths(h.shape[-1], sampler.width)
        return self._combine(np, [b.sample(h, sampler.with_width(m)) for b, m in zip(self.branches, widths)])

    def init_params(self, rng, n_in, spec):
        widths = self._branch_widths(n_in, spec.width)
        params, outs = [], []
        for b, m in zip(self.branches, widths):
            p, n = b.init_params(rng, n_in, spec.with_width(m))
            params.append(p)
            outs.append(n)
        if not self.concat and len(set(outs)) > 1:
            raise ConfigurationError(f"the branches of a finite sum have different widths {outs}: a shortcut keeps "
                                     "the input's width, so the input must be as wide as the layers")
        return params, (sum(outs) if self.concat else outs[0])

    def apply_params(self, params, h):
        return self._combine(_ns(h), [b.apply_params(p, h) for b, p in zip(self.branches, params)])


def w_pos(w: float) -> bool:
    return w > 0.0


@dataclass(frozen=True)
class SumSlot:
    """A Sum as JAX compiles it: branch structures static, ``wᵢ² = scales[k + i]`` traced."""

    branches: tuple
    k: int

    def apply(self, kernels, scales, q, d, cache, mode):
        q_out, qd_out = 0.0, 0.0
        for i, branch in enumerate(self.branches):
            qb, db, cache = branch.apply(kernels, scales, q, d, cache, mode)
            w2 = scales[self.k + i]
            q_out = q_out + w2 * qb
            qd_out = qd_out + w2 * qb * db
        return q_out, qd_out / q_out, cache


def Residual(branch, shortcut_weight: float) -> Sum:  # noqa: N802 - a unit constructor, like the classes
    """A residual block ``w · x + √(1 − w²) · branch(x)`` with shortcut weight w ∈ [0, 1] (sugar for :class:`Sum`
    of the identity and the branch)."""
    try:
        w = float(shortcut_weight)
    except (TypeError, ValueError):
        raise ConfigurationError(f"shortcut_weight must be a number, got {shortcut_weight!r}") from None
    if not (math.isfinite(w) and 0.0 <= w <= 1.0):
        raise ConfigurationError(f"shortcut_weight must lie in [0, 1], got {w}")
    return Sum((Serial(), _as_serial(branch)), (w, math.sqrt(max(1.0 - w * w, 0.0))))


def concatenate(branches, fractions=None) -> Sum:
    """Concatenation of branches taking ``fractions`` of the width (default: equal); see :class:`Sum`."""
    branches = tuple(branches)
    if fractions is None:
        fractions = (1.0 / len(branches),) * len(branches) if branches else ()
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ConfigurationError(f"fractions must be numbers, got {fractions!r}") from None
    if not all(math.isfinite(f) and f >= 0 for f in fr):
        raise ConfigurationError(f"width fractions must be finite and ≥ 0, got {fr}")
    return Sum(branches, tuple(math.sqrt(f) for f in fr), concat=True)
