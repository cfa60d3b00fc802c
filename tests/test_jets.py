"""NumPy jets (sigprop/jets.py) against JAX autodiff, a second method: φ, φ', φ'' of every registry activation,
every function the expression parser allows, and typed expressions, to 1e-12 away from kinks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sigprop as sp
from sigprop import jets
from sigprop.expression import FUNCTIONS

X = np.linspace(-6.0, 6.0, 241) + 0.01234  # no node on a kink at 0


def autodiff(fn, x):
    with jax.enable_x64(True):
        xs = jnp.asarray(x)
        f = np.asarray(jax.vmap(fn)(xs))
        d1 = np.asarray(jax.vmap(jax.grad(fn))(xs))
        d2 = np.asarray(jax.vmap(jax.grad(jax.grad(fn)))(xs))
    return f, d1, d2


def close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * (1 + np.max(np.abs(w))))


@pytest.mark.parametrize("name", sp.list_activations())
def test_registry_jets_match_autodiff(name):
    phi = sp.activation(name)
    close(phi.derivatives(X), autodiff(phi.fn, X))
    shaped = phi.transformed(0.7, 0.3, 1.9, -0.2)
    close(shaped.derivatives(X), autodiff(shaped.fn, X))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_parser_function_has_a_matching_jet(name):
    assert name in jets.PRIMITIVES
    text = f"{name}(0.8*x - 0.1, 0.3)" if FUNCTIONS[name].nargs == 2 else f"{name}(0.8*x - 0.1)"
    phi = sp.activation(text)
    close(phi.derivatives(X), autodiff(phi.fn, X))


@pytest.mark.parametrize("text", ["x*sigmoid(x) + 0.1*x", "tanh(2*x + 1)**2/3 - relu(x - 0.5)",
                                  "1/(1 + x**2)", "cosh(x/3) - sinh(x/4)*exp(-x**2)", "abs(x)**3 + erfc(x)"])
def test_expression_jets_match_autodiff(text):
    phi = sp.activation(text)
    close(phi.derivatives(X), autodiff(phi.fn, X))


def test_numpy_call_is_float64_without_jax_x64():
    phi = sp.dks("tanh", depth=10).activation
    out = phi(np.array([0.6, -0.6]))
    assert out.dtype == np.float64
    with jax.enable_x64(True):
        ref = np.asarray(phi(jnp.asarray([0.6, -0.6], dtype=jnp.float64)))
    np.testing.assert_allclose(out, ref, rtol=4e-15)
    assert phi(jnp.ones(2, dtype=jnp.float32)).dtype == jnp.float32


@pytest.mark.parametrize("name", sp.list_activations())
def test_numpy_values_match_jax_and_keep_float32(name):
    """φ̂ on NumPy input takes the value-only path (:func:`sigprop.jets.value`): float64 equals JAX's float64 to
    1e-13; float32 input is computed and returned in float32, within 4 float32 ulps (4 × 2⁻²⁴ relative) of the
    float64 value (what a finite-width network in float32 needs)."""
    for phi in (sp.activation(name), sp.activation(name).transformed(0.7, 0.3, 1.9, -0.2)):
        with jax.enable_x64(True):
            ref = np.asarray(phi(jnp.asarray(X)))
        got = phi(X)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13 * np.max(np.abs(ref)))
        x32 = X.astype(np.float32)
        got32 = phi(x32)
        assert got32.dtype == np.float32
        with jax.enable_x64(True):
            ref32 = np.asarray(phi(jnp.asarray(x32, dtype=jnp.float64)))
        np.testing.assert_allclose(got32, ref32, rtol=4 * 2.0**-24, atol=4 * 2.0**-24 * np.max(np.abs(ref32)))


@pytest.mark.parametrize("name", sorted(jets.PRIMITIVES))
def test_every_primitive_value_is_its_rules_value(name):
    primitive = jets.PRIMITIVES[name]
    args = (0.3,) if primitive.nargs == 2 else ()
    np.testing.assert_allclose(primitive.value_of(X, *args), primitive.rule(X, *args)[0], rtol=1e-14, atol=1e-300)
