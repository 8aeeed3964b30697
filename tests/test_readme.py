"""Every ```python block of README.md runs as written: in order, in one namespace, in a
temporary working folder (files the examples write land there).

Each block is compiled with README.md's own line numbers, so a failing example's traceback
points at the README line that broke.
"""

from __future__ import annotations

import io
import re
import tokenize
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number in the file, code) of every ```python block, in order."""
    blocks = []
    for match in FENCE.finditer(text):
        first_line = text.count("\n", 0, match.start(1)) + 1
        blocks.append((first_line, match.group(1)))
    return blocks


def ellipsis_lines(code: str) -> list[int]:
    """Lines (1-based, within the block) holding a `...` token outside comments and strings."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return [tok.start[0] for tok in tokens if tok.type == tokenize.OP and tok.string == "..."]


def test_blocks_are_found_with_their_line_numbers():
    text = "intro\n```python\na = 1\n```\n\n```bash\nls\n```\n```python\nb = a + 1\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (10, "b = a + 1\n")]


def test_placeholders_are_found_outside_comments_and_strings():
    assert ellipsis_lines("x = 1\nf(x, ...)\n") == [2]
    assert ellipsis_lines("y = 2  # {'a': ...}\ns = '...'\n") == []


def test_readme_has_python_examples():
    assert len(python_blocks(README.read_text(encoding="utf-8"))) >= 5


def test_readme_examples_have_no_placeholders():
    for first_line, code in python_blocks(README.read_text(encoding="utf-8")):
        lines = [first_line + n - 1 for n in ellipsis_lines(code)]
        assert not lines, f"README.md line(s) {lines}: a `...` placeholder in executed code"


def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    """A user pasting the blocks one after another sees no error and no warning."""
    matplotlib.use("Agg")  # figures the examples make are never shown
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    try:
        for first_line, code in blocks:
            padded = "\n" * (first_line - 1) + code  # tracebacks show README.md's line numbers
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", UserWarning)
                    warnings.simplefilter("error", RuntimeWarning)
                    exec(compile(padded, str(README), "exec"), namespace)
            except Exception as error:  # name the block; pytest shows the traceback too
                pytest.fail(f"the README example starting at line {first_line} failed: {error!r}")
    finally:
        plt.close("all")
