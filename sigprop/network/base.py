"""The network language: units that own their kernel rules, composed by :class:`Serial`.

A network is described once, as data (in the spirit of neural-tangents' layer combinators, whose ``Kernel`` state
flows through ``serial``/``parallel``), and every quantity is a fold of that one description. A unit owns, in
its own file, every rule it needs:

=======================  ======================================================================================
``depth``                nonlinear layers on its longest path
``signature()``          its structure without activations or scales (a cache key for solved shapings)
``fold(x, on_layer,      DKS's semiring fold (Martens et al. 2021, arXiv:2110.01765, "maximal slope function";
branches)``              TAT, arXiv:2203.08120, Appendix B): ``on_layer`` at every nonlinear layer, ``Σ wᵢ² xᵢ``
                         at sums; branches that are subnetworks on their own are collected for the maximum
``slot(index, scales)``  its static form for the JAX kernel propagation (:mod:`.propagate`), its numbers
                         appended to the traced ``scales`` vector
``ntk_forward`` /        the NTK carried in the same state as the NNGP (Jacot's recursion): a forward pass
``ntk_backward``         records what each layer injects, a reverse pass gives each layer's multiplier
``sample(h, sampler)``   a finite-width random network: the unit's output for inputs ``h`` (seeds, B, n), its
                         fresh weights drawn exactly through ``sampler`` (:mod:`sigprop.finite`)
``init_params`` /        the same finite network with explicit, trainable parameters (:mod:`sigprop.training`),
``apply_params``         drawn in NumPy, applied to NumPy or JAX arrays alike; parameter-free units use the defaults
=======================  ======================================================================================

The kernel state is ``(q, d)``: the pre-activation variance and ``d = 1 − c``, so degeneration near c = 1 is
resolved without cancellation. Weights may be Gaussian fan-in, (scaled) orthogonal, or Delta-orthogonal
convolutions: all have the same maps at infinite width (theory.md §11; Martens et al. 2021 §"Parameter
distributions"), so one Dense unit describes them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError
from ..kernels import _ns


class NumpyMemo(dict):
    """The ``cache`` of a NumPy propagation (no JAX): kernel index -> (q, per-variance kernel work), reused while
    the layer's input q stays within PARAMS_RTOL = 1e-13 relative (as the jitted fold reuses its params)."""


class Unit:
    """Base class of network units; see the module docstring for the rules a unit implements."""

    @property
    def depth(self) -> int:  # pragma: no cover - every unit overrides
        raise NotImplementedError

    def activations(self):
        """The activations the unit uses (in order of first use)."""
        return ()

    def signature(self):  # pragma: no cover
        raise NotImplementedError

    def fold(self, x, on_layer: Callable, branches: list):  # pragma: no cover
        raise NotImplementedError

    def slot(self, index: dict, scales: list):  # pragma: no cover
        raise NotImplementedError

    def init_params(self, rng, n_in: int, spec):
        """A unit without parameters: ``(None, n_in)``."""
        return None, n_in

    def apply_params(self, params, h):  # pragma: no cover - every unit with a finite forward pass overrides
        raise NotImplementedError

    @property
    def has_weights(self) -> bool:
        """Whether the unit's output passes through freshly initialised weights (zero mean, independent of every
        other branch): what makes the kernels of a sum's branches add without cross terms."""
        return False


class Layer(Unit):
    """A unit that is one nonlinear layer with freshly initialised weights of its own (Dense, LooksLinear)."""

    @property
    def depth(self) -> int:
        return 1

    @property
    def has_weights(self) -> bool:
        return True


@dataclass(frozen=True)
class Serial(Unit):
    """Units applied in order; ``runs`` holds (unit, times) pairs so deep stacks stay compact. An empty Serial
    is the identity (a plain shortcut)."""

    runs: tuple[tuple[Unit, int], ...] = ()

    def __post_init__(self):
        for run in self.runs:
            if not (isinstance(run, tuple) and len(run) == 2 and isinstance(run[0], Unit)
                    and isinstance(run[1], int) and run[1] >= 1):
                raise ConfigurationError(f"Serial runs must be (unit, times ≥ 1) pairs, got {run!r}")

    @classmethod
    def of(cls, *units: Unit) -> Serial:
        """``Serial.of(a, b, c)``: each unit once (consecutive equal units merged into one run)."""
        runs: list[list] = []
        for u in units:
            if runs and runs[-1][0] == u:
                runs[-1][1] += 1
            else:
                runs.append([u, 1])
        return cls(tuple((u, n) for u, n in runs))

    @property
    def depth(self) -> int:
        return sum(unit.depth * times for unit, times in self.runs)

    @property
    def length(self) -> int:
        """Number of units (a trajectory records the state after each)."""
        return sum(times for _, times in self.runs)

    def activations(self):
        seen: dict = {}
        for unit, _ in self.runs:
            for phi in unit.activations():
                seen.setdefault(phi)
        return tuple(seen)

    def signature(self):
        return ("serial", tuple((unit.signature(), times) for unit, times in self.runs))

    def fold(self, x, on_layer, branches):
        for unit, times in self.runs:
            for _ in range(times):
                x = unit.fold(x, on_layer, branches)
        return x

    def slot(self, index, scales):
        return SerialSlot(tuple((unit.slot(index, scales), times) for unit, times in self.runs))

    @property
    def has_weights(self) -> bool:
        return any(unit.has_weights for unit, _ in self.runs)

    def ntk_forward(self, ctx, q, c, theta):
        recs = []
        for unit, times in self.runs:
            for _ in range(times):
                q, c, theta, rec = unit.ntk_forward(ctx, q, c, theta)
                recs.append((unit, rec))
        return q, c, theta, recs

    def ntk_backward(self, recs, B, layers):
        for unit, rec in reversed(recs):
            B = unit.ntk_backward(rec, B, layers)
        return B

    def sample(self, h, sampler, record=None):
        """The units in order; ``record(h, l)`` (top level only) after the l-th unit."""
        layer = 0
        for unit, times in self.runs:
            for _ in range(times):
                h = unit.sample(h, sampler)
                layer += 1
                if record is not None:
                    record(h, layer)
        return h

    def init_params(self, rng, n_in, spec):
        """Per run, ``{"list": [params, ...]}`` (one set per repetition), or with ``stacked`` and times > 1
        ``{"first": params, "scan": params with a leading times − 1 axis}`` for :func:`jax.lax.scan` (the
        first repetition apart, since it may change the width). ``rng``: a NumPy generator (parameters are drawn
        in NumPy: no compilation); ``spec``: width, weights and ``stacked`` (:class:`sigprop.training.ParamSpec`).
        Returns (params, output width)."""
        out, n = [], n_in
        for unit, times in self.runs:
            run = []
            for _ in range(times):
                p, n = unit.init_params(rng, n, spec)
                run.append(p)
            if spec.stacked and times > 1:
                rest = run[1:]
                stacked = None if rest[0] is None else _tree_stack(np, rest)
                out.append({"first": run[0], "scan": stacked})
            else:
                out.append({"list": run})
        return out, n

    def apply_params(self, params, h):
        """The finite network's forward pass: the units in order; in JAX, repeated runs as one
        :func:`jax.lax.scan`, in NumPy (NumPy ``h`` and parameters) as a loop over the stacked axis."""
        for (unit, times), run in zip(self.runs, params):
            if "list" in run:
                for p in run["list"]:
                    h = unit.apply_params(p, h)
                continue
            h = unit.apply_params(run["first"], h)
            if run["scan"] is None:  # a run of units without parameters
                for _ in range(times - 1):
                    h = unit.apply_params(None, h)
            elif _ns(h) is np:
                for i in range(times - 1):
                    h = unit.apply_params(_tree_take(run["scan"], i), h)
            else:
                import jax

                h, _ = jax.lax.scan(lambda x, p, unit=unit: (unit.apply_params(p, x), None), h, run["scan"])
        return h


def tree_map(fn, tree):
    """``fn`` on every array of a parameter tree (dicts, lists and tuples; None stays None), without JAX."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return None if tree is None else fn(tree)


def _tree_take(tree, i: int):
    """Entry ``i`` of a stacked parameter tree (the inverse of :func:`_tree_stack`)."""
    return tree_map(lambda a: a[i], tree)


def _tree_stack(np, trees):
    """Stack equal-structure parameter trees (dicts and lists of arrays) along a new leading axis."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: _tree_stack(np, [t[k] for t in trees]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_tree_stack(np, [t[i] for t in trees]) for i in range(len(first)))
    return np.stack(trees)


@dataclass(frozen=True)
class SerialSlot:
    """A Serial as JAX compiles it: its runs of slots (a block repeated as one run of a larger Serial)."""

    runs: tuple

    def apply(self, kernels, scales, q, d, cache, mode):
        from .propagate import apply_runs

        return apply_runs(self.runs, kernels, scales, q, d, cache, mode)
