"""Engine calls behind the dashboard: one cached, immutable bundle of arrays per configuration.

Everything numeric comes from :mod:`sigprop`; this module only chooses the grids, calls the public API
and packs the results. Results are cached by the configuration's *spec* (a hashable tuple of the
parameters that matter for it), so moving one configuration's slider recomputes that configuration only,
and two sessions showing the same configuration share the work.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import wraps

import contourpy
import numpy as np

import sigprop as sp

log = logging.getLogger(__name__)

C_GRID = np.linspace(-1.0, 1.0, 201)  # input cosines c for the C_f(c) curves
D_GRID = np.logspace(-8.0, np.log10(2.0), 121)  # d = 1 - c for the 1 - C_f(1 - d) curves
C0S = (-0.5, 0.0, 0.5, 0.9)  # input cosines followed layer by layer
Q_GRID = np.linspace(0.05, 4.0, 80)  # input variances q for the per-layer Q map
X_GRID = np.linspace(-4.0, 4.0, 161)  # pre-activations x for φ and φ̂
NTK_C = np.linspace(-1.0, 1.0, 81)  # cosines for the per-layer NTK curves
SW2_GRID = np.linspace(0.25, 4.0, 46)  # phase diagram σ_w²
SB2_GRID = np.linspace(0.0, 1.0, 26)  # phase diagram σ_b² (at 0: C'(1) = 1, ξ_c = ∞ if q* = 0 or φ is ReLU-like)
MAX_POINTS = 400  # layers drawn per trajectory (log-spaced when deeper)
N_DEPTHS = 4  # depths drawn per configuration in the C_f(c) plot

def memo(maxsize: int = 256):
    """Like functools.lru_cache, but also remembers the error a key raised (so a refused configuration is
    not recomputed at every redraw) and offers ``peek(*args)``: the result if cached, else None.

    Thread-safe for the engine pool (:mod:`.work`): a key is computed once, while other threads asking for it
    wait for that result; different keys are computed in parallel."""

    def wrap(fn):
        store: OrderedDict = OrderedDict()
        guard = threading.Lock()  # protects store and pending
        pending: dict = {}  # key -> the lock held while that key is computed

        @wraps(fn)
        def cached(*args):
            hit = store.get(args)  # fast path without a lock: cached results never wait for a computation
            if hit is None:
                with guard:
                    key_lock = pending.setdefault(args, threading.Lock())
                with key_lock:
                    hit = store.get(args)
                    if hit is None:
                        hit = attempt(fn, *args)
                        with guard:
                            store[args] = hit
                            if len(store) > maxsize:
                                store.popitem(last=False)
                            pending.pop(args, None)
            ok, value = hit
            if not ok:
                raise value
            return value

        def peek(*args):
            ok, value = store.get(args, (False, None))
            return value if ok else None

        def put(hit: tuple, *args) -> None:
            """Store ``hit`` = (True, result) or (False, the error raised) for ``args``, computed elsewhere (an
            engine process, :func:`compute_elsewhere`)."""
            with guard:
                store.setdefault(args, hit)
                if len(store) > maxsize:
                    store.popitem(last=False)

        cached.peek = peek
        cached.put = put
        cached.cached = lambda *args: args in store
        cached.cache_clear = store.clear
        return cached

    return wrap


def attempt(fn, *args) -> tuple:
    """(True, fn(*args)), or (False, the error) when sigprop refused the input (a ValueError or ArithmeticError:
    cached like a result); any other exception propagates."""
    try:
        return True, fn(*args)
    except (ValueError, ArithmeticError) as exc:
        return False, exc


METHODS = ("standard", "eoc", "dks", "tat", "looks_linear")
SCHEMES = ("he", "lecun", "glorot", "custom")


@dataclass(frozen=True)
class Spec:
    """The parameters that determine one configuration's curves (hashable: the cache key)."""

    activation: str = "tanh"
    method: str = "eoc"
    scheme: str = "lecun"
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    zeta: float = 1.5
    eta: float = 0.9
    tau: float = 0.3
    architecture: str = "plain"
    shortcut_weight: float = 0.8
    depth: int = 100

    def relevant(self) -> Spec:
        """The same spec with the parameters this method ignores reset, so they do not split the cache."""
        d = Spec()
        keep = {"activation", "method", "architecture", "depth"}
        keep |= {
            "standard": {"scheme", "sigma_b"} | ({"sigma_w"} if self.scheme == "custom" else set()),
            "eoc": {"sigma_b"},
            "dks": {"zeta"},
            "tat": {tat_target(self.activation)},
            "looks_linear": set(),
        }[self.method]
        if self.architecture == "residual":
            keep.add("shortcut_weight")
        return Spec(**{k: (getattr(self, k) if k in keep else getattr(d, k)) for k in self.__dataclass_fields__})


def plot_depths(depth: int) -> tuple[int, ...]:
    """Depths drawn in the C_f(c) plot: L^(k/4), k = 1..4 (always four, possibly repeated)."""
    return tuple(max(1, round(depth ** (k / N_DEPTHS))) for k in range(1, N_DEPTHS + 1))


def layer_index(depth: int) -> np.ndarray:
    """Layers drawn in trajectory plots: all of them up to MAX_POINTS, else log-spaced (0 and L included)."""
    if depth + 1 <= MAX_POINTS:
        return np.arange(depth + 1)
    return np.unique(np.concatenate([[0], np.round(np.logspace(0, np.log10(depth), MAX_POINTS)).astype(int)]))


@dataclass(frozen=True)
class Model:
    """The engine objects of a configuration: φ, the method's result and the network."""

    spec: Spec
    phi: object
    result: object  # a method result, or None for `standard` with a custom σ_w
    net: object
    phi_hat: object
    sigma_w: float
    sigma_b: float


def _build_network(spec: Spec, phi, sigma_w: float, sigma_b: float, init=None):
    """The network of a configuration; ``init`` only for Looks-Linear (mirrored CReLU layers: the identity's
    C maps but their own NTK, so they are not Dense layers of φ̂ = identity)."""
    if spec.architecture == "residual":
        blocks, per_block = (1, 1) if spec.depth == 1 else (spec.depth // 2, 2)
        return sp.resnet(
            phi,
            blocks=blocks,
            shortcut_weight=spec.shortcut_weight,
            layers_per_block=per_block,
            sigma_w=sigma_w,
            sigma_b=sigma_b,
            init=init,
        )
    return sp.mlp(phi, depth=spec.depth, sigma_w=sigma_w, sigma_b=sigma_b, init=init)


def tat_target(activation: str) -> str:
    """TAT's target parameter for ``activation`` (Zhang et al. 2022, arXiv:2203.08120): "eta" (C_f(0) = η) for
    leaky ReLU, "tau" (C_f''(1) = τ) for every other (smooth or C¹) activation."""
    return "eta" if "leaky" in activation else "tau"


def _tat_kwargs(spec: Spec, phi) -> dict:
    target = tat_target(phi.name)
    return {target: getattr(spec, target)}


@memo(256)
def model(spec: Spec) -> Model:
    """Build φ, apply the method and build the network. Raises sigprop's errors unchanged."""
    phi = sp.activation(spec.activation)
    if spec.method == "standard" and spec.scheme == "custom":
        return Model(
            spec, phi, None, _build_network(spec, phi, spec.sigma_w, spec.sigma_b), phi, spec.sigma_w, spec.sigma_b
        )
    if spec.method == "standard":
        res = sp.standard(phi, scheme=spec.scheme, sigma_b=spec.sigma_b)
    elif spec.method == "eoc":
        res = sp.eoc(phi, sigma_b=spec.sigma_b)
    elif spec.method == "looks_linear":
        res = sp.looks_linear(phi)
    else:
        # DKS/TAT targets depend on the architecture: describe it with φ, then solve.
        shape = _build_network(spec, phi, 1.0, 0.0)
        if spec.method == "dks":
            res = sp.dks(phi, network=shape, zeta=spec.zeta)
        else:
            res = sp.tat(phi, network=shape, **_tat_kwargs(spec, phi))
    phi_hat = res.activation
    net = _build_network(spec, phi_hat, float(res.sigma_w), float(res.sigma_b),
                         init=res if spec.method == "looks_linear" else None)
    return Model(spec, phi, res, net, phi_hat, float(res.sigma_w), float(res.sigma_b))


def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Curves:
    """Every array the plots draw for one configuration (float64 NumPy)."""

    depths: tuple[int, ...]  # the depths of the rows of c_maps
    c_maps: np.ndarray  # (N_DEPTHS, len(C_GRID)): C_f(c) of the depth-d sub-network
    one_minus: np.ndarray  # 1 - C_f(1 - d) on D_GRID
    layers: np.ndarray  # layer indices drawn
    c_traj: np.ndarray  # (len(layers), len(C0S)): c_l for each input cosine
    q_traj: np.ndarray  # (len(layers),): q_l for q_0 = 1
    q_map: np.ndarray  # per-layer Q(q) on Q_GRID
    phi_x: np.ndarray  # φ on X_GRID
    phi_hat_x: np.ndarray  # φ̂ on X_GRID
    readouts: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)


C_ALL = np.concatenate([C_GRID, C0S, 1.0 - D_GRID])  # one trajectory call serves plots 1-3
_I0 = int(np.flatnonzero(C_GRID == 0.0)[0])


@memo(256)
def curves(spec: Spec) -> Curves:
    """The C/Q map curves and readouts of one configuration.

    Trajectories have one row per top-level unit (a layer of an MLP, a block of a ResNet); layer numbers
    drawn are unit × (nonlinear layers per unit)."""
    m = model(spec)
    net = m.net
    depth, length = int(net.depth), int(net.length)
    per_unit = depth // length
    gaps = _np(net.one_minus_c_trajectory(C_ALL))  # 1 - c_l, shape (length + 1, len(C_ALL))
    n1, n2 = len(C_GRID), len(C0S)
    units = plot_depths(length)
    rows = layer_index(length)
    final = 1.0 - gaps[-1, :n1]
    slope = float(net.c_slope_at_1())
    slope0 = float(net.c_slope(0.0))
    theorem = sp.theorem13_bounds(slope0, slope, final[_I0])  # Martens et al. 2021, Theorem 13
    upper = min([theorem["deviation upper"], theorem.get("deviation upper (C_f(0) = 0)", np.inf),
                 sp.c_deviation_bound(slope, final[_I0])])  # sigprop's own bound only where it is tighter
    readouts = {
        "depth": depth,
        "C'_f(1)": slope,
        "C'_f(0)": slope0,
        "C_f(0)": float(final[_I0]),
        "Thm 13 lower": theorem["deviation lower"],
        "max|C_f(c) - c|": float(np.max(np.abs(final - C_GRID))),
        "bound": upper,
    }
    constants = {"sigma_w": m.sigma_w, "sigma_b": m.sigma_b}
    if m.result is not None:
        constants.update({k: float(v) for k, v in dict(m.result.constants).items() if np.isscalar(v)})
    if hasattr(m.result, "roots"):  # DKS/TAT: how many roots the conditions have (the one shown is dks's rule's)
        constants["roots found"] = len(m.result.roots())
    return Curves(
        depths=tuple(u * per_unit for u in units),
        c_maps=1.0 - gaps[list(units), :n1],
        one_minus=gaps[-1, n1 + n2 :],
        layers=rows * per_unit,
        c_traj=1.0 - gaps[rows, n1 : n1 + n2],
        q_traj=_np(net.q_trajectory(1.0, vanished="nan"))[rows],  # NaN past an underflow of q
        q_map=_np(sp.q_map(m.phi_hat, Q_GRID, sigma_w=m.sigma_w, sigma_b=m.sigma_b)),
        phi_x=_np(m.phi(X_GRID)),
        phi_hat_x=_np(m.phi_hat(X_GRID)),
        readouts=readouts,
        constants=constants,
    )


@dataclass(frozen=True)
class Phase:
    """EOC phase diagram of one activation over (σ_w², σ_b²), plus the local quantities of the current point.
    χ₁, ξ_c are NaN and q* is inf where q diverges from q_0 = 1 (no fixed point to take them at)."""

    sw2: np.ndarray
    sb2: np.ndarray
    chi1: np.ndarray  # (len(sb2), len(sw2))
    xi_c: np.ndarray
    q_star: np.ndarray
    lines: tuple = ()  # the χ₁ = 1 line: ((σ_w² values, σ_b² values), ...), see chi1_one_lines


@memo(256)
def activation(name: str):
    """The typed activation φ (a registry name or an expression); the phase diagram needs only φ, so it is drawn
    even for a configuration whose method fails (e.g. no edge of chaos at its σ_b)."""
    return sp.activation(name)


@memo(64)
def phase(phi, sw2: tuple = tuple(SW2_GRID), sb2: tuple = tuple(SB2_GRID)) -> Phase:
    """χ₁, ξ_c, q* and the χ₁ = 1 line of φ on the (σ_w², σ_b²) grid (rows: σ_b², columns: σ_w²)."""
    w2, b2 = np.asarray(sw2), np.asarray(sb2)
    d = sp.phase_diagram(phi, w2, b2)
    chi1, q_star = _np(d.chi1), _np(d.q_star)
    return Phase(w2, b2, chi1, _np(d.xi_c), q_star, chi1_one_lines(phi, w2, b2, chi1, q_star))


REFINE = 16  # σ_w² steps per grid cell where q stops converging, for the χ₁ = 1 line (see chi1_one_lines)


def chi1_one_lines(phi, sw2: np.ndarray, sb2: np.ndarray, chi1: np.ndarray, q_star: np.ndarray) -> tuple:
    """The χ₁ = 1 line of a phase diagram: ((σ_w² values, σ_b² values), ...) (none on a grid of one row or
    column).

    - When χ₁/σ_w² = E[φ'(√q* z)²] is the same wherever q* exists (q* varying): positively homogeneous φ, the
      ReLU family. χ₁ does not depend on q, so χ₁ = 1 on the whole vertical line σ_w² = 1/E[φ'(z)²] (2 for
      ReLU), also for σ_b > 0, where q has no fixed point (Q(q) = q + σ_b² on the line: q grows by σ_b² a layer).
    - Otherwise the contour of log10 χ₁ where q* exists (marching squares, contourpy). A ReLU-like smooth φ
      (GELU, swish) reaches χ₁ = 1 only just before its Q map loses its fixed point (q* → ∞), inside the
      last grid cell before q diverges, so the cells where convergence stops are first refined REFINE-fold in
      σ_w² (one more phase diagram at those σ_w²).
    """
    if min(chi1.shape) < 2:
        return ()
    fin = np.isfinite(chi1)
    slope = (chi1 / sw2)[fin]  # E[φ'(√q* z)²]
    if slope.size > 1 and np.ptp(q_star[fin]) > 0 and np.ptp(slope) <= 1e-9 * np.max(slope):
        w2 = 1.0 / float(np.mean(slope))
        return ((np.array([w2, w2]), sb2[[0, -1]]),) if sw2[0] <= w2 <= sw2[-1] else ()
    cells = np.flatnonzero((fin[:, :-1] != fin[:, 1:]).any(axis=0))
    if cells.size:
        sw2 = np.unique(np.concatenate([sw2, *(np.linspace(sw2[j], sw2[j + 1], REFINE + 1) for j in cells)]))
        chi1 = _np(sp.phase_diagram(phi, sw2, sb2).chi1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.ma.masked_invalid(np.log10(chi1))
    return tuple((line[:, 0], line[:, 1]) for line in contourpy.contour_generator(sw2, sb2, z).lines(0.0))


@memo(256)
def local_point(spec: Spec) -> dict:
    """q*, χ₁ and ξ_c of the per-layer map (φ̂, σ_w, σ_b) of a configuration (from the EOC result when it
    has them, else from a one-point phase diagram)."""
    m = model(spec)
    const = dict(m.result.constants) if m.result is not None else {}
    if {"q*", "chi1", "xi_c"} <= const.keys():
        return {"q*": const["q*"], "χ₁": const["chi1"], "ξ_c": const["xi_c"]}
    p = phase(m.phi_hat, (m.sigma_w**2,), (m.sigma_b**2,))
    q_star, chi1, xi_c = (float(v.ravel()[0]) for v in (p.q_star, p.chi1, p.xi_c))
    if math.isinf(q_star):  # the Q map diverges: there is no fixed point to take χ₁ and ξ_c at (shown as –)
        return {"q*": q_star, "χ₁": None, "ξ_c": None}
    return {"q*": q_star, "χ₁": chi1, "ξ_c": xi_c}


@dataclass(frozen=True)
class NTK:
    """Per-layer NTK curves Θ_l(c) at the drawn layers, and the DKS bound when the method has a ζ."""

    layers: tuple[int, ...]
    per_layer: np.ndarray  # (len(layers), len(NTK_C))
    total: np.ndarray  # Θ(c) / (L + 1)
    bound: float | None  # 11(ζ - 1) for DKS, else None
    deviation: float  # measured max_l,c |Θ_l(c) − c| (what Theorem 27's bound bounds)
    cond_depths: np.ndarray
    cond: np.ndarray  # NTK condition number vs depth


@memo(256)
def ntk(spec: Spec) -> NTK:
    """Per-layer NTK Θ_l(c) of a configuration (layers 0, L/2, L) and its condition number vs depth."""
    m = model(spec)
    res = m.net.ntk(NTK_C)
    per_layer = _np(res.per_layer)
    depth = per_layer.shape[0] - 1
    layers = tuple(sorted({0, depth // 2, depth}))
    cond = _np(sp.ntk_condition_numbers(m.net))
    bound = float(sp.ntk_bound(spec.zeta)) if spec.method == "dks" else None
    return NTK(layers, per_layer[list(layers)], _np(res.total) / (depth + 1), bound, res.max_deviation,
               np.arange(len(cond)), cond)


# ---- computed elsewhere (served: in the engine processes of app/work.py) -------------------------------------
SPEC_PARTS = {"curves": curves, "point": local_point, "ntk": ntk}  # the parts that are functions of a Spec alone


def compute_parts(spec: Spec, parts: tuple[str, ...]) -> dict:
    """{part: (True, result) or (False, the error)} for ``parts`` (keys of SPEC_PARTS) of one configuration, in
    one call: its model is solved once for all of them (and stays cached where this runs)."""
    return {part: attempt(SPEC_PARTS[part], spec) for part in parts}


_elsewhere = None  # fn(spec, parts) -> compute_parts(spec, parts), computed in another process (set_elsewhere)
_elsewhere_guard = threading.Lock()
_elsewhere_pending: dict = {}  # spec -> the lock held while its parts are computed elsewhere


def set_elsewhere(fn) -> None:
    """Have :func:`compute_elsewhere` call ``fn(spec, parts)`` (None: compute everything in this process)."""
    global _elsewhere
    _elsewhere = fn


def compute_elsewhere(spec: Spec, parts) -> None:
    """Fill this process's caches with the ``parts`` of ``spec`` (those of SPEC_PARTS, not cached yet) computed by
    the function given to :func:`set_elsewhere`, so that this process's GIL is held only to unpickle the arrays.
    Does nothing when none is set; if it fails, logs why and leaves the parts to be computed here. Two threads
    asking for the same spec send it once."""
    fn = _elsewhere
    if fn is None:
        return
    with _elsewhere_guard:
        spec_lock = _elsewhere_pending.setdefault(spec, threading.Lock())
    try:
        with spec_lock:
            todo = tuple(p for p in parts if p in SPEC_PARTS and not SPEC_PARTS[p].cached(spec))
            if todo:
                for part, hit in fn(spec, todo).items():
                    SPEC_PARTS[part].put(hit, spec)
    except Exception:  # noqa: BLE001 - e.g. an engine process died: the caller computes the parts here
        log.warning("computing %s elsewhere failed; computing it here", spec, exc_info=True)
    finally:
        with _elsewhere_guard:
            _elsewhere_pending.pop(spec, None)


@memo(64)
def c_map_rows(spec: Spec, depths: tuple[int, ...]) -> np.ndarray:
    """C_f(c) on C_GRID of the depth-d sub-network for each d in ``depths`` (clipped to the network's depth)."""
    net = model(spec).net
    per_unit = int(net.depth) // int(net.length)
    traj = _np(net.c_trajectory(C_GRID))
    return traj[[min(int(d) // per_unit, traj.shape[0] - 1) for d in depths]]


# ---- finite width and training (issue 12) ----------------------------------------------------------------
FINITE_C = np.linspace(-1.0, 1.0, 17)  # input cosines of the finite-width band
FINITE_WIDTHS = (64, 256, 1024, 4096)
FINITE_SEEDS = 8
TRAIN_WIDTH = 128  # finite width of the networks trained in the dashboard
TRAIN_STEPS = (20, 50, 100, 200)
TRAIN_EVERY = 10
OPTIMIZERS = {"Adam": "adam", "SGD + momentum": "sgd", "K-FAC": "kfac"}
DATASETS = {"digits (scikit-learn, 8×8)": "digits", "teacher network (synthetic)": "teacher"}
MAX_TRAIN_DEPTH = 200  # the dashboard trains plain and residual networks up to this depth (sp.train has no cap)


def finite_weights(spec: Spec) -> str:
    """Looks-Linear is defined with orthogonal weights (Balduzzi et al. 2017); the others with Gaussian ones."""
    return "orthogonal" if spec.method == "looks_linear" else "gaussian"


@dataclass(frozen=True)
class Finite:
    """The band of ``seeds`` random networks of ``width``: mean and mean ± 2 std of C_f(c) on FINITE_C."""

    width: int
    seeds: int
    weights: str
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@memo(128)
def finite(spec: Spec, width: int, seeds: int = FINITE_SEEDS) -> Finite:
    """C_f(c) of real random networks of the configuration (:func:`sigprop.finite_width`, exact sampling)."""
    weights = finite_weights(spec)
    res = sp.finite_width(model(spec).net, FINITE_C, width=int(width), seeds=int(seeds), weights=weights)
    lo, hi = res.band(spread=2.0)
    return Finite(int(width), int(seeds), weights, _np(res.mean[-1]), _np(lo), _np(hi))


def train(spec: Spec, optimizer: str, steps: int, callback=None, stop=None, dataset: str = "digits"):
    """Train the configuration's network on ``dataset`` at width TRAIN_WIDTH (:func:`sigprop.train`: seeded and
    cached per process, so a second session asking for the same run gets it at once)."""
    net = model(spec).net
    if net.depth > MAX_TRAIN_DEPTH:
        raise sp.ConfigurationError(f"the dashboard trains networks up to depth {MAX_TRAIN_DEPTH}; this one has "
                                    f"{net.depth:,} layers (sp.train in a notebook has no such limit)")
    return sp.train(net, dataset, optimizer, steps=int(steps), width=TRAIN_WIDTH, eval_every=TRAIN_EVERY,
                    callback=callback, stop=stop)
