"""Looks-Linear initialisation (Balduzzi et al. 2017, arXiv:1702.08591)."""

from __future__ import annotations

import math

import numpy as np

from ..activations import activation
from ..errors import ActivationError, ConfigurationError
from .common import _as_activation
from .results import LooksLinearResult, _frozen


def looks_linear(phi="relu") -> LooksLinearResult:
    """Looks-Linear initialisation (Balduzzi et al. 2017): CReLU ρ(x) = [φ(x); φ(−x)] and mirrored weights
    W̃ = [W, −W] with W orthogonal, so W̃ρ(h) = W(φ(h) − φ(−h)) = (1 + s)·W h for (leaky) ReLU with slope s:
    the network is exactly linear at initialisation, at any width and depth.

    The weights are not i.i.d., so the mean-field recursion for CReLU does not apply; the network's kernel
    maps are those of the identity activation: Q(q) = q, C(c) = c at every layer (C_f = identity,
    C_f'(1) = 1, C_f(0) = 0). The result's ``activation`` is therefore the identity (σ_w = 1, σ_b = 0), the
    mean-field-equivalent of the mirrored network; ``constants['gamma'] = 1/(1 + s)`` rescales the CReLU
    pair so the linear map is W h exactly. Works for any φ whose odd part φ(x) − φ(−x) is linear.
    """
    phi = _as_activation(phi)
    x = np.r_[np.linspace(-6, 6, 49), 0.3137]
    with np.errstate(all="ignore"):
        odd = phi.derivatives(x)[0] - phi.derivatives(-x)[0]
    k = odd[-1] / float(x[-1])
    if not (np.isfinite(k) and k != 0 and np.allclose(odd, k * x, rtol=1e-12, atol=1e-13)):
        raise ActivationError(f"Looks-Linear needs φ(x) − φ(−x) ∝ x (ReLU family); {phi.display_name} is not")
    gamma = 1.0 / k
    return LooksLinearResult(
        method="Looks-Linear", activation=activation("identity"), sigma_w=1.0, sigma_b=0.0, base=phi,
        gamma=gamma, constants=_frozen({"gamma": gamma, "width_factor": 2.0}),
        notes=("CReLU with mirrored orthogonal weights [W, −W]: exactly linear at init; kernel maps are the "
               "identity (C_f(c) = c at every depth)."))


def crelu(x, phi=None):
    """CReLU ρ(x) = [φ(x), φ(−x)] concatenated on the last axis (φ = ReLU by default)."""
    import jax
    import jax.numpy as jnp

    f = jax.nn.relu if phi is None else _as_activation(phi).fn
    return jnp.concatenate([f(x), f(-x)], axis=-1)


def looks_linear_weights(key, widths, gamma: float = 1.0):
    """Mirrored orthogonal weights for a CReLU network with layer widths ``widths`` = (d0, N1, ..., N_L).

    Layer 0 is ``W⁰`` (N1 × d0, orthogonal rows/columns); layer l ≥ 1 is ``γ·[Wˡ, −Wˡ]`` of shape
    (N_{l+1}, 2 N_l), acting on ρ(h) = [φ(h), φ(−h)]. Returns a list of JAX arrays.
    """
    import jax
    import jax.numpy as jnp

    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ConfigurationError("widths must list at least two positive layer sizes")
    keys = jax.random.split(key, len(widths) - 1)
    mats = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, widths[:-1], widths[1:], strict=True)):
        m = jax.random.normal(k, (max(n_in, n_out), max(n_in, n_out)))
        qm, r = jnp.linalg.qr(m)
        qm = qm * jnp.sign(jnp.diag(r))[None, :]  # Haar measure
        w = qm[:n_out, :n_in] * math.sqrt(max(n_out / n_in, 1.0))  # q-preserving scale (as dks's SUO)
        mats.append(w if i == 0 else gamma * jnp.concatenate([w, -w], axis=1))
    return mats
