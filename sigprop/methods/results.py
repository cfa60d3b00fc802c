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


@dataclass(frozen=True, kw_only=True, eq=False)
class LooksLinearResult(InitResult):
    """Looks-Linear: CReLU with mirrored weights; mean-field equivalent to the identity activation."""

    base: Activation
    gamma: float
