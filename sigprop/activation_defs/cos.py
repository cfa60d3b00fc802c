"""φ(x) = cos x, with its closed-form dual kernel.

For u, v ~ N(0, q) with correlation c (elementary: cos u cos v = ½[cos(u − v) + cos(u + v)] and
E[cos(a·g)] = e^{−a²/2} for g ~ N(0, 1)):

    E[cos u cos v] = e^{−q} cosh(q c),    E[sin u sin v] = e^{−q} sinh(q c) = E[φ'(u) φ'(v)],
    E[φ''(u)²] = E[cos² u] = (1 + e^{−2q})/2,    E[cos u] = e^{−q/2},
    and their slopes in q: d/dq E[cos² u] = −e^{−2q},    d/dq E[cos u] = −e^{−q/2}/2.

Neural-tangents has the same closed form (its ``Cos`` layer); dks added cos to its activations in 2024.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..activations import jnp, register_activation


def rule(v):
    """cos and its first two derivatives (NumPy)."""
    c, s = np.cos(v), np.sin(v)
    return c, -s, -c


@lru_cache(maxsize=1)
def kernel():
    """The closed-form dual kernel (a JAX pytree; defined on first use, so importing sigprop needs no JAX)."""
    from dataclasses import dataclass

    from ..kernels import SmoothClosedForm, _as_float, _ns, pytree

    @pytree()
    @dataclass(frozen=True)
    class CosKernel(SmoothClosedForm):
        """φ = cos: E[cos u cos v] = e^{−q} cosh(qc), E[sin u sin v] = e^{−q} sinh(qc)."""

        def second_moment(self, q):
            return (1.0 + _ns(q).exp(-2.0 * q)) / 2.0

        def mean(self, q):
            return _ns(q).exp(-q / 2.0)

        def cross(self, q, c):
            xp = _ns(q, c)
            return xp.exp(-q) * xp.cosh(q * _as_float(xp, c))

        def gap(self, q, d):
            # e^{−q}(cosh q − cosh(q − qd)) = 2 e^{−q} sinh(q − qd/2) sinh(qd/2): no cancellation at small d
            xp = _ns(q, d)
            d = _as_float(xp, d)
            return 2.0 * xp.exp(-q) * xp.sinh(q - q * d / 2.0) * xp.sinh(q * d / 2.0)

        def dot_cross(self, q, c):
            xp = _ns(q, c)
            return xp.exp(-q) * xp.sinh(q * _as_float(xp, c))

        def dot_second_moment(self, q):
            return -_ns(q).expm1(-2.0 * q) / 2.0

        def ddot_second_moment(self, q):
            return self.second_moment(q)

        def second_moment_slope(self, q):
            return -_ns(q).exp(-2.0 * q)

        def mean_slope(self, q):
            return -_ns(q).exp(-q / 2.0) / 2.0

    return CosKernel()


register_activation("cos", jax_fn=lambda: jnp.cos, rule=rule, latex=r"\cos(x)", smooth=True, kernel=kernel)
