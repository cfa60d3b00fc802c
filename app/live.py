"""Live Bokeh figures for the dashboard: built once per set of configurations, then updated in place.

Rebuilding HoloViews overlays of ~70 curves costs about a second per change on this machine; here a
change replaces the ``data`` of the changed configuration's ColumnDataSources only, so a slider move
sends just that configuration's new arrays to the browser.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from .plots import GREY, PlotSpec, Series


def _columns(s: Series) -> dict:
    cols = {"x": s.x, "y": s.y}
    if s.y2 is not None:
        cols["y2"] = s.y2
    return cols


class LivePlot:
    """A Bokeh figure drawing ``spec`` for a fixed list of configurations; :meth:`update` swaps data."""

    def __init__(self, spec: PlotSpec, configs, fontscale: float = 1.0, height: int = 340):
        self.spec = spec
        fig = figure(
            title=spec.title,
            x_axis_label=spec.xlabel,
            y_axis_label=spec.ylabel,
            x_axis_type="log" if spec.logx else "linear",
            y_axis_type="log" if spec.logy else "linear",
            height=int(height * max(1.0, 0.8 * fontscale)),
            sizing_mode="stretch_width",
            min_width=300,
            tools="pan,wheel_zoom,box_zoom,reset,save",
            toolbar_location="right",
        )
        if spec.ylim:
            fig.y_range = Range1d(*spec.ylim)
        lines = []
        for s in spec.reference:
            lines.append(self._draw(fig, s, GREY))
        self.sources: list[list[ColumnDataSource]] = []
        self._tokens: list[object] = []
        for cfg in configs:
            series = spec.series(cfg, cfg.compute())
            srcs = []
            for s in series:
                r = self._draw(fig, s, cfg.colour)
                srcs.append(r.data_source)
                if s.y2 is None:
                    lines.append(r)
            self.sources.append(srcs)
            self._tokens.append(self._token(cfg))
        fig.add_tools(
            HoverTool(
                renderers=lines, tooltips=[("", "$name"), (spec.xlabel, "@x{0.[0000]}"), (spec.ylabel, "@y{0.[0000]}")]
            )
        )
        if fig.legend:
            fig.legend.location = spec.legend
            fig.legend.click_policy = "hide"
            fig.legend.background_fill_alpha = 0.7
            fig.legend.label_text_font_size = f"{int(11 * fontscale)}px"
        fig.title.text_font_size = f"{int(13 * fontscale)}px"
        for axis in (fig.xaxis, fig.yaxis):
            axis.axis_label_text_font_size = f"{int(13 * fontscale)}px"
            axis.major_label_text_font_size = f"{int(11 * fontscale)}px"
        self.figure = fig

    @staticmethod
    def _draw(fig, s: Series, colour: str):
        src = ColumnDataSource(_columns(s))
        if s.y2 is not None:
            return fig.varea(x="x", y1="y", y2="y2", source=src, fill_color=colour, fill_alpha=s.alpha)
        kw = {"legend_label": s.label} if s.legend else {}
        return fig.line(
            "x",
            "y",
            source=src,
            color=colour,
            line_width=s.width,
            line_dash=s.dash,
            line_alpha=s.alpha,
            name=s.label,
            **kw,
        )

    @staticmethod
    def _token(cfg):
        return (cfg.spec(), cfg.error, cfg.ready(), cfg.blocking)

    def update(self, configs) -> int:
        """Push new data for the configurations whose parameters changed; returns how many changed."""
        changed = 0
        for i, cfg in enumerate(configs):
            token = self._token(cfg)
            if token == self._tokens[i]:
                continue
            self._tokens[i] = token
            for src, s in zip(self.sources[i], self.spec.series(cfg, cfg.compute())):
                src.data = _columns(s)
            changed += 1
        return changed
