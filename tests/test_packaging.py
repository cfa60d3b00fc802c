"""pyproject.toml, environment.yml and the Makefile describe the same installation."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())
README_EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)

# conda-forge name -> PyPI name where they differ (canonicalised).
CONDA_TO_PYPI: dict[str, str] = {}
# conda entries with no PyPI counterpart in pyproject.toml: the interpreter, pip and jaxlib (which conda-forge
# packages separately from jax; pip pulls it in as a dependency of jax).
CONDA_ONLY = {"python", "pip", "jaxlib"}


def pypi_requirements() -> dict[str, SpecifierSet]:
    """Every requirement of the project (runtime and all extras) except self-references like sigprop[test]."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    reqs: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project["name"]):
            continue
        assert reqs.get(name, req.specifier) == req.specifier, f"{name} has two different bounds in pyproject"
        reqs[name] = req.specifier
    return reqs


def conda_requirements() -> tuple[dict[str, SpecifierSet], list[str]]:
    """(conda dependencies as {canonical PyPI-style name: specifier}, the pip section)."""
    reqs: dict[str, SpecifierSet] = {}
    pip_section: list[str] = []
    for entry in ENVIRONMENT["dependencies"]:
        if isinstance(entry, dict):
            pip_section += entry["pip"]
            for line in entry["pip"]:  # PyPI-only packages (not on conda-forge) count with their bounds
                if not line.startswith("-"):
                    req = Requirement(line.split("#")[0].strip())
                    reqs[canonicalize_name(req.name)] = req.specifier
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", entry.strip())
        assert match, f"unparsable conda spec {entry!r}"
        name = canonicalize_name(match[1])
        reqs[CONDA_TO_PYPI.get(name, name)] = SpecifierSet(match[2].replace(" ", ""))
    return reqs, pip_section


def test_environment_uses_conda_forge_only():
    assert ENVIRONMENT["channels"] == ["conda-forge", "nodefaults"]


def test_dependency_names_agree():
    pypi = pypi_requirements()
    conda, _ = conda_requirements()
    conda_names = set(conda) - CONDA_ONLY
    assert sorted(set(pypi) - conda_names) == [], "in pyproject.toml but missing from environment.yml"
    assert sorted(conda_names - set(pypi)) == [], "in environment.yml but missing from pyproject.toml"


def test_lower_bounds_agree():
    pypi = pypi_requirements()
    conda, _ = conda_requirements()
    differ = {n: (str(spec), str(conda.get(n))) for n, spec in pypi.items() if conda.get(n) != spec}
    assert differ == {}, "version bounds differ (pyproject, environment.yml)"
    assert conda["jaxlib"] == pypi["jax"], "jaxlib must have the same bound as jax"


def test_python_version_agrees():
    conda, _ = conda_requirements()
    assert conda["python"] == SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_environment_installs_the_package_with_pip():
    _, pip_section = conda_requirements()
    assert any(re.fullmatch(r"(-e\s+)?\.(\[[\w,]+\])?", line.strip()) for line in pip_section), pip_section


def test_makefile_extras_exist():
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    used = set(re.findall(r"\.\[(\w+)\]", (ROOT / "Makefile").read_text()))
    assert used, "the Makefile installs no extra"
    assert used <= extras, f"Makefile installs unknown extras {used - extras}"


def test_every_package_directory_is_listed():
    """A subpackage missing from [tool.setuptools] packages is absent from a non-editable install."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for name, directory in setuptools["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / directory).parts
            if "__pycache__" not in parts:
                found.add(".".join((name, *parts)))
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"


@pytest.mark.parametrize("module, directory", [("sigprop", "sigprop"), ("sigprop_app", "app")])
def test_packages_import_from_the_checkout(module, directory):
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is not importable: run `pip install -e .` (or `make test`)"
    locations = [Path(p).resolve() for p in spec.submodule_search_locations or []]
    assert (ROOT / directory).resolve() in locations


def test_readme_has_examples():
    assert len(README_EXAMPLES) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(README_EXAMPLES)))
def test_readme_example_runs(index, tmp_path):
    """Each ```python block of the README runs as a script in a fresh interpreter."""
    script = tmp_path / f"readme_{index}.py"
    script.write_text(README_EXAMPLES[index])
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
