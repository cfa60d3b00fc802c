"""The JAX kernel propagation: push the state (q, d) through a network's static structure of slots.

Every unit's ``slot`` is a small frozen object whose ``apply(kernels, scales, q, d, cache, mode)`` is traced:
the structure (which kernel each layer uses, the nesting of branches) is compiled, and every number — σ_w², σ_b²,
sum weights, the run lengths, the kernels' own numbers (pytrees) — is data, so one compilation serves every
depth, σ and DKS/TAT transform of a structure. Modes: ``"q"`` (variances only), ``"d"`` (1 − c),
``"slope"`` (the tangent of d at d = 0, i.e. C'(1)) and ``"tangent"`` (d = (1 − c, t): t carries dC/dc at
any c; sums and LayerNorm act on both rows alike, since they are linear in d).
"""

from __future__ import annotations

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
            for _ in range(times):
                q, d, cache = slot.apply(kernels, scales, q, d, cache, mode)
        return q, d, cache
    for slot, times in runs:
        q, d, cache = jax.lax.fori_loop(
            0, times, lambda _, carry, slot=slot: slot.apply(kernels, scales, *carry, mode), (q, d, cache))
    return q, d, cache


def bucket(n: int) -> int:
    """Power of two ≥ n: trajectories are recorded into buffers of this length, so one compilation serves
    every depth up to it (a depth slider does not recompile)."""
    return max(1024, 1 << max(n - 1, 0).bit_length())


def propagate_numpy(slots, kernels, mode, record, times, scales, q0, d0):
    """The same fold in NumPy, layer by layer (no JAX import, no compile): for networks of modest depth, where
    compiling costs more than it saves. Returns (q, d, qs, ds) like the jitted fold."""
    memo = NumpyMemo()
    q, d = float(q0), np.asarray(d0, dtype=float)
    qs, ds = ([q], [d]) if record else (None, None)
    with np.errstate(all="ignore"):
        for slot, n in zip(slots, times):
            for _ in range(int(n)):
                q, d, memo = slot.apply(kernels, scales, q, d, memo, mode)
                if record:
                    qs.append(q)
                    ds.append(d)
    if record:
        return q, d, np.asarray(qs, dtype=float), np.stack(ds)
    return q, d, None, None


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
