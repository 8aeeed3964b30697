"""Size and nesting limits on JSON read from a file, shared by the reader and the writers.

Import refuses JSON that would cost far more memory than its size, before parsing it; Export
and the checkpoint writers check what they write against the same rules, so that every file
netgraph writes can be read back.

>>> json_items(b'{"a": [1, 2, {}]}')  # an upper bound: 2 objects, 1 list, 2 commas
5
>>> json_items_problem("[" + ",".join(["{}"] * 10) + "]", limit=5)
'too complex: up to 20 JSON items in 31 bytes; the limit is 5'
>>> nesting_depth({"a": [1, (2, [3])]})
4
"""

from __future__ import annotations

from typing import Any

MAX_JSON_ITEMS = 1_000_000
JSON_BYTES_PER_ITEM = 8


def json_items(text: bytes | bytearray | str, start: int = 0, end: int | None = None) -> int:
    """An upper bound on the containers and values JSON `text[start:end]` can build.

    Counts ``{``, ``[`` and ``,`` anywhere (inside strings too, hence an upper bound): every
    container opens with a bracket and every value or key after a container's first follows a
    comma. Counted in C, without copying or parsing.
    """
    chars = ("{", "[", ",") if isinstance(text, str) else (b"{", b"[", b",")
    end = len(text) if end is None else end
    return sum(text.count(c, start, end) for c in chars)


def json_items_limit(size: int) -> int:
    """The item budget of `size` bytes of JSON: MAX_JSON_ITEMS, or one item per
    JSON_BYTES_PER_ITEM bytes when that is more."""
    return max(MAX_JSON_ITEMS, size // JSON_BYTES_PER_ITEM)


def json_items_problem(
    text: bytes | bytearray | str,
    start: int = 0,
    end: int | None = None,
    limit: int | None = None,
) -> str | None:
    """Why JSON `text[start:end]` is too complex to parse (more `json_items` than `limit`,
    default `json_items_limit`), or None.

    JSON made of tiny items (``[{},{},...]``) builds Python objects ~30 times its size; the rule
    bounds them to a few times the text size plus a constant (~70 MB for MAX_JSON_ITEMS).
    """
    end = len(text) if end is None else end
    limit = json_items_limit(end - start) if limit is None else limit
    found = json_items(text, start, end)
    if found <= limit:
        return None
    return f"too complex: up to {found} JSON items in {end - start} bytes; the limit is {limit}"


def nesting_depth(value: Any, cap: int = 10_000) -> int:
    """How deep lists, tuples and dicts (keys and values) nest in `value`: 0 for a scalar or an
    empty list, 1 for ``[1]``. Level by level, without recursion; stops at `cap` (so a value
    that contains itself ends)."""
    depth, level = 0, [value]
    while depth < cap:
        inner: list = []
        for v in level:
            if isinstance(v, (list, tuple)):
                inner.extend(v)
            elif isinstance(v, dict):
                inner.extend(v)
                inner.extend(v.values())
        if not inner:
            break
        depth, level = depth + 1, inner
    return depth
