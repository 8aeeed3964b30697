"""Shared test setup: the tests folder is importable, so `from layer_check import ...` works."""

import pathlib
import sys

_TESTS = str(pathlib.Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


import tempfile  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_in_pytest_tmp(tmp_path_factory):
    """Emergency checkpoints NetTrain writes to the temp folder land in pytest's own temporary
    folder (pruned by pytest), not in the system's, where they would pile up run after run."""
    previous = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tempdir"))
    yield
    tempfile.tempdir = previous
