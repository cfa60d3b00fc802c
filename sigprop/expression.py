"""Safe parser for activations typed as an expression in ``x``.

``parse_expression("x * sigmoid(x)")`` parses the text with :func:`ast.parse` and walks the tree with an
allow-list: number literals (finite, ``|v| <= 1e6``), the name ``x``, the constants ``pi`` and ``e``, unary
``+``/``-``, binary ``+ - * / **`` (the exponent a number literal with ``|p| <= 8``) and calls of the
functions in :data:`FUNCTIONS`. The walker builds nested closures that run on
JAX arrays (through JAX), on NumPy arrays and numbers (through NumPy) and on :class:`sigprop.jets.Jet` values
(NumPy, with φ' and φ''), so typed expressions get compile-free derivatives too; user text is only
parsed to an AST, never compiled to code nor passed to ``eval``/``exec``. Anything else raises
:class:`~sigprop.errors.ActivationError` saying what is wrong. Results are cached by the stripped text.

Design decisions:

- ``log``, ``sqrt`` and ``log1p`` are excluded: Gaussian pre-activations reach every real value, and these
  give NaN on part of the line. ``abs(...)**0.5`` or ``softplus`` are the safe alternatives.
- Subexpressions without ``x`` are folded to Python floats (in float64), so ``fn`` keeps the dtype of its
  input: float32 in, float32 out.
- As a last safety net the compiled function must be finite on ``x`` in [-10, 10] (catches ``1/x``,
  ``x**0.5``, ``exp(x**4)`` overflow, ``sin(x)/x`` at 0). Singularities between grid points are not caught.
- ``smooth`` is True iff every function used is C^∞ and every exponent is an integer.
  ``kinks`` lists the points where a non-smooth function's argument, an affine ``a*x + b``, crosses its
  kink (0 for every non-smooth function here): ``-b/a``. It is a superset (``relu(x) - relu(-x)`` is
  smooth but reports 0); ``None`` when an argument is not affine or an exponent is fractional.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sigprop import jets
from sigprop._lazy import Lazy as _Lazy
from sigprop.errors import ActivationError

jnp = _Lazy("jax.numpy")
_nn = _Lazy("jax.nn")
jsp = _Lazy("jax.scipy.special")

MAX_LENGTH = 200
MAX_DEPTH = 30
MAX_NODES = 200
MAX_LITERAL = 1e6
MAX_EXPONENT = 8
FINITE_RANGE = 10.0


class Function(NamedTuple):
    """An allowed function: its JAX implementation (a thunk: JAX is imported on first use), LaTeX template (``#1``,
    ``#2`` = arguments), C^∞ or not. Its NumPy twin, with derivatives, is ``sigprop.jets.PRIMITIVES[name]``."""

    fn: Callable[[], Callable]
    latex: str
    smooth: bool
    nargs: int = 1


def _op(name: str) -> str:
    return r"\operatorname{" + name + "}(#1)"


FUNCTIONS: dict[str, Function] = {
    "tanh": Function(lambda: jnp.tanh, r"\tanh(#1)", True),
    "sigmoid": Function(lambda: _nn.sigmoid, r"\sigma(#1)", True),
    "erf": Function(lambda: jsp.erf, _op("erf"), True),
    "erfc": Function(lambda: jsp.erfc, _op("erfc"), True),
    "exp": Function(lambda: jnp.exp, r"\exp(#1)", True),
    "expm1": Function(lambda: jnp.expm1, _op("expm1"), True),
    "sin": Function(lambda: jnp.sin, r"\sin(#1)", True),
    "cos": Function(lambda: jnp.cos, r"\cos(#1)", True),
    "sinh": Function(lambda: jnp.sinh, r"\sinh(#1)", True),
    "cosh": Function(lambda: jnp.cosh, r"\cosh(#1)", True),
    "arctan": Function(lambda: jnp.arctan, r"\arctan(#1)", True),
    "arcsinh": Function(lambda: jnp.arcsinh, _op("arcsinh"), True),
    "softplus": Function(lambda: _nn.softplus, _op("softplus"), True),
    "gelu": Function(lambda: lambda x: _nn.gelu(x, approximate=False), _op("GELU"), True),
    "gelu_tanh": Function(
        lambda: lambda x: _nn.gelu(x, approximate=True), r"\operatorname{GELU}_{\tanh}(#1)", True
    ),
    "silu": Function(lambda: _nn.silu, _op("SiLU"), True),
    # Non-smooth, each with its kink at argument 0.
    "relu": Function(lambda: _nn.relu, _op("relu"), False),
    "abs": Function(lambda: jnp.abs, r"\left|#1\right|", False),
    "elu": Function(lambda: _nn.elu, _op("ELU"), False),  # C^1 only (alpha = 1): φ'' jumps at 0
    "selu": Function(lambda: _nn.selu, _op("SELU"), False),  # φ' jumps from λα to λ at 0
    "softsign": Function(lambda: _nn.soft_sign, _op("softsign"), False),  # x/(1+|x|): C^1, φ'' jumps at 0
    "leaky_relu": Function(
        lambda: lambda x, s: _nn.leaky_relu(x, negative_slope=s), r"\operatorname{LReLU}_{#2}(#1)", False, 2
    ),
}
ALIASES = {"atan": "arctan", "asinh": "arcsinh", "swish": "silu"}
_PARTIAL = ("log", "log1p", "log2", "log10", "sqrt", "arcsin", "arccos", "asin", "acos", "arccosh", "acosh")
_NAN = "it gives NaN on part of the real line, which Gaussian pre-activations reach"
EXCLUDED = {name: _NAN for name in _PARTIAL}
EXCLUDED["sign"] = "it is discontinuous (its kernel maps are degenerate)"
CONSTANTS = {"pi": (math.pi, r"\pi"), "e": (math.e, "e")}

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FORBIDDEN = {
    ast.Subscript: "subscripts ('[...]') are",
    ast.Lambda: "lambda expressions are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "boolean operators (and/or) are",
    ast.IfExp: "conditional expressions (a if c else b) are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Set: "sets are",
    ast.Dict: "dicts are",
    ast.NamedExpr: "assignment expressions (:=) are",
    ast.JoinedStr: "strings are",
    ast.Starred: "starred arguments are",
}
# Precedence of a rendered LaTeX node, for parenthesising.
_SUM, _PROD, _NEG, _FRAC, _POW, _ATOM = range(6)


@dataclass(frozen=True)
class ParsedExpression:
    """A parsed activation; equal and hashed by its normalised ``text``."""

    text: str
    fn: Callable = field(compare=False, repr=False)
    #: the same formula on NumPy jets (φ, φ', φ''; :mod:`sigprop.jets`), for compile-free local maps
    jet: Callable = field(compare=False, repr=False)
    latex: str = field(compare=False)
    smooth: bool = field(compare=False)
    kinks: tuple[float, ...] | None = field(compare=False)
    functions: frozenset[str] = field(compare=False)


class _Node(NamedTuple):
    fn: Callable  # x -> value (a Python float for constants)
    latex: str
    prec: int
    affine: tuple[float, float] | None  # (a, b) if the node is a*x + b
    kinks: frozenset[float] | None  # candidate kink positions, None if unknown
    smooth: bool
    uses_x: bool


def _fail(node: ast.AST, what: str) -> ActivationError:
    return ActivationError(f"{what} (at column {getattr(node, 'col_offset', 0) + 1})")


def _number(node: ast.expr) -> float:
    """The value of a number literal, optionally signed; raise for anything else."""
    sign = 1.0  # values are floats: Python int arithmetic on folded constants could run unboundedly long
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign, node = (-1.0 if isinstance(node.op, ast.USub) else 1.0), node.operand
    if not isinstance(node, ast.Constant):
        raise _fail(node, "expected a number literal")
    value = node.value
    if isinstance(value, bool) or value is None:
        raise _fail(node, f"{value} is not allowed: use a number")
    if isinstance(value, (str, bytes)):
        raise _fail(node, "strings are not allowed")
    if isinstance(value, complex):
        raise _fail(node, "complex numbers are not allowed")
    if not isinstance(value, (int, float)):
        raise _fail(node, f"{value!r} is not allowed")
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        raise _fail(node, f"the number {value!r} is too large: literals must be finite with |value| <= 1e6")
    return sign * float(value)


def _latex_number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(float(v))
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return power if float(mantissa) == 1 else rf"{mantissa} \times {power}"
    return text


def _paren(node: _Node, wrap: bool) -> str:
    return rf"\left({node.latex}\right)" if wrap else node.latex


def _constant(value: float, latex: str | None = None) -> _Node:
    latex = _latex_number(value) if latex is None else latex
    return _Node(lambda x: value, latex, _NEG if latex.startswith("-") else _ATOM, (0.0, value), frozenset(),
                 True, False)


def _fold(node: _Node, ast_node: ast.AST) -> _Node:
    """Replace an x-free subexpression by its value, a Python float (so fn keeps the dtype of x)."""
    if node.uses_x:
        return node
    try:
        value = node.fn(0.0)
        value = float(value) if not isinstance(value, complex) else math.nan  # (-8.0)**0.5 is complex
    except (ZeroDivisionError, OverflowError):
        value = math.inf
    if not math.isfinite(value):
        raise _fail(ast_node, "a constant subexpression is not finite (division by zero, overflow "
                              "or a fractional power of a negative number)")
    return _constant(value, node.latex)._replace(prec=node.prec)


def _walk(node: ast.expr) -> _Node:
    if isinstance(node, ast.Constant):
        return _constant(_number(node))
    if isinstance(node, ast.Name):
        return _name(node)
    if isinstance(node, ast.UnaryOp):
        return _fold(_unary(node), node)
    if isinstance(node, ast.BinOp):
        return _fold(_power(node) if isinstance(node.op, ast.Pow) else _binary(node), node)
    if isinstance(node, ast.Call):
        return _fold(_call(node), node)
    if isinstance(node, ast.Attribute):
        raise _fail(node, f"attribute access ('.{node.attr}') is not allowed in an activation expression")
    what = _FORBIDDEN.get(type(node), f"'{type(node).__name__}' expressions are")
    raise _fail(node, f"{what} not allowed in an activation expression")


def _name(node: ast.Name) -> _Node:
    name = node.id
    if name == "x":
        return _Node(lambda x: x, "x", _ATOM, (1.0, 0.0), frozenset(), True, True)
    if name in CONSTANTS:
        return _constant(*CONSTANTS[name])
    if name.startswith("__"):
        raise _fail(node, f"dunder names such as '{name}' are not allowed")
    if name in FUNCTIONS or name in ALIASES:
        raise _fail(node, f"'{name}' is a function: call it, e.g. {name}(x)")
    raise _fail(node, f"unknown name '{name}': an expression may use only the variable x and constants pi, e")


def _unary(node: ast.UnaryOp) -> _Node:
    if not isinstance(node.op, (ast.UAdd, ast.USub)):
        raise _bad_operator(node)
    arg = _walk(node.operand)
    if isinstance(node.op, ast.UAdd):
        return arg
    aff = None if arg.affine is None else (-arg.affine[0], -arg.affine[1])
    latex = "-" + _paren(arg, arg.prec in (_SUM, _NEG))
    return arg._replace(fn=lambda x: -arg.fn(x), latex=latex, prec=_NEG, affine=aff)


def _bad_operator(node: ast.UnaryOp | ast.BinOp) -> ActivationError:
    symbol = {ast.Not: "not", ast.Invert: "~", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
              ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}.get(
        type(node.op), type(node.op).__name__)
    return _fail(node, f"the operator '{symbol}' is not allowed (allowed: + - * / and ** for powers)")


def _binary(node: ast.BinOp) -> _Node:
    if type(node.op) not in _BINOPS:
        raise _bad_operator(node)
    op = _BINOPS[type(node.op)]
    left, right = _walk(node.left), _walk(node.right)
    la, ra = left.affine, right.affine
    affine = None
    if la is not None and ra is not None:
        if isinstance(node.op, (ast.Add, ast.Sub)):
            affine = (op(la[0], ra[0]), op(la[1], ra[1]))
        elif isinstance(node.op, ast.Mult) and (la[0] == 0 or ra[0] == 0):
            affine = (la[0] * ra[1] + ra[0] * la[1], la[1] * ra[1])
        elif isinstance(node.op, ast.Div) and ra[0] == 0 and ra[1] != 0:
            affine = (la[0] / ra[1], la[1] / ra[1])
    if isinstance(node.op, (ast.Add, ast.Sub)):
        sign = "+" if isinstance(node.op, ast.Add) else "-"
        latex, prec = f"{left.latex} {sign} {_paren(right, right.prec in (_SUM, _NEG))}", _SUM
    elif isinstance(node.op, ast.Div):
        latex, prec = rf"\frac{{{left.latex}}}{{{right.latex}}}", _FRAC
    else:
        r = _paren(right, right.prec < _FRAC)
        if r[0].isdigit():
            sep = r" \cdot "
        elif not left.uses_x and left.prec >= _NEG:  # a number or constant: 0.1 x, \pi x
            sep = " "
        else:
            sep = r" \, "
        latex, prec = f"{_paren(left, left.prec == _SUM)}{sep}{r}", _PROD
    return _Node(lambda x: op(left.fn(x), right.fn(x)), latex, prec, affine, _union(left.kinks, right.kinks),
                 left.smooth and right.smooth, left.uses_x or right.uses_x)


def _power(node: ast.BinOp) -> _Node:
    try:
        p = _number(node.right)
    except ActivationError:
        raise _fail(node.right, "the exponent of ** must be a number literal with |p| <= 8 "
                                "(x**x and 2**x are not allowed; use exp(...))") from None
    if abs(p) > MAX_EXPONENT:
        raise _fail(node.right, f"the exponent {p:g} is too large: |p| must be <= {MAX_EXPONENT}")
    base = _walk(node.left)
    integer = float(p).is_integer()
    p = int(p) if integer else p  # integer powers use lax.integer_pow: exact, fine for a negative base
    regular = integer  # z**n is C^∞ where finite (like 1/z); z**0.5 has a kink-like singularity at z = 0
    latex = f"{_paren(base, base.prec < _ATOM)}^{{{_latex_number(p)}}}"
    affine = base.affine if p == 1 else (0.0, 1.0) if p == 0 else None
    return _Node(lambda x: base.fn(x) ** p, latex, _POW, affine, base.kinks if regular else None,
                 base.smooth and regular, base.uses_x)


def _call(node: ast.Call) -> _Node:
    if isinstance(node.func, ast.Attribute):
        attr = node.func.attr
        hint = f": write {attr}(x), not ...{attr}(x)" if attr in FUNCTIONS or attr in ALIASES else ""
        raise _fail(node.func, f"attribute access ('.{attr}') is not allowed{hint}")
    if not isinstance(node.func, ast.Name):
        _walk(node.func)  # raises for a lambda, subscript, ... with its own message
        raise _fail(node.func, "only named functions can be called, e.g. tanh(x)")
    name = ALIASES.get(node.func.id, node.func.id)
    if name in EXCLUDED:
        raise _fail(node, f"the function '{name}' is not allowed: {EXCLUDED[name]}")
    if name not in FUNCTIONS:
        if name.startswith("__"):
            raise _fail(node, f"dunder names such as '{name}' are not allowed")
        raise _fail(node, f"unknown function '{name}'; allowed: {', '.join(sorted({*FUNCTIONS, *ALIASES}))}")
    spec = FUNCTIONS[name]
    if node.keywords:
        raise _fail(node, f"keyword arguments are not supported: call {name} with positional arguments only")
    if len(node.args) != spec.nargs:
        usage = f"{name}(x, slope) with slope a number" if spec.nargs == 2 else f"{name}(x)"
        plural = "s" if spec.nargs > 1 else ""
        raise _fail(node, f"{name} takes {spec.nargs} argument{plural}, got {len(node.args)}: use {usage}")
    arg = _walk(node.args[0])
    extra = [_slope(a, name) for a in node.args[1:]]
    template = spec.latex.replace("(#1)", r"\left(#1\right)") if r"\frac" in arg.latex else spec.latex
    latex = template.replace("#1", arg.latex).replace("#2", "".join(map(_latex_number, extra)))
    flat = arg.affine is not None and arg.affine[0] == 0  # the argument does not vary with x
    if spec.smooth or flat:
        kinks = arg.kinks
    elif arg.affine is not None:  # f's kink is at argument a*x + b = 0
        a, b = arg.affine
        kinks = _union(arg.kinks, frozenset({-b / a + 0.0}))
    else:
        kinks = None
    f, smooth = spec.fn, arg.smooth and (spec.smooth or flat)

    def call(x):
        value = arg.fn(x)
        if isinstance(value, jets.Jet):  # the NumPy jet twin of the same formula
            return jets.apply(name, value, *extra)
        if isinstance(value, (float, int, np.ndarray, np.generic)):  # NumPy in, NumPy out (no JAX)
            with np.errstate(over="ignore", under="ignore"):
                return jets.PRIMITIVES[name].value_of(np.asarray(value, dtype=float), *extra)
        return f()(value, *extra)

    return _Node(call, latex, _ATOM, None, kinks, smooth, arg.uses_x)


def _slope(node: ast.expr, name: str) -> float:
    try:
        return _number(node)
    except ActivationError as err:
        raise ActivationError(f"the second argument of {name} (the slope) must be a number literal: {err}") \
            from None


def _union(a: frozenset | None, b: frozenset | None) -> frozenset | None:
    return None if a is None or b is None else a | b


def _check_size(tree: ast.Expression) -> None:
    count, stack = 0, [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise _fail(node, f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        if count > MAX_NODES:
            raise ActivationError(f"the expression is too large (more than {MAX_NODES} terms)")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):  # a chain a + b + c counts as one level, not as nesting
                chain = child is getattr(node, "left", None) and _same_level(node, child)
                stack.append((child, depth if chain else depth + 1))


def _same_level(node: ast.AST, child: ast.AST) -> bool:
    levels = ((ast.Add, ast.Sub), (ast.Mult, ast.Div))
    return isinstance(child, ast.BinOp) and any(
        isinstance(node.op, level) and isinstance(child.op, level) for level in levels)


def _canonical_text(tree: ast.Expression) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            node.func.id = ALIASES.get(node.func.id, node.func.id)
    return ast.unparse(tree)


def parse_expression(text: str) -> ParsedExpression:
    """Parse an activation ``φ(x)`` typed as text into a JAX callable plus its LaTeX and smoothness.

    Raises :class:`~sigprop.errors.ActivationError` with a message naming the problem for anything
    outside the allow-list described in the module docstring.
    """
    if not isinstance(text, str):
        raise ActivationError(f"an activation expression must be a string, got {type(text).__name__}")
    return _parse(text.strip())


@functools.lru_cache(maxsize=512)
def _parse(source: str) -> ParsedExpression:
    if not source:
        raise ActivationError("the activation expression is empty: type a formula in x, e.g. tanh(x)")
    if len(source) > MAX_LENGTH:
        raise ActivationError(f"the expression is too long ({len(source)} characters; at most {MAX_LENGTH})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for odd literals
            tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        where = f" (at column {err.offset})" if err.offset else ""
        raise ActivationError(f"cannot parse {source!r}: {err.msg}{where}; only a formula in x is "
                              "allowed, statements such as import or assignment are not") from None
    except (RecursionError, MemoryError, ValueError) as err:  # ValueError: e.g. a null character
        raise ActivationError(f"cannot parse {source!r}: {err}") from None
    _check_size(tree)
    root = _walk(tree.body)
    if not root.uses_x:
        raise ActivationError(f"{source!r} does not depend on x: a constant activation is not allowed")
    body = root.fn

    def fn(x):
        x = jnp.asarray(x)
        return body(x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float)))

    grid = np.linspace(-FINITE_RANGE, FINITE_RANGE, 2001)
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(body(grid), dtype=float), grid.shape)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ActivationError(
            f"{source!r} is not finite at x = {grid[bad][0]:g} (division by zero, a power of a negative "
            f"number, or overflow): an activation must be finite for every x in [-10, 10]")
    if np.all(values == values[0]):  # x cancels (x - x, 0*x, tanh(x)**0): constant on the whole range
        raise ActivationError(f"{source!r} is constant ({values[0]:g} for every x in [-10, 10]): a constant "
                              "activation is not allowed")
    kinks = None if root.kinks is None else tuple(sorted(root.kinks))
    calls = (n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call))
    functions = frozenset(ALIASES.get(name, name) for name in calls)
    return ParsedExpression(_canonical_text(tree), fn, body, root.latex, root.smooth, kinks, functions)
