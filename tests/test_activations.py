"""Activations (sigprop.activations): the registry against NumPy/SciPy references, metadata, parameters,
transforms, dtype behaviour and errors.

References: NumPy/SciPy formulas written here; SELU constants from Klambauer et al. (2017); GELU tanh
approximation from Hendrycks & Gimpel (2016).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

import sigprop as sp

X = np.linspace(-6.0, 6.0, 1201)
SELU_LAMBDA, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717

REFERENCES = {
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "erf": special.erf,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),  # default slope 0.2
    "abs": np.abs,
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "gelu": lambda x: x * special.ndtr(x),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "swish": lambda x: x * special.expit(x),
    "sin": np.sin,
    "identity": lambda x: x,
}
SMOOTH = {"tanh", "sigmoid", "erf", "softplus", "gelu", "gelu_tanh", "swish", "sin", "identity"}
CLOSED_FORM = {"relu", "leaky_relu", "abs", "erf", "gelu", "sin", "identity"}


def test_registry_has_the_required_activations():
    assert set(REFERENCES) <= set(sp.list_activations())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_registry_values_and_metadata(name):
    phi = sp.activation(name)
    with jax.enable_x64(True):
        got = np.asarray(phi(jnp.asarray(X)))
    np.testing.assert_allclose(got, REFERENCES[name](X), rtol=1e-13, atol=1e-14)
    assert phi.smooth == (name in SMOOTH)
    assert phi.has_closed_form == (name in CLOSED_FORM)
    assert isinstance(phi.latex, str) and phi.latex and "{negative_slope}" not in phi.latex
    assert phi.name == name
    assert sp.activation(phi) is phi
    assert phi == sp.activation(name) and hash(phi) == hash(sp.activation(name))


def test_aliases_and_parameters():
    assert sp.activation("silu") == sp.activation("swish")
    assert sp.activation("linear") == sp.activation("identity")
    leaky = sp.activation(("leaky_relu", {"negative_slope": 0.05}))
    assert dict(leaky.params) == {"negative_slope": 0.05}
    assert "0.05" in leaky.latex
    assert leaky != sp.activation("leaky_relu") and hash(leaky) != hash(sp.activation("leaky_relu"))
    np.testing.assert_allclose(np.asarray(leaky(jnp.asarray([-2.0, 3.0]))), [-0.1, 3.0], rtol=1e-6)
    elu = sp.activation(("elu", {"alpha": 2.0}))
    np.testing.assert_allclose(np.asarray(elu(jnp.asarray([-1.0]))), [2 * math.expm1(-1.0)], rtol=1e-6)


@pytest.mark.parametrize("spec", [
    "nonsense", ("nonsense", {}), ("leaky_relu", {"slope": 0.1}), ("leaky_relu", {"negative_slope": "a"}),
    ("leaky_relu", {"negative_slope": float("nan")}), ("elu", {"alpha": 0.0}), ("elu", {"alpha": -1.0}),
    ("relu", {"negative_slope": 0.1}), ("relu", [1, 2]), 3.0, None, ["relu"], "", "x y", "import os",
], ids=str)
def test_bad_specs_raise_activation_error(spec):
    with pytest.raises(sp.ActivationError):
        sp.activation(spec)


def test_activations_are_immutable():
    phi = sp.activation("tanh")
    with pytest.raises(AttributeError):
        phi.name = "relu"


# --------------------------------------------------------------------------------------------------
# transforms x ↦ γ(φ(αx + β) + δ)
# --------------------------------------------------------------------------------------------------


def test_transformed_values_and_composition():
    phi = sp.activation("tanh")
    t = phi.transformed(1.5, 0.2, 0.7, -0.1)
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(t(jnp.asarray(X))), 0.7 * (np.tanh(1.5 * X + 0.2) - 0.1), rtol=1e-13,
                                   atol=1e-15)
        tt = t.transformed(0.5, -0.3, 2.0, 0.4)  # x ↦ 2(t(0.5x − 0.3) + 0.4)
        np.testing.assert_allclose(np.asarray(tt(jnp.asarray(X))),
                                   2.0 * (0.7 * (np.tanh(1.5 * (0.5 * X - 0.3) + 0.2) - 0.1) + 0.4),
                                   rtol=1e-13, atol=1e-14)
    assert t.is_transformed and not phi.is_transformed
    assert t != phi and t == phi.transformed(1.5, 0.2, 0.7, -0.1)


@pytest.mark.parametrize("args", [(0.0, 0, 1, 0), (1, 0, 0.0, 0), (float("nan"), 0, 1, 0), (1, float("inf"), 1, 0)])
def test_bad_transform(args):
    with pytest.raises(sp.ActivationError):
        sp.activation("tanh").transformed(*args)


def _relu_k(q, c):
    theta = np.arccos(np.clip(c, -1, 1))
    return q * (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi)  # Cho & Saul (2009)


def test_transformed_closed_form_kernel():
    """ReLU transformed with β = 0: φ̂(u) = γ(relu(αu) + δ), α > 0, so with E[relu(u)] = √q/√(2π):
    E[φ̂(u)φ̂(v)] = γ²(K(α²q, c) + 2δ√(α²q/2π) + δ²)."""
    alpha, gamma, delta, q = 1.7, 0.6, -0.25, 0.8
    t = sp.activation("relu").transformed(alpha, 0.0, gamma, delta)
    assert t.has_closed_form
    qa = alpha**2 * q
    cross = gamma**2 * (_relu_k(qa, np.linspace(-1, 1, 101)) + 2 * delta * np.sqrt(qa / (2 * np.pi)) + delta**2)
    expected = cross / cross[-1]
    np.testing.assert_allclose(sp.c_map(t, np.linspace(-1, 1, 101), q), expected, rtol=0, atol=1e-12)


def test_transformed_with_shift_uses_quadrature():
    """β ≠ 0 has no closed form: erf(αx + β) goes through quadrature; compare with a NumPy 2-D Gauss–Hermite rule."""
    alpha, beta, q = 1.2, 0.4, 0.9
    t = sp.activation("erf").transformed(alpha, beta)
    assert not t.has_closed_form
    z, w = hermegauss(120)
    w = w / w.sum()
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    ww = np.outer(w, w)
    f = lambda x: special.erf(alpha * x + beta)  # noqa: E731
    cs = np.linspace(-1, 1, 11)
    cross = np.array([np.sum(ww * f(np.sqrt(q) * z1) * f(np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)))
                      for c in cs])
    np.testing.assert_allclose(sp.c_map(t, cs, q), cross / cross[-1], rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------------
# dtype: sigprop does not switch JAX to 64 bits globally, and activations follow their input's dtype
# --------------------------------------------------------------------------------------------------


def test_import_and_calls_do_not_enable_x64_globally():
    sp.c_map("tanh", [0.0, 0.5])
    sp.mlp("relu", depth=10, sigma_w=1.4).c_map(0.3)
    assert jnp.ones(3).dtype == jnp.float32
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("spec", ["tanh", "relu", "gelu", "selu", "x*sigmoid(x)", "tanh(x) + 0.1*x"])
def test_activation_keeps_float32(spec):
    phi = sp.activation(spec)
    x = jnp.linspace(-3, 3, 7, dtype=jnp.float32)
    assert phi(x).dtype == jnp.float32
    assert phi.transformed(1.3, 0.1, 0.8, 0.05)(x).dtype == jnp.float32
    assert jax.jit(phi.fn)(x).dtype == jnp.float32
    assert jax.grad(lambda v: jnp.sum(phi(v)))(x).dtype == jnp.float32
