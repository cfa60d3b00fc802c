"""Tests of sigprop.ntk: the infinite-width NTK per layer and in total, the DKS bound, condition numbers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sigprop as sp
from sigprop import methods as M
from sigprop.errors import ConfigurationError
from sigprop.ntk import circle_cosines, ntk, ntk_bound, ntk_condition_numbers


def _inputs(c, d0, key):
    """Two inputs with |x|² = d₀ (q₀ = 1) and cosine c."""
    a, b = jax.random.normal(key, (2, d0))
    a = a / jnp.linalg.norm(a)
    b = b - (b @ a) * a
    b = b / jnp.linalg.norm(b)
    return math.sqrt(d0) * a, math.sqrt(d0) * (c * a + math.sqrt(1 - c * c) * b)


def empirical_ntk(phi, sigma_w, sigma_b, depth, width, c_values, seeds, d0=8):
    """Finite-width NTK Σ_p ∂f(x)/∂p ∂f(x')/∂p by jax.grad, NTK parametrisation (Jacot et al. 2018):
    h⁰ = W⁰x/√d₀; hˡ = σ_w Wˡ φ(hˡ⁻¹)/√N + σ_b bˡ (l = 1 … L); f = h^L (width 1). Returns (seeds, len(c))."""
    out = []
    with jax.enable_x64(True):
        for seed in seeds:
            keys = jax.random.split(jax.random.PRNGKey(seed), 2 * depth + 3)
            params = [jax.random.normal(keys[0], (width, d0))]
            for layer in range(1, depth + 1):
                n_out = 1 if layer == depth else width
                params.append((jax.random.normal(keys[2 * layer], (n_out, width)),
                               jax.random.normal(keys[2 * layer + 1], (n_out,))))

            def f(params, x):
                h = params[0] @ x / math.sqrt(d0)
                for W, b in params[1:]:
                    h = sigma_w * (W @ phi(h)) / math.sqrt(width) + sigma_b * b
                return h[0]

            grad = jax.jit(jax.grad(f))
            row = []
            for i, c in enumerate(c_values):
                x1, x2 = _inputs(c, d0, keys[-1] if i == 0 else jax.random.PRNGKey(1000 + i))
                g1, g2 = grad(params, x1), grad(params, x2)
                row.append(sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g1),
                                                                     jax.tree_util.tree_leaves(g2))))
            out.append(row)
    return np.asarray(out)


@pytest.mark.parametrize("name,sigma_w,sigma_b", [("relu", math.sqrt(2.0), 0.0), ("erf", 1.5, 0.3)])
def test_ntk_matches_finite_width(name, sigma_w, sigma_b):
    # Independent oracle: the empirical NTK of wide random networks (Jacot et al. 2018: it converges to the
    # infinite-width NTK as width → ∞). Tolerance: 4 standard errors over seeds + 1% (finite-width bias).
    phi = sp.activation(name)
    depth, c_values = 3, [-0.6, 0.0, 0.5, 0.95, 1.0]
    emp = empirical_ntk(phi, sigma_w, sigma_b, depth, width=1024, c_values=c_values, seeds=range(6))
    theory = sp.mlp(phi, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b).ntk(c_values).total
    mean, se = emp.mean(axis=0), emp.std(axis=0, ddof=1) / math.sqrt(emp.shape[0])
    assert np.all(np.abs(mean - theory) <= 4 * se + 0.01 * np.abs(theory).max()), (mean, theory, se)


def empirical_resnet_ntk(phi, w, sigma_w, blocks, width, c_values, seeds, d0=8):
    """Finite-width NTK of h⁰ = W⁰x/√d₀, then ``blocks`` × [h ← w·h + √(1 − w²)·σ_w Wφ(h)/√N], output h[0]."""
    out = []
    with jax.enable_x64(True):
        for seed in seeds:
            keys = jax.random.split(jax.random.PRNGKey(seed), 2 * blocks + 3)
            params = [jax.random.normal(keys[0], (width, d0))]
            params += [jax.random.normal(keys[b + 1], (width, width)) for b in range(blocks)]

            def f(params, x):
                h = params[0] @ x / math.sqrt(d0)
                for W in params[1:]:
                    h = w * h + math.sqrt(1 - w * w) * sigma_w * (W @ phi(h)) / math.sqrt(width)
                return h[0]

            grad = jax.jit(jax.grad(f))
            row = []
            for i, c in enumerate(c_values):
                x1, x2 = _inputs(c, d0, jax.random.PRNGKey(2000 + i))
                g1, g2 = grad(params, x1), grad(params, x2)
                row.append(sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g1),
                                                                     jax.tree_util.tree_leaves(g2))))
            out.append(row)
    return np.asarray(out)


def test_resnet_ntk_matches_finite_width():
    # Residual blocks y = w x + √(1 − w²) g(x), g one ReLU layer with σ_w² = 2 and no bias (σ_b = 0).
    phi = sp.activation("relu")
    c_values = [-0.5, 0.3, 0.9, 1.0]
    emp = empirical_resnet_ntk(phi, 0.7, math.sqrt(2.0), blocks=3, width=1024, c_values=c_values, seeds=range(6))
    theory = sp.resnet(phi, blocks=3, shortcut_weight=0.7, layers_per_block=1, sigma_w=math.sqrt(2.0)).ntk(
        c_values).total
    mean, se = emp.mean(axis=0), emp.std(axis=0, ddof=1) / math.sqrt(emp.shape[0])
    assert np.all(np.abs(mean - theory) <= 4 * se + 0.01 * np.abs(theory).max()), (mean, theory, se)


def test_resnet_ntk_structure():
    # shortcut weight 0 makes a residual net a plain MLP of blocks × layers (y = g(x)); per-layer terms sum
    # to the total.
    c = np.linspace(-1, 1, 11)
    res = sp.resnet("tanh", blocks=4, shortcut_weight=0.0, layers_per_block=2, sigma_w=1.3, sigma_b=0.1).ntk(c)
    plain = sp.mlp("tanh", depth=8, sigma_w=1.3, sigma_b=0.1).ntk(c)
    np.testing.assert_allclose(res.per_layer, plain.per_layer, atol=1e-12)
    deep = sp.resnet("tanh", blocks=20, shortcut_weight=0.8).ntk(c)
    assert deep.per_layer.shape == (41, c.size)
    np.testing.assert_allclose(deep.per_layer.sum(axis=0), deep.total, atol=1e-12)
    # condition numbers per block prefix: the last one from the dense Gram matrix of the full network
    net = sp.resnet("tanh", blocks=5, shortcut_weight=0.5, sigma_w=2.0, sigma_b=0.2)
    kappa = ntk_condition_numbers(net, n_points=8)
    theta = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    cos = np.clip(np.cos(theta[:, None] - theta[None, :]), -1, 1)
    for blocks in (2, 5):
        prefix = sp.resnet("tanh", blocks=blocks, shortcut_weight=0.5, sigma_w=2.0, sigma_b=0.2)
        ev = np.linalg.eigvalsh(prefix.ntk(cos.ravel()).total.reshape(8, 8))
        assert kappa[blocks] == pytest.approx(ev[-1] / ev[0], rel=1e-8)
    assert kappa.shape == (6,)


def test_ntk_relu_closed_form_recursion():
    # Jacot et al. 2018 recursion with the arc-cosine kernel of ReLU (Cho & Saul 2009), σ_w² = 2, σ_b = 0:
    # Σ_{l+1} = (√(1−c²) + (π − arccos c)c)/π, Σ̇ = (π − arccos c)/π; Θ ← Θ·Σ̇ + Σ.
    c = np.linspace(-1, 1, 41)
    depth = 7
    theta, cl = c.copy(), c.copy()
    for _ in range(depth):
        dot = (np.pi - np.arccos(np.clip(cl, -1, 1))) / np.pi
        cl = (np.sqrt(np.clip(1 - cl * cl, 0, None)) + (np.pi - np.arccos(np.clip(cl, -1, 1))) * cl) / np.pi
        theta = theta * dot + cl
    got = ntk(sp.mlp("relu", depth=depth, sigma_w=math.sqrt(2.0)), c)
    np.testing.assert_allclose(got.total, theta, atol=1e-11)
    assert got.per_layer.shape == (depth + 1, c.size)


def test_ntk_linear_network():
    # A linear network in the q ≡ 1 world: C = identity, C' = 1, so Θ_l = c and Θ = (L + 1)c.
    c = np.linspace(-1, 1, 11)
    res = sp.mlp("identity", depth=12).ntk(c)
    np.testing.assert_allclose(res.per_layer, np.broadcast_to(c, (13, c.size)), atol=1e-14)
    np.testing.assert_allclose(res.normalised, c, atol=1e-14)


@pytest.mark.parametrize("name", ["tanh", "softplus", "gelu"])
@pytest.mark.parametrize("zeta", [1.01, 1.03, 1.08])
@pytest.mark.parametrize("depth", [5, 30, 300])
def test_dks_ntk_bound(name, zeta, depth):
    """DKS (Martens et al. 2021, arXiv:2110.01765, Theorem 27): |Θ_l(c) − c| ≤ 11(ζ − 1) for every layer term.
    The ζ here keep the bound below 1, where it says something: |Θ_l(c)| ≤ Θ_l(1) (Cauchy–Schwarz) alone only
    gives |Θ_l(c) − c| ≤ 1 + ζ. Measured: 2.5–2.9 (ζ − 1). The diagonal is the chain rule over the layers after
    l, each with the DKS slope C'(1) = ζ^(1/L) at q ≡ 1: Θ_l(1) = ζ^((L − l)/L), to 1e-11."""
    assert ntk_bound(zeta) < 1.0
    res = M.dks(name, depth=depth, zeta=zeta)
    c = np.linspace(-1, 1, 101)
    t = sp.mlp(name, depth=depth, init=res).ntk(c)
    assert np.max(np.abs(t.per_layer - c)) <= ntk_bound(zeta)
    layers = np.arange(depth + 1)
    np.testing.assert_allclose(t.per_layer[:, -1], zeta ** ((depth - layers) / depth), rtol=1e-11, atol=0)


def test_condition_numbers_against_dense_eigenvalues():
    net = sp.mlp("tanh", depth=6, init=M.dks("tanh", depth=6, zeta=3.0))
    n = 12
    kappa = ntk_condition_numbers(net, n_points=n)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cos = np.clip(np.cos(theta[:, None] - theta[None, :]), -1, 1)
    for depth in (2, 4, 6):
        prefix = sp.mlp("tanh", depth=depth, init=M.dks("tanh", depth=6, zeta=3.0))
        gram = prefix.ntk(cos.ravel()).total.reshape(n, n)
        ev = np.linalg.eigvalsh(gram)
        assert kappa[depth] == pytest.approx(ev[-1] / ev[0], rel=1e-6)
    assert math.isinf(kappa[0])  # 2-D inputs: the linear kernel has rank 2
    np.testing.assert_allclose(circle_cosines(4), [1, 0, -1, 0], atol=1e-15)


def test_ntk_errors():
    with pytest.raises(ConfigurationError):
        ntk(sp.mlp("tanh", depth=3), [1.5])
    with pytest.raises(ConfigurationError):
        ntk_bound(0.5)
    assert ntk_bound(1.5) == pytest.approx(5.5, abs=1e-15)


def _last_line_of_fresh_python(code: str) -> str:
    """What ``code`` prints last, run in a new interpreter (so nothing of this test process is imported there)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_residual_ntk_runs_in_numpy_without_importing_jax(monkeypatch):
    """Kernels with a NumPy rule (closed forms, NumPy jets) give a residual or LayerNorm network's NTK and its
    condition numbers without importing JAX (through jitted steps a first call cost 2.4–3.5 s of compilation);
    the values agree with the jitted steps' to 1e-12."""
    import json
    import sys

    result = json.loads(_last_line_of_fresh_python(
        "import json, sys, numpy as np, sigprop as sp\n"
        "c = np.linspace(-1, 1, 7)\n"
        "net = sp.resnet('tanh', 4, 0.8, sigma_w=1.2, sigma_b=0.1)\n"
        "r = sp.ntk(net, c); k = sp.ntk_condition_numbers(net)\n"
        "sp.ntk(sp.Network(sp.Serial(((sp.Dense(sp.activation('relu'), 2 ** 0.5), 3), (sp.LayerNorm(), 1)))), c)\n"
        "print(json.dumps({'jax': 'jax' in sys.modules, 'total': r.total.tolist()}))\n"))
    assert result["jax"] is False
    ntk_module = sys.modules["sigprop.ntk"]

    class JittedContext(ntk_module._Context):  # the same recursion through the units' jitted steps
        def __init__(self, net, q):
            super().__init__(net, q)
            self.numpy = False

    monkeypatch.setattr(ntk_module, "_Context", JittedContext)
    jitted = sp.ntk(sp.resnet("tanh", 4, 0.8, sigma_w=1.2, sigma_b=0.1), np.linspace(-1, 1, 7))
    np.testing.assert_allclose(result["total"], jitted.total, rtol=1e-12, atol=1e-13)


def test_sp_ntk_stays_the_function_after_the_module_is_imported():
    """The module sigprop/ntk.py once replaced the function ``sp.ntk`` when a Network's ``ntk`` method first
    imported it (in a fresh interpreter: ``net.ntk(c)`` then ``sp.ntk(net, c)`` raised "module is not callable")."""
    printed = _last_line_of_fresh_python(
        "import numpy as np, sigprop as sp\n"
        "net = sp.resnet('relu', 2, 0.8)\n"
        "a = net.ntk(np.array([0.3])).total\n"
        "import sigprop.ntk\n"
        "from sigprop.ntk import NTKResult\n"
        "b = sp.ntk(net, np.array([0.3])).total\n"
        "print(callable(sp.ntk), bool(np.all(a == b)))\n")
    assert printed.split() == ["True", "True"]
