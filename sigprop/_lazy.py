"""Modules imported on first attribute access: JAX costs about a second to import, and the interactive path
(activations, shaping methods, EOC) never needs it."""

from __future__ import annotations

import importlib


class Lazy:
    """A stand-in for the module ``name``, imported when an attribute is first read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)

    def __reduce__(self):  # pickled by name (unpickling must not reach __getattr__ before _name exists)
        return Lazy, (self._name,)

    def __repr__(self):
        return f"<lazy module {self._name}>"
