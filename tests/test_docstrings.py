"""Every docstring example runs, imported through the installed package.

The examples run from here (rather than `pytest --doctest-modules`) so that each one runs in a
temporary working folder and imports the package exactly as a user does.
"""

import doctest
import importlib
import pkgutil

import pytest

import netgraph


def _modules():
    names = ["netgraph"]
    for info in pkgutil.walk_packages(netgraph.__path__, "netgraph."):
        names.append(info.name)
    return sorted(n for n in set(names) if not n.endswith("__main__"))  # runs the CLI on import


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files leave nothing behind
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_subpackages_are_found():
    """The layers and training subpackages are part of the package (no mapped folders)."""
    names = set(_modules())
    assert "netgraph.layers.normalization" in names
    assert "netgraph.training.loop" in names
