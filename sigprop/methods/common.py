"""Argument checks, activation properties and the solution caches shared by the methods."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from ..activations import Activation, activation
from ..errors import ConfigurationError


def _as_activation(phi) -> Activation:
    return activation(phi)


def _finite(name: str, value, *, positive=False, nonneg=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigurationError(f"{name} must be finite, got {v}")
    if positive and v <= 0:
        raise ConfigurationError(f"{name} must be > 0, got {v:g}")
    if nonneg and v < 0:
        raise ConfigurationError(f"{name} must be ≥ 0, got {v:g}")
    return v


@lru_cache(maxsize=256)
def _is_odd(phi: Activation) -> bool:
    x = np.r_[np.linspace(0.05, 6.0, 40), 0.731, 2.377]
    with np.errstate(all="ignore"):
        a, b = phi.derivatives(x)[0], phi.derivatives(-x)[0]
    return bool(np.all(np.isfinite(a)) and np.allclose(a, -b, rtol=1e-12, atol=1e-14))


@lru_cache(maxsize=256)
def _is_homogeneous(phi: Activation) -> bool:
    """φ(t x) = t φ(x) for t > 0 (ReLU family): then Q(q) is linear in q and χ₁ does not depend on q."""
    x = np.r_[-np.linspace(0.1, 5.0, 20), np.linspace(0.1, 5.0, 20)]
    with np.errstate(all="ignore"):
        a, b = phi.derivatives(2.5 * x)[0], phi.derivatives(x)[0]
    return bool(np.all(np.isfinite(a)) and np.allclose(a, 2.5 * b, rtol=1e-12, atol=1e-14))


class _LRU:
    """A least-recently-used cache that threads may share (a served dashboard solves in a thread pool)."""

    def __init__(self, maxsize: int):
        self.maxsize, self.data = maxsize, OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key, value):
        with self._lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.maxsize:
                self.data.popitem(last=False)


_LOCAL = _LRU(4096)  # (φ, method, local targets) -> params

_GLOBAL = _LRU(1024)  # (φ, method, global targets, architecture key) -> result
_PATHS: dict = {}  # (φ, method, fixed targets, "anchor") -> {u: solved p} along the continuation path

def clear_cache() -> None:
    """Forget cached DKS/TAT solutions."""
    _LOCAL.data.clear()
    _PATHS.clear()
    _GLOBAL.data.clear()


def _check_zeta(zeta):
    z = _finite("zeta", zeta)
    if z <= 1:
        raise ConfigurationError(f"zeta (the network's C'(1) bound) must be > 1, got {z:g}; "
                                 "ζ → 1 is the linear network (see looks_linear)")
    return z


def _check_tau(tau):
    t = _finite("tau", tau)
    if t <= 0:
        raise ConfigurationError(f"tau (the network's C''(1) target) must be > 0, got {t:g}")
    return t


def _check_eta(eta):
    e = _finite("eta", eta)
    if not 0.0 <= e <= 1.0:
        raise ConfigurationError(f"eta (the network's C(0) target) must lie in [0, 1], got {e:g}")
    return e


ROOT_RULES = ("dks", "continuation")


def _check_root(root) -> str:
    if root not in ROOT_RULES:
        raise ConfigurationError(f"root must be one of {ROOT_RULES}, got {root!r}: 'dks' returns the reference "
                                 "library's root, 'continuation' one that is continuous in the depth")
    return root
