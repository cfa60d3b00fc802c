"""sigprop_app: the Panel/HoloViews dashboard over :mod:`sigprop` (``panel serve app/serve.py``).

>>> from sigprop_app import Dashboard, Configuration, plots
>>> Dashboard()                                     # inline in a notebook
>>> plots.c_map_plot([Configuration(activation="relu", method="eoc")], depths=[1, 10, 100])
"""

from . import data, export, plots, presets, urlstate
from .config import Configuration
from .dashboard import Dashboard

__all__ = ["Configuration", "Dashboard", "data", "export", "plots", "presets", "urlstate"]
