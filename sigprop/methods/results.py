"""Results of the initialisation and shaping methods: immutable records of what a method prescribes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..activations import Activation


def _frozen(d: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({k: float(v) for k, v in d.items()})


@dataclass(frozen=True, kw_only=True, eq=False)
class InitResult:
    """What an initialisation method prescribes.

    ``activation``: the φ̂ to use (an :class:`~sigprop.activations.Activation`, JAX-callable);
    ``sigma_w``, ``sigma_b``: scales of ``W ~ N(0, σ_w²/N)``, ``b ~ N(0, σ_b²)``; ``constants``: named
    numbers (read-only mapping); ``notes``: one paragraph on what was enforced.
    """

    method: str
    activation: Activation
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    constants: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    notes: str = ""

    def summary(self) -> str:
        """Readable multi-line text: method, activation, scales, constants, notes."""
        lines = [f"{self.method}: {self.activation.display_name}",
                 f"  sigma_w = {self.sigma_w:.10g}  (sigma_w^2 = {self.sigma_w ** 2:.10g}),"
                 f"  sigma_b = {self.sigma_b:.10g}"]
        lines += [f"  {k} = {v:.10g}" for k, v in self.constants.items()]
        if self.notes:
            lines.append("  " + self.notes)
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True, eq=False)
class EOCResult(InitResult):
    """Edge of Chaos: χ₁ = 1 at the fixed point q*; depth scales ξ_q = −1/log Q'(q*), ξ_c = −1/log C'(c*)."""

    q_star: float
    chi1: float
    c_star: float
    xi_q: float
    xi_c: float


@dataclass(frozen=True, kw_only=True, eq=False)
class ShapingResult(InitResult):
    """DKS/TAT: φ̂(x) = γ(φ(αx + β) + δ) with the local (per-layer) and global (network) targets met."""

    base: Activation
    alpha: float
    beta: float
    gamma: float
    delta: float
    targets: Mapping[str, float]
    achieved: Mapping[str, float]
    #: (φ, kind, local targets) of the root search behind this result, for :meth:`roots`; None for closed forms
    search: tuple | None = field(default=None, repr=False)

    def roots(self) -> tuple[Mapping[str, float], ...]:
        """Every root of the same local conditions that sigprop's searches find (the batched multistart grid,
        each polished; mirrored roots of an odd φ counted once), this result's own first: read-only mappings
        with keys alpha, beta, gamma, delta (negative_slope, beta, gamma, delta for leaky ReLU). Closed-form
        shapings (ReLU, the β = 0 leaky ReLU) have one. Computed on first call (~10–50 ms), then cached."""
        mine = (self.alpha, self.beta, self.gamma, self.delta)
        if self.search is None:
            rows = [mine]
        else:
            from .solver import all_roots

            phi, kind, targets = self.search
            rows = all_roots(phi, kind, targets, first=(self.constants.get("negative_slope", self.alpha),
                                                        *mine[1:]))
        names = ("negative_slope" if self.search and self.search[1] == "dks_leaky" else "alpha",
                 "beta", "gamma", "delta")
        return tuple(_frozen(dict(zip(names, row))) for row in rows)


@dataclass(frozen=True, kw_only=True, eq=False)
class LooksLinearResult(InitResult):
    """Looks-Linear: CReLU with mirrored weights; mean-field equivalent to the identity activation."""

    base: Activation
    gamma: float
