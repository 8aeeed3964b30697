"""Every docstring example runs, imported through the installed package.

`pytest --doctest-modules` would import `layers/` and `training/` as top-level packages (their
folders are mapped to netgraph.layers and netgraph.training), so the examples run from here.
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
    for pkg in ("netgraph.layers", "netgraph.training"):
        mod = importlib.import_module(pkg)
        names += [info.name for info in pkgutil.walk_packages(mod.__path__, pkg + ".")]
    return sorted(n for n in set(names) if not n.endswith("__main__"))  # runs the CLI on import


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files leave nothing behind
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_package_folder_is_listed():
    """pyproject lists every package folder (the package-dir mapping needs it)."""
    import pathlib
    import tomllib

    root = pathlib.Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    for pkg in listed:
        assert (root / mapping[pkg] / "__init__.py").exists()
    for folder in ("netgraph", "layers", "training"):
        subpackages = [p for p in (root / folder).iterdir() if (p / "__init__.py").exists()]
        assert not subpackages, f"{folder}/ must stay flat, found {subpackages}"
