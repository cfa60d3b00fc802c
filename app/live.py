"""Live Bokeh figures for the dashboard: built once per set of configurations, then updated in place.

Rebuilding HoloViews overlays of ~70 curves costs about a second per change on this machine; here a
change replaces the ``data`` of the changed configuration's ColumnDataSources only, so a slider move
sends just that configuration's new arrays to the browser.
"""

from __future__ import annotations

import numpy as np
from bokeh.core.property.vectorization import value
from bokeh.events import Tap
from bokeh.models import (
    AllIndices,
    CDSView,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    DataRange1d,
    GlyphRenderer,
    HoverTool,
    Legend,
    LegendItem,
    Line,
    LinearColorMapper,
    Range1d,
    UnionRenderers,
    VArea,
)
from bokeh.palettes import RdBu11, interp_palette
from bokeh.plotting import figure

from . import data
from .specs import DIVERGED, GREY, PlotSpec, Series, phase_inputs, phase_view

HOVER_SIZE = 16  # px: the data points within HOVER_SIZE / 2 of the pointer are candidates for its tooltip
# The hover's filter: only curves shown (a click on a legend entry hides one; args.lines: the curves, value: the
# curve's index); it also gives each candidate its squared distance to the pointer, which sort_by="$dist" reads,
# so that the one tooltip (limit=1) is the nearest point's.
NEAREST_SHOWN_JS = """export default (args, tool, {value, vars}) => {
  vars.dist = (vars.snap_sx - vars.sx) ** 2 + (vars.snap_sy - vars.sy) ** 2;
  return args.lines[value].visible;
}"""
# the hover's first line: the name of curve k (args.lines: the curves)
CURVE_NAME_JS = "return lines[value].name;"
# the phase diagram's hover: 4 significant digits, ∞ for ξ_c on the EOC and for q* where q diverges (χ₁ and ξ_c
# are NaN there, which Bokeh shows as NaN without calling a formatter)
PHASE_VALUE_JS = """
    if (!Number.isFinite(value)) return format === "q" ? "∞: q diverges, no fixed point" : "∞";
    return String(Number(value.toPrecision(4)));"""


def _columns(s: Series) -> dict:
    cols = {"x": s.x, "y": s.y}
    if s.y2 is not None:
        cols["y2"] = s.y2
    return cols


def _px(size: float, fontscale: float) -> str:
    """A font size scaled for presentation (``fontscale`` > 1: at least 18 px, the projector's minimum)."""
    return f"{max(int(size * fontscale), 18 if fontscale > 1 else 0)}px"


def _style(fig, fontscale: float) -> None:
    fig.title.text_font_size = _px(13, fontscale)
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_label_text_font_size = _px(13, fontscale)
        axis.major_label_text_font_size = _px(11, fontscale)


class LivePlot:
    """A Bokeh figure drawing ``spec`` for a fixed list of configurations; :meth:`update` swaps data."""

    def __init__(self, spec: PlotSpec, configs, fontscale: float = 1.0, height: int = 340):
        self.spec = spec
        fig = figure(  # (no canvas title: the dashboard's card shows spec.title as HTML, which wraps)
            name=spec.key,
            x_axis_label=spec.xlabel,
            y_axis_label=spec.ylabel,
            x_axis_type="log" if spec.logx else "linear",
            y_axis_type="log" if spec.logy else "linear",
            height=int(height * max(1.0, 0.8 * fontscale)),
            sizing_mode="stretch_width",
            min_width=280,
            tools="pan,wheel_zoom,box_zoom,reset,save",
            toolbar_location="right",
        )
        self._policy, self._all, self._legend = UnionRenderers(), AllIndices(), []
        lines, fitted = [], []
        for s in spec.reference:
            lines.append(self._draw(fig, s, GREY))
        fitted += lines
        self.sources: list[list[ColumnDataSource]] = []
        self._renderers: list[list] = []
        self._tokens: list[object] = []
        for cfg in configs:
            series = spec.series(cfg, cfg.compute())
            renderers = [self._draw(fig, s, cfg.colour) for s in series]
            lines += [r for r, s in zip(renderers, series) if s.y2 is None]
            fitted += [r for r, s in zip(renderers, series) if s.fit]
            self._renderers.append(renderers)
            self.sources.append([r.data_source for r in renderers])
            self._tokens.append(self._token(cfg) if cfg.blocking or cfg.ready() else None)
        if spec.ylim:
            fig.y_range = Range1d(*spec.ylim)
        elif len(fitted) < len(fig.renderers):  # a bound left out of the y-range
            fig.y_range = DataRange1d(renderers=fitted)
        self._lines = sorted(lines, key=lambda r: -r.glyph.line_width)  # where curves meet: the boldest one's
        self._hover = ColumnDataSource(self._hover_data())
        target = fig.scatter("x", "y", source=self._hover, size=HOVER_SIZE, fill_alpha=0, line_alpha=0)
        nearest_shown = CustomJS(args={"lines": self._lines}, code=NEAREST_SHOWN_JS)
        # the curve's name is read in the browser from the curve itself (``k``), not sent with every point
        curve_name = CustomJSHover(args={"lines": self._lines}, code=CURVE_NAME_JS)
        fig.add_tools(HoverTool(renderers=[target], tooltips=self._tooltips(spec), filters={"@k": nearest_shown},
                                sort_by="$dist", limit=1,
                                formatters={"@x": "printf", "@y": "printf", "@k": curve_name}))
        if self._legend:
            fig.add_layout(Legend(items=self._legend))
            fig.legend.location = spec.legend
            fig.legend.click_policy = "hide"
            fig.legend.background_fill_alpha = 0.7
            fig.legend.label_text_font_size = _px(11, fontscale)
            # presentation: a legend in large type would hide the curves; the dashboard shows the names above
            # the plots instead (HTML, which wraps)
            fig.legend.visible = fontscale == 1
        _style(fig, fontscale)
        self.figure = fig

    @staticmethod
    def _tooltips(spec: PlotSpec) -> list:
        """Curve name, x and y: 4 significant digits on a linear axis (0.0001234, 0.9963), 4 in scientific
        notation on a log one (1.234e-6, 2.865e+4)."""
        digits = {True: "%.3e", False: "%.4g"}
        return [("", "@k{name}"), (spec.xlabel, f"@x{{{digits[spec.logx]}}}"),
                (spec.ylabel, f"@y{{{digits[spec.logy]}}}")]

    def _hover_data(self) -> dict:
        """Every curve's finite points in one source (``k``: the curve's index in ``_lines``), so that the
        pointer gets one tooltip (HoverTool's ``limit``), not one per curve where curves meet. The tooltip reads
        the curve's name from ``_lines[k]`` (CURVE_NAME_JS): a column of names, one per point, made a σ_w change
        of the default view send 114 kB instead of 64."""
        cols = {"x": [], "y": [], "k": []}
        for k, r in enumerate(self._lines):
            x, y = (np.asarray(r.data_source.data[c], dtype=float) for c in ("x", "y"))
            ok = np.isfinite(x) & np.isfinite(y)
            cols["x"].append(x[ok])
            cols["y"].append(y[ok])
            cols["k"].append(np.full(ok.sum(), k, dtype=np.int32))
        return {c: np.concatenate(v) for c, v in cols.items()}

    def _draw(self, fig, s: Series, colour: str):
        """One renderer of ``s``, built lean: Bokeh's plotting API gives each renderer its own selection policy,
        view filter and nonselection and muted glyphs (9 models a line); this figure's renderers share one
        policy and one filter, and leave the glyphs nobody sees (no selection tool; the legend hides, not
        mutes) to the browser's defaults: 5 models a line, which is what each session builds and sends."""
        src = ColumnDataSource(_columns(s), selection_policy=self._policy)
        if s.y2 is not None:
            glyph = VArea(x="x", y1="y", y2="y2", fill_color=colour, fill_alpha=s.alpha)
        else:
            glyph = Line(x="x", y="y", line_color=colour, line_width=s.width, line_dash=s.dash, line_alpha=s.alpha)
        renderer = GlyphRenderer(data_source=src, glyph=glyph, view=CDSView(filter=self._all), name=s.label)
        fig.renderers.append(renderer)
        if s.y2 is None and s.legend:
            self._legend.append(LegendItem(label=value(s.label), renderers=[renderer]))
        return renderer

    def _token(self, cfg):
        return (cfg.spec(), cfg.label(), cfg.error, cfg.blocking, not cfg.missing(self.spec.parts),
                cfg.view_token(self.spec.parts))

    def _rename(self, renderer, label: str, legend: bool) -> None:
        """A curve's name (hover) and legend entry follow its configuration's name."""
        if renderer.name == label:
            return
        renderer.name = label
        if legend:
            for item in self.figure.legend.items:
                if renderer in item.renderers:
                    item.label = value(label)

    def update(self, configs, active: int = 0) -> int:
        """Push new data for the configurations whose parameters changed; returns how many changed. A
        configuration still being computed (served) keeps its previous curves until its new ones are in."""
        changed = 0
        for i, cfg in enumerate(configs):
            token = self._token(cfg)
            if token == self._tokens[i] or (not cfg.blocking and not cfg.ready() and self._tokens[i] is not None):
                continue
            self._tokens[i] = token
            for renderer, s in zip(self._renderers[i], self.spec.series(cfg, cfg.compute())):
                renderer.data_source.data = _columns(s)
                if s.y2 is None:
                    self._rename(renderer, s.label, s.legend)
            changed += 1
        if changed:
            self._hover.data = self._hover_data()
        return changed


class LivePhasePlot:
    """Plot 7 of configuration ``active`` as a Bokeh figure: log10 χ₁ image (blue: ordered, red: chaotic), the
    χ₁ = 1 line and the configuration's point; :meth:`update` swaps their data, a click calls
    ``on_tap(σ_w², σ_b²)``."""

    def __init__(self, configs, active: int, on_tap, fontscale: float = 1.0, height: int = 340):
        view = phase_view(configs[active])
        sw2, sb2 = data.SW2_GRID, data.SB2_GRID
        dx, dy = sw2[1] - sw2[0], sb2[1] - sb2[0]
        fig = figure(
            name="phase",
            title=view.title,
            x_axis_label="σ_w²",
            y_axis_label="σ_b²",
            x_range=Range1d(sw2[0] - dx / 2, sw2[-1] + dx / 2),
            y_range=Range1d(sb2[0] - dy / 2, sb2[-1] + dy / 2),
            height=int(height * max(1.0, 0.8 * fontscale)),
            sizing_mode="stretch_width",
            min_width=280,
            tools="pan,wheel_zoom,box_zoom,reset,save,tap",
            toolbar_location="right",
        )
        mapper = LinearColorMapper(palette=interp_palette(RdBu11, 256), low=-1, high=1, nan_color=DIVERGED)
        empty = {"image": [], "chi1": [], "xi_c": [], "q_star": []}
        self.image = ColumnDataSource(empty)
        pixels = fig.image(
            image="image", x=sw2[0] - dx / 2, y=sb2[0] - dy / 2, dw=sw2[-1] - sw2[0] + dx,
            dh=sb2[-1] - sb2[0] + dy, source=self.image, color_mapper=mapper,
        )
        fig.add_layout(ColorBar(color_mapper=mapper, title="log10 χ₁", title_text_font_size=_px(11, fontscale),
                                major_label_text_font_size=_px(11, fontscale)), "right")
        self.line = ColumnDataSource({"xs": [], "ys": []})
        fig.multi_line("xs", "ys", source=self.line, color="black", line_width=2)
        self.point = ColumnDataSource({"x": [], "y": []})
        fig.scatter("x", "y", source=self.point, size=14, line_color="black", fill_color=view.colour)
        fig.add_tools(
            HoverTool(
                renderers=[pixels],
                tooltips=[("σ_w²", "$x{0.00}"), ("σ_b²", "$y{0.00}"), ("χ₁", "@chi1"), ("ξ_c", "@xi_c"),
                          ("q*", "@q_star{q}")],
                formatters={f: CustomJSHover(code=PHASE_VALUE_JS) for f in ("@chi1", "@xi_c", "@q_star")},
            )
        )
        fig.on_event(Tap, lambda event: on_tap(event.x, event.y))
        _style(fig, fontscale)
        self.figure = fig
        self._glyph = fig.renderers[-1].glyph
        self._token = None
        self.update(configs, active)

    @staticmethod
    def _token_of(cfg, active):
        return (active, cfg.label(), cfg.colour, cfg.blocking, not cfg.missing(("phase",)), phase_inputs(cfg))

    def update(self, configs, active: int = 0) -> int:
        """Redraw when the active configuration or its activation/point changed; returns 1 if it did."""
        cfg = configs[active]
        token = self._token_of(cfg, active)
        pending = not cfg.blocking and cfg.missing(("phase",))  # served, still computing: keep the last drawing
        if token == self._token or (pending and self._token is not None and self._token[0] == active):
            return 0
        self._token = token
        view = phase_view(cfg)
        p = view.phase
        self.figure.title.text = view.title
        if p is None:
            self.image.data = {"image": [], "chi1": [], "xi_c": [], "q_star": []}
        else:
            self.image.data = {"image": [view.log_chi1], "chi1": [p.chi1], "xi_c": [p.xi_c], "q_star": [p.q_star]}
        self.line.data = {"xs": [x for x, _ in view.eoc_lines], "ys": [y for _, y in view.eoc_lines]}
        self.point.data = {"x": [view.point[0]] if view.point else [], "y": [view.point[1]] if view.point else []}
        self._glyph.fill_color = view.colour
        return 1
