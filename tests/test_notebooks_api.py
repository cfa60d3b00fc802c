"""The teaching notebooks (jupytext py:percent files in notebooks/) use only sigprop's public API.

Each notebook may import ``sigprop`` itself (not its modules), ``sigprop_app`` and third-party packages.
Every ``sp.<name>`` it uses must be in ``sigprop.__all__``, and it must touch no private attribute
(``obj._name``). The notebooks are executed by ``make test`` (nbmake); this test only reads them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sigprop

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))
HEADER = "# ---\n# jupyter:\n#   jupytext:"


def api_problems(source: str) -> list[str]:
    """Uses of non-public sigprop API in ``source``: module imports, unknown ``sp.<name>``, private attributes."""
    tree = ast.parse(source)
    aliases: set[str] = set()  # local names bound to the sigprop package
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("sigprop."):
                    problems.append(f"line {node.lineno}: import {a.name} (a sigprop module; use `import sigprop`)")
                elif a.name == "sigprop":
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sigprop":
            if node.module != "sigprop":
                problems.append(f"line {node.lineno}: from {node.module} import ... (a sigprop module)")
            else:
                for a in node.names:
                    if a.name not in sigprop.__all__:
                        problems.append(f"line {node.lineno}: from sigprop import {a.name} (not public)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_") and not (node.attr.startswith("__") and node.attr.endswith("__")):
                problems.append(f"line {node.lineno}: private attribute .{node.attr}")
            elif (isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr not in sigprop.__all__ and not node.attr.startswith("__")):
                problems.append(f"line {node.lineno}: {node.value.id}.{node.attr} is not in sigprop.__all__")
    return problems


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_public_api_only(path):
    source = path.read_text(encoding="utf-8")
    assert source.startswith(HEADER), f"{path.name} lacks the jupytext header (make builds it with jupytext)"
    assert "format_name: percent" in source.split("# ---", 2)[1]
    assert "import sigprop as sp" in source
    assert api_problems(source) == []
    assert "assert " in source, f"{path.name} checks none of its statements"


@pytest.mark.parametrize("snippet, expected", [
    ("import sigprop.methods", "a sigprop module"),
    ("from sigprop.network import mlp", "a sigprop module"),
    ("from sigprop import methods", "not public"),
    ("import sigprop as sp\nsp.methods.dks", "not in sigprop.__all__"),
    ("import sigprop as s\ns._REGISTRY", "private attribute"),
    ("net = 1\nnet._run(1)", "private attribute"),
])
def test_checker_flags_private_use(snippet, expected):
    problems = api_problems(snippet)
    assert len(problems) == 1 and expected in problems[0], problems


def test_checker_accepts_public_use():
    assert api_problems("import sigprop as sp\nimport numpy as np\nsp.mlp('tanh', depth=3).c_map(np.zeros(2))\n"
                        "x.__class__\nfrom sigprop import activation") == []
