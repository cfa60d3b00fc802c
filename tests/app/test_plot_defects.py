"""Issue 11's plot defects, without a server or browser: the NTK plot's DKS bound, the χ₁ = 1 line of the ReLU
family and of GELU, hover formats, curve styles before the data is in, the exported figures' aspect, the CSV's
names. Expected numbers come from closed forms, theory.md or a second method (the EOC solver)."""

from __future__ import annotations

import csv
import io
import re

import holoviews as hv
import numpy as np
import pytest

import sigprop as sp
from sigprop_app import Configuration, data, export, plots, specs
from sigprop_app.live import LivePhasePlot, LivePlot


@pytest.fixture(scope="module", autouse=True)
def _bokeh():
    hv.extension("bokeh")


def _rows(builder, configs) -> list[dict]:
    return list(csv.DictReader(io.StringIO(export.csv_text(builder, configs))))


# ---- 1. the DKS bound does not fill the NTK plot -----------------------------------------------------------


def test_the_dks_bound_is_two_lines_c_plus_minus_11_zeta_minus_1():
    """Theorem 27 (theory.md §9): |Θ_l(c) − c| ≤ 11(ζ − 1); at ζ = 1.05 the lines are c ± 0.55."""
    cfg = Configuration(activation="tanh", method="dks", zeta=1.05, depth=20)
    series = specs.SPECS["ntk"].series(cfg, cfg.compute())
    bounds = [s for s in series if "DKS bound" in s.label]
    assert [s.y2 for s in bounds] == [None, None]  # lines, not a fill
    np.testing.assert_allclose(sorted(s.y[0] - s.x[0] for s in bounds), [-0.55, 0.55], rtol=1e-12)
    for s in bounds:
        np.testing.assert_allclose(s.y - s.x, s.y[0] - s.x[0], rtol=1e-12)


def test_the_ntk_plot_keeps_the_curves_readable_when_the_bound_is_loose():
    """DKS tanh, ζ = 1.5, L = 100 (theory.md §3): Θ_0(1) = C_f'(1) = ζ = 1.5 and max_l,c |Θ_l − c| = 0.627, so
    the Θ_l curves lie in [−1.627, 1.5] while the bound c ± 5.5 reaches ±6.5. The y-range follows the curves."""
    cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=100)
    lo, hi = plots.ntk_plot([cfg]).opts.get().kwargs["ylim"]
    assert -1.627 - 0.2 < lo < -0.3 and 1.5 <= hi < 1.5 + 0.2
    fig = LivePlot(specs.SPECS["ntk"], [cfg]).figure
    followed = {r.name for r in fig.y_range.renderers}
    assert {cfg.label(), f"{cfg.label()} · Θ_l at l=50", f"{cfg.label()} · Θ_l at l=100"} <= followed
    assert not any("DKS bound" in name for name in followed)
    assert not any(type(r.glyph).__name__ == "VArea" for r in fig.renderers)  # no band under the curves


# ---- 2. phase diagrams: the χ₁ = 1 line of ReLU and GELU, the region where q diverges ------------------------


def test_relu_family_chi1_line_is_vertical_at_one_over_the_mean_squared_slope():
    """Positively homogeneous φ: χ₁ = σ_w² E[φ'(z)²] whatever q, so χ₁ = 1 on σ_w² = 1/E[φ'(z)²] at every σ_b²:
    2 for ReLU (E[φ'²] = 1/2), 2/(1 + 0.2²) for leaky ReLU of slope 0.2 (E[φ'²] = (1 + α²)/2)."""
    for name, w2 in (("relu", 2.0), ("leaky_relu", 2 / (1 + 0.2**2))):
        p = data.phase(sp.activation(name))
        (x, y), = specs.chi1_one_lines(p)
        np.testing.assert_allclose(x, w2, rtol=1e-9)
        np.testing.assert_allclose([y.min(), y.max()], [data.SB2_GRID[0], data.SB2_GRID[-1]])


def test_gelu_chi1_line_exists_and_matches_the_eoc_solver():
    """GELU reaches χ₁ = 1 only just before its Q map loses its fixed point, inside the last grid cell before q
    diverges. The line against sp.eoc (root solve, a second method) at a few σ_b²."""
    phi = sp.activation("gelu")
    (x, y), = specs.chi1_one_lines(data.phase(phi))
    for b2 in (0.3, 0.6, 0.9):
        near = np.argmin(np.abs(y - b2))  # the line is not a function of σ_b² below 0.32: take the nearest point
        ref = sp.eoc(phi, sigma_b=np.sqrt(y[near])).sigma_w ** 2
        assert x[near] == pytest.approx(ref, abs=2e-3)


def test_the_grey_region_is_where_q_diverges_and_says_so():
    """ReLU, σ_w² > 2 with σ_b > 0: Q(q) = σ_w² q/2 + σ_b² > q for all q, no fixed point (theory.md §4)."""
    dash_cfg = Configuration(activation="relu", method="standard", scheme="he", depth=10)
    view = specs.phase_view(dash_cfg)
    p = view.phase
    W, B = np.meshgrid(p.sw2, p.sb2)
    np.testing.assert_array_equal(np.isinf(p.q_star), (W > 2 + 1e-9) | (np.isclose(W, 2) & (B > 0)))
    assert np.isnan(view.log_chi1[np.isinf(p.q_star)]).all()
    assert "grey: q diverges" in view.title
    assert "grey" not in specs.phase_view(Configuration(activation="tanh", method="eoc", sigma_b=0.2)).title
    live = LivePhasePlot([dash_cfg], 0, on_tap=lambda *_: None)
    image = next(r for r in live.figure.renderers if type(r.glyph).__name__ == "Image")
    assert image.glyph.color_mapper.nan_color == specs.DIVERGED
    hover = next(t for t in live.figure.tools if type(t).__name__ == "HoverTool")
    assert "q diverges" in hover.formatters["@q_star"].code


# ---- 3. hover: readable numbers, one tooltip ---------------------------------------------------------------


def test_hover_formats_show_small_numbers_and_one_tooltip_at_a_time():
    cfg = Configuration(activation="relu", method="eoc", depth=10)
    for key, x_fmt, y_fmt in (("one_minus_c", "%.3e", "%.3e"), ("c_map", "%.4g", "%.4g"),
                              ("ntk_condition", "%.4g", "%.3e")):
        fig = LivePlot(specs.SPECS[key], [cfg]).figure
        (hover,) = [t for t in fig.tools if type(t).__name__ == "HoverTool"]
        tips = dict(hover.tooltips)
        assert (tips[specs.SPECS[key].xlabel], tips[specs.SPECS[key].ylabel]) == (f"@x{{{x_fmt}}}", f"@y{{{y_fmt}}}")
        formatters = dict(hover.formatters)
        assert type(formatters.pop("@k")).__name__ == "CustomJSHover" and tips[""] == "@k{name}"  # the curve's name
        assert formatters == {"@x": "printf", "@y": "printf"} and hover.limit == 1
        (target,) = hover.renderers  # one source holding every curve's points: one tooltip where curves meet
        lines = [r for r in fig.renderers if type(r.glyph).__name__ == "Line"]
        assert len(target.data_source.data["x"]) == sum(
            int(np.sum(np.isfinite(r.data_source.data["x"]) & np.isfinite(r.data_source.data["y"]))) for r in lines)


def test_hover_points_follow_an_edit():
    d_cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=10)
    live = LivePlot(specs.SPECS["c_map"], [d_cfg])
    d_cfg.zeta = 2.5
    live.update([d_cfg])
    names = {live._lines[k].name for k in live._hover.data["k"]}  # (the tooltip's name is that of curve k)
    assert {d_cfg.label(), f"{d_cfg.label()} · C_f at L=6"} <= names and not any("ζ=1.5" in n for n in names)


# ---- 4. styles do not depend on whether the curves are computed ----------------------------------------------


def _style(s):
    return (s.width, s.dash, s.alpha, bool(s.legend), s.y2 is None)


@pytest.mark.parametrize("key", sorted(specs.SPECS))
def test_series_styles_are_the_same_before_and_after_computing(key):
    cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=16)
    spec = specs.SPECS[key]
    assert [_style(s) for s in spec.series(cfg, None)] == [_style(s) for s in spec.series(cfg, cfg.compute())]


def test_a_cold_c_map_draws_the_shallower_curves_thin_and_faint():
    """Served and not computed yet (``blocking`` False, nothing cached): the live figure's placeholder renderers
    already have the styles of the computed curves."""
    cold = Configuration(activation="tanh", method="eoc", sigma_b=0.3, depth=29)
    cold.blocking = False
    assert cold.compute() is None
    fig = LivePlot(specs.SPECS["c_map"], [cold]).figure
    curves = [r for r in fig.renderers if type(r.glyph).__name__ == "Line" and r.name != "identity"]
    drawn = [(r.glyph.line_width, r.glyph.line_alpha) for r in curves]
    done = Configuration(activation="tanh", method="eoc", sigma_b=0.3, depth=29)
    assert drawn == [(s.width, s.alpha) for s in specs.SPECS["c_map"].series(done, done.compute())]
    assert drawn[0][0] < drawn[-1][0]


# ---- 5. exported figures keep their aspect ------------------------------------------------------------------


def _svg_aspect(blob: bytes) -> float:
    w, h = (float(v) for v in re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"', blob[:1000]).groups())
    return w / h


def test_the_exported_finite_width_band_has_its_configurations_colour():
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgb

    cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=10, colour="#2ca02c")
    fig = export.load().get_plot(plots.finite_plot([cfg], backend="matplotlib")).state
    (band,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert tuple(band.get_facecolor()[0][:3]) == pytest.approx(to_rgb("#2ca02c"))


def test_svg_exports_of_log_and_linear_plots_have_the_same_aspect():
    """A plot with only y logarithmic (NTK κ) against linear ones (C map, Θ_l) and a log-log one (1 − C_f)."""
    configs = [Configuration(activation="tanh", method="dks", zeta=1.5, depth=20)]
    aspects = {key: _svg_aspect(export.export(plots.BUILDERS[key], configs, "svg"))
               for key in ("ntk_condition", "c_map", "ntk", "one_minus_c", "q_trajectory")}
    assert max(aspects.values()) / min(aspects.values()) < 1.15, aspects


# ---- 6. CSV names ---------------------------------------------------------------------------------------------


def test_csv_names_the_c_map_curves_by_their_depths():
    """L^(k/4), k = 1..4: 3, 9, 27, 81 layers at L = 81; a residual network of 50 blocks of 2 layers draws
    round(50^(k/4)) blocks = 3, 7, 19, 50, i.e. 6, 14, 38, 100 layers. The whole network is named by its
    configuration (whose name says L), explicit depths each by their depth."""
    plain = Configuration(activation="relu", method="standard", scheme="he", depth=81)
    res = Configuration(activation="relu", method="eoc", architecture="residual", depth=100)
    names = {r["series"] for r in _rows(plots.c_map_plot, [plain, res])}
    assert names == {"identity", plain.label(), *(f"{plain.label()} · C_f at L={d}" for d in (3, 9, 27)),
                     res.label(), *(f"{res.label()} · C_f at L={d}" for d in (6, 14, 38))}
    names = {r["series"] for r in _rows(lambda c, **kw: plots.c_map_plot(c, depths=[1, 10], **kw), [plain])}
    assert names == {"identity", f"{plain.label()} · C_f at L=1", f"{plain.label()} · C_f at L=10"}


def test_every_csv_names_each_curve_and_column():
    cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=10)
    label = cfg.label()
    expect = {
        "c_trajectory": {label, *(f"{label} · c0={c0}" for c0 in data.C0S[1:])},
        "ntk": {label, f"{label} · Θ_l at l=5", f"{label} · Θ_l at l=10",
                *(f"{label} · DKS bound c {s} 11(ζ − 1)" for s in "+−")},
        "phase": {"phase diagram", "χ₁ = 1"},
        "finite": {"identity", label, f"{label} · mean of random networks", f"{label} · ±2σ of random networks"},
    }
    for key, builder in plots.BUILDERS.items():
        text = export.csv_text(builder, [cfg])
        header = next(csv.reader(io.StringIO(text)))
        assert header[0] == "series" and "upper" not in header, (key, header)
        if key in specs.SPECS:
            assert {specs.SPECS[key].xlabel, specs.SPECS[key].ylabel} <= set(header), (key, header)
        names = {r["series"] for r in csv.DictReader(io.StringIO(text))}
        assert not any("L^(" in n or n in ("Image", "Path") for n in names), (key, names)
        if key in expect:
            assert expect[key] <= names, (key, names)
    header = next(csv.reader(io.StringIO(export.csv_text(plots.finite_plot, [cfg]))))
    assert {"output cosine C_f(c) (lower)", "output cosine C_f(c) (upper)"} <= set(header)
    assert export.csv_text(plots.training_plot, [cfg]).strip() == "series,step,training loss"  # no run yet
