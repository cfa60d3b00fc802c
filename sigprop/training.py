"""Training the finite networks a description stands for: does the kernel predict trainability?

Martens et al. 2021 (DKS, arXiv:2110.01765) and Zhang et al. 2022 (TAT, arXiv:2203.08120) claim that a deep
*vanilla* network whose kernel stays non-degenerate trains fast, while one whose C map degenerates (standard
initialisation, or the EOC at depth) does not. :func:`train` tests the claim on real data: the network of a
:class:`~sigprop.Network` description at a finite width, as

    logits = readout(body(x W_in)),   W_in ~ N(0, 1/d) (d × width),  readout ~ N(0, 1/width) (width × classes),

where the inputs have |x|²/d = 1 (:mod:`sigprop.datasets`), so the body's first pre-activations have q₀ ≈ 1 as in
the kernel analysis, and the body is the description itself (its units' ``init_params``/``apply_params``:
Dense ``φ(h) W + b``, Looks-Linear's mirrored CReLU, sums, LayerNorm). The loss is the softmax cross-entropy.

Optimisers (the same settings for every configuration compared):

- ``"adam"``: optax's Adam, learning rate 1e-4;
- ``"sgd"``: optax's SGD with momentum 0.9, learning rate 0.01;
- ``"kfac"``: kfac-jax's K-FAC (Martens & Grosse 2015, arXiv:1503.05671), the optimiser DKS pairs with vanilla
  networks, with its adaptive learning rate, momentum and damping (initial damping 1.0, adapted at every step by
  the reduction ratio, ×0.9 or ÷0.9). kfac-jax's default adapts it every 5th step by 0.9⁵, the same rate; but
  whether a step adapts is a static argument of its compiled step, so the default compiles the whole step twice
  (the second time at step 4, 13–15 s for a depth-50 MLP here): adapting at every step compiles it once, and the
  first trained point (step 10) comes at 18 s instead of 33 s, at the same time a step (46 ms, width 128).

Training runs in float32 (the kernel maps stay float64). The step-0 point is evaluated in NumPy (the units'
``apply_params`` run on NumPy arrays too), so a run's first point comes before JAX is imported or anything is
compiled. Each run is seeded (weights, batches) and cached per process by its settings; repeated runs of one
structure reuse its compiled step.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ._lazy import Lazy
from .datasets import Dataset, dataset
from .errors import ConfigurationError

jax = Lazy("jax")
jnp = Lazy("jax.numpy")

OPTIMIZERS = ("adam", "sgd", "kfac")
LEARNING_RATES = {"adam": 1e-4, "sgd": 0.01}
MAX_STEPS = 100_000
MAX_WIDTH = 8192
MAX_CACHE = 64


@dataclass(frozen=True)
class ParamSpec:
    """How a unit's parameters are made: layer width, weight distribution ("gaussian" | "orthogonal"), dtype, and
    whether repeated runs are stacked for :func:`jax.lax.scan` (kfac-jax needs every layer's weights apart)."""

    width: int
    weights: str = "gaussian"
    stacked: bool = True
    dtype: object = "float32"

    def with_width(self, width: int) -> ParamSpec:
        return replace(self, width=width)


def init_weight(rng: np.random.Generator, n_in: int, n_out: int, sigma_w: float, spec: ParamSpec) -> np.ndarray:
    """An ``n_in × n_out`` weight matrix for ``h @ W`` (NumPy, float64): i.i.d. N(0, σ_w²/n_in), or
    σ_w √max(1, n_out/n_in) times a Haar-random matrix with orthonormal columns (n_in ≥ n_out) or rows (the Q of a
    Gaussian matrix, signs fixed by R's diagonal; Mezzadri 2007): fan-in variance σ_w²/n_in either way."""
    if spec.weights == "gaussian":
        return rng.standard_normal((n_in, n_out)) * (sigma_w / math.sqrt(n_in))
    if spec.weights != "orthogonal":
        raise ConfigurationError(f"weights must be 'gaussian' or 'orthogonal', got {spec.weights!r}")
    big, small = max(n_in, n_out), min(n_in, n_out)
    q, r = np.linalg.qr(rng.standard_normal((big, small)))
    q = q * np.sign(np.diag(r))
    return (q if n_in >= n_out else q.T) * (sigma_w * math.sqrt(max(1.0, n_out / n_in)))


@dataclass(frozen=True)
class FiniteNetwork:
    """A description at a finite width with an input embedding and a linear readout (see the module docstring)."""

    net: object
    width: int
    features: int
    classes: int
    weights: str = "gaussian"
    stacked: bool = True

    @property
    def spec(self) -> ParamSpec:
        return ParamSpec(self.width, self.weights, self.stacked)

    def init_numpy(self, seed: int):
        """Parameters for ``seed``, drawn in NumPy from ``default_rng([seed, 2])``, as NumPy arrays of the spec's
        dtype (float32): :meth:`apply` runs on them in NumPy, or on ``jax.tree.map(jnp.asarray, ·)`` in JAX."""
        rng = np.random.default_rng([int(seed), 2])
        spec = self.spec
        embed = init_weight(rng, self.features, self.width, 1.0, spec)
        body, n = self.net.body.init_params(rng, self.width, spec)
        params = {"embed": embed, "body": body,
                  "readout": {"w": init_weight(rng, n, self.classes, 1.0, spec), "b": np.zeros(self.classes)}}
        from .network.base import tree_map

        return tree_map(lambda a: np.asarray(a, spec.dtype), params)

    def init(self, seed: int):
        """:meth:`init_numpy`'s parameters as JAX arrays."""
        return jax.tree.map(jnp.asarray, self.init_numpy(seed))

    def apply(self, params, x):
        h = self.net.body.apply_params(params["body"], x @ params["embed"])
        return h @ params["readout"]["w"] + params["readout"]["b"]


@dataclass(frozen=True)
class TrainResult:
    """Curves of one training run: at each evaluated ``step``, the loss and accuracy on the whole training set
    and on the test set; ``batch_loss`` at every step. ``stopped``: ended early by ``stop``. ``timings``:
    compile_s (first step, with compilation), step_ms (median of the later steps)."""

    settings: dict
    steps: np.ndarray
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    batch_loss: np.ndarray
    stopped: bool = False
    timings: dict = field(default_factory=dict, compare=False)

    @property
    def final_train_loss(self) -> float:
        return float(self.train_loss[-1])

    @property
    def second_half_loss(self) -> float:
        """The training loss averaged over the evaluations at steps ≥ half the last one (less noisy than the last
        point alone; the statistic of the tests, benchmarks and :meth:`sigprop.sweeps.SweepResult.summary`)."""
        keep = self.steps >= self.steps[-1] / 2
        return float(np.mean(self.train_loss[keep]))

    def rows(self) -> list[dict]:
        """One tidy row per evaluated step."""
        return [{**self.settings, "step": int(s), "train_loss": float(a), "train_accuracy": float(b),
                 "test_loss": float(c), "test_accuracy": float(d)}
                for s, a, b, c, d in zip(self.steps, self.train_loss, self.train_accuracy, self.test_loss,
                                         self.test_accuracy)]


_CACHE: OrderedDict = OrderedDict()
_STEPS: dict = {}
_LOCK = threading.Lock()


def _loss_fn(model: FiniteNetwork, register: bool):
    import optax

    def loss(params, batch):
        x, y = batch
        logits = model.apply(params, x)
        if register:
            _kfac().register_softmax_cross_entropy_loss(logits, y)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return loss


def _kfac():
    """kfac-jax, made to work with JAX ≥ 0.10, whose ``Primitive.get_bind_params`` returns the parameters alone
    (kfac-jax 0.0.8 unpacks ``(subfuns, params)``, the older form); a no-op where the two agree."""
    import jax.extend as jex
    import kfac_jax
    from kfac_jax._src import tag_graph_matcher as tgm

    if not getattr(tgm, "_sigprop_patched", False) and not isinstance(
            jex.core.Primitive("probe").get_bind_params({}), tuple):
        def eval_jaxpr_eqn(eqn, in_values):
            bind = eqn.primitive.get_bind_params(eqn.params)
            subfuns, bind = bind if isinstance(bind, tuple) else ((), bind)
            with jex.source_info_util.user_context(eqn.source_info.traceback):
                out = eqn.primitive.bind(*subfuns, *in_values, **bind)
            return out if isinstance(out, list) else [out]

        tgm.eval_jaxpr_eqn = eval_jaxpr_eqn
        tgm._sigprop_patched = True
    return kfac_jax


def _optax_step(model, optimizer, lr):
    import optax

    tx = optax.adam(lr) if optimizer == "adam" else optax.sgd(lr, momentum=0.9)
    loss = _loss_fn(model, register=False)

    @jax.jit
    def step(params, state, batch):
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    return tx.init, step


def _kfac_optimizer(model):
    kfac_jax = _kfac()
    return kfac_jax.Optimizer(
        value_and_grad_func=jax.value_and_grad(_loss_fn(model, register=True)), l2_reg=0.0,
        value_func_has_aux=False, value_func_has_state=False, value_func_has_rng=False,
        use_adaptive_learning_rate=True, use_adaptive_momentum=True, use_adaptive_damping=True,
        initial_damping=1.0, damping_adaptation_interval=1, multi_device=False, num_burnin_steps=0)


def _metrics(xp, logits, y):
    """Per-example softmax cross-entropy −log softmax(logits)_y (shifted by the row maximum: no overflow) and
    correctness argmax(logits) = y, in NumPy (step 0) or jax.numpy (compiled, later steps)."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = xp.take_along_axis(z, y[:, None], axis=1)[:, 0] - xp.log(xp.exp(z).sum(axis=1))
    return -logp, xp.argmax(logits, axis=1) == y


def _evaluate(model):
    @jax.jit
    def evaluate(params, x, y):
        """Per-example loss and correctness (train and test sets go through as one array: one compile)."""
        return _metrics(jnp, model.apply(params, x), y)

    return evaluate


def _check(net, optimizer, steps, batch_size, width, weights, eval_every, learning_rate):
    from .network.network import Network

    if not isinstance(net, Network):
        raise ConfigurationError(f"train needs a sigprop Network (sp.mlp, sp.resnet, ...), got {type(net).__name__}")
    if optimizer not in OPTIMIZERS:
        raise ConfigurationError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    for name, value, hi in (("steps", steps, MAX_STEPS), ("batch_size", batch_size, 65_536),
                            ("width", width, MAX_WIDTH), ("eval_every", eval_every, MAX_STEPS)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= hi:
            raise ConfigurationError(f"{name} must be a whole number in [1, {hi:,}], got {value!r}")
    if weights not in ("gaussian", "orthogonal"):
        raise ConfigurationError(f"weights must be 'gaussian' or 'orthogonal', got {weights!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < 100):
        raise ConfigurationError(f"learning_rate must be a number in (0, 100), got {learning_rate!r}")
    if net.depth * width * width > 5e9:
        raise ConfigurationError(f"depth {net.depth:,} × width {width:,}² is too large to train here (at most 5e9 "
                                 "weights)")


def check_settings(net, optimizer: str = "adam", **settings) -> None:
    """Raise :class:`ConfigurationError` if :func:`train` would refuse these settings (its defaults fill the rest)."""
    import inspect

    params = inspect.signature(train).parameters
    unknown = set(settings) - set(params)
    if unknown:
        raise ConfigurationError(f"train has no setting {', '.join(sorted(unknown))}")
    kw = {name: settings.get(name, p.default) for name, p in params.items() if p.default is not inspect.Parameter.empty}
    dataset(kw["data"])
    _check(net, optimizer, kw["steps"], kw["batch_size"], kw["width"], kw["weights"], kw["eval_every"],
           kw["learning_rate"])


def train(net, data="digits", optimizer: str = "adam", *, steps: int = 200, batch_size: int = 128, width: int = 256,
          weights: str = "gaussian", seed: int = 0, learning_rate: float | None = None, eval_every: int = 10,
          callback: Callable[[dict], object] | None = None, stop: Callable[[], bool] | None = None,
          cache: bool = True) -> TrainResult:
    """Train the finite network of ``net`` (a :class:`~sigprop.Network`) at ``width`` on ``data`` ("digits",
    "teacher" or a :class:`~sigprop.datasets.Dataset`) with ``optimizer`` ("adam", "sgd", "kfac") for ``steps``
    minibatch steps (seeded batches of ``batch_size``).

    Every ``eval_every`` steps (and at steps 0 and ``steps``) the whole training and test sets are evaluated and
    ``callback(point)`` is called with the new point (keys step, train_loss, train_accuracy, test_loss,
    test_accuracy, elapsed_s): the dashboard draws from it while training runs. ``stop()`` returning true ends
    the run early (``result.stopped``; stopped runs are not cached). Returns a :class:`TrainResult`.
    """
    _check(net, optimizer, steps, batch_size, width, weights, eval_every, learning_rate)
    data = dataset(data)
    lr = LEARNING_RATES.get(optimizer) if learning_rate is None else float(learning_rate)
    settings = {"network": net.name, "depth": net.depth, "data": data.name, "optimizer": optimizer, "width": width,
                "weights": weights, "seed": seed, "steps": steps, "batch_size": batch_size, "learning_rate": lr}
    key = (net.body, data.name, optimizer, steps, batch_size, width, weights, seed, lr, eval_every)
    with _LOCK:
        if cache and key in _CACHE:
            _CACHE.move_to_end(key)
            hit = _CACHE[key]
            if callback is not None:
                for row in hit.rows():
                    callback({k: row[k] for k in ("step", "train_loss", "train_accuracy", "test_loss",
                                                  "test_accuracy")} | {"elapsed_s": 0.0})
            return hit
    result = _train(net, data, optimizer, steps, batch_size, width, weights, seed, lr, eval_every, callback, stop,
                    settings)
    if cache and not result.stopped:
        with _LOCK:
            _CACHE[key] = result
            while len(_CACHE) > MAX_CACHE:
                _CACHE.popitem(last=False)
    return result


def _compiled(model, optimizer, lr):
    """The step and evaluation functions of a model structure (one compile per structure, shape and optimiser)."""
    key = (model, optimizer, lr)
    with _LOCK:
        if key not in _STEPS:
            parts = {"evaluate": _evaluate(model)}
            if optimizer == "kfac":
                parts["kfac"] = _kfac_optimizer(model)
            else:
                parts["init"], parts["step"] = _optax_step(model, optimizer, lr)
            _STEPS[key] = parts
        return _STEPS[key]


def _train(net, data: Dataset, optimizer, steps, batch_size, width, weights, seed, lr, eval_every, callback, stop,
           settings) -> TrainResult:
    t0 = time.perf_counter()
    model = FiniteNetwork(net, width, data.features, data.classes, weights, stacked=optimizer != "kfac")
    n = len(data.x_train)
    x_all = np.concatenate([data.x_train, data.x_test]).astype(np.float32)
    y_all = np.concatenate([data.y_train, data.y_test])
    curve: dict[str, list] = {k: [] for k in ("steps", "train_loss", "train_accuracy", "test_loss", "test_accuracy")}

    def record(step, loss, correct):
        loss, correct = np.asarray(loss, dtype=float), np.asarray(correct, dtype=float)
        point = {"step": step, "train_loss": loss[:n].mean(), "train_accuracy": correct[:n].mean(),
                 "test_loss": loss[n:].mean(), "test_accuracy": correct[n:].mean(),
                 "elapsed_s": time.perf_counter() - t0}
        point = {k: (v if k == "step" else float(v)) for k, v in point.items()}
        if not all(math.isfinite(point[k]) for k in ("train_loss", "test_loss")):
            point["train_loss"] = point["test_loss"] = math.inf  # diverged: reported, never a NaN
        for k, name in zip(curve, ("step", "train_loss", "train_accuracy", "test_loss", "test_accuracy")):
            curve[k].append(point[name])
        if callback is not None:
            callback(point)

    # Step 0 in NumPy, the network's own forward pass (0.1-0.3 s at depth 50): the first point comes before JAX is
    # imported (1.1-1.4 s) and the step and evaluation are compiled (1-3 s; K-FAC's init traces the network, 2 s).
    params = model.init_numpy(seed)
    with np.errstate(all="ignore"):
        record(0, *_metrics(np, model.apply(params, x_all), y_all))
    from ._jax_cache import configure as configure_jax_cache

    configure_jax_cache()  # K-FAC's step compiles for 10-30 s: a restarted process reads it back
    with jax.enable_x64(False):
        parts = _compiled(model, optimizer, lr)
        params = jax.tree.map(jnp.asarray, params)
        x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
        x_all, y_all = jnp.asarray(x_all), jnp.asarray(y_all)
        rng = np.random.default_rng([seed, 1])
        batch_size = min(batch_size, n)

        def batches():
            while True:
                order = rng.permutation(n)
                for i in range(0, n - batch_size + 1, batch_size):
                    idx = order[i:i + batch_size]
                    yield x_train[idx], y_train[idx]

        stream = batches()
        batch_loss: list[float] = []
        step_times: list[float] = []
        k_opt = jax.random.PRNGKey(seed)
        if optimizer == "kfac":
            opt = parts["kfac"]
            state = opt.init(params, k_opt, next(stream))
        else:
            state = parts["init"](params)
        stopped = False
        for step in range(1, steps + 1):
            if stop is not None and stop():
                stopped = True
                break
            batch = next(stream)
            ts = time.perf_counter()
            if optimizer == "kfac":
                params, state, stats = opt.step(params, state, jax.random.fold_in(k_opt, step), batch=batch,
                                                global_step_int=step)
                value = stats["loss"]
            else:
                params, state, value = parts["step"](params, state, batch)
            value = float(value)
            step_times.append(time.perf_counter() - ts)
            batch_loss.append(value if math.isfinite(value) else math.inf)
            if not math.isfinite(value) or step % eval_every == 0 or step == steps:
                record(step, *parts["evaluate"](params, x_all, y_all))
            if not math.isfinite(value):  # diverged: the curve ends here
                break
    later = step_times[1:] or step_times
    timings = {"compile_s": step_times[0] if step_times else 0.0,
               "step_ms": 1000 * float(np.median(later)) if later else 0.0,
               "total_s": time.perf_counter() - t0}
    arrays = {k: np.asarray(v, dtype=float) for k, v in curve.items()}
    return TrainResult(settings=settings, steps=arrays["steps"].astype(int), train_loss=arrays["train_loss"],
                       train_accuracy=arrays["train_accuracy"], test_loss=arrays["test_loss"],
                       test_accuracy=arrays["test_accuracy"], batch_loss=np.asarray(batch_loss), stopped=stopped,
                       timings=timings)
