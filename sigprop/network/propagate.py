"""The JAX kernel propagation: push the state (q, d) through a network's static structure of slots.

Every unit's ``slot`` is a small frozen object whose ``apply(kernels, scales, q, d, cache, mode)`` is traced:
the structure (which kernel each layer uses, the nesting of branches) is compiled, and every number — σ_w², σ_b²,
sum weights, the run lengths, the kernels' own numbers (pytrees) — is data, so one compilation serves every
depth, σ and DKS/TAT transform of a structure. Modes: ``"q"`` (variances only), ``"d"`` (1 − c),
``"slope"`` (the tangent of d at d = 0, i.e. C'(1)) and ``"tangent"`` (d = (1 − c, t): t carries dC/dc at
any c; sums and LayerNorm act on both rows alike, since they are linear in d).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from .._lazy import Lazy
from ..kernels import TABLE_CELLS
from .base import NumpyMemo

jax = Lazy("jax")
jnp = Lazy("jax.numpy")


def apply_runs(runs, kernels, scales, q, d, cache, mode):
    """Push (q, d) through a (static) tuple of (slot, times) runs — a branch of a sum."""
    if isinstance(cache, NumpyMemo):
        for slot, times in runs:
            q, d, cache = run_numpy(slot, times, kernels, scales, q, d, cache, mode)
        return q, d, cache
    for slot, times in runs:
        q, d, cache = jax.lax.fori_loop(
            0, times, lambda _, carry, slot=slot: slot.apply(kernels, scales, *carry, mode), (q, d, cache))
    return q, d, cache


def run_numpy(slot, times, kernels, scales, q, d, memo, mode, qs=None, ds=None):
    """``times`` applications of ``slot`` in NumPy, the states appended to the lists ``qs``/``ds`` if given; a
    slot with a ``numpy_run`` (Dense: settled runs in closed form or tabulated) does the run itself."""
    own = getattr(slot, "numpy_run", None)
    if own is not None:
        return own(kernels, scales, q, d, memo, mode, times, qs, ds)
    for _ in range(times):
        q, d, memo = slot.apply(kernels, scales, q, d, memo, mode)
        if qs is not None:
            qs.append(q)
            ds.append(d)
    return q, d, memo


def bucket(n: int) -> int:
    """Power of two ≥ n: trajectories are recorded into buffers of this length, so one compilation serves
    every depth up to it (a depth slider does not recompile)."""
    return max(1024, 1 << max(n - 1, 0).bit_length())


def propagate_numpy(slots, kernels, mode, record, times, scales, q0, d0):
    """The same fold in NumPy (no JAX import, no compile): layer by layer, settled runs of Dense layers in closed
    form or tabulated (:meth:`DenseSlot.numpy_run`). Returns (q, d, qs, ds) like the jitted fold."""
    memo = NumpyMemo()
    q, d = float(q0), np.asarray(d0, dtype=float)
    qs, ds = ([q], [d]) if record else (None, None)
    with np.errstate(all="ignore"):
        for slot, n in zip(slots, times):
            q, d, memo = run_numpy(slot, int(n), kernels, scales, q, d, memo, mode, qs, ds)
    if record:
        qs = np.asarray(qs, dtype=float)
        return q, d, qs, (np.broadcast_to(d, qs.shape + d.shape) if mode == "q" else np.stack(ds))
    return q, d, None, None


class TierUp:
    """Compile the jitted fold of a deep structure in the background once it is used again, and switch to it when
    it is ready (tiered compilation, as in a JIT-compiling VM): a first call never waits for XLA, a repeated one
    (a slider moved, a depth sweep) soon runs compiled at ~2 µs a layer instead of ~10 µs in NumPy.

    One compilation at a time, in a non-daemon thread (an exiting interpreter waits for it rather than tearing
    XLA down under it). A compilation that fails leaves that structure on NumPy. ``SIGPROP_TIER_UP=0`` turns the
    background compilation off (everything then stays on the NumPy fold, or sets ``FOLD`` in
    :mod:`sigprop.network.network`).
    """

    #: uses of one structure (on the NumPy fold) that start its compilation
    AFTER_USES = 2
    _MAX_KEYS = 4096

    def __init__(self):
        self._lock = threading.Lock()
        self._uses: dict = {}
        self._ready: set = set()
        self._failed: set = set()
        self._busy: threading.Thread | None = None
        self.enabled = os.environ.get("SIGPROP_TIER_UP", "1") != "0"

    def ready(self, key) -> bool:
        return key in self._ready

    def used(self, key, compile_fn: Callable[[], object]) -> None:
        """Count one NumPy use of ``key``; start ``compile_fn`` (which runs the jitted fold once) in the background
        on the ``AFTER_USES``-th, unless another compilation is running."""
        if not self.enabled:
            return
        with self._lock:
            if key in self._ready or key in self._failed:
                return
            if len(self._uses) > self._MAX_KEYS:
                self._uses.clear()
            self._uses[key] = n = self._uses.get(key, 0) + 1
            if n < self.AFTER_USES or self._busy is not None:
                return
            self._busy = threading.Thread(target=self._compile, args=(key, compile_fn), name="sigprop-tier-up")
            self._busy.start()

    def _compile(self, key, compile_fn):
        try:
            compile_fn()
        except Exception:  # noqa: BLE001 - a structure that does not compile stays on the NumPy fold
            self._failed.add(key)
        else:
            self._ready.add(key)
        finally:
            with self._lock:
                self._busy = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running background compilation (if any) has finished."""
        thread = self._busy
        if thread is not None:
            thread.join(timeout)


TIER_UP = TierUp()


@lru_cache(maxsize=1)
def jitted_propagate():
    """The jitted fold (created, and JAX imported, on first use)."""
    from ..kernels import enable_jax

    enable_jax()
    return jax.jit(_propagate, static_argnums=(0, 2, 3))


def _propagate(slots, kernels, mode, record, times, settled, scales, q0, d0):
    """Push (q0, d0) through the top-level ``slots``, slot i repeated ``times[i]`` (traced, as are the
    ``scales``). In the ``d`` mode a top-level run of Dense layers switches after ``settled[i]`` layers (where q
    has stopped moving) to the branch-free ``settled_step`` of that layer. Returns the final (q, d) and, with
    ``record``, buffers (length ``record``) of the state after every top-level unit."""
    cache = {j: (q0, kern.params(q0), jnp.zeros(TABLE_CELLS + 1), jnp.asarray(False))
             for j, kern in enumerate(kernels)} if mode == "d" else {}
    q, d = q0, d0
    qs = jnp.zeros((record,)).at[0].set(q0) if record else None
    ds = jnp.zeros((record, *d0.shape)).at[0].set(d0) if record else None
    start = 0
    for i, slot in enumerate(slots):
        def body(j, carry, slot=slot, start=start):
            q, d, cache, qs, ds = carry
            q, d, cache = slot.apply(kernels, scales, q, d, cache, mode)
            if record:
                qs = qs.at[start + j + 1].set(q)
                ds = ds.at[start + j + 1].set(d)
            return q, d, cache, qs, ds

        if mode == "d" and hasattr(slot, "settled_step"):
            n_pre = jnp.minimum(settled[i], times[i])
            q, d, cache, qs, ds = jax.lax.fori_loop(0, n_pre, body, (q, d, cache, qs, ds))
            step, cache = slot.settled_step(kernels, scales, cache, q)

            def fixed_body(j, carry, step=step, start=start):
                q, d, qs, ds = carry
                q, d = step(q, d)
                if record:
                    qs = qs.at[start + j + 1].set(q)
                    ds = ds.at[start + j + 1].set(d)
                return q, d, qs, ds

            q, d, qs, ds = jax.lax.fori_loop(n_pre, times[i], fixed_body, (q, d, qs, ds))
        else:
            q, d, cache, qs, ds = jax.lax.fori_loop(0, times[i], body, (q, d, cache, qs, ds))
        start = start + times[i]
    return q, d, qs, ds
