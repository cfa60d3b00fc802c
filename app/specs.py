"""What each dashboard plot shows, as data: a :class:`PlotSpec` per plot (title, axes, and a function giving
one configuration's :class:`Series`). No plotting library here: :mod:`sigprop_app.live` draws the specs
with Bokeh (the served dashboard, updated in place) and :mod:`sigprop_app.plots` with HoloViews
(notebooks, export).

The number, keys and styles of a configuration's series never depend on the numbers, nor on whether they
are computed yet, so a live plot can swap data without rebuilding; a configuration whose computation failed
(or is still computing) gives the same series with empty data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import data

log = logging.getLogger(__name__)

DASH = ("solid", "dashed", "dotted", "dotdash")
GREY = "#7f7f7f"
DIVERGED = "#d9d9d9"  # phase diagram pixels where q diverges (no fixed point q*)
EMPTY = np.zeros(0)


@dataclass(frozen=True)
class Series:
    """One line (``y``) or band (``y`` to ``y2``) of a plot. ``label`` names it (legend, hover, CSV): a
    configuration's main curve has its name, its other curves that name and which curve they are."""

    label: str
    x: np.ndarray
    y: np.ndarray
    y2: np.ndarray | None = None  # a band between y and y2
    width: float = 2.5
    dash: str = "solid"
    alpha: float = 1.0
    legend: bool = True
    fit: bool = True  # whether the y-range follows it (False: a bound that may lie far off the curves)


@dataclass(frozen=True)
class PlotSpec:
    key: str
    title: str
    xlabel: str
    ylabel: str
    series: Callable  # (configuration, curves or None) -> list[Series]
    reference: tuple[Series, ...] = ()  # grey lines drawn once (identity)
    logx: bool = False
    logy: bool = False
    legend: str = "bottom_right"
    ylim: tuple | None = None
    parts: tuple[str, ...] = ("curves",)  # what series() reads from the caches (Configuration.warm's parts)


def _safe_log(y: np.ndarray) -> np.ndarray:
    """Non-positive values cannot be drawn on a log axis: blank them (NaN)."""
    y = np.array(y, dtype=float)
    y[~np.isfinite(y) | ~(y > 0)] = np.nan
    return y


def _identity(grid) -> tuple[Series, ...]:
    return (Series("identity", grid, grid, width=1.0, dash="dashed", legend=True),)


# ---- the series of each plot --------------------------------------------------------------------------


def _c_map(cfg, cv, depths=None):
    """C_f(c) of the sub-networks of four depths L^(k/4) (or ``depths``), the deepest bold and in the legend,
    shallower ones thinner and fainter. Each is named by its depth, but the whole network by its configuration."""
    label = cfg.label()
    explicit = tuple(depths) if depths else None
    depths = explicit or (cv.depths if cv else (None,) * data.N_DEPTHS)  # (None: not computed yet)
    maps = None if cv is None else (data.c_map_rows(cfg.spec(), explicit) if explicit else cv.c_maps)
    n = len(depths)
    return [
        Series(
            label if k == n - 1 and not explicit else f"{label} · C_f at L={f'{d:,}' if d else '…'}",
            data.C_GRID if cv else EMPTY,
            maps[k] if cv else EMPTY,
            width=2.5 if k == n - 1 else 1.3,
            alpha=1.0 if k == n - 1 else 0.3 + 0.5 * k / n,
            legend=k == n - 1,
        )
        for k, d in enumerate(depths)
    ]


def _one_minus(cfg, cv):
    return [Series(cfg.label(), data.D_GRID if cv else EMPTY, _safe_log(cv.one_minus) if cv else EMPTY)]


def _c_traj(cfg, cv):
    return [
        Series(
            cfg.label() if j == 0 else f"{cfg.label()} · c0={c0}",
            cv.layers if cv else EMPTY,
            cv.c_traj[:, j] if cv else EMPTY,
            width=2.0,
            dash=DASH[j],
            legend=j == 0,
        )
        for j, c0 in enumerate(data.C0S)
    ]


def _q_map(cfg, cv):
    return [Series(cfg.label(), data.Q_GRID if cv else EMPTY, cv.q_map if cv else EMPTY)]


def _q_traj(cfg, cv):
    return [Series(cfg.label(), cv.layers if cv else EMPTY, _safe_log(cv.q_traj) if cv else EMPTY)]


def _activation(cfg, cv):
    x = data.X_GRID if cv else EMPTY
    return [
        Series(cfg.label(), x, cv.phi_hat_x if cv else EMPTY),
        Series(
            f"{cfg.label()} · original φ",
            x,
            cv.phi_x if cv else EMPTY,
            width=1.5,
            dash="dotted",
            alpha=0.8,
            legend=False,
        ),
    ]


def _ntk(cfg, cv):
    """Θ_l(c) at layers 0, L/2, L, and Theorem 27's bound |Θ_l(c) − c| ≤ 11(ζ − 1) for DKS (Martens et al.
    2021) as two thin lines c ± 11(ζ − 1). The y-range follows the Θ_l curves only: the bound is loose
    (±5.5 at ζ = 1.5 where max_l,c |Θ_l − c| = 0.63, theory.md §3), and a band that wide would flatten them."""
    label = cfg.label()
    nt = cfg.extra("ntk") if cv is not None else None
    bound = nt.bound if nt else None
    out = [
        Series(
            f"{label} · DKS bound c {sign} 11(ζ − 1)",
            data.NTK_C if bound is not None else EMPTY,
            data.NTK_C + side * bound if bound is not None else EMPTY,
            width=1.0,
            dash="dashed",
            alpha=0.6,
            legend=False,
            fit=False,
        )
        for sign, side in (("+", 1.0), ("−", -1.0))
    ]
    for j in range(3):
        ok = nt is not None and j < len(nt.layers)
        out.append(
            Series(
                label if j == 0 else f"{label} · Θ_l at l={f'{nt.layers[j]:,}' if ok else ('L/2', 'L')[j - 1]}",
                data.NTK_C if ok else EMPTY,
                nt.per_layer[j] if ok else EMPTY,
                width=2.0,
                dash=DASH[j],
                legend=j == 0,
            )
        )
    return out


def _ntk_cond(cfg, cv):
    nt = cfg.extra("ntk") if cv is not None else None
    return [Series(cfg.label(), nt.cond_depths if nt else EMPTY, _safe_log(nt.cond) if nt else EMPTY)]


def _finite(cfg, cv):
    fw = cfg.extra("finite") if cv is not None else None
    label = cfg.label()
    return [
        Series(f"{label} · ±2σ of random networks", data.FINITE_C if fw else EMPTY, fw.lower if fw else EMPTY,
               y2=fw.upper if fw else EMPTY, alpha=0.2, legend=False),
        Series(f"{label} · mean of random networks", data.FINITE_C if fw else EMPTY, fw.mean if fw else EMPTY,
               width=1.5, dash="dashed", legend=False),
        Series(label, data.C_GRID if cv else EMPTY, cv.c_maps[-1] if cv else EMPTY),
    ]


def _training_column(cfg, column: int):
    """(steps, values) of the configuration's last run; a run of other settings is not drawn."""
    points = cfg.training if cfg.training_spec == cfg.spec() else ()
    return (np.array([p[0] for p in points], dtype=float), np.array([p[column] for p in points], dtype=float))


def _training(cfg, cv):
    steps, loss = _training_column(cfg, 1)
    return [Series(cfg.label(), steps, _safe_log(loss))]


def _accuracy(cfg, cv):
    return [Series(cfg.label(), *_training_column(cfg, 2))]


SPECS = {
    "c_map": PlotSpec(
        "c_map",
        "C_f(c) at depths L^(k/4) (faint: shallower)",
        "input cosine c",
        "output cosine C_f(c)",
        _c_map,
        _identity(data.C_GRID),
        legend="bottom_right",  # empty: C_f(c) ≥ 0 for c ≥ 0 (Mehler series, non-negative coefficients)
    ),
    "one_minus_c": PlotSpec(
        "one_minus_c",
        "1 − C_f(c) near c = 1 (below identity: degenerate)",
        "1 − c",
        "1 − C_f(c)",
        _one_minus,
        _identity(data.D_GRID),
        logx=True,
        logy=True,
    ),
    "c_trajectory": PlotSpec(
        "c_trajectory", "c_l vs layer; c0 = −0.5, 0, 0.5, 0.9 (solid → dash-dot)", "layer l", "cosine c_l", _c_traj
    ),
    "q_map": PlotSpec(
        "q_map",
        "Per-layer Q map (q*: crossing the identity)",
        "input variance q",
        "Q(q)",
        _q_map,
        _identity(data.Q_GRID),
        legend="top_left",
    ),
    "q_trajectory": PlotSpec(
        "q_trajectory", "q_l vs layer (q_0 = 1)", "layer l", "variance q_l", _q_traj, logy=True, legend="top_left"
    ),
    "activation": PlotSpec(
        "activation", "φ̂ (solid) and original φ (dotted)", "pre-activation x", "φ̂(x)", _activation, legend="top_left"
    ),
    "ntk": PlotSpec(
        "ntk",
        "Θ_l(c), l = 0, L/2, L (solid → dotted); DKS bound c ± 11(ζ − 1): thin dashed, if in range",
        "input cosine c",
        "Θ_l(c)",
        _ntk,
        legend="top_left",
        parts=("curves", "ntk"),
    ),
    "finite": PlotSpec(
        "finite",
        "C_f(c): kernel (line) and random networks (band ± 2σ, dashed: mean)",
        "input cosine c",
        "output cosine C_f(c)",
        _finite,
        _identity(data.C_GRID),
        parts=("curves", "finite"),
    ),
    "training": PlotSpec(
        "training",
        f"Training loss (finite width {data.TRAIN_WIDTH}, batch 128)",
        "step",
        "training loss",
        _training,
        logy=True,
        legend="bottom_left",
        parts=("curves", "training"),
    ),
    "accuracy": PlotSpec(
        "accuracy",
        "Test accuracy (held-out quarter of the data)",
        "step",
        "test accuracy",
        _accuracy,
        legend="bottom_right",
        ylim=(0.0, 1.0),
        parts=("curves", "training"),
    ),
    "ntk_condition": PlotSpec(
        "ntk_condition",
        "NTK condition number κ (16 points on a circle)",
        "depth l",
        "κ",
        _ntk_cond,
        logy=True,
        legend="top_left",
        parts=("curves", "ntk"),
    ),
}


def phase_inputs(cfg):
    """(activation, point) drawn in the phase diagram of ``cfg``: its typed φ, and (σ_w², σ_b²) when the
    network uses φ itself (Standard, EOC); None for the point of shaped φ̂ (DKS, TAT, Looks-Linear) and of a
    configuration whose method failed (its φ's diagram is still drawn: where to click for a working point)."""
    curves = cfg.compute()
    if curves is None:
        if not cfg.ready():  # (served: still computing)
            return None
        try:
            return data.activation(cfg.activation), None
        except (ValueError, ArithmeticError):  # φ itself refused: no diagram
            return None
    constants = curves.constants  # (not data.model: served, the curves may come from an engine process)
    point = (constants["sigma_w"] ** 2, constants["sigma_b"] ** 2) if cfg.method in ("standard", "eoc") else None
    return data.activation(cfg.activation), point


@dataclass(frozen=True)
class PhaseView:
    """What plot 7 shows for one configuration: log10 χ₁ of its φ over the (σ_w², σ_b²) grid (``phase`` None
    while not computed or unavailable; NaN, drawn in DIVERGED, where q diverges), the χ₁ = 1 lines, its point
    (σ_w², σ_b²) or None, and a title."""

    title: str
    label: str
    colour: str
    phase: data.Phase | None = None
    log_chi1: np.ndarray | None = None
    eoc_lines: tuple = ()  # ((σ_w² values, σ_b² values), ...): the χ₁ = 1 line
    point: tuple | None = None


def chi1_one_lines(p: data.Phase) -> tuple:
    """The χ₁ = 1 line of a phase diagram, computed with it (:func:`sigprop_app.data.chi1_one_lines`)."""
    return p.lines


def phase_view(cfg) -> PhaseView:
    """Plot 7 for ``cfg`` (a configuration that does not block, in a loading dashboard, shows a diagram only
    once it is computed)."""
    label, colour = cfg.label(), cfg.colour
    try:
        inputs = phase_inputs(cfg)
        if inputs is None or not (cfg.blocking or data.phase.cached(inputs[0])):
            return PhaseView("EOC phase diagram", label, colour)
        phi, point = inputs
        p = data.phase(phi)
    except Exception as exc:  # noqa: BLE001 - the diagram is optional; the dashboard keeps running
        log.warning("phase diagram unavailable: %s", exc)
        return PhaseView(f"Phase diagram unavailable ({type(exc).__name__})", label, colour)
    # (short: a canvas title does not wrap, and must fit a projector's 18 px text; the card explains the rest)
    title = f"φ = {phi.name}: blue ordered (χ₁ < 1), red chaotic, line χ₁ = 1"
    title += ", grey: q diverges" if np.isinf(p.q_star).any() else ""
    if point is None:
        title += " (φ̂ is shaped: no point)" if cfg.ready() and not cfg.error else " (no working point yet)"
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chi1 = np.log10(p.chi1)
    return PhaseView(title, label, colour, p, log_chi1, chi1_one_lines(p), point)
