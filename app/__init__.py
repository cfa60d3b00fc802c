"""sigprop_app: the Panel/HoloViews dashboard over :mod:`sigprop` (``panel serve app``, served at ``/app``).

>>> from sigprop_app import Dashboard, Configuration, plots
>>> Dashboard()                                     # inline in a notebook
>>> plots.c_map_plot([Configuration(activation="relu", method="eoc")], depths=[1, 10, 100])

The names are imported on first use: the served dashboard's first page does not need ``plots`` (HoloViews),
and an engine process (``sigprop_app.work``) imports only ``sigprop_app.data``, not Panel.
"""

import importlib

__all__ = ["Configuration", "Dashboard", "data", "export", "plots", "presets", "specs", "urlstate"]
_CLASSES = {"Configuration": "config", "Dashboard": "dashboard"}


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
