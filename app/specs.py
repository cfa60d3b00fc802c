"""What each dashboard plot shows, as data: a :class:`PlotSpec` per plot (title, axes, and a function giving
one configuration's :class:`Series`). No plotting library here: :mod:`sigprop_app.live` draws the specs
with Bokeh (the served dashboard, updated in place) and :mod:`sigprop_app.plots` with HoloViews
(notebooks, export).

The number, keys and styles of a configuration's series never depend on the numbers, so a live plot
can swap data without rebuilding; a configuration whose computation failed gives the same series with
empty data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import contourpy
import numpy as np

from . import data

log = logging.getLogger(__name__)

DASH = ("solid", "dashed", "dotted", "dotdash")
GREY = "#7f7f7f"
EMPTY = np.zeros(0)


@dataclass(frozen=True)
class Series:
    """One line (``y``) or band (``y`` to ``y2``) of a plot."""

    label: str
    x: np.ndarray
    y: np.ndarray
    y2: np.ndarray | None = None  # a band between y and y2
    width: float = 2.5
    dash: str = "solid"
    alpha: float = 1.0
    legend: bool = True


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


def _depth_label(cfg, k: int, depths) -> str:
    return f"{cfg.label()} · L={depths[k]}" if depths else f"{cfg.label()} · L^({k + 1}/{data.N_DEPTHS})"


def _c_map(cfg, cv, depths=None):
    n = len(depths) if depths else data.N_DEPTHS
    if cv is None:
        return [
            Series(cfg.label() if k == n - 1 else _depth_label(cfg, k, depths), EMPTY, EMPTY, legend=k == n - 1)
            for k in range(n)
        ]
    maps = data.c_map_rows(cfg.spec(), tuple(depths)) if depths else cv.c_maps
    out = []
    for k in range(n):
        last = k == n - 1
        out.append(
            Series(
                cfg.label() if last else _depth_label(cfg, k, depths),
                data.C_GRID,
                maps[k],
                width=2.5 if last else 1.3,
                alpha=1.0 if last else 0.3 + 0.5 * k / n,
                legend=last,
            )
        )
    return out


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
    nt = cfg.extra("ntk") if cv is not None else None
    band = (data.NTK_C, data.NTK_C - nt.bound, data.NTK_C + nt.bound) if nt and nt.bound is not None else None
    out = [
        Series(
            f"{cfg.label()} · DKS bound",
            *(band[:2] if band else (EMPTY, EMPTY)),
            y2=band[2] if band else EMPTY,
            alpha=0.08,
            legend=False,
        )
    ]
    for j in range(3):
        ok = nt is not None and j < len(nt.layers)
        out.append(
            Series(
                cfg.label() if j == 0 else f"{cfg.label()} · Θ layer {'L/2' if j == 1 else 'L'}",
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
        "Θ_l(c), l = 0, L/2, L (solid → dotted); band: DKS bound",
        "input cosine c",
        "Θ_l(c)",
        _ntk,
        legend="top_left",
        ylim=(-1.5, 2.5),
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
    network uses φ itself (Standard, EOC); None for the point of shaped φ̂ (DKS, TAT, Looks-Linear)."""
    if cfg.compute() is None:
        return None
    m = data.model(cfg.spec())
    point = (m.sigma_w**2, m.sigma_b**2) if cfg.method in ("standard", "eoc") else None
    return m.phi, point


@dataclass(frozen=True)
class PhaseView:
    """What plot 7 shows for one configuration: log10 χ₁ of its φ over the (σ_w², σ_b²) grid (``phase`` None
    while not computed or unavailable), the χ₁ = 1 lines, its point (σ_w², σ_b²) or None, and a title."""

    title: str
    label: str
    colour: str
    phase: data.Phase | None = None
    log_chi1: np.ndarray | None = None
    eoc_lines: tuple = ()  # ((σ_w² values, σ_b² values), ...): the χ₁ = 1 contour
    point: tuple | None = None


def chi1_one_lines(p: data.Phase) -> tuple:
    """The χ₁ = 1 contour of a phase diagram (marching squares on log10 χ₁, by contourpy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.ma.masked_invalid(np.log10(p.chi1))
    lines = contourpy.contour_generator(p.sw2, p.sb2, z).lines(0.0)
    return tuple((line[:, 0], line[:, 1]) for line in lines)


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
    title = f"Phase diagram of φ = {phi.name} (blue: ordered χ₁ < 1, red: chaotic; line: χ₁ = 1)"
    if point is None:
        title += " — φ̂ is shaped, no point"
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chi1 = np.log10(p.chi1)
    return PhaseView(title, label, colour, p, log_chi1, chi1_one_lines(p), point)
