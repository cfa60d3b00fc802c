"""The local maps at large variance: E[φ(√q z)²], its q-derivative and E[φ'(√q z)²] (the moments the Edge of Chaos
and its fixed points are computed from) against 30-digit mpmath quadrature split where φ(√q z) has its features."""

from __future__ import annotations

import importlib

import mpmath as mp
import numpy as np
import pytest

import sigprop as sp
from sigprop import local_maps

eoc_module = importlib.import_module("sigprop.methods.eoc")

FUNCTIONS = {  # φ and φ' in mpmath
    "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2),
    "gelu": (lambda x: x * mp.ncdf(x), lambda x: mp.ncdf(x) + x * mp.npdf(x)),
    "softplus": (lambda x: mp.log1p(mp.exp(x)), lambda x: 1 / (1 + mp.exp(-x))),
    "swish": (lambda x: x / (1 + mp.exp(-x)),
              lambda x: 1 / (1 + mp.exp(-x)) + x * mp.exp(-x) / (1 + mp.exp(-x)) ** 2),
}
QS = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)


def oracle(name, q):
    """(E[φ²], d/dq E[φ²] = E[φ φ' z]/√q, E[φ'²]) at variance q, 30 digits."""
    m = moment_oracle(*FUNCTIONS[name], q)
    return m["second"], m["second_slope"], m["dot"]


def moment_oracle(f, df, q):
    """E[φ²], E[φ], E[φ'²] and the q-slopes E[φ φ' z]/√q, E[φ' z]/(2√q) at variance q, by 30-digit mpmath quad
    split at x = √q z ∈ {0, ±1, ±3, ±10, ±20}."""
    mp.mp.dps = 30
    s = mp.sqrt(q)
    pts = sorted({-mp.inf, mp.inf, 0, *(j / s for j in (-20, -10, -3, -1, 1, 3, 10, 20))})

    def expect(g):
        return mp.quad(lambda z: g(z) * mp.npdf(z), pts)

    return {"second": expect(lambda z: f(s * z) ** 2), "mean": expect(lambda z: f(s * z)),
            "dot": expect(lambda z: df(s * z) ** 2), "second_slope": expect(lambda z: f(s * z) * df(s * z) * z) / s,
            "mean_slope": expect(lambda z: df(s * z) * z) / (2 * s)}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_moments_at_large_variance_against_mpmath(name):
    got = eoc_module._q_moments(sp.activation(name), np.array(QS))
    for i, q in enumerate(QS):
        for k, want in enumerate(oracle(name, q)):
            assert float(got[k][i]) == pytest.approx(float(want), rel=5e-12, abs=1e-300), (name, q, k)


def test_unit_panels_alone_miss_at_large_variance():
    # why the rule adds breaks in x: on unit panels in z only, tanh's E[φ(√q z)²] at q = 64 is off by more than 1e-8
    # relative, and by less than 5e-12 on the resolved rule (local_maps.values, scaled=False / True)
    phi = sp.activation("tanh")
    want = float(oracle("tanh", 64.0)[0])
    for scaled, bad in ((False, True), (True, False)):
        z, w, (f0,) = local_maps.values(phi.derivatives, (), np.array([8.0]), np.array([0.0]), 0, scaled=scaled)
        err = abs(float(np.sum(w * f0 * f0, -1)[0]) / want - 1)
        assert (err > 1e-8) if bad else (err < 5e-12), (scaled, err)


def test_closed_form_moments_against_mpmath():
    # the closed-form kernels' moments (the Edge of Chaos reads them for erf, GELU, sin and the ReLU family),
    # including the q-slopes added for the Q map's slope, against the same mpmath oracle
    cases = {
        "erf": (mp.erf, lambda x: 2 / mp.sqrt(mp.pi) * mp.exp(-x * x)),
        "gelu": FUNCTIONS["gelu"],
        "sin": (mp.sin, mp.cos),
        "relu": (lambda x: max(x, 0), lambda x: 1 if x > 0 else 0),
    }
    for name, (f, df) in cases.items():
        kern = sp.activation(name).kernel(series=False)
        for q in (1e-4, 0.5, 3.0) + ((300.0, 3e6) if name != "sin" else ()):  # sin(√q z) oscillates too fast for quad
            got = kern.moments(np.float64(q))
            for key, value in moment_oracle(f, df, q).items():
                scale = max(abs(float(value)), 1e-300)
                assert abs(float(got[key]) - float(value)) <= 1e-13 * scale + 1e-30, (name, q, key)  # 0 = odd φ
