"""Training finite networks (sigprop.training): the forward pass is the description's network, its initial kernel is
the infinite-width one, runs are seeded, cached, stoppable, and the paper's claim is measured.

The claim (Martens et al. 2021, arXiv:2110.01765; Zhang et al. 2022, arXiv:2203.08120): at depth 50, vanilla
networks shaped by DKS or TAT train faster than standard and EOC ones. The protocol was fixed before the runs
(issue 12): digits, the dashboard's default comparison at depth 50, 3 seeds, the same optimiser settings for all,
and the training loss averaged over the evaluations of the second half of training (one evaluation is noisy: K-FAC's
adaptive steps and Adam's minibatch noise make single points jump). Where it does not hold, the test says so.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.datasets import digits, teacher
from sigprop.training import FiniteNetwork, train

jax = pytest.importorskip("jax")
jnp = jax.numpy


def test_forward_pass_is_the_described_network():
    """φ(h) W + b layer by layer, by hand in NumPy from the same parameters (float32 rounding)."""
    phi = sp.activation("tanh")
    net = sp.mlp(phi, 3, sigma_w=1.3, sigma_b=0.2)
    model = FiniteNetwork(net, width=16, features=5, classes=4, stacked=True)
    params = model.init(0)
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    h = x @ np.asarray(params["embed"])
    run = params["body"][0]
    layers = [run["first"]] + [jax.tree.map(lambda a, i=i: a[i], run["scan"]) for i in range(2)]
    for p in layers:
        h = np.tanh(h) @ np.asarray(p["w"]) + np.asarray(p["b"])
    out = h @ np.asarray(params["readout"]["w"]) + np.asarray(params["readout"]["b"])
    np.testing.assert_allclose(np.asarray(model.apply(params, x)), out, rtol=1e-5, atol=1e-5)
    # the unrolled layout (what K-FAC needs) is the same network
    flat = FiniteNetwork(net, width=16, features=5, classes=4, stacked=False)
    assert len(flat.init(0)["body"][0]["list"]) == 3


@pytest.mark.parametrize("stacked", [True, False])
def test_numpy_forward_pass_is_the_jax_one(stacked):
    """The step-0 point runs the units' ``apply_params`` in NumPy (float32) on :meth:`FiniteNetwork.init_numpy`;
    later points in JAX on the same parameters. For every unit with a finite forward pass (Dense, a residual
    sum, LayerNorm, Looks-Linear, a concatenation), the two agree to float32 rounding, and so does the loss."""
    from sigprop.training import _metrics

    nets = [sp.mlp("tanh", 5, sigma_w=1.3, sigma_b=0.2), sp.resnet("relu", 3, 0.8, sigma_w=2**0.5),
            sp.Network(sp.Serial(((sp.Dense(sp.activation("gelu"), 1.2), 1), (sp.LayerNorm(), 1),
                                  (sp.Dense(sp.activation("tanh")), 2)))),
            sp.mlp("relu", 4, init=sp.looks_linear("relu")),
            sp.Network(sp.Serial(((sp.concatenate((sp.Dense(sp.activation("tanh"), 1.2),
                                                   sp.Dense(sp.activation("relu"), 1.5)), (0.25, 0.75)), 2),)))]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    y = rng.integers(0, 4, 9)
    for net in nets:
        model = FiniteNetwork(net, width=32, features=6, classes=4, stacked=stacked)
        params = model.init_numpy(2)
        assert all(a.dtype == np.float32 for a in jax.tree.leaves(params))
        logits = model.apply(params, x)
        assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
        on_jax = model.apply(model.init(2), jnp.asarray(x))
        np.testing.assert_allclose(logits, np.asarray(on_jax), rtol=2e-5, atol=2e-5 * np.abs(logits).max())
        (loss, right), (loss_j, right_j) = _metrics(np, logits, y), _metrics(jnp, on_jax, jnp.asarray(y))
        np.testing.assert_allclose(loss, np.asarray(loss_j), rtol=1e-4)
        np.testing.assert_array_equal(right, np.asarray(right_j))
        # and the loss is the cross-entropy, from scipy's logsumexp (a second implementation)
        from scipy.special import logsumexp

        want = logsumexp(logits.astype(float), axis=1) - logits.astype(float)[np.arange(9), y]
        np.testing.assert_allclose(loss, want, rtol=1e-5)


def test_the_first_point_comes_before_jax_is_imported():
    """A fresh process: the step-0 point (NumPy) is reported before JAX is imported, well under a second."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, time
        import sigprop as sp
        net = sp.mlp("tanh", 20, init=sp.dks("tanh", depth=20))
        seen = []
        t = time.perf_counter()
        sp.train(net, "digits", "adam", steps=2, width=64, eval_every=1, cache=False,
                 callback=lambda p: seen.append(("jax" in sys.modules, p["step"])))
        print(seen)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[(False, 0), (True, 1), (True, 2)]", out.stdout + out.stderr[-2000:]


def test_looks_linear_network_is_linear_at_initialisation_and_not_after_a_step():
    net = sp.mlp("relu", 20, init=sp.looks_linear("relu"))
    model = FiniteNetwork(net, width=32, features=6, classes=3)
    params = model.init(1)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 4, 6)).astype(np.float32)
    f = lambda v: np.asarray(model.apply(params, v))  # noqa: E731
    np.testing.assert_allclose(f(x + 2 * y), f(x) + 2 * f(y), rtol=1e-4, atol=1e-4)
    moved = jax.tree.map(lambda a: a + 0.05 * jnp.asarray(rng.standard_normal(a.shape), a.dtype), params)
    g = lambda v: np.asarray(model.apply(moved, v))  # noqa: E731
    assert np.max(np.abs(g(x + 2 * y) - g(x) - 2 * g(y))) > 1e-3


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_initial_finite_network_has_the_infinite_width_kernel(weights):
    """The explicit parameters (not the Gram sampler) of width 512: the body's output cosine of two inputs with
    cosine 0.3, over 24 initialisations, lies within 4 standard errors of net.c_map(0.3) (depth 4: the O(1/N) bias
    is ~1e-3, the standard error ~2e-2), and its q within 4 SE of the Q map."""
    net = sp.mlp("tanh", 4, sigma_w=1.5, sigma_b=0.2)
    model = FiniteNetwork(net, width=512, features=512, classes=2, weights=weights)
    rng = np.random.default_rng(2)
    cs, qs = [], []
    for seed in range(24):
        params = model.init(seed)
        e = np.linalg.qr(rng.standard_normal((512, 2)))[0].T * math.sqrt(512)
        x = np.stack([e[0], 0.3 * e[0] + math.sqrt(1 - 0.09) * e[1]]).astype(np.float32)
        # x @ embed has q ≈ 1 at infinite width; use the inputs as h⁰ directly (identity embedding) for exactness
        h = np.asarray(net.body.apply_params(params["body"], jnp.asarray(x)), dtype=float)
        cs.append(h[0] @ h[1] / np.linalg.norm(h[0]) / np.linalg.norm(h[1]))
        qs.append(h[0] @ h[0] / 512)
    cs, qs = np.array(cs), np.array(qs)
    assert abs(cs.mean() - float(net.c_map(0.3))) < 4 * cs.std(ddof=1) / math.sqrt(len(cs))
    assert abs(qs.mean() - net.q_map(1.0)) < 4 * qs.std(ddof=1) / math.sqrt(len(qs))
    # power: the standard errors (~0.02) are small enough to tell σ_w = 1.5 from 2.0 (C = 0.349 against 0.254)
    assert abs(cs.mean() - float(sp.mlp("tanh", 4, sigma_w=2.0, sigma_b=0.2).c_map(0.3))) > \
        4 * cs.std(ddof=1) / math.sqrt(len(cs))


def test_data_sets_ship_offline_and_are_normalised():
    d = digits()
    assert d.x_train.shape == (1348, 64) and d.x_test.shape == (449, 64) and d.classes == 10
    np.testing.assert_allclose(np.mean(d.x_train**2, axis=1), 1.0, rtol=1e-5)
    assert set(np.unique(d.y_train)) == set(range(10))
    t = teacher()
    assert t.x_train.shape == (1536, 32) and len(np.unique(t.y_train)) >= 5
    np.testing.assert_array_equal(teacher().y_test, t.y_test)


def test_runs_are_seeded_cached_reported_and_stoppable():
    net = sp.mlp("tanh", 4, init=sp.dks("tanh", depth=4))
    points = []
    a = train(net, "teacher", "adam", steps=30, width=32, eval_every=10, seed=5, callback=points.append,
              cache=False)
    assert [p["step"] for p in points] == [0, 10, 20, 30]
    assert a.train_loss[-1] < a.train_loss[0]  # it learns
    b = train(net, "teacher", "adam", steps=30, width=32, eval_every=10, seed=5, cache=False)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    c = train(net, "teacher", "adam", steps=30, width=32, eval_every=10, seed=6, cache=False)
    assert not np.array_equal(a.train_loss, c.train_loss)
    first = train(net, "teacher", "sgd", steps=20, width=32, eval_every=10)
    assert train(net, "teacher", "sgd", steps=20, width=32, eval_every=10) is first
    calls = iter(range(100))
    stopped = train(net, "teacher", "adam", steps=50, width=32, eval_every=5, stop=lambda: next(calls) >= 12)
    assert stopped.stopped and stopped.steps[-1] == 10
    assert len(a.rows()) == 4 and a.rows()[0]["optimizer"] == "adam"


def test_divergence_is_reported_as_infinite_loss_not_nan():
    net = sp.mlp("relu", 6, sigma_w=2**0.5)
    res = train(net, "teacher", "sgd", steps=40, width=32, learning_rate=50.0, eval_every=5, cache=False)
    assert np.isinf(res.train_loss[-1]) and not np.isnan(res.train_loss).any()


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "lbfgs"}, "optimizer"), ({"steps": 0}, "steps"), ({"width": 1.5}, "width"),
    ({"weights": "uniform"}, "weights"), ({"learning_rate": -1.0}, "learning_rate"), ({"data": "mnist"}, "data set"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(sp.ConfigurationError, match=match):
        train(sp.mlp("tanh", 2), **kwargs)


def _default_comparison(depth):
    return {
        "ReLU · He": sp.mlp("relu", depth, init=sp.standard("relu", scheme="he")),
        "tanh · EOC σ_b=0.22": sp.mlp("tanh", depth, init=sp.eoc("tanh", sigma_b=0.22)),
        "tanh · DKS ζ=1.5": sp.mlp("tanh", depth, init=sp.dks("tanh", depth=depth, zeta=1.5)),
        "leaky ReLU · TAT η=0.9": sp.mlp("leaky_relu", depth, init=sp.tat("leaky_relu", depth=depth, eta=0.9)),
    }


def shaped_vs_degenerate(optimizer, steps, width, eval_every, seeds=3, depth=50):
    table = {}
    for name, net in _default_comparison(depth).items():
        table[name] = np.mean([train(net, "digits", optimizer, steps=steps, width=width, seed=s,
                                     eval_every=eval_every).second_half_loss for s in range(seeds)])
    shaped = max(table["tanh · DKS ζ=1.5"], table["leaky ReLU · TAT η=0.9"])
    degenerate = min(table["ReLU · He"], table["tanh · EOC σ_b=0.22"])
    return table, shaped, degenerate


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kfac_trains_dks_and_tat_networks_faster_than_the_standard_one():
    """K-FAC, width 128, 100 steps: DKS and TAT reach at most 0.5× the second-half loss of the standard (He) ReLU
    network (measured with the damping adapted at every step: DKS 0.126, TAT 0.181, He 0.580).

    Against the EOC tanh network the margin set before the runs, 0.7×, **failed**. With kfac-jax's default damping
    schedule (adapted every 5th step) it measured DKS 0.153, TAT 0.069, EOC 0.170, He 0.629: DKS led by far at
    steps 25-75 (0.082, 0.022, 0.008 against 0.361, 0.133, 0.193) but one of its three seeds jumped to a loss of
    1.1 at step 100 (K-FAC's adaptive step), and an earlier draw of the initial weights passed the margin (DKS
    0.044, TAT 0.10, EOC 0.168). With the damping adapted at every step (sigprop's setting since, which compiles
    the step once): DKS 0.126, TAT 0.181, EOC 0.117. The claim against EOC is therefore not asserted;
    benchmarks/bench_training.py prints the whole table."""
    table, _, _ = shaped_vs_degenerate("kfac", steps=100, width=128, eval_every=25)
    shaped = max(table["tanh · DKS ζ=1.5"], table["leaky ReLU · TAT η=0.9"])
    assert shaped <= 0.5 * table["ReLU · He"], table


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("optimizer, width, steps, eval_every, he_margin", [
    # first run: DKS 0.089, TAT 0.116, EOC 0.618, He 1.537. On 2026-12-08 (a new machine and environment: jax
    # 0.10.2, kfac-jax 0.0.8, numpy 2.4.6) DKS seed 0 trained to a loss of 0.051 at step 75 and K-FAC's adaptive
    # step then threw it to 9.15 at step 100 (the jump the depth-50 K-FAC test describes): DKS 1.090, TAT 0.133,
    # EOC 0.587, He 1.503, the same in CI and on this machine. Whether that one step diverges depends on the last
    # bits of the machine's arithmetic, so the claim is not asserted with K-FAC until its step is made robust.
    pytest.param("kfac", 128, 100, 25, 0.5, marks=pytest.mark.xfail(
        reason="K-FAC's adaptive step can diverge at step 100 on one DKS seed (see the comment)", strict=False)),
    ("adam", 256, 60, 10, 0.3),  # first run: DKS 0.237, TAT 0.512 (the closest, against 0.70), EOC 1.001, He 2.087
])
def test_at_depth_100_dks_and_tat_networks_train_faster_than_the_standard_and_eoc_ones(optimizer, width, steps,
                                                                                       eval_every, he_margin):
    """The paper's claim in full at depth 100 (3 seeds, digits; K-FAC width 128, 100 steps; Adam lr 1e-4, width
    256, 60 steps): DKS and TAT reach at most 0.7× the second-half loss of the EOC tanh network, and at most 0.5×
    (K-FAC) or 0.3× (Adam) that of the standard (He) ReLU network: the margins of the depth-50 tests, fixed before
    this setting was first run (the figures of that first run are beside the parameters). At depth 50 the ordering
    against EOC does not hold: see the tests above and below."""
    table, shaped, _ = shaped_vs_degenerate(optimizer, steps=steps, width=width, eval_every=eval_every, depth=100)
    assert shaped <= 0.7 * table["tanh · EOC σ_b=0.22"], table
    assert shaped <= he_margin * table["ReLU · He"], table


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_adam_trains_dks_and_tat_networks_faster_than_the_standard_one_only():
    """Adam (lr 1e-4), width 256, 60 steps: DKS and TAT reach at most 0.3× the second-half loss of the standard (He)
    ReLU network. Against the EOC tanh network **the claim does not hold with Adam here**: measured (3 seeds) DKS
    0.079, TAT 0.125, EOC 0.094, He 0.909; an earlier draw of the initial weights gave DKS 0.074, TAT 0.095,
    EOC 0.125, He 1.09. TAT and EOC swap places with the draw, and by 200 steps EOC is ahead of both
    (benchmarks/bench_training.py: EOC 0.020, TAT 0.039, DKS 0.052, He 0.089). So only the standard network is
    asserted to be behind."""
    table, _, _ = shaped_vs_degenerate("adam", steps=60, width=256, eval_every=10)
    shaped = max(table["tanh · DKS ζ=1.5"], table["leaky ReLU · TAT η=0.9"])
    assert shaped <= 0.3 * table["ReLU · He"], table


@pytest.mark.parametrize("optimizer", ["adam", "kfac"])
def test_residual_looks_linear_and_layer_norm_networks_train(optimizer):
    """Every unit's parameters reach the optimiser (K-FAC tags each Dense/Looks-Linear layer): 20 steps lower the
    training loss of a ResNet, a Looks-Linear MLP and a tanh + LayerNorm network."""
    phi = sp.activation("tanh")
    nets = [sp.resnet("relu", 4, 0.8, sigma_w=2**0.5), sp.mlp("relu", 4, init=sp.looks_linear("relu")),
            sp.Network(sp.Serial(((sp.Dense(phi, 1.5), 1), (sp.LayerNorm(), 1)) * 3))]
    for net in nets:
        res = train(net, "teacher", optimizer, steps=20, width=32, eval_every=10, cache=False)
        assert res.train_loss[-1] < res.train_loss[0] - 0.05, (net.name, res.train_loss)
