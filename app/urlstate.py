"""The dashboard's whole state as URL query parameters, so a link reproduces the view.

Keys: ``n`` (number of configurations), ``c{i}.{key}`` for configuration i's fields that differ from their
defaults (short keys below) and the view's settings that differ from theirs (``VIEW``: the configuration edited,
presentation mode, the plot tab, the theme, plot 8's width and plot 9's data, optimiser and steps). Values are
validated by the parameters they are assigned to; a bad value is ignored (with a message), never executed.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlencode

from .config import Configuration

SHORT = {
    "title": "name",
    "colour": "col",
    "activation": "act",
    "method": "m",
    "scheme": "s",
    "sigma_w": "sw",
    "sigma_b": "sb",
    "zeta": "zeta",
    "eta": "eta",
    "tau": "tau",
    "architecture": "arch",
    "shortcut_weight": "w",
    "depth": "L",
}
LONG = {v: k for k, v in SHORT.items()}
MAX_CONFIGS = 8


# URL key -> Dashboard parameter of the view's settings (the Dashboard converts and validates the values)
VIEW = {
    "active": "active",
    "present": "presentation",
    "tab": "plot_tab",
    "theme": "theme",
    "width": "finite_width",
    "data": "train_data",
    "opt": "train_optimizer",
    "steps": "train_steps",
}


def encode(states: list[dict], view: dict | None = None) -> str:
    """Query string (without '?') for the configuration states and the view's settings ``{URL key: value}``
    (write only those that differ from their defaults; booleans as 1/0)."""
    defaults = Configuration().state()
    q: dict[str, str] = {"n": str(len(states))}
    for key, value in (view or {}).items():
        if key not in VIEW:
            raise KeyError(f"unknown view setting {key!r}")
        q[key] = str(int(value)) if isinstance(value, bool) else str(value)
    for i, st in enumerate(states):
        for field, value in st.items():
            if field in SHORT and value != defaults[field]:
                q[f"c{i}.{SHORT[field]}"] = repr(value) if isinstance(value, float) else str(value)
    return urlencode(q)


def _convert(field: str, text: str):
    """The value of a URL field; ValueError for text that is not a finite number where one is needed."""
    kind = type(Configuration.param[field].default)
    if kind not in (int, float):
        return text
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number")
    if kind is int and not value.is_integer():
        raise ValueError(f"{field} must be a whole number")
    return kind(value)


def decode(query: str | dict) -> tuple[list[dict], dict, list[str]] | None:
    """(states, view, problems) from a query string or a ``{key: [values]}`` dict: ``view`` holds the VIEW
    keys' text as given; None if the query holds no dashboard state."""
    if isinstance(query, str):
        query = parse_qs(query.lstrip("?"))
    flat = {k: (v[-1] if isinstance(v, list | tuple) else v) for k, v in query.items()}
    flat = {k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)) for k, v in flat.items()}
    if "n" not in flat:
        return None
    problems = []
    try:
        n = max(1, min(MAX_CONFIGS, int(flat["n"])))
    except (ValueError, OverflowError):
        return None
    states = [{} for _ in range(n)]
    view = {}
    for key, text in flat.items():
        if key == "n":
            continue
        if key in VIEW:
            view[key] = text[:80]
            continue
        if not key.startswith("c") or "." not in key:
            if not key.startswith("bokeh-"):  # (Bokeh's own arguments, e.g. when embedded)
                problems.append(f"ignored URL key {key[:80]!r}")
            continue
        idx, short = key[1:].split(".", 1)
        if not idx.isdigit() or int(idx) >= n or short not in LONG:
            problems.append(f"ignored URL key {key[:80]!r}")
            continue
        try:
            states[int(idx)][LONG[short]] = _convert(LONG[short], text)
        except (ValueError, OverflowError):
            problems.append(f"ignored {key}={text[:80]!r}")
    return states, view, problems
