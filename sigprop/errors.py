"""Exceptions raised by sigprop.

Every error sigprop raises on bad input is a ``SigpropError`` and (where it is about a
value the user gave) also a ``ValueError``, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class SigpropError(Exception):
    """Base class of every error sigprop raises on purpose."""


class ActivationError(SigpropError, ValueError):
    """An activation name, parameter or typed expression is unknown, unsafe or broken."""


class ConfigurationError(SigpropError, ValueError):
    """A numeric argument is out of range (negative variance, depth 0, NaN, ...)."""


class UnachievableError(SigpropError, ValueError):
    """A shaping target cannot be met; the message says why and what would work."""


class DivergenceError(SigpropError, ArithmeticError):
    """A kernel map left the representable range (e.g. q explodes with depth)."""
