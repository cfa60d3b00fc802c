"""Finite-width networks at initialisation: real random networks of a chosen width, sampled and propagated, to
set against the infinite-width kernel maps.

For inputs x⁰, x¹, …, x^K ∈ R^N with |xʲ|²/N = q₀ and cos(x⁰, xʲ) = cⱼ (used as the first pre-activations,
design.md's convention), :func:`finite_width` draws ``seeds`` independent random networks of width N from the
network's own description and records, after every top-level unit, the empirical variance qˡ = |hˡ(x⁰)|²/N and
the cosines cˡⱼ = ⟨hˡ(x⁰), hˡ(xʲ)⟩ / (|hˡ(x⁰)| |hˡ(xʲ)|). At infinite width they converge to
``net.q_trajectory(q₀)`` and ``net.c_trajectory(c, q₀)``; their spread over seeds shrinks like 1/√N.

**Exact sampling at O(N B²) a layer, not O(N² B).** A layer ``h' = W a + b`` with fresh weights, acting on the
B = K + 1 inputs' features A (B × n), only sees A through its row space. Write Aᵀ = Q R (reduced QR, Q n × k
orthonormal, k = min(n, B)). Then h'ᵀ = W Q R + b, and W Q is distributed exactly as

- i.i.d. N(0, σ_w²/n) entries (m × k), when W has i.i.d. N(0, σ_w²/n) entries (rotation invariance);
- σ_w √max(1, m/n) times the first m rows of a Haar-random max(m, n) × k orthonormal frame, when W is a
  (scaled) Haar orthogonal matrix — rows orthonormal for m ≤ n, columns for m > n (left invariance of Haar).

Layers have independent weights, so sampling each layer's output from the previous one this way draws the whole
network exactly, in distribution, without ever forming an N × N matrix (width 4,096 costs what width 64 would
cost a dense simulation per input pair). The test suite checks it against networks with explicit weight
matrices (``tests/test_finite_width.py``), and both against the infinite-width maps.

Orthogonal and Gaussian weights have the same limit (theory.md §11) but different finite-width fluctuations.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .errors import ConfigurationError, DivergenceError

WEIGHTS = ("gaussian", "orthogonal")
MIN_WIDTH, MAX_WIDTH = 2, 16_384
MAX_SEEDS = 1024
MAX_POINTS = 257
#: the sampler's cost bound: seeds × layers × B² × width multiply-adds (≈ 10 s on a 2-core machine)
MAX_WORK = 2e11
#: runs of at least this many multiply-adds sample their two halves of the seeds in two threads
SPLIT_WORK = 2e8
#: the default input cosines of the C-map band
DEFAULT_COSINES = np.linspace(-1.0, 1.0, 33)


class Sampler:
    """What a unit's ``sample`` rule needs: the width of the layers it creates, the weight distribution, and one
    random generator per seed (so seed s draws the same network however many seeds run beside it)."""

    def __init__(self, width: int, weights: str, rngs: list[np.random.Generator]):
        self.width, self.weights, self.rngs = width, weights, rngs

    def with_width(self, width: int) -> Sampler:
        return Sampler(width, self.weights, self.rngs)

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normal draws of ``shape`` for each seed: (seeds, *shape)."""
        return np.stack([rng.standard_normal(shape) for rng in self.rngs])

    def frame(self, rows: int, cols: int) -> np.ndarray:
        """Haar-random orthonormal frames, (seeds, rows, cols) with cols ≤ rows: the polar factor
        Z (ZᵀZ)^(−1/2) of a Gaussian matrix Z (left- and right-invariant, hence Haar)."""
        z = self.normal((rows, cols))
        lam, u = np.linalg.eigh(np.swapaxes(z, -1, -2) @ z)
        return z @ (u * (1.0 / np.sqrt(lam))[..., None, :]) @ np.swapaxes(u, -1, -2)

    def linear(self, features: np.ndarray, sigma_w: float, sigma_b: float = 0.0):
        """``features @ Wᵀ + b`` for fresh weights W (width × n: Gaussian N(0, σ_w²/n) or scaled orthogonal) and
        bias b ~ N(0, σ_b²), sampled exactly from the features' Gram matrix (see the module docstring).

        With ``G = A Aᵀ = L Lᵀ`` (L = U√Λ from the eigendecomposition, valid for singular G: equal or opposite
        inputs), ``A Wᵀ`` has the distribution of ``L M``: M i.i.d. N(0, σ_w²/n) (B × m) for Gaussian W, and
        ``σ_w √max(1, m/n)`` times the first m columns of the transpose of a Haar max(m, n) × B frame for
        orthogonal W (Aᵀ = Q R, R = O Lᵀ for an orthogonal O, and Haar frames are invariant under both)."""
        m, n = self.width, features.shape[-1]
        lam, u = np.linalg.eigh(features @ np.swapaxes(features, -1, -2))  # (S, B), (S, B, B)
        factor = u * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]
        b = factor.shape[-1]
        if self.weights == "gaussian":
            mix = self.normal((b, m)) * (sigma_w / math.sqrt(n))
        else:
            if b > max(m, n):
                raise ConfigurationError(f"{b} inputs need a layer at least {b} wide, got {max(m, n)}")
            mix = np.swapaxes(self.frame(max(m, n), b)[:, :m, :], -1, -2) * (sigma_w * math.sqrt(max(1.0, m / n)))
        out = factor @ mix  # (S, B, B) @ (S, B, m)
        if sigma_b:
            out += sigma_b * self.normal((m,))[:, None, :]
        return out


@dataclass(frozen=True)
class FiniteWidthResult:
    """Empirical kernel statistics of ``seeds`` random networks of one width.

    ``cosines[s, l, j]``: cˡⱼ of seed s after top-level unit l (row 0 the inputs), for input cosine ``c[j]``;
    ``variances[s, l]``: qˡ of x⁰. ``mean``/``std``/``sem`` summarise over seeds (std with ddof = 1; sem = std/√S).
    """

    c: np.ndarray
    q0: float
    width: int
    weights: str
    cosines: np.ndarray
    variances: np.ndarray
    network_name: str = ""

    @property
    def seeds(self) -> int:
        return self.cosines.shape[0]

    def _summary(self, x: np.ndarray, what: str) -> np.ndarray:
        if what == "mean":
            return x.mean(axis=0)
        std = x.std(axis=0, ddof=1) if self.seeds > 1 else np.full(x.shape[1:], np.nan)
        return std if what == "std" else std / math.sqrt(self.seeds)

    @property
    def mean(self) -> np.ndarray:
        """Mean cosine trajectory, (length + 1, len(c))."""
        return self._summary(self.cosines, "mean")

    @property
    def std(self) -> np.ndarray:
        """Spread over seeds of the cosines (one network's deviation), (length + 1, len(c))."""
        return self._summary(self.cosines, "std")

    @property
    def sem(self) -> np.ndarray:
        """Standard error of :attr:`mean`."""
        return self._summary(self.cosines, "sem")

    @property
    def c_map(self) -> np.ndarray:
        """The empirical C_f(c) of each seed, (seeds, len(c)): the last row of every trajectory."""
        return self.cosines[:, -1, :]

    def band(self, spread: float = 1.0, layer: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) = mean ∓ spread·std of the cosines after top-level unit ``layer`` (default: C_f),
        clipped to [−1, 1]."""
        m, s = self.mean[layer], self.std[layer]
        return np.clip(m - spread * s, -1.0, 1.0), np.clip(m + spread * s, -1.0, 1.0)


def _inputs(c: np.ndarray, q0: float, width: int, sampler: Sampler) -> np.ndarray:
    """x⁰ = √(q₀N) e₀, xʲ = √(q₀N)(cⱼ e₀ + √(1 − cⱼ²) eⱼ) with e₀, …, e_K a random orthonormal frame per seed
    (so the coordinates look Gaussian, as the infinite-width h⁰ is)."""
    e = np.swapaxes(sampler.frame(width, len(c) + 1), -1, -2)  # (S, B, N)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    x = np.concatenate([e[:, :1], c[None, :, None] * e[:, :1] + s[None, :, None] * e[:, 1:]], axis=1)
    return x * math.sqrt(q0 * width)


def _record(h: np.ndarray, layer: int):
    """(q of x⁰, cosines of x⁰ with every xʲ) for each seed, checked finite."""
    with np.errstate(all="ignore"):
        sq = np.einsum("sbn,sbn->sb", h, h)
        dots = np.einsum("sn,sbn->sb", h[:, 0], h[:, 1:])
        cos = dots / np.sqrt(sq[:, :1] * sq[:, 1:])
    if not np.all(np.isfinite(sq)):
        raise _diverged(layer, f"the finite network's signal overflows after top-level unit {layer}: q grows "
                               "without bound at this width (the infinite-width q map diverges too)")
    if not np.all(sq > 0):
        raise _diverged(layer, f"the finite network's signal vanishes after top-level unit {layer} (every unit is "
                               "0 for some input): the cosines are undefined")
    return sq[:, 0] / h.shape[-1], np.clip(cos, -1.0, 1.0)


def _diverged(layer: int, text: str) -> DivergenceError:
    err = DivergenceError(text)
    err.layer = layer  # a split run raises the earlier of its halves' divergences
    return err


def _check(width, seeds, c, q0, weights, length, depth):
    for name, value, lo, hi in (("width", width, MIN_WIDTH, MAX_WIDTH), ("seeds", seeds, 1, MAX_SEEDS)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ConfigurationError(f"{name} must be a whole number in [{lo}, {hi:,}], got {value!r}")
    if weights not in WEIGHTS:
        raise ConfigurationError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    c = np.atleast_1d(np.asarray(c, dtype=float))
    if c.ndim != 1 or not 1 <= c.size <= MAX_POINTS or not np.all(np.abs(c) <= 1.0):
        raise ConfigurationError(f"c must be 1 to {MAX_POINTS} cosines in [−1, 1], got {c.size} values "
                                 f"(range {np.nanmin(c) if c.size else 'none'} … {np.nanmax(c) if c.size else ''})")
    if c.size + 1 > width:
        raise ConfigurationError(f"{c.size} input cosines need width ≥ {c.size + 1} (the inputs must be linearly "
                                 f"independent), got {width}")
    if not (isinstance(q0, (int, float, np.floating)) and math.isfinite(q0) and q0 > 0):
        raise ConfigurationError(f"q must be a finite number > 0, got {q0!r}")
    b = c.size + 1
    work = float(seeds) * max(depth, length) * b * b * width
    if work > MAX_WORK:
        raise ConfigurationError(
            f"sampling {seeds} networks of width {width:,} and depth {depth:,} for {c.size} cosines costs "
            f"{work:.1e} multiply-adds (at most {MAX_WORK:.0e}, ~10 s): use fewer seeds, cosines or a smaller width")
    return c, float(q0)


def finite_width(net, c=None, q: float = 1.0, *, width: int = 1024, seeds: int = 8, weights: str = "gaussian",
                 seed: int = 0, progress=None) -> FiniteWidthResult:
    """Sample ``seeds`` random networks of ``width`` from the description ``net`` (a :class:`~sigprop.Network`)
    and record the empirical q and cosine after every top-level unit (see the module docstring).

    ``c``: input cosines (default 33 points on [−1, 1]); ``q``: the inputs' q₀; ``weights``: "gaussian"
    (N(0, σ_w²/n)) or "orthogonal" (scaled Haar orthogonal); ``seed``: seed s of the result uses
    ``numpy.random.default_rng([seed, s])``. ``progress(done, total)`` is called after every top-level unit;
    an exception it raises stops the run (how the dashboard cancels). Raises :class:`ConfigurationError` for
    sizes over :data:`MAX_WORK` and :class:`DivergenceError` if the finite signal overflows or vanishes.
    """
    from .network.network import Network

    if not isinstance(net, Network):
        raise ConfigurationError(f"finite_width needs a sigprop Network (sp.mlp, sp.resnet, ...), got "
                                 f"{type(net).__name__}")
    c, q0 = _check(width, seeds, DEFAULT_COSINES if c is None else c, q, weights, net.length, net.depth)
    cancel = threading.Event()

    def run(ids: range, report) -> tuple[np.ndarray, np.ndarray]:
        """Sample the networks of seeds ``ids``: (variances, cosines) stacked over layers. Each seed has its own
        generator, so seed s draws the same network in any grouping."""
        sampler = Sampler(int(width), weights, [np.random.default_rng([int(seed), s]) for s in ids])
        qs, cs = [], []

        def record(h, layer):
            if cancel.is_set():
                raise _Cancelled
            qv, cv = _record(h, layer)
            qs.append(qv)
            cs.append(cv)
            if report is not None and layer:
                report(layer, net.length)

        h = _inputs(c, q0, int(width), sampler)
        record(h, 0)
        net.body.sample(h, sampler, record)
        return np.stack(qs, axis=1), np.stack(cs, axis=1)

    work = float(seeds) * max(net.depth, net.length) * (c.size + 1) ** 2 * width
    with _single_threaded_blas():
        variances, cosines = _in_two_threads(run, int(seeds), progress, cancel, split=work >= SPLIT_WORK)
    return FiniteWidthResult(c=c, q0=q0, width=int(width), weights=weights, cosines=cosines,
                             variances=variances, network_name=net.name)


_BLAS_USERS = [0, None]  # runs sampling now, and the limiter that restores BLAS's own thread count
_BLAS_LOCK = threading.Lock()


@contextmanager
def _single_threaded_blas():
    """BLAS on one thread while any finite-width run samples (process-wide, counted across concurrent runs; the
    threadpoolctl package sets it). The sampler's products are small ((B × B) by (B × width) per seed), where
    BLAS's own threads cost more than they give, and fight the two halves of a split run for the cores (measured:
    depth 100, width 1,024, 8 seeds: 1.5-1.9 s with BLAS's threads, split or not; 0.8-1.0 s split on one BLAS
    thread). It also makes a seed's draws independent of how many runs share the process: the thread count
    changes BLAS's rounding, and a sign flip of an eigenvector in :meth:`Sampler.linear` then changes the draw."""
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            from threadpoolctl import threadpool_limits

            _BLAS_USERS[1] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                _BLAS_USERS[1].restore_original_limits()


class _Cancelled(Exception):
    """The other half of a split run stopped (cancelled by ``progress``): this half stops at its next layer."""


_POOL: list = []  # the worker threads of split runs (made on first use; at most 2, shared by concurrent runs)


def _in_two_threads(run, seeds: int, progress, cancel: threading.Event, split: bool):
    """``run(range(seeds), progress)``, or, when ``split``, the first half of the seeds in this thread and the
    second in a worker thread (NumPy's elementwise functions, draws, eigh and matmul release the GIL, so the two
    halves share the machine's cores). ``progress`` follows the first half. An exception in either half (a
    divergence, or ``progress`` cancelling) is raised once both halves have stopped: a divergence is raised for
    the earlier layer, as an unsplit run would; a cancellation stops the other half at its next layer."""
    if not split or seeds < 2:
        return run(range(seeds), progress)
    with _BLAS_LOCK:
        if not _POOL:
            from concurrent.futures import ThreadPoolExecutor

            _POOL.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="sigprop-finite"))
    half = (seeds + 1) // 2
    second = _POOL[0].submit(run, range(half, seeds), None)
    try:
        first = run(range(half), progress)
    except DivergenceError as err:
        first = err
    except BaseException:
        cancel.set()
        second.exception()  # wait until the other half has stopped
        raise
    try:
        other = second.result()
    except DivergenceError as err:
        other = err
    errors = [e for e in (first, other) if isinstance(e, DivergenceError)]
    if errors:
        raise min(errors, key=lambda e: e.layer)
    return tuple(np.concatenate(pair, axis=0) for pair in zip(first, other))
