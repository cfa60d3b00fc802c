"""The public per-layer maps (sigprop.maps): values against closed forms, derivatives against second methods,
conventions (shapes, dtypes, C(1) = 1), and input validation.

Oracles: ReLU arc-cosine kernel (Cho & Saul 2009), erf arcsin kernel (Williams 1997), sin (e^{−q} sinh(qc)),
adaptive scipy.integrate.quad, and central finite differences of sigprop's own C map as a
second method for C'(c) (the derivative is computed by sigprop from E[φ'φ'], an independent formula).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import sigprop as sp

C_GRID = np.linspace(-1.0, 1.0, 101)
# scipy.integrate.quad warns about roundoff at tolerances near machine precision; the oracles are cross-checked
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")


def _quad1(f, q):
    """E[f(√q z)], z ~ N(0, 1), by adaptive scipy.integrate.quad."""
    val, _ = integrate.quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2), -14, 14, points=[0.0],
                            epsabs=1e-16, epsrel=1e-14, limit=400)
    return val / math.sqrt(2 * math.pi)


# --------------------------------------------------------------------------------------------------
# Q map and its slope
# --------------------------------------------------------------------------------------------------

Q_CLOSED = {  # E[φ(√q z)²] and its q-derivative
    "relu": (lambda q: q / 2, lambda q: 0.5 + 0 * q),
    "abs": (lambda q: q, lambda q: 1.0 + 0 * q),
    "identity": (lambda q: q, lambda q: 1.0 + 0 * q),
    "erf": (lambda q: 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)),  # Williams (1997) at c = 1
            lambda q: 4 / (np.pi * (1 + 2 * q) * np.sqrt(1 + 4 * q))),
    "sin": (lambda q: -np.expm1(-2 * q) / 2, lambda q: np.exp(-2 * q)),
    # Stein: d/dq E[φ(√q z)²] = E[φ'(u)² + φ(u)φ''(u)], u ~ N(0, q)
    "tanh": (lambda q: np.array([_quad1(lambda x: math.tanh(x) ** 2, v) for v in np.atleast_1d(q)]),
             lambda q: np.array([_quad1(lambda x: (1 - math.tanh(x) ** 2) ** 2
                                        - 2 * math.tanh(x) ** 2 * (1 - math.tanh(x) ** 2), v)
                                 for v in np.atleast_1d(q)])),
}
Q_GRID = np.array([1e-6, 0.01, 0.3, 1.0, 2.5, 6.0])


@pytest.mark.parametrize("name", sorted(Q_CLOSED))
def test_q_map_and_slope(name):
    second, slope = Q_CLOSED[name]
    for sw, sb in ((1.0, 0.0), (1.7, 0.25)):
        np.testing.assert_allclose(sp.q_map(name, Q_GRID, sw, sb), sw**2 * second(Q_GRID) + sb**2, rtol=1e-12)
        np.testing.assert_allclose(sp.q_map_slope(name, Q_GRID, sw, sb), sw**2 * slope(Q_GRID), rtol=1e-10)


def test_q_map_extreme_variances():
    """relu is homogeneous: Q(q) = σ_w² q/2 exactly even at q = 1e-200 and 1e200; erf saturates at 2/π·arcsin(1) = 1."""
    np.testing.assert_allclose(sp.q_map("relu", [1e-200, 1e200], math.sqrt(2)), [1e-200, 1e200], rtol=1e-14)
    assert sp.q_map("erf", 1e12) == pytest.approx(1.0, abs=1e-6)


def test_sin_q_slope_at_large_q():
    """Closed form d/dq (1 − e^{−2q})/2 = e^{−2q}, in relative terms where it is tiny (no expm1 cancellation)."""
    q = np.array([10.0, 20.0])
    np.testing.assert_allclose(sp.q_map_slope("sin", q), np.exp(-2 * q), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# C map conventions and identities
# --------------------------------------------------------------------------------------------------

REGISTRY_SAMPLE = ["tanh", "sigmoid", "erf", "relu", "abs", "elu", "selu", "softplus", "gelu", "gelu_tanh",
                   "swish", "sin", "identity", ("leaky_relu", {"negative_slope": 0.1})]


MONOTONE = {"tanh", "sigmoid", "erf", "relu", "elu", "selu", "softplus", "identity", "leaky_relu"}


@pytest.mark.parametrize("spec", REGISTRY_SAMPLE, ids=str)
def test_c_map_conventions(spec):
    """C(1) = 1, |C| ≤ 1; C increasing on [0, 1] for every φ (Mehler: C(c) = Σ b_k c^k / Σ b_k with b_k ≥ 0) and on
    [−1, 1] when φ' ≥ 0 (Price: C' ∝ E[φ'(u)φ'(v)] ≥ 0). Not in general: abs is even, so C(−1) = 1."""
    name = spec[0] if isinstance(spec, tuple) else spec
    c = sp.c_map(spec, C_GRID, 2.0, 1.4, 0.3)
    assert c.dtype == np.float64 and c.shape == C_GRID.shape
    assert c[-1] == 1.0  # C(1) = 1 exactly
    assert np.all(np.abs(c) <= 1.0) and np.all(np.diff(c[C_GRID >= 0]) > 0)
    if name in MONOTONE:
        assert np.all(np.diff(c) > 0)


def test_shapes_and_scalars():
    for q, sw, sb in ((0.5, 1.0, 0.0), (2.0, 1.4, 0.3)):
        assert isinstance(sp.c_map("tanh", 0.3, q, sw, sb), float)
        assert isinstance(sp.q_map("tanh", q, sw, sb), float) and isinstance(sp.c_map_slope("tanh", 0.3), float)
        assert sp.c_map("tanh", np.zeros((3, 2)), q, sw, sb).shape == (3, 2)
        assert sp.q_map("tanh", np.ones((2, 2)), sw, sb).shape == (2, 2)


def _tanh_gap_by_gauss_hermite(d, q, sw, sb, n=300):
    """1 − C(1 − d) for tanh, independently: 1 − C = σ_w² E[(φ(u) − φ(v))²] / (2 Q) with
    tanh u − tanh v = sinh(u − v) / (cosh u cosh v) and u − v = √q (d z₁ − √(d(2 − d)) z₂), so no digit is lost
    to cancellation as d → 0; 2-D Gauss–Hermite product rule on 300² nodes (tanh is analytic; 300 and 340
    nodes agree to 1e-12 at q = 2, 160 nodes are 1e-8 off there)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    z1, z2 = x[:, None], x[None, :]
    ww = w[:, None] * w[None, :]
    c, s = 1.0 - d, math.sqrt(d * (2.0 - d))
    u, v = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + s * z2)
    diff = np.sinh(math.sqrt(q) * (d * z1 - s * z2)) / (np.cosh(u) * np.cosh(v))
    big_q = sw**2 * np.sum(w * np.tanh(math.sqrt(q) * x) ** 2) + sb**2
    return sw**2 * np.sum(ww * diff**2) / (2.0 * big_q)


@pytest.mark.parametrize("q, sw, sb", [(0.5, 1.0, 0.0), (2.0, 1.4, 0.3)])
def test_one_minus_c_map_keeps_its_digits_near_one(q, sw, sb):
    """1 − C(c) to 1e-10 relative for 1 − c from 1e-12 to 1.9, where 1 − c_map(c) would keep none at 1e-12."""
    for d in (1e-12, 1e-8, 1e-4, 0.3, 1.0, 1.9):
        assert sp.one_minus_c_map("tanh", d, q, sw, sb) == pytest.approx(
            _tanh_gap_by_gauss_hermite(d, q, sw, sb), rel=1e-10)


@pytest.mark.parametrize("spec", ["tanh", "erf", "sin", "tanh(x) + 0.1*x", "arctan(x)"])
def test_odd_activation_c_map_is_odd(spec):
    """Odd φ, σ_b = 0: E[φ(u)φ(−v)] = −E[φ(u)φ(v)], so C(−c) = −C(c) (to ~1e-14: C is formed as 1 − (1 − C))."""
    np.testing.assert_allclose(sp.c_map(spec, -C_GRID, 1.3, 1.1), -sp.c_map(spec, C_GRID, 1.3, 1.1), rtol=0,
                               atol=1e-13)


@pytest.mark.parametrize("spec", REGISTRY_SAMPLE, ids=str)
def test_c_map_slope_matches_finite_difference(spec):
    """C'(c) from E[φ'(u)φ'(v)] (Price's theorem) vs a central difference of the C map, h = 1e-5 (error ~1e-9
    for smooth φ; kinked φ have C smooth on (−1, 1) too, as the arc-cosine kernel is)."""
    c = np.linspace(-0.9, 0.9, 19)
    h = 1e-5
    for q, sw, sb in ((0.7, 1.0, 0.0), (2.0, 1.3, 0.2)):
        fd = (sp.c_map(spec, c + h, q, sw, sb) - sp.c_map(spec, c - h, q, sw, sb)) / (2 * h)
        np.testing.assert_allclose(sp.c_map_slope(spec, c, q, sw, sb), fd, rtol=1e-7, atol=1e-8)


def test_relu_slope_at_one_and_c_at_zero():
    """ReLU, σ_b = 0: C'(1) = σ_w² q·½/(σ_w² q/2) = 1 and C(0) = 1/π (Cho & Saul 2009), for any σ_w, q."""
    for sw in (0.3, 1.0, math.sqrt(2), 4.0):
        assert sp.c_map_slope("relu", 1.0, 2.0, sw) == pytest.approx(1.0, rel=1e-14)
        assert sp.c_map("relu", 0.0, 2.0, sw) == pytest.approx(1 / math.pi, rel=1e-14)
        assert sp.c_map_slope("relu", -1.0, 2.0, sw) == pytest.approx(0.0, abs=1e-15)


def test_bias_only_limit():
    """σ_w → 0 with σ_b > 0: every output is the shared bias, C ≡ 1."""
    np.testing.assert_allclose(sp.c_map("tanh", C_GRID, 1.0, 0.0, 0.5), 1.0)
    assert sp.q_map("tanh", 3.0, 0.0, 0.5) == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------------
# bad input: clear sigprop errors, never NaN
# --------------------------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
BAD_CALLS = [
    ("c > 1", lambda: sp.c_map("tanh", 1.0 + 1e-9)),
    ("c < -1", lambda: sp.c_map("tanh", [0.0, -2.0])),
    ("c NaN", lambda: sp.c_map("tanh", NAN)),
    ("c inf", lambda: sp.c_map_slope("tanh", INF)),
    ("c text", lambda: sp.c_map("tanh", "half")),
    ("q negative", lambda: sp.c_map("tanh", 0.5, q=-1.0)),
    ("q zero", lambda: sp.q_map("tanh", 0.0)),
    ("q NaN", lambda: sp.q_map("tanh", [1.0, NAN])),
    ("q inf", lambda: sp.q_map_slope("tanh", INF)),
    ("q huge", lambda: sp.q_map("tanh", 1e300)),
    ("sigma_w negative", lambda: sp.c_map("tanh", 0.5, sigma_w=-1.0)),
    ("sigma_b negative", lambda: sp.q_map("tanh", 1.0, sigma_b=-0.1)),
    ("sigma_w NaN", lambda: sp.c_map_curvature("tanh", sigma_w=NAN)),
    ("sigma_b inf", lambda: sp.one_minus_c_map("tanh", 0.1, sigma_b=INF)),
    ("sigma text", lambda: sp.q_map("tanh", 1.0, sigma_w="two")),
    ("d negative", lambda: sp.one_minus_c_map("tanh", -1e-3)),
    ("d > 2", lambda: sp.one_minus_c_map("tanh", 2.5)),
    ("zero layer", lambda: sp.c_map("tanh", 0.5, sigma_w=0.0, sigma_b=0.0)),
]


@pytest.mark.parametrize("fn", [sp.c_map, sp.one_minus_c_map, sp.c_map_slope], ids=lambda f: f.__name__)
def test_array_q_for_c_map_is_a_clear_error(fn):
    with pytest.raises(sp.ConfigurationError, match="single variance"):
        fn("tanh", 0.5, q=[1.0, 2.0])
    assert fn("tanh", 0.5, q=[2.0]) == fn("tanh", 0.5, q=2.0)  # a one-element q is accepted


@pytest.mark.parametrize("what, call", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_configuration_error(what, call):
    with pytest.raises(sp.ConfigurationError):
        call()


@pytest.mark.parametrize("spec", ["nonsense", ("relu", {"slope": 1.0}), 42, "x +", "__import__('os')"], ids=str)
def test_bad_activation_raises_activation_error(spec):
    with pytest.raises(sp.ActivationError):
        sp.c_map(spec, 0.5)


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        sp.c_map("tanh", 2.0)
    with pytest.raises(ValueError):
        sp.c_map("nonsense", 0.5)


def test_non_finite_expectation_is_a_clear_error():
    """exp(x²)'s second moment diverges for q ≥ 1/4: a sigprop error, not NaN."""
    with pytest.raises(sp.SigpropError):
        sp.c_map("exp(x**2)", 0.5, q=1.0)


def test_q_map_slope_eoc_and_phase_diagram_run_without_importing_jax():
    """Q'(q), the Edge of Chaos and a phase diagram read the dual kernels' moments in NumPy (closed forms, NumPy
    quadrature): a new interpreter computes them without importing JAX (Q'(q) was jax.grad of E[φ²] before)."""
    code = ("import json, sys, numpy as np, sigprop as sp\n"
            "q = np.array([0.3, 1.0, 5.0])\n"
            "for phi in ('tanh', 'gelu', 'relu', 'tanh(x) + 0.1*x', 'cos'):\n"
            "    sp.q_map_slope(phi, q, 1.3, 0.2)\n"
            "sp.eoc('tanh', sigma_b=0.3); sp.eoc('erf', sigma_b=0.3)\n"
            "sp.phase_diagram('tanh', np.linspace(0.5, 3, 5), np.linspace(0, 0.5, 4))\n"
            "print(json.dumps({'jax': 'jax' in sys.modules}))\n")
    assert _last_json_line_of_fresh_interpreter(code) == {"jax": False}


def _last_json_line_of_fresh_interpreter(code: str):
    """Run ``code`` in a new Python interpreter; the JSON on its last line of output."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_odd_network_maps_zero_to_zero_at_large_variance():
    """An odd φ has C(0) = 0 exactly (E[φ(u)φ(v)] = 0 for independent u, v), so does a network of it without
    biases. `sin(x) + x` with σ_w = 2 reaches q ≈ 480 in 4 layers; its kernel's E[φ²] and its series' mass come
    from one rule, so C_f(0) = 0 to rounding (E[φ²] on a second rule left −6e-10, found by the property test)."""
    net = sp.mlp("sin(x) + x", depth=4, sigma_w=2.0, sigma_b=0.0)
    assert net.q_trajectory(0.5)[-1] > 400
    assert abs(float(net.c_map(0.0, q=0.5))) <= 1e-12
    assert float(net.c_map(1.0, q=0.5)) == 1.0


def test_the_interactive_path_imports_neither_scipy_nor_jax():
    """`import sigprop`, DKS/TAT/EOC solves (smooth, kinked, typed, leaky ReLU, ResNet), C maps and a phase
    diagram in a new interpreter load neither SciPy (0.3–0.5 s of import on a small machine) nor JAX: the
    quadrature rules, special functions and root finders are sigprop's own (tests/test_quadrature.py,
    test_special.py and test_root_finders.py check them against SciPy's)."""
    code = ("import json, sys, numpy as np, sigprop as sp\n"
            "x = np.linspace(-1, 1, 21)\n"
            "for name in ('tanh', 'gelu', 'softplus', 'relu', 'elu', 'tanh(x) + 0.1*x'):\n"
            "    r = sp.dks(name, depth=20); sp.mlp(r.activation, 20, r.sigma_w, r.sigma_b).c_map(x)\n"
            "sp.tat('tanh', depth=20); sp.tat('leaky_relu', depth=20); sp.dks('leaky_relu', depth=20)\n"
            "sp.dks('softplus', network=sp.resnet('softplus', blocks=(1, 1), shortcut_weight=0.6), zeta=1.2)\n"
            "sp.eoc('tanh', sigma_b=0.3); sp.eoc('gelu', sigma_b=1.0); sp.eoc('elu', sigma_b=0.2)\n"
            "sp.mlp('tanh', 30, 1.3, 0.2).c_map(x); sp.mlp('erf', 30, 1.3, 0.2).ntk(x)\n"
            "sp.phase_diagram('tanh', np.linspace(0.5, 3, 80), np.linspace(0, 0.5, 80))\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'jax'})))\n")
    assert _last_json_line_of_fresh_interpreter(code) == []
