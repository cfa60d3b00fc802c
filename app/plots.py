"""The dashboard's plots drawn by HoloViews (standalone, notebooks, export): each builder renders the
:class:`~sigprop_app.specs.PlotSpec` of its plot (see :mod:`sigprop_app.specs`) for a list of
configurations; the phase diagram (plot 7) is an image built here. The served dashboard draws the same
specs with plain Bokeh (:mod:`sigprop_app.live`) and imports this module only when it is needed.

Standalone use (HoloViews, Bokeh by default)::

    from sigprop_app import Configuration, plots
    plots.c_map_plot([Configuration(activation="relu", method="eoc")], depths=[1, 10, 100])
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from . import data
from .specs import DIVERGED, GREY, SPECS, PlotSpec, Series, phase_view

MPL_DASH = {"solid": "-", "dashed": "--", "dotted": ":", "dotdash": "-."}
# matplotlib figures 1.6 : 1 by their size in inches: HoloViews' numeric ``aspect`` measures a log axis in
# natural-log units against matplotlib's log10 ones, which squashes a plot with only y logarithmic 2.3-fold
MPL_SIZE = {"fig_size": 220, "fig_inches": (4.0, 2.5), "aspect": "auto"}


# ---- HoloViews rendering ------------------------------------------------------------------------------


def _hv_series(s: Series, colour: str, spec: PlotSpec, backend: str):
    kd, vd = spec.xlabel, spec.ylabel
    if s.y2 is not None:
        el = hv.Area((s.x, s.y, s.y2), kdims=[kd], vdims=[f"{vd} (lower)", f"{vd} (upper)"], label=s.label)
        style = {"color": colour, "alpha": s.alpha, "show_legend": False}
        style |= {"linewidth": 0, "facecolor": colour} if backend == "matplotlib" else {"line_alpha": 0}
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


def _fitted_ylim(series) -> tuple | None:
    """The y-range of the series it follows (``fit``), padded 5 %, when some series (a bound) is left out."""
    if all(s.fit for s in series):
        return None
    y = np.concatenate([np.ravel(v) for s in series if s.fit for v in (s.y, s.y2) if v is not None])
    y = y[np.isfinite(y)]
    if not y.size:
        return None
    pad = 0.05 * (np.ptp(y) or 1.0)
    return float(y.min() - pad), float(y.max() + pad)


def to_holoviews(spec: PlotSpec, configs, backend: str = "bokeh", fontscale: float = 1.0, **kw):
    """An hv.Overlay of ``spec`` for the configurations."""
    series = [(s, GREY) for s in spec.reference]
    for cfg in configs:
        series += [(s, cfg.colour) for s in spec.series(cfg, cfg.compute(), **kw)]
    items = [_hv_series(s, colour, spec, backend) for s, colour in series]
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
    ylim = spec.ylim or _fitted_ylim([s for s, _ in series])
    if ylim:
        opts["ylim"] = ylim
    if backend == "matplotlib":
        return hv.Overlay(items).opts(backend=backend, **MPL_SIZE, **opts)
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
    """6. Per-layer NTK Θ_l(c) at layers 0, L/2, L, with the DKS bound c ± 11(ζ − 1) (thin dashed lines)."""
    return to_holoviews(SPECS["ntk"], configs, backend, fontscale)


def ntk_condition_plot(configs, backend="bokeh", fontscale=1.0):
    """6b. NTK condition number κ vs depth (Gram matrix of 16 points on a circle)."""
    return to_holoviews(SPECS["ntk_condition"], configs, backend, fontscale)


def phase_plot(configs, active=0, backend="bokeh", fontscale=1.0):
    """7. EOC phase diagram of the active configuration's φ: log10 χ₁ over (σ_w², σ_b²) (blue: ordered,
    red: chaotic, grey: q diverges), the χ₁ = 1 line and the configuration's point (σ_w², σ_b²) when it uses
    φ unshaped."""
    kd = ["σ_w²", "σ_b²"]
    view = phase_view(configs[min(active, len(configs) - 1)]) if configs else None
    p = view.phase if view else None
    if p is None:
        img = hv.Image(
            np.full((2, 2), np.nan),
            bounds=(data.SW2_GRID[0], data.SB2_GRID[0], data.SW2_GRID[-1], data.SB2_GRID[-1]),
            kdims=kd,
            vdims=["log10 χ₁"],
            label="phase diagram",
        )
    else:
        img = hv.Image((p.sw2, p.sb2, view.log_chi1, p.chi1, p.xi_c, p.q_star), kdims=kd,
                       vdims=["log10 χ₁", "χ₁", "ξ_c", "q*"], label="phase diagram")
    line = hv.Path([np.column_stack(xy) for xy in (view.eoc_lines if view else ())], kdims=kd, label="χ₁ = 1")
    pts = hv.Points([view.point] if view and view.point else [], kdims=kd, label=view.label if view else "")
    title = view.title if view else "EOC phase diagram"
    colour = view.colour if view else "black"
    if backend == "matplotlib":
        img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, clipping_colors={"NaN": DIVERGED},
                       backend=backend)
        line = line.opts(color="black", linewidth=2, backend=backend)
        pts = pts.opts(color=colour, s=120, edgecolors="black", backend=backend)
        return (img * line * pts).opts(title=title, fontscale=fontscale, backend=backend, **MPL_SIZE)
    img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, clipping_colors={"NaN": DIVERGED},
                   tools=["hover", "tap"], backend=backend)
    line = line.opts(color="black", line_width=2, backend=backend)
    pts = pts.opts(color=colour, size=14, line_color="black", tools=["hover"], backend=backend)
    return (img * line * pts).opts(
        title=title, responsive=True, height=340, min_width=300, fontscale=fontscale, backend=backend
    )


def finite_plot(configs, backend="bokeh", fontscale=1.0):
    """8. C_f(c) at infinite width against the band of random networks of the configurations' finite width."""
    return to_holoviews(SPECS["finite"], configs, backend, fontscale)


def training_plot(configs, backend="bokeh", fontscale=1.0):
    """9. Training loss against step of the last training run of each configuration."""
    return to_holoviews(SPECS["training"], configs, backend, fontscale)


def accuracy_plot(configs, backend="bokeh", fontscale=1.0):
    """9b. Test accuracy against step of the same runs."""
    return to_holoviews(SPECS["accuracy"], configs, backend, fontscale)


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
    "finite": finite_plot,
    "training": training_plot,
    "accuracy": accuracy_plot,
}
