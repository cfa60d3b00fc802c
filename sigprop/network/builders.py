"""Builders: plain MLPs and residual networks (V1/V2, basic/bottleneck, projection shortcuts) as descriptions.

The residual networks follow the architecture of dks's ``ModifiedResNet`` (google-deepmind/dks,
``examples/haiku/modified_resnet.py``; Zhang et al. 2022, arXiv:2203.08120, Appendix B), in kernel terms:

- a block is ``w · shortcut(x) + √(1 − w²) · branch(x)``;
- the branch has 3 nonlinear layers (V2 bottleneck), 2 (V2 basic, V1 bottleneck) or 1 (V1 basic);
- V1 applies the nonlinearity after every sum (a Dense(φ) after the block: a linear layer with σ_w = 1 and no
  bias leaves the kernel unchanged, so "φ then the next block's weights" is one Dense unit);
- a projection shortcut (first block of a group) is a Dense(φ) in V2, where it acts on the pre-activated input;
  in V1 it is a linear map of x, the identity for the kernel;
- ``final_activation``: the nonlinearity before the output layer, one more Dense(φ).
"""

from __future__ import annotations

import numpy as np

from ..activations import activation
from ..errors import ConfigurationError
from ..maps import check_scale
from ..methods.results import LooksLinearResult
from .base import Serial
from .dense import Dense
from .looks_linear import LooksLinear
from .network import MAX_DEPTH, Network
from .sums import Residual, Sum

#: dks ModifiedResNet configurations: depth -> (blocks per group, bottleneck, projection per group)
RESNET_CONFIGS = {
    18: ((2, 2, 2, 2), False, (False, True, True, True)),
    34: ((3, 4, 6, 3), False, (False, True, True, True)),
    50: ((3, 4, 6, 3), True, (True, True, True, True)),
    101: ((3, 4, 23, 3), True, (True, True, True, True)),
    152: ((3, 8, 36, 3), True, (True, True, True, True)),
    200: ((3, 24, 36, 3), True, (True, True, True, True)),
}


def _check_depth(name: str, depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) and not (
            isinstance(depth, float) and depth.is_integer()):
        raise ConfigurationError(f"{name} must be a whole number, got {depth!r}")
    depth = int(depth)
    if not 1 <= depth <= MAX_DEPTH:
        raise ConfigurationError(f"{name} must be between 1 and {MAX_DEPTH:,}, got {depth:,}")
    return depth


def _layer(phi, sigma_w, sigma_b, init):
    if isinstance(init, LooksLinearResult):  # mirrored CReLU: the identity's NNGP maps, its own NTK
        return LooksLinear(init.base)
    if init is not None:
        phi, sigma_w, sigma_b = init.activation, init.sigma_w, init.sigma_b
    return Dense(activation(phi), check_scale("sigma_w", sigma_w), check_scale("sigma_b", sigma_b))


def mlp(phi, depth: int, sigma_w: float = 1.0, sigma_b: float = 0.0, init=None) -> Network:
    """A plain network of ``depth`` nonlinear layers ``h' = W φ(h) + b``.

    ``init`` — a method result (``sp.dks(...)``, ``sp.eoc(...)``, ...) — supplies the transformed
    activation and σ_w, σ_b, overriding ``phi``/``sigma_w``/``sigma_b``.
    """
    depth = _check_depth("depth", depth)
    return Network(Serial(((_layer(phi, sigma_w, sigma_b, init), depth),)), name=f"mlp-{depth}", init=init)


def resnet(phi, blocks, shortcut_weight: float = 0.8, layers_per_block: int | None = None,
           sigma_w: float = 1.0, sigma_b: float = 0.0, init=None, *, version: int = 2,
           bottleneck: bool | None = None, projection=False, final_activation: bool = False) -> Network:
    """A residual network of blocks ``w · shortcut(x) + √(1 − w²) · branch(x)`` (see the module docstring).

    ``blocks``: a number of blocks, or blocks per group (e.g. ``(3, 4, 23, 3)``). The branch has
    ``layers_per_block`` nonlinear layers (default 2), or, when ``bottleneck`` is given, the number the version
    implies (V2: 3 bottleneck / 2 basic; V1: 2 / 1). ``projection``: a projection shortcut at the first block
    of every group (True), of none (False), or per group (a tuple of bools). ``version`` 1 puts a nonlinearity
    after every sum. ``init`` supplies the transformed activation and scales (as in :func:`mlp`).
    """
    groups = tuple(blocks) if isinstance(blocks, (tuple, list)) else (blocks,)
    if not groups:
        raise ConfigurationError("blocks must be a number of blocks or a non-empty tuple of blocks per group")
    groups = tuple(_check_depth("blocks", b) for b in groups)
    if version not in (1, 2):
        raise ConfigurationError(f"version must be 1 or 2 (ResNet V1 or V2), got {version!r}")
    if bottleneck is None:
        per_block = _check_depth("layers_per_block", 2 if layers_per_block is None else layers_per_block)
    else:
        if layers_per_block is not None:
            raise ConfigurationError("give either layers_per_block or bottleneck, not both (bottleneck sets it)")
        per_block = (3 if bottleneck else 2) if version == 2 else (2 if bottleneck else 1)
    proj = (bool(projection),) * len(groups) if isinstance(projection, (bool, np.bool_)) else tuple(projection)
    if len(proj) != len(groups) or not all(isinstance(p, (bool, np.bool_)) for p in proj):
        raise ConfigurationError(f"projection must be a bool or one bool per group ({len(groups)}), got {projection!r}")
    w = check_scale("shortcut_weight", shortcut_weight)
    if w > 1:
        raise ConfigurationError(f"shortcut_weight must lie in [0, 1], got {w}")
    layer = _layer(phi, sigma_w, sigma_b, init)
    per_sum = per_block + (1 if version == 1 else 0)
    total = sum(groups) * per_sum + (1 if final_activation else 0)
    if total > MAX_DEPTH:
        raise ConfigurationError(f"the network has {total:,} nonlinear layers; at most {MAX_DEPTH:,}")
    branch = Serial(((layer, per_block),))
    plain = Residual(branch, w)
    projected = Sum((Serial(((layer, 1),)), branch), plain.weights) if version == 2 else plain
    runs: list = []
    for n, p in zip(groups, proj):
        for unit, times in ((projected, 1), (plain, n - 1)) if p else ((plain, n),):
            if not times:
                continue
            block = unit if version == 2 else Serial(((unit, 1), (layer, 1)))
            if runs and runs[-1][0] == block:
                runs[-1][1] += times
            else:
                runs.append([block, times])
    if final_activation:
        runs.append([layer, 1])
    shape = "x".join(map(str, groups)) + f"x{per_block}"
    name = f"resnet{'-v1' if version == 1 else ''}-{shape}"
    return Network(Serial(tuple((u, int(t)) for u, t in runs)), name=name, init=init)


def modified_resnet(phi, depth: int, shortcut_weight: float = 0.0, *, version: int = 2, sigma_w: float = 1.0,
                    sigma_b: float = 0.0, init=None) -> Network:
    """dks's ``ModifiedResNet`` of the given depth (18, 34, 50, 101, 152, 200) as a description: its blocks per
    group, bottleneck and projection shortcuts (:data:`RESNET_CONFIGS`) and the final activation."""
    if depth not in RESNET_CONFIGS:
        raise ConfigurationError(f"depth must be one of {sorted(RESNET_CONFIGS)}, got {depth!r}")
    blocks, bottleneck, projection = RESNET_CONFIGS[depth]
    net = resnet(phi, blocks, shortcut_weight, sigma_w=sigma_w, sigma_b=sigma_b, init=init, version=version,
                 bottleneck=bottleneck, projection=projection, final_activation=True)
    return Network(net.body, name=f"modified-resnet-{depth}{'-v1' if version == 1 else ''}", init=init)
