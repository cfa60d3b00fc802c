"""The neural tangent kernel (NTK) of a deep network at infinite width, as a function of the input cosine.

Convention (NTK parametrisation, Jacot et al. 2018; neural-tangents' ``parameterization='ntk'``): the input
x ∈ R^{d₀} enters through a trained input layer ``h⁰ = W⁰x/√d₀`` (so q₀ = |x|²/d₀ and c₀ is the input
cosine), then ``hˡ = σ_w Wˡ φ(hˡ⁻¹)/√N + σ_b bˡ`` for l = 1 … L with standard normal W, b; the output is
``h^L`` (width 1). The kernel maps are those of :mod:`sigprop.network` (``h' = Wφ(h) + b``, W ~ N(0, σ_w²/N)).

With c_l, q_l the cosine/variance trajectory and ``C'_k`` the slope of layer k+1's C map at c_k, the
contribution of layer l's parameters (W⁰ for l = 0; Wˡ, bˡ for l ≥ 1) is

    Θ_l(c) = q_L · c_l · ∏_{k=l}^{L−1} C'_k(c_k),        Θ(c) = Σ_{l=0}^{L} Θ_l(c),

i.e. Jacot's recursion Θ ← Θ·σ_w²E[φ'(u)φ'(v)] + (σ_w²E[φ(u)φ(v)] + σ_b²) written with normalised maps
(C'_k = σ_w² q_k E[φ'φ']/q_{k+1} telescopes the variances to q_L). In the q ≡ 1 world of DKS/TAT (Q(1) = 1)
Θ_l = c_l ∏ C'(c_k): a linear network has Θ_l ≡ c₀, and DKS bounds |Θ_l − c₀| by
``ntk_bound(ζ) = 11(ζ − 1)`` (Martens et al. 2021). A Looks-Linear network is linear at initialisation too,
but its layers' weights multiply CReLU features: Θ_l = q κ(c₀) for l ≥ 1 (the arc-cosine kernel for ReLU;
:class:`sigprop.network.LooksLinear`). Residual networks ``w·x + √(1 − w²)·g(x)`` use
Θ ← w²Θ + (1 − w²)Θ_g; their per-layer terms come from a reverse pass (see ``_ntk_general``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._lazy import Lazy
from .errors import ConfigurationError, DivergenceError
from .kernels import enable_jax
from .maps import check_scale

jax = Lazy("jax")
jnp = Lazy("jax.numpy")
#: plain networks whose layers see at most this many distinct variances get their slopes in NumPy (one kernel
#: evaluation per distinct q: q settles at a fixed point); others (q never settles, e.g. the EOC at σ_b = 0) in
#: one jitted, vmapped call per run
NUMPY_MAX_VARIANCES = 400

__all__ = ["NTKResult", "ntk", "ntk_bound", "ntk_condition_numbers", "circle_cosines"]


@dataclass(frozen=True, eq=False)
class NTKResult:
    """``per_layer`` (depth + 1, len(c)): Θ_l(c); ``total`` (len(c),): Θ(c) = Σ_l Θ_l; ``c`` the input cosines;
    ``q_out`` = q_L, ``q_in`` the inputs' variance. ``normalised`` = Θ/(L + 1), which equals c for a linear
    network in the q ≡ 1 world."""

    c: np.ndarray
    per_layer: np.ndarray
    total: np.ndarray
    q_out: float
    q_in: float = 1.0

    @property
    def depth(self) -> int:
        return self.per_layer.shape[0] - 1

    @property
    def normalised(self) -> np.ndarray:
        return self.total / (self.depth + 1)

    @property
    def max_deviation(self) -> float:
        """max over layers l and the cosines c of |Θ_l(c) − q c|: the distance from the linear kernel xᵀx'/d₀
        that DKS's Theorem 27 bounds by :func:`ntk_bound` = 11(ζ − 1) (Martens et al. 2021; inputs of variance
        q = ``q_in``)."""
        return float(np.max(np.abs(self.per_layer - self.q_in * self.c)))


def _is_plain(net) -> bool:
    return net.is_plain


class _Context:
    """What the units' ``ntk_forward`` need: the kernel of each activation, sized for the trajectory's max q, and
    ``numpy``: every kernel has a NumPy rule (closed forms, NumPy jets), so the recursion runs in NumPy — no JAX
    import, no compile (a first residual NTK took 2.4–3.5 s through jitted steps, see benchmarks/bench_first_use.py)."""

    def __init__(self, net, q):
        q_max = float(np.max(net.q_trajectory(q)))
        self.kernels = {phi: phi.kernel(q_max) for phi in net.activations}
        self.numpy = all(k.numpy_ok for k in self.kernels.values())

    def arithmetic(self):
        """The context the recursion's arithmetic runs in: 64-bit JAX for jitted steps, NumPy's error state else
        (an overflow is reported as a DivergenceError once the pass is done)."""
        if self.numpy:
            return np.errstate(all="ignore")
        enable_jax()  # kernels are pytree arguments of the units' jitted steps
        return jax.enable_x64(True)


def _forward_general(net, c, q, record_top=False, ctx=None):
    """Forward Jacot recursion through the units (each its own ``ntk_forward``): returns (q_L, Θ, records, top),
    records per top-level unit for the reverse pass, top the Θ after each top-level unit."""
    ctx = ctx or _Context(net, q)
    with ctx.arithmetic():
        xp = np if ctx.numpy else jnp
        qv, cv, theta = xp.asarray(float(q)), xp.asarray(c), xp.asarray(q * c)
        records, top = [], []
        for unit, times in net.body.runs:
            for _ in range(times):
                qv, cv, theta, rec = unit.ntk_forward(ctx, qv, cv, theta)
                records.append((unit, rec))
                if record_top:
                    top.append(np.asarray(theta))
        return float(qv), np.asarray(theta), records, top


def _ntk_general(net, c, q):
    """Networks with sums (residual blocks ``y = w x + √(1 − w²) g(x)``, projections, concatenations) and
    LayerNorm: Θ_y = Σ wᵢ² Θᵢ (the cross terms vanish at infinite width: each branch but one ends in independent
    zero-mean weights), K_y = Σ wᵢ² Kᵢ. The forward pass records each Dense layer's injected kernel K_l and slope
    Σ̇_l; the reverse pass (each unit's ``ntk_backward``) gives each layer's multiplier B_l = ∂Θ_out/∂K_l, so
    Θ_l = K_l B_l and Θ_0 = q c B_input."""
    ctx = _Context(net, q)
    q_out, total, records, _ = _forward_general(net, c, q, ctx=ctx)
    B, layers = np.ones_like(c), []
    with ctx.arithmetic():
        for unit, rec in reversed(records):
            B = unit.ntk_backward(rec, B, layers)
        per_layer = np.vstack([np.asarray(q * c * B)] + [np.asarray(v) for v in layers[::-1]])
    if not (np.all(np.isfinite(per_layer)) and np.all(np.isfinite(total))):
        raise DivergenceError("the NTK overflows: the backward signal grows without bound; reduce depth or σ_w")
    return NTKResult(c=c, per_layer=per_layer, total=total, q_out=q_out, q_in=float(q))


def _dense_layers(net):
    """The network's Dense layers in order, or a clear error for architectures this module does not cover."""
    from .network import Dense

    body = getattr(net, "body", None)
    if body is None:
        raise ConfigurationError(f"ntk needs a sigprop Network, got {type(net).__name__}")
    runs = []
    for unit, times in body.runs:
        if not isinstance(unit, Dense):
            raise ConfigurationError("NTK condition numbers versus depth are implemented for plain networks "
                                     f"(sp.mlp); {getattr(net, 'name', 'this network')} has residual blocks")
        runs.append((unit, int(times)))
    return runs


@lru_cache(maxsize=1)
def _dot_cross_layers():
    """jit of (kernel, q_k, c_k) -> E[φ'(u)φ'(v)] for every layer k (vmapped); JAX imported on first use."""
    enable_jax()
    return jax.jit(lambda kern, q, c: jax.vmap(kern.dot_cross)(q, c))


def _dot_cross_numpy(kern, qs, cs):
    """The same in NumPy: one kernel evaluation per distinct q, over all the layers that share it."""
    out = np.empty_like(cs)
    values, groups = np.unique(qs, return_inverse=True)
    for g, qv in enumerate(values):
        rows = groups == g
        out[rows] = kern.dot_cross(float(qv), cs[rows])
    return out


def _slopes(runs, q_traj, c_traj):
    """C'_k(c_k) for k = 0 … L−1, shape (L, n): layer k+1's σ_w² q_k E[φ'(u)φ'(v)] / q_{k+1}."""
    from .network import bucket as _bucket

    out, row = [], 0
    q_max = float(np.max(q_traj))
    for layer, times in runs:
        kern = layer.phi.kernel(q_max)
        qs = np.asarray(q_traj[row:row + times], dtype=float)
        cs = np.asarray(c_traj[row:row + times], dtype=float)
        if kern.numpy_ok and np.unique(qs).size <= NUMPY_MAX_VARIANCES:
            with np.errstate(all="ignore"):
                dot = _dot_cross_numpy(kern, qs, cs)
        else:
            pad = _bucket(times) - times  # padded to a power of two: one compilation serves many depths
            with jax.enable_x64(True):
                dot = np.asarray(_dot_cross_layers()(kern, np.pad(qs, (0, pad), mode="edge"),
                                                     np.pad(cs, ((0, pad), (0, 0)), mode="edge")))[:times]
        sw2 = layer.sigma_w**2
        out.append(sw2 * qs[:, None] * dot / np.asarray(q_traj[row + 1:row + 1 + times], dtype=float)[:, None])
        row += times
    return np.concatenate(out, axis=0)


def ntk(net, c, q: float = 1.0) -> NTKResult:
    """Per-layer and total infinite-width NTK Θ_l(c), Θ(c) of ``net`` for two inputs of variance ``q`` and
    cosine ``c`` (see the module docstring for the formula and the parametrisation)."""
    c = np.atleast_1d(np.asarray(c, dtype=float))
    if c.ndim != 1 or not np.all(np.isfinite(c)) or np.any(np.abs(c) > 1):
        raise ConfigurationError("c must be a 1-D array of cosines in [-1, 1]")
    if getattr(net, "body", None) is not None and not _is_plain(net):
        return _ntk_general(net, c, q)
    runs = _dense_layers(net)
    c_traj = np.asarray(net.c_trajectory(c, q), dtype=float)  # (L+1, n)
    q_traj = np.asarray(net.q_trajectory(q), dtype=float)  # (L+1,)
    slopes = _slopes(runs, q_traj, c_traj)  # (L, n)
    # suffix products P_l = ∏_{k=l}^{L-1} C'_k, P_L = 1
    with np.errstate(over="ignore", invalid="ignore"):
        suffix = np.concatenate([np.cumprod(slopes[::-1], axis=0)[::-1], np.ones((1, c.size))], axis=0)
        per_layer = q_traj[-1] * c_traj * suffix
    if not np.all(np.isfinite(per_layer)):
        raise DivergenceError("the NTK overflows: the backward signal grows without bound (chaotic phase); "
                              "reduce the depth or σ_w")
    return NTKResult(c=c, per_layer=per_layer, total=per_layer.sum(axis=0), q_out=float(q_traj[-1]), q_in=float(q))


def ntk_bound(zeta: float) -> float:
    """The DKS bound 11(ζ − 1) on |Θ_l(x, x') − xᵀx'/d₀| for a network whose C_f'(1) ≤ ζ (Martens et al.
    2021; theory.md §3 — the constant is quoted, not re-derived here)."""
    return 11.0 * (check_scale("zeta", zeta, minimum=1.0) - 1.0)


def circle_cosines(n_points: int) -> np.ndarray:
    """Cosines cos(2πj/n), j = 0 … n−1, between n equally spaced points on a circle and the first one."""
    n = int(n_points)
    if n < 2:
        raise ConfigurationError("n_points must be ≥ 2")
    return np.cos(2 * np.pi * np.arange(n) / n)


def ntk_condition_numbers(net, n_points: int = 16, q: float = 1.0) -> np.ndarray:
    """Condition number κ = λ_max/λ_min of the NTK Gram matrix of ``n_points`` equally spaced points on a
    circle (inputs of variance q), for the prefix of ``net`` made of its first l top-level units (layers of an
    MLP, blocks of a ResNet), l = 0 … length (the trainability measure of Xiao et al. 2020). The Gram matrix is
    circulant, so its eigenvalues are the DFT of its first row. κ = inf where λ_min ≤ 1e-13 λ_max (e.g. l = 0:
    the linear kernel of 2-D inputs has rank 2)."""
    c = circle_cosines(n_points)
    if getattr(net, "body", None) is not None and not _is_plain(net):
        _, _, _, top = _forward_general(net, c, q, record_top=True)
        thetas = [q * c] + top
    else:
        runs = _dense_layers(net)
        c_traj = np.asarray(net.c_trajectory(c, q), dtype=float)
        q_traj = np.asarray(net.q_trajectory(q), dtype=float)
        slopes = _slopes(runs, q_traj, c_traj)
        theta = q_traj[0] * c_traj[0]
        thetas = [theta]
        for k in range(slopes.shape[0]):  # Θ^{(k+1)} = Θ^{(k)} · σ_w² E[φ'φ'] + q_{k+1} c_{k+1}
            theta = theta * slopes[k] * q_traj[k + 1] / q_traj[k] + q_traj[k + 1] * c_traj[k + 1]
            thetas.append(theta)
    eig = np.real(np.fft.fft(np.asarray(thetas), axis=1))  # circulant: eigenvalues = DFT of the first row
    lmax, lmin = eig.max(axis=1), eig.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(lmin > 1e-13 * np.abs(lmax), lmax / lmin, np.inf)
    return kappa
