"""The dashboard's plots, described once as data and drawn by HoloViews (standalone, notebooks, export) or
by :mod:`sigprop_app.live` (the dashboard, which updates the curves in place).

Each plot is a :class:`PlotSpec`: a title, axes and a function giving, for one configuration, a fixed
list of :class:`Series` (lines or bands). The number, keys and styles of the series never depend on the
numbers, so a live plot can swap data without rebuilding; a configuration whose computation failed gives
the same series with empty data.

Standalone use (HoloViews, Bokeh by default)::

    from sigprop_app import Configuration, plots
    plots.c_map_plot([Configuration(activation="relu", method="eoc")], depths=[1, 10, 100])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import holoviews as hv
import numpy as np

from . import data

log = logging.getLogger(__name__)

DASH = ("solid", "dashed", "dotted", "dotdash")
MPL_DASH = {"solid": "-", "dashed": "--", "dotted": ":", "dotdash": "-."}
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
    ),
    "ntk_condition": PlotSpec(
        "ntk_condition",
        "NTK condition number κ (16 points on a circle)",
        "depth l",
        "κ",
        _ntk_cond,
        logy=True,
        legend="top_left",
    ),
}


# ---- HoloViews rendering ------------------------------------------------------------------------------


def _hv_series(s: Series, colour: str, spec: PlotSpec, backend: str):
    kd, vd = spec.xlabel, spec.ylabel
    if s.y2 is not None:
        el = hv.Area((s.x, s.y, s.y2), kdims=[kd], vdims=[vd, "upper"], label=s.label)
        style = {"color": colour, "alpha": s.alpha, "show_legend": False}
        style |= {"linewidth": 0} if backend == "matplotlib" else {"line_alpha": 0}
        return el.opts(backend=backend, **style)
    el = hv.Curve((s.x, s.y), kdims=[kd], vdims=[vd], label=s.label)
    if backend == "matplotlib":
        return el.opts(
            color=colour,
            linewidth=s.width,
            linestyle=MPL_DASH[s.dash],
            alpha=s.alpha,
            show_legend=s.legend,
            backend=backend,
        )
    return el.opts(
        color=colour,
        line_width=s.width,
        line_dash=s.dash,
        alpha=s.alpha,
        show_legend=s.legend,
        tools=["hover"],
        backend=backend,
    )


def to_holoviews(spec: PlotSpec, configs, backend: str = "bokeh", fontscale: float = 1.0, **kw):
    """An hv.Overlay of ``spec`` for the configurations."""
    items = [_hv_series(s, GREY, spec, backend) for s in spec.reference]
    for cfg in configs:
        items += [_hv_series(s, cfg.colour, spec, backend) for s in spec.series(cfg, cfg.compute(), **kw)]
    opts = {
        "title": spec.title,
        "logx": spec.logx,
        "logy": spec.logy,
        "show_grid": True,
        "fontscale": fontscale,
        "legend_position": spec.legend,
        "xlabel": spec.xlabel,
        "ylabel": spec.ylabel,
    }
    if spec.ylim:
        opts["ylim"] = spec.ylim
    if backend == "matplotlib":
        return hv.Overlay(items).opts(fig_size=220, aspect=1.6, backend=backend, **opts)
    return hv.Overlay(items).opts(responsive=True, height=340, min_width=300, backend=backend, **opts)


def c_map_plot(configs, depths=None, backend="bokeh", fontscale=1.0):
    """1. Whole-network C map C_f(c) vs c at four depths per configuration (or ``depths``), with the identity."""
    return to_holoviews(SPECS["c_map"], configs, backend, fontscale, **({"depths": depths} if depths else {}))


def one_minus_c_plot(configs, backend="bokeh", fontscale=1.0):
    """2. 1 − C_f(1 − d) vs d = 1 − c on log axes: degeneration near c = 1."""
    return to_holoviews(SPECS["one_minus_c"], configs, backend, fontscale)


def c_trajectory_plot(configs, backend="bokeh", fontscale=1.0):
    """3. c_l vs layer l for the input cosines ``data.C0S``."""
    return to_holoviews(SPECS["c_trajectory"], configs, backend, fontscale)


def q_map_plot(configs, backend="bokeh", fontscale=1.0):
    """4a. Per-layer Q map of (φ̂, σ_w, σ_b) with the identity line."""
    return to_holoviews(SPECS["q_map"], configs, backend, fontscale)


def q_trajectory_plot(configs, backend="bokeh", fontscale=1.0):
    """4b. q_l vs layer l from q_0 = 1."""
    return to_holoviews(SPECS["q_trajectory"], configs, backend, fontscale)


def activation_plot(configs, backend="bokeh", fontscale=1.0):
    """5. The transformed activation φ̂ beside the original φ."""
    return to_holoviews(SPECS["activation"], configs, backend, fontscale)


def ntk_plot(configs, backend="bokeh", fontscale=1.0):
    """6. Per-layer NTK Θ_l(c) at layers 0, L/2, L, with the DKS band c ± 11(ζ − 1)."""
    return to_holoviews(SPECS["ntk"], configs, backend, fontscale)


def ntk_condition_plot(configs, backend="bokeh", fontscale=1.0):
    """6b. NTK condition number κ vs depth (Gram matrix of 16 points on a circle)."""
    return to_holoviews(SPECS["ntk_condition"], configs, backend, fontscale)


def phase_inputs(cfg):
    """(activation, point) drawn in the phase diagram of ``cfg``: its typed φ, and (σ_w², σ_b²) when the
    network uses φ itself (Standard, EOC); None for the point of shaped φ̂ (DKS, TAT, Looks-Linear)."""
    if cfg.compute() is None:
        return None
    m = data.model(cfg.spec())
    point = (m.sigma_w**2, m.sigma_b**2) if cfg.method in ("standard", "eoc") else None
    return m.phi, point


def phase_plot(configs, active=0, backend="bokeh", fontscale=1.0):
    """7. EOC phase diagram of the active configuration's φ: log10 χ₁ over (σ_w², σ_b²) (blue: ordered,
    red: chaotic), the χ₁ = 1 line and the configuration's point (σ_w², σ_b²) when it uses φ unshaped."""
    cfg = configs[min(active, len(configs) - 1)] if configs else None
    kd = ["σ_w²", "σ_b²"]
    img = hv.Image(
        np.full((2, 2), np.nan),
        bounds=(data.SW2_GRID[0], data.SB2_GRID[0], data.SW2_GRID[-1], data.SB2_GRID[-1]),
        kdims=kd,
        vdims=["log10 χ₁"],
    )
    line, pts, title = hv.Contours([], kdims=kd), hv.Points([], kdims=kd), "EOC phase diagram"
    p, inputs = None, None
    try:
        inputs = phase_inputs(cfg) if cfg is not None else None
        if inputs is not None and (cfg.blocking or data.phase.cached(inputs[0])):
            p = data.phase(inputs[0])
    except Exception as exc:  # noqa: BLE001 - the diagram is optional; the dashboard keeps running
        log.warning("phase diagram unavailable: %s", exc)
        title = f"Phase diagram unavailable ({type(exc).__name__})"
    if p is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            logchi = np.log10(p.chi1)
        img = hv.Image(
            (p.sw2, p.sb2, logchi, p.chi1, p.xi_c, p.q_star), kdims=kd, vdims=["log10 χ₁", "χ₁", "ξ_c", "q*"]
        )
        line = hv.operation.contours(img, levels=[0.0], filled=False)
        pts = hv.Points([inputs[1]] if inputs[1] else [], kdims=kd, label=cfg.label())
        title = f"Phase diagram of φ = {inputs[0].name} (blue: ordered χ₁ < 1, red: chaotic; line: χ₁ = 1)"
        if inputs[1] is None:
            title += " — φ̂ is shaped, no point"
    colour = cfg.colour if cfg else "black"
    if backend == "matplotlib":
        img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, backend=backend)
        line = line.opts(color="black", linewidth=2, backend=backend)
        pts = pts.opts(color=colour, s=120, edgecolors="black", backend=backend)
        return (img * line * pts).opts(title=title, fig_size=220, aspect=1.6, fontscale=fontscale, backend=backend)
    img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, tools=["hover", "tap"], backend=backend)
    line = line.opts(color="black", line_width=2, backend=backend)
    pts = pts.opts(color=colour, size=14, line_color="black", tools=["hover"], backend=backend)
    return (img * line * pts).opts(
        title=title, responsive=True, height=340, min_width=300, fontscale=fontscale, backend=backend
    )


BUILDERS = {
    "c_map": c_map_plot,
    "one_minus_c": one_minus_c_plot,
    "c_trajectory": c_trajectory_plot,
    "q_map": q_map_plot,
    "q_trajectory": q_trajectory_plot,
    "activation": activation_plot,
    "ntk": ntk_plot,
    "ntk_condition": ntk_condition_plot,
    "phase": phase_plot,
}
