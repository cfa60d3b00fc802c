"""Tests of the safe activation-expression parser (sigprop.expression).

Reference values come from NumPy/SciPy formulas written here, independently of the parser's JAX tables.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import sigprop.expression as expression
from sigprop.errors import ActivationError
from sigprop.expression import FUNCTIONS, ParsedExpression, parse_expression

X = np.linspace(-8.0, 8.0, 1601)
SELU_LAMBDA = 1.0507009873554804934193349852946  # Klambauer et al. 2017
SELU_ALPHA = 1.6732632423543772848170429916717


def _expit(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives the right limit 0
        return 1.0 / (1.0 + np.exp(-x))


# One independent NumPy/SciPy reference per allowed function (and alias).
REFERENCES = {
    "tanh(x)": np.tanh,
    "sigmoid(x)": _expit,
    "erf(x)": ss.erf,
    "erfc(x)": ss.erfc,
    "exp(x)": np.exp,
    "expm1(x)": np.expm1,
    "sin(x)": np.sin,
    "cos(x)": np.cos,
    "sinh(x)": np.sinh,
    "cosh(x)": np.cosh,
    "arctan(x)": np.arctan,
    "atan(x)": np.arctan,
    "arcsinh(x)": np.arcsinh,
    "asinh(x)": np.arcsinh,
    "softplus(x)": lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    "gelu(x)": lambda x: x * ss.ndtr(x),
    "gelu_tanh(x)": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "silu(x)": lambda x: x / (1 + np.exp(-x)),
    "swish(x)": lambda x: x / (1 + np.exp(-x)),
    "relu(x)": lambda x: np.where(x > 0, x, 0.0),
    "abs(x)": np.abs,
    "elu(x)": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu(x)": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "softsign(x)": lambda x: x / (1 + np.abs(x)),
    "leaky_relu(x, 0.2)": lambda x: np.where(x > 0, x, 0.2 * x),
    # Expressions combining operators, constants and functions.
    "x * sigmoid(x)": lambda x: x / (1 + np.exp(-x)),
    "tanh(x) + 0.1*x": lambda x: np.tanh(x) + 0.1 * x,
    "relu(x) - 0.5*abs(x)": lambda x: np.maximum(x, 0) - 0.5 * np.abs(x),
    "exp(-x**2/2)": lambda x: np.exp(-(x * x) / 2),
    "-x**2 + 3": lambda x: 3 - x * x,
    "(x - 1)**3 / 7": lambda x: (x - 1) * (x - 1) * (x - 1) / 7,
    "pi*x + e": lambda x: math.pi * x + math.e,
    "sin(pi*x/4) * exp(1)": lambda x: np.sin(math.pi * x / 4) * math.e,
    "abs(x)**0.5": lambda x: np.sqrt(np.abs(x)),
    "(1 + x**2)**-1": lambda x: 1 / (1 + x * x),
    "x - -x": lambda x: 2 * x,
    "2**-1 * x": lambda x: x / 2,
    "leaky_relu(2*x - 1, -0.1)": lambda x: np.where(2 * x - 1 > 0, 2 * x - 1, -0.1 * (2 * x - 1)),
}
SMOOTH = {"tanh", "sigmoid", "erf", "erfc", "exp", "expm1", "sin", "cos", "sinh", "cosh", "arctan", "arcsinh",
          "softplus", "gelu", "gelu_tanh", "silu"}
KINKED = {"relu", "abs", "elu", "selu", "softsign", "leaky_relu"}


def _raises(text, fragment):
    with pytest.raises(ActivationError, match=fragment):
        parse_expression(text)


# --------------------------------------------------------------------------------------------------------
# Values, gradients, dtypes


@pytest.mark.parametrize("text", REFERENCES)
def test_values_match_numpy_reference(text):
    with jax.enable_x64(True):
        got = np.asarray(parse_expression(text).fn(X))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, REFERENCES[text](X), rtol=1e-14, atol=1e-14)


def test_every_allowed_function_has_a_reference_and_a_smoothness_class():
    tested = {t.split("(")[0] for t in REFERENCES if re.fullmatch(r"\w+\(x(, [\d.]+)?\)", t)}
    assert set(FUNCTIONS) | set(expression.ALIASES) <= tested
    assert SMOOTH | KINKED == set(FUNCTIONS) and not SMOOTH & KINKED
    assert {n for n, f in FUNCTIONS.items() if f.smooth} == SMOOTH


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_smoothness_flag_matches_a_derivative_jump_at_zero(name):
    """A kinked φ has a jump of size > 0.1 in φ' or φ'' at 0; a smooth one has none (checked by autodiff)."""
    text = f"{name}(x, 0.2)" if name == "leaky_relu" else f"{name}(x)"
    p = parse_expression(text)
    assert p.smooth == (name in SMOOTH)
    with jax.enable_x64(True):
        d1 = jax.grad(p.fn)
        d2 = jax.grad(d1)
        h = 1e-7
        jump = max(abs(float(d(h)) - float(d(-h))) for d in (d1, d2))
    assert (jump > 0.1) == (name in KINKED), jump


def test_grad_jit_vmap():
    p = parse_expression("x * sigmoid(x)")
    with jax.enable_x64(True):
        s = _expit(X)
        np.testing.assert_allclose(jax.vmap(jax.grad(p.fn))(X), s + X * s * (1 - s), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(jax.jit(p.fn)(X), X * s, rtol=1e-14, atol=1e-14)
        q = parse_expression("tanh(x) + 0.1*x")
        np.testing.assert_allclose(jax.jit(jax.grad(q.fn))(0.7), 1 - np.tanh(0.7) ** 2 + 0.1, rtol=1e-14)


@pytest.mark.parametrize("text", ["x * sigmoid(x)", "pi*x + exp(1)", "leaky_relu(x, 0.2)", "x**2 / 3 - e",
                                  "abs(x)**0.5"])
@pytest.mark.parametrize("x64", [False, True])
def test_dtype_follows_input(text, x64):
    fn = parse_expression(text).fn
    with jax.enable_x64(x64):
        assert fn(jnp.ones(4, jnp.float32)).dtype == jnp.float32
        assert fn(jnp.arange(4)).dtype == (jnp.float64 if x64 else jnp.float32)  # integers become float


# --------------------------------------------------------------------------------------------------------
# Metadata: text, equality, latex, kinks, functions


def test_normalised_text_equality_and_hash():
    a, b = parse_expression("x*sigmoid( x )"), parse_expression("  x * sigmoid(x)")
    assert a.text == "x * sigmoid(x)" and a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert parse_expression("atan(x) + swish(x)").text == "arctan(x) + silu(x)"
    assert parse_expression("atan(x)") == parse_expression("arctan(x)")
    assert parse_expression("tanh(x)") != parse_expression("sin(x)")
    assert isinstance(a, ParsedExpression)
    with pytest.raises(AttributeError):
        a.text = "x"  # frozen


def test_functions_used():
    assert parse_expression("x * sigmoid(x)").functions == {"sigmoid"}
    assert parse_expression("relu(x) - 0.5*abs(tanh(x))").functions == {"relu", "abs", "tanh"}
    assert parse_expression("asinh(x)").functions == {"arcsinh"}
    assert parse_expression("x**2").functions == frozenset()


@pytest.mark.parametrize(("text", "latex"), [
    ("x * sigmoid(x)", r"x \, \sigma(x)"),
    ("tanh(x) + 0.1*x", r"\tanh(x) + 0.1 x"),
    ("relu(x) - 0.5*abs(x)", r"\operatorname{relu}(x) - 0.5 \left|x\right|"),
    ("exp(-x**2/2)", r"\exp\left(\frac{-x^{2}}{2}\right)"),
    ("leaky_relu(x, 0.2)", r"\operatorname{LReLU}_{0.2}(x)"),
    ("(x + 1)**2", r"\left(x + 1\right)^{2}"),
    ("-(x + 1)", r"-\left(x + 1\right)"),
    ("x - -x", r"x - \left(-x\right)"),
    ("pi*x", r"\pi x"),
    ("x*2", r"x \cdot 2"),
    ("1e-5*x", r"10^{-5} x"),
    ("gelu(x) / (1 + x**2)", r"\frac{\operatorname{GELU}(x)}{1 + x^{2}}"),
])
def test_latex(text, latex):
    assert parse_expression(text).latex == latex


@pytest.mark.parametrize(("text", "kinks"), [
    ("tanh(x) + 0.1*x", ()),
    ("relu(x)", (0.0,)),
    ("relu(2*x-1)", (0.5,)),
    ("abs(x+0.5)", (-0.5,)),
    ("leaky_relu(x, 0.2)", (0.0,)),
    ("relu(-x/4 + 1)", (4.0,)),
    ("relu(x) + abs(x - 1) - elu(3*(x - 2))", (0.0, 1.0, 2.0)),
    ("tanh(relu(x - 2))**2", (2.0,)),
    ("relu(0*x + 1) + x", ()),
    ("relu(x**2-1)", None),
    ("relu(tanh(x))", None),
    ("abs(x)**0.5", None),
])
def test_kinks(text, kinks):
    p = parse_expression(text)
    assert p.kinks == kinks
    assert p.smooth == (kinks == ())


def test_reported_kinks_are_real():
    """At each reported kink φ' jumps (autodiff on both sides)."""
    for text in ["relu(2*x-1)", "abs(x+0.5)", "leaky_relu(x, 0.2)", "relu(-x/4 + 1)"]:
        p = parse_expression(text)
        with jax.enable_x64(True):
            for k in p.kinks:
                assert abs(float(jax.grad(p.fn)(k + 1e-9)) - float(jax.grad(p.fn)(k - 1e-9))) > 0.1


# --------------------------------------------------------------------------------------------------------
# Rejections: one test per class


def test_rejects_attribute_access():
    _raises("x.real", r"attribute access \('.real'\)")
    _raises("np.tanh(x)", r"attribute access \('.tanh'\).*write tanh\(x\)")
    _raises("jax.numpy.exp(x)", "attribute access")
    _raises("x.__class__", "attribute access")


def test_rejects_subscripts():
    for text in ["x[0]", "x[::2]", "abs(x)[0]"]:
        _raises(text, "subscripts")


def test_rejects_calls_outside_allow_list():
    for text in ["foo(x)", "print(x)", "eval('x')", "open('f')", "max(x, 0)", "getattr(x, 'a')"]:
        _raises(text, "unknown function .*allowed: abs")
    _raises("log(x)", "'log' is not allowed: it gives NaN")
    _raises("sqrt(x)", "'sqrt' is not allowed: it gives NaN")
    _raises("sign(x)", "'sign' is not allowed: it is discontinuous")
    _raises("(x + 1)(2)", "only named functions can be called")


def test_rejects_keyword_arguments():
    _raises("leaky_relu(x, negative_slope=0.2)", "keyword arguments are not supported")
    _raises("tanh(x=1)", "keyword arguments")


def test_rejects_wrong_number_of_arguments():
    _raises("tanh()", r"tanh takes 1 argument, got 0")
    _raises("tanh(x, x)", r"tanh takes 1 argument, got 2")
    _raises("leaky_relu(x)", r"leaky_relu takes 2 arguments, got 1: use leaky_relu\(x, slope\)")
    _raises("leaky_relu(x, x)", "slope.*must be a number literal")
    _raises("leaky_relu(x, pi)", "slope.*must be a number literal")
    _raises("tanh(*x)", "starred")


@pytest.mark.parametrize("text", ["y", "X", "sigma", "inf", "nan", "np"])
def test_rejects_unknown_names(text):
    _raises(text, f"unknown name '{text}'.*only the variable x")


@pytest.mark.parametrize("text", ["__builtins__", "__import__", "x + __name__", "__import__('os')"])
def test_rejects_dunder_names(text):
    _raises(text, "dunder names")


def test_rejects_bare_function_name():
    _raises("tanh", r"'tanh' is a function: call it")


def test_rejects_lambda():
    _raises("lambda: x", "lambda expressions")
    _raises("(lambda y: y)(x)", "lambda expressions")


@pytest.mark.parametrize("text", ["[x for x in y]", "{x for x in y}", "(x for x in y)", "{x: x for x in y}"])
def test_rejects_comprehensions(text):
    _raises(text, "comprehensions")


@pytest.mark.parametrize(("text", "column"), [
    ("import os", 1), ("from os import system", 1), ("x = 1", 3), ("def f(): pass", 1), ("x +", None),
    ("x; y", 2), ("x += 1", 3), ("relu(x", None),
])
def test_rejects_statements_and_syntax_errors_with_position(text, column):
    with pytest.raises(ActivationError, match="cannot parse") as err:
        parse_expression(text)
    if column is not None:
        assert f"at column {column}" in str(err.value)


@pytest.mark.parametrize(("text", "fragment"), [
    ("x > 0", "comparisons"), ("x == x", "comparisons"), ("x and 1", "boolean operators"),
    ("x or 1", "boolean operators"), ("x if x > 0 else 0", "conditional expressions"), ("not x", "'not'"),
])
def test_rejects_comparisons_boolean_ops_conditionals(text, fragment):
    _raises(text, fragment)


@pytest.mark.parametrize(("text", "fragment"), [
    ("x // 2", "'//'"), ("x % 2", "'%'"), ("x @ x", "'@'"), ("~x", "'~'"), ("x | 1", r"'\|'"),
    ("x ^ 2", r"'\^'.*\*\* for powers"), ("x << 1", "'<<'"),
])
def test_rejects_other_operators(text, fragment):
    _raises(text, fragment)


@pytest.mark.parametrize(("text", "fragment"), [
    ("'a'", "strings"), ("b'a'", "strings"), ("f'{x}'", "strings"), ("None", "None is not allowed"),
    ("True*x", "True is not allowed"), ("x + False", "False is not allowed"), ("x + 1j", "complex"),
    ("x + ...", "Ellipsis"), ("[x]", "lists"), ("(x, x)", "tuples"), ("{x}", "sets"), ("{x: 1}", "dicts"),
    ("(y := x)", "assignment expressions"),
])
def test_rejects_non_numeric_literals_and_containers(text, fragment):
    _raises(text, fragment)


@pytest.mark.parametrize(("text", "fragment"), [
    ("x**9", "exponent 9 is too large"), ("x**-9", "exponent -9 is too large"),
    ("x**1e6", "exponent 1e\\+06 is too large"), ("x**x", "exponent of \\*\\* must be a number literal"),
    ("2**x", "must be a number literal"), ("x**8**8", "must be a number literal"),
    ("x**(1/2)", "must be a number literal"),
])
def test_rejects_huge_or_non_literal_exponents(text, fragment):
    _raises(text, fragment)


@pytest.mark.parametrize(("text", "fragment"), [
    ("1e400*x", "too large"), ("1000001*x", "too large"), ("x + 1e7", "too large"),
    ("x*(1/0)", "constant subexpression is not finite"), ("x*(1e6**8)**8", "constant subexpression"),
    ("x*(((((((((1000000**8)**8)**8)**8)**8)**8)**8)**8))", "constant subexpression"),
    ("x + (-8)**0.5", "constant subexpression"),
])
def test_rejects_out_of_range_numbers(text, fragment):
    _raises(text, fragment)
    assert parse_expression("1e6*x").fn(1.0) == 1e6


@pytest.mark.parametrize(("text", "where"), [
    ("1/x", "0"), ("x**0.5", "-10"), ("x**-2", "0"), ("sin(x)/x", "0"), ("((x**8)**8)**8", "-10"),
    ("exp(exp(x))", "[0-9]"),
])
def test_rejects_non_finite_activation(text, where):
    _raises(text, f"not finite at x = {where}")


def test_rejects_over_long_input():
    _raises("x" + "+x" * 100, r"too long \(201 characters; at most 200\)")
    assert parse_expression("  " + "x" + "+x" * 99 + "  ").fn(1.0) == 100.0  # 199 characters + spaces: fine


def test_rejects_deep_nesting():
    _raises("tanh(" * 31 + "x" + ")" * 31, "nested too deeply")
    _raises("-" * 40 + "x", "nested too deeply")
    assert parse_expression("tanh(" * 29 + "x" + ")" * 29).smooth
    assert parse_expression("x" + " + x" * 40).fn(1.0) == 41.0  # a flat chain is not nesting


def test_rejects_too_many_nodes(monkeypatch):
    # Within 200 characters an expression has at most ~200 nodes, so the node limit is defence in depth:
    # lift the length limit to reach it.
    monkeypatch.setattr(expression, "MAX_LENGTH", 10_000)
    _raises("x" + "+x" * 100, "too large")
    assert parse_expression("x" + "+x" * 99).fn(1.0) == 100.0


@pytest.mark.parametrize("text", ["1", "pi*e", "tanh(1) + 2", "exp(0)", "1*0 + 2 - 3/4"])
def test_rejects_constant_expression(text):
    _raises(text, "does not depend on x")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_rejects_empty(text):
    _raises(text, "empty")


@pytest.mark.parametrize("value", [None, 3, b"x", ["x"]])
def test_rejects_non_string(value):
    _raises(value, "must be a string")


# --------------------------------------------------------------------------------------------------------
# Safety: nothing executes


PAYLOADS = [
    "__import__('os').system('touch {f}')",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]('touch {f}', shell=1)",
    "open('{f}', 'w')",
    "exec(\"open('{f}', 'w')\")",
    "eval(\"open('{f}', 'w')\")",
    "(lambda: __import__('os').system('touch {f}'))()",
    "x.__class__.__init__.__globals__",
    "globals()['__builtins__']",
    "breakpoint()",
    "tanh(x) + __import__('pathlib').Path('{f}').touch()",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_raise_and_execute_nothing(payload, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    text = payload.format(f=marker)

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    real_compile = builtins.compile

    def ast_only_compile(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & ast.PyCF_ONLY_AST, "compile() called for code, not for an AST"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", ast_only_compile)
    with pytest.raises(ActivationError):
        parse_expression(text)
    assert not marker.exists()


def test_module_source_never_calls_eval_exec_compile():
    tree = ast.parse(Path(expression.__file__).read_text())
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    called = {f.id if isinstance(f, ast.Name) else getattr(f, "attr", None) for f in calls}
    assert "parse" in called and "_walk" in called  # the scan sees calls
    assert not called & {"eval", "exec", "compile", "__import__", "literal_eval", "import_module"}


# --------------------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="x()+-*/.,0123456789e eilnoprstuw_[]'", max_size=30))
def test_random_strings_only_raise_activation_error(text):
    try:
        p = parse_expression(text)
    except ActivationError:
        return
    with jax.enable_x64(True):
        assert np.isfinite(np.asarray(p.fn(X))).all()
    assert p.latex.count("{") == p.latex.count("}")
    assert parse_expression(p.text) == p


_LEAVES = st.sampled_from([("x", lambda x: x), ("0.5", lambda x: 0.5), ("3", lambda x: 3.0),
                           ("pi", lambda x: math.pi)])
_UNARY = {"tanh": np.tanh, "sin": np.sin, "arctan": np.arctan, "abs": np.abs, "erf": ss.erf,
          "sigmoid": _expit,
          "relu": lambda v: np.maximum(v, 0)}


def _extend(children):
    def unary(c):
        return st.sampled_from(sorted(_UNARY)).map(lambda f: (f"{f}({c[0]})", lambda x: _UNARY[f](c[1](x))))

    def binary(pair):
        (a, fa), (b, fb) = pair
        ops = {"+": np.add, "-": np.subtract, "*": np.multiply}
        return st.sampled_from(sorted(ops)).map(
            lambda o: (f"({a}) {o} ({b})", lambda x: ops[o](fa(x), fb(x))))

    return (children.flatmap(unary) | st.tuples(children, children).flatmap(binary)
            | children.map(lambda c: (f"-({c[0]})**2", lambda x: -(c[1](x) ** 2))))


@settings(max_examples=150, deadline=None)
@given(st.recursive(_LEAVES, _extend, max_leaves=6))
def test_random_valid_expressions_match_numpy(expr):
    text, ref = expr
    try:
        p = parse_expression(text)
    except ActivationError as err:
        if "is constant" in str(err):  # x cancels, e.g. relu(-(x)**2): the reference is constant too
            values = np.broadcast_to(ref(np.linspace(-10, 10, 2001)), (2001,))
            assert np.all(values == values[0])
        else:
            assert "does not depend on x" in str(err) and "x" not in text
        return
    with jax.enable_x64(True):
        np.testing.assert_allclose(p.fn(X), np.broadcast_to(ref(X), X.shape), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(parse_expression(p.text).fn(X), p.fn(X), rtol=0, atol=0)
