"""The dashboard's whole state as URL query parameters, so a link reproduces the view.

Keys: ``n`` (number of configurations), ``active`` (configuration drawn in the phase diagram),
``present`` (presentation mode) and ``c{i}.{key}`` for configuration i's fields that differ from their
defaults (short keys below). Values are validated by the parameters they are assigned to; a bad value
is ignored (with a message), never executed.
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


def encode(states: list[dict], active: int = 0, present: bool = False) -> str:
    """Query string (without '?') for the configuration states."""
    defaults = Configuration().state()
    q: dict[str, str] = {"n": str(len(states))}
    if active:
        q["active"] = str(active)
    if present:
        q["present"] = "1"
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


def decode(query: str | dict) -> tuple[list[dict], int, bool, list[str]] | None:
    """(states, active, present, problems) from a query string or a ``{key: [values]}`` dict; None if the
    query holds no dashboard state."""
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
    for key, text in flat.items():
        if not key.startswith("c") or "." not in key:
            continue
        idx, short = key[1:].split(".", 1)
        if not idx.isdigit() or int(idx) >= n or short not in LONG:
            problems.append(f"ignored URL key {key!r}")
            continue
        try:
            states[int(idx)][LONG[short]] = _convert(LONG[short], text)
        except (ValueError, OverflowError):
            problems.append(f"ignored {key}={text[:80]!r}")
    try:
        active = max(0, min(n - 1, int(flat.get("active", 0))))
    except (ValueError, OverflowError):
        active = 0
    return states, active, flat.get("present") == "1", problems
