"""sigprop_app: the Panel/HoloViews dashboard over :mod:`sigprop` (``panel serve app``, served at ``/app``).

>>> from sigprop_app import Dashboard, Configuration, plots
>>> Dashboard()                                     # inline in a notebook
>>> plots.c_map_plot([Configuration(activation="relu", method="eoc")], depths=[1, 10, 100])
"""

import importlib

from . import data, export, presets, specs, urlstate
from .config import Configuration
from .dashboard import Dashboard

__all__ = ["Configuration", "Dashboard", "data", "export", "plots", "presets", "specs", "urlstate"]


def __getattr__(name: str):
    """``sigprop_app.plots`` (HoloViews) is imported on first use: the served dashboard does not need it for
    its first page."""
    if name == "plots":
        return importlib.import_module(f"{__name__}.plots")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
