"""Export a plot to PNG or SVG (HoloViews' matplotlib backend: no browser needed) and its data to CSV.

HoloViews and pandas are imported on the first export, not with this module: the dashboard's first page
does not wait for them.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("png", "svg", "csv")


def load():
    """The matplotlib renderer, loading the backend on first use without changing the current backend."""
    import holoviews as hv

    if "matplotlib" not in hv.Store.renderers:
        current = hv.Store.current_backend
        import holoviews.plotting.mpl  # noqa: F401  (registers the backend)

        hv.Store.set_current_backend(current)
    return hv.renderer("matplotlib")


def figure_bytes(builder, configs, fmt: str, dpi: int = 120, **kw) -> bytes:
    """PNG or SVG bytes of ``builder(configs, backend="matplotlib", **kw)``."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"figure format must be 'png' or 'svg', got {fmt!r}")
    renderer = load()
    obj = builder(configs, backend="matplotlib", **kw)
    fig = renderer.get_plot(obj).state
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _csv_safe(text: str) -> str:
    """A name as a spreadsheet shows it, never runs it: a leading = + - @ (a formula in Excel, LibreOffice,
    Sheets) or tab/CR gets a leading apostrophe (OWASP's advice on CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def table(obj) -> pd.DataFrame:
    """Long-form data of every element in a HoloViews object: one row per point, ``series`` = element label,
    a column per dimension (the header alone when nothing is drawn yet, e.g. before a training run)."""
    import holoviews as hv
    import pandas as pd

    frames, columns = [], {"series": None}
    for el in obj.traverse(lambda x: x, [hv.Element]):
        if isinstance(el, hv.Contours):
            continue
        columns |= dict.fromkeys(d.name for d in el.dimensions())
        if len(el) == 0:
            continue
        df = el.dframe()
        df.insert(0, "series", _csv_safe(el.label or type(el).__name__))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def csv_text(builder, configs, **kw) -> str:
    """CSV of the data drawn by ``builder(configs)``."""
    return table(builder(configs, **kw)).to_csv(index=False)


def export(builder, configs, fmt: str, **kw) -> bytes:
    """Bytes of the plot (``png``/``svg``) or of its data (``csv``)."""
    if fmt == "csv":
        return csv_text(builder, configs, **kw).encode()
    return figure_bytes(builder, configs, fmt, **kw)
