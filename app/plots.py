"""Plot builders: each takes a list of configurations and returns a HoloViews object.

Usable on their own (``c_map_plot([Configuration(activation="relu", method="eoc")])`` in a notebook) and
by the dashboard. ``backend="matplotlib"`` gives the same figure styled for static export. The element
structure (types, labels, count) depends only on the configurations' names and colours, never on
their numbers, so the dashboard can update the curves in place; a configuration whose computation
failed draws empty curves.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from . import data

DASH = ("solid", "dashed", "dotted", "dotdash")
MPL_DASH = {"solid": "-", "dashed": "--", "dotted": ":", "dotdash": "-."}
GREY = "#7f7f7f"


def _line(el, colour, backend, width=2.0, dash="solid", alpha=1.0, legend=True, hover=True):
    if backend == "matplotlib":
        return el.opts(color=colour, linewidth=width, linestyle=MPL_DASH[dash], alpha=alpha,
                       show_legend=legend, backend="matplotlib")
    return el.opts(color=colour, line_width=width, line_dash=dash, alpha=alpha, show_legend=legend,
                   tools=["hover"] if hover else [], backend="bokeh")


def _overlay(items, title, backend, fontscale=1.0, legend="bottom_right", **kw):
    ov = hv.Overlay(items)
    if backend == "matplotlib":
        mpl = {k: v for k, v in kw.items() if k in ("logx", "logy", "xlim", "ylim", "xlabel", "ylabel")}
        return ov.opts(title=title, fig_size=220, aspect=1.6, legend_position=legend, show_grid=True,
                       fontscale=fontscale, backend="matplotlib", **mpl)
    return ov.opts(title=title, responsive=True, height=int(320 * max(1.0, fontscale * 0.8)), min_width=300,
                   legend_position=legend, show_grid=True, fontscale=fontscale, toolbar="right",
                   backend="bokeh", **kw)


def _curve(x, y, kdim, vdim, label):
    return hv.Curve((x, y), kdims=[kdim], vdims=[vdim], label=label)


def _safe_log(y: np.ndarray) -> np.ndarray:
    """Non-positive values cannot be drawn on a log axis: blank them (NaN)."""
    y = np.array(y, dtype=float)
    y[~(y > 0)] = np.nan
    return y


def _computed(configs):
    """(configuration, curves or None) pairs."""
    return [(c, c.compute()) for c in configs]


def c_map_plot(configs, depths=None, backend="bokeh", fontscale=1.0):
    """1. Whole-network C map C_f(c) vs c at four depths per configuration, with the identity line.

    ``depths`` (a list of ints) draws those depths for every configuration instead of L^(k/4)."""
    items = [_line(_curve(data.C_GRID, data.C_GRID, "c", "C_f(c)", "identity"), GREY, backend, 1.0, "dashed",
                   hover=False)]
    for cfg, cv in _computed(configs):
        rows = (depths, data.c_map_rows(cfg.spec(), tuple(depths))) if depths and cv else None
        ds, maps = rows if rows else (cv.depths if cv else (1,) * data.N_DEPTHS, cv.c_maps if cv else None)
        for k, d in enumerate(ds):
            last = k == len(ds) - 1
            y = maps[k] if cv else []
            el = _curve(data.C_GRID if cv else [], y, "c", "C_f(c)", cfg.label() if last else f"{cfg.label()} L={d}")
            _line(el, cfg.colour, backend, 2.5 if last else 1.2, alpha=1.0 if last else 0.3 + 0.5 * k / len(ds),
                  legend=last)
            items.append(el)
    return _overlay(items, "C_f(c): whole-network C map at depths L^(k/4)", backend, fontscale,
                    legend="top_left", xlabel="input cosine c", ylabel="output cosine C_f(c)")


def one_minus_c_plot(configs, backend="bokeh", fontscale=1.0):
    """2. 1 − C_f(1 − d) vs d = 1 − c on log axes: degeneration near c = 1 is a curve far below the identity."""
    items = [_line(_curve(data.D_GRID, data.D_GRID, "1 - c", "1 - C_f(c)", "identity"), GREY, backend, 1.0,
                   "dashed", hover=False)]
    for cfg, cv in _computed(configs):
        el = _curve(data.D_GRID if cv else [], _safe_log(cv.one_minus) if cv else [], "1 - c", "1 - C_f(c)",
                    cfg.label())
        items.append(_line(el, cfg.colour, backend, 2.5))
    return _overlay(items, "1 − C_f(c) near c = 1 (log–log)", backend, fontscale, legend="bottom_right",
                    logx=True, logy=True, xlabel="1 − c", ylabel="1 − C_f(c)")


def c_trajectory_plot(configs, backend="bokeh", fontscale=1.0):
    """3. c_l vs layer l for the input cosines in ``data.C0S`` (line style = input cosine)."""
    items = []
    for cfg, cv in _computed(configs):
        for j, c0 in enumerate(data.C0S):
            label = cfg.label() if j == 0 else f"{cfg.label()} c0={c0}"
            el = _curve(cv.layers if cv else [], cv.c_traj[:, j] if cv else [], "layer l", "c_l", label)
            items.append(_line(el, cfg.colour, backend, 2.0, DASH[j % len(DASH)], legend=j == 0))
    styles = ", ".join(f"{d}: c0={c}" for d, c in zip(DASH, data.C0S))
    return _overlay(items, f"c_l vs layer ({styles})", backend, fontscale, legend="bottom_right",
                    xlabel="layer l", ylabel="cosine c_l")


def q_map_plot(configs, backend="bokeh", fontscale=1.0):
    """4a. Per-layer Q map Q(q) of (φ̂, σ_w, σ_b) with the identity line (fixed points q* where they cross)."""
    items = [_line(_curve(data.Q_GRID, data.Q_GRID, "q", "Q(q)", "identity"), GREY, backend, 1.0, "dashed",
                   hover=False)]
    for cfg, cv in _computed(configs):
        el = _curve(data.Q_GRID if cv else [], cv.q_map if cv else [], "q", "Q(q)", cfg.label())
        items.append(_line(el, cfg.colour, backend, 2.5))
    return _overlay(items, "Per-layer Q map", backend, fontscale, legend="top_left", xlabel="input variance q",
                    ylabel="Q(q)")


def q_trajectory_plot(configs, backend="bokeh", fontscale=1.0):
    """4b. q_l vs layer l from q_0 = 1 (log y)."""
    items = []
    for cfg, cv in _computed(configs):
        el = _curve(cv.layers if cv else [], _safe_log(cv.q_traj) if cv else [], "layer l", "q_l", cfg.label())
        items.append(_line(el, cfg.colour, backend, 2.5))
    return _overlay(items, "q_l vs layer (q_0 = 1)", backend, fontscale, legend="top_left", logy=True,
                    xlabel="layer l", ylabel="variance q_l")


def activation_plot(configs, backend="bokeh", fontscale=1.0):
    """5. The transformed activation φ̂ (solid) beside the original φ (dotted)."""
    items = []
    for cfg, cv in _computed(configs):
        x = data.X_GRID if cv else []
        items.append(_line(_curve(x, cv.phi_hat_x if cv else [], "x", "phi(x)", cfg.label()), cfg.colour,
                           backend, 2.5))
        items.append(_line(_curve(x, cv.phi_x if cv else [], "x", "phi(x)", f"{cfg.label()} (original φ)"),
                           cfg.colour, backend, 1.5, "dotted", alpha=0.7, legend=False))
    return _overlay(items, "φ̂ (solid) and original φ (dotted)", backend, fontscale, legend="top_left",
                    xlabel="pre-activation x", ylabel="φ̂(x)")


def ntk_plot(configs, backend="bokeh", fontscale=1.0):
    """6a. Per-layer NTK Θ_l(c) at layers 0, L/2, L (line style), with the DKS band c ± 11(ζ − 1)."""
    items = []
    for cfg in configs:
        nt = cfg.extra("ntk")
        band = ([], [], [])
        if nt is not None and nt.bound is not None:
            band = (data.NTK_C, data.NTK_C - nt.bound, data.NTK_C + nt.bound)
        area = hv.Area(band, kdims=["c"], vdims=["Θ_l(c)", "upper"], label=f"{cfg.label()} DKS bound")
        if backend == "matplotlib":
            area = area.opts(color=cfg.colour, alpha=0.08, linewidth=0, show_legend=False, backend=backend)
        else:
            area = area.opts(color=cfg.colour, alpha=0.08, line_alpha=0, show_legend=False, backend=backend)
        items.append(area)
        for j in range(3):
            ok = nt is not None and j < len(nt.layers)
            label = cfg.label() if j == 0 else f"{cfg.label()} Θ_{j}"
            el = _curve(data.NTK_C if ok else [], nt.per_layer[j] if ok else [], "c", "Θ_l(c)", label)
            items.append(_line(el, cfg.colour, backend, 2.0, DASH[j], legend=j == 0))
    return _overlay(items, "Per-layer NTK Θ_l(c), l = 0 (solid), L/2 (dashed), L (dotted); band: DKS bound",
                    backend, fontscale, legend="top_left", xlabel="input cosine c", ylabel="Θ_l(c)",
                    ylim=(-1.5, 2.5))


def phase_plot(configs, active=0, backend="bokeh", fontscale=1.0):
    """7. EOC phase diagram of the active configuration's φ̂: log10 χ₁ over (σ_w², σ_b²), the χ₁ = 1 line,
    and every configuration sharing that φ̂ as a point (σ_w², σ_b²)."""
    cfg = configs[min(active, len(configs) - 1)] if configs else None
    empty = hv.Image(np.zeros((2, 2)), bounds=(data.SW2_GRID[0], data.SB2_GRID[0], data.SW2_GRID[-1],
                                                data.SB2_GRID[-1]), kdims=["σ_w²", "σ_b²"], vdims=["log10 χ₁"])
    img, line, pts = empty, hv.Contours([]), hv.Points([], kdims=["σ_w²", "σ_b²"])
    title = "EOC phase diagram"
    if cfg is not None and cfg.compute() is not None:
        try:
            m = data.model(cfg.spec())
            ph = data.phase(m.phi_hat)
        except (ValueError, ArithmeticError):
            ph = None
        if ph is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                logchi = np.log10(ph.chi1)
            img = hv.Image((ph.sw2, ph.sb2, logchi, ph.chi1, ph.xi_c, ph.q_star), kdims=["σ_w²", "σ_b²"],
                           vdims=["log10 χ₁", "χ₁", "ξ_c", "q*"])
            line = hv.operation.contours(img, levels=[0.0], filled=False)
            title = f"Phase diagram of {cfg.label()}: ordered (χ₁ < 1, blue) | chaotic (χ₁ > 1, red)"
            pts = hv.Points([(m.sigma_w**2, m.sigma_b**2)], kdims=["σ_w²", "σ_b²"], label=cfg.label())
    if backend == "matplotlib":
        img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, backend="matplotlib")
        line = line.opts(color="black", linewidth=2, backend="matplotlib")
        pts = pts.opts(color=cfg.colour if cfg else "black", s=120, edgecolors="black", backend="matplotlib")
        return (img * line * pts).opts(title=title, fig_size=220, aspect=1.6, fontscale=fontscale,
                                       backend="matplotlib")
    img = img.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, tools=["hover", "tap"], backend="bokeh")
    line = line.opts(color="black", line_width=2, backend="bokeh")
    pts = pts.opts(color=cfg.colour if cfg else "black", size=14, line_color="black", tools=["hover"],
                   backend="bokeh")
    return (img * line * pts).opts(title=title, responsive=True, height=int(320 * max(1.0, fontscale * 0.8)),
                                   min_width=300, fontscale=fontscale, backend="bokeh")


BUILDERS = {
    "c_map": c_map_plot,
    "one_minus_c": one_minus_c_plot,
    "c_trajectory": c_trajectory_plot,
    "q_map": q_map_plot,
    "q_trajectory": q_trajectory_plot,
    "activation": activation_plot,
    "ntk": ntk_plot,
    "phase": phase_plot,
}
