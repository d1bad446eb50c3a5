"""A pytest plugin for the nbval run: every stored figure must match the fresh execution's, within a tolerance.

nbval compares a chapter's printed outputs with a fresh execution but skips
images (and tests/nbval_sanitize.cfg blanks the PNG frames embedded in the
explorers' static HTML). Loaded with ``-p tests.nbval_figures`` (see the
Makefile), this plugin compares, for every executed cell, each stored PNG (image/png
outputs, and the data:image/png URIs inside text/html outputs) with the
one the fresh execution drew: same count, same size, and no 16x16-pixel block
whose mean colour moved by more than BLOCK_TOLERANCE. A figure drawn from the
same seeded numbers is pixel for pixel the same; a marker that moves by four
pixels or more, curves that shift, a changed colour or a new panel fail the
cell, while a marker snapped one pixel over (matplotlib snaps markers to whole
pixels, so numbers equal to 1e-5 can do that) passes.

Where a change is intended, re-execute the chapter (scripts/execute_chapters.py)
so that its stored figures are the new ones.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Iterator, List, Optional

import numpy as np
import pytest

BLOCK = 16
BLOCK_TOLERANCE = 0.08  # of the full colour range, per channel, averaged over a block
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def pngs_in(outputs) -> List[bytes]:
    """The PNGs of a cell's outputs, in order: image/png data and data URIs embedded in text/html."""
    found = []
    for output in outputs or []:
        data = output.get("data", {}) if hasattr(output, "get") else {}
        if "image/png" in data:
            found.append(base64.b64decode(_text(data["image/png"])))
        if "text/html" in data:
            found.extend(base64.b64decode(m) for m in DATA_URI.findall(_text(data["text/html"])))
    return found


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def compare_pngs(stored: bytes, fresh: bytes) -> Optional[str]:
    """None when the two images match within the tolerance, else what differs."""
    if stored == fresh:
        return None
    a, b = _pixels(stored), _pixels(fresh)
    if a.shape != b.shape:
        return f"the size changed from {a.shape[1]}x{a.shape[0]} to {b.shape[1]}x{b.shape[0]} pixels"
    height, width = (a.shape[0] // BLOCK) * BLOCK, (a.shape[1] // BLOCK) * BLOCK
    if height == 0 or width == 0:
        worst = float(np.abs(a - b).mean(axis=(0, 1)).max())
        return None if worst <= BLOCK_TOLERANCE else f"it changed by {worst:.2f} of the colour range"
    blocks = np.abs((a - b)[:height, :width]).reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK, 3)
    change = blocks.mean(axis=(1, 3)).max(axis=2)  # (rows, columns) of blocks
    moved = change > BLOCK_TOLERANCE
    if not moved.any():
        return None
    rows, cols = np.nonzero(moved)
    return (
        f"{int(moved.sum())} of {moved.size} {BLOCK}x{BLOCK}-pixel blocks changed by more than "
        f"{BLOCK_TOLERANCE:.2f} (at most {change.max():.2f}), around pixel "
        f"(x={int(cols.mean()) * BLOCK}, y={int(rows.mean()) * BLOCK})"
    )


def compare_cell(stored_outputs, fresh_outputs) -> Iterator[str]:
    """What differs between a cell's stored figures and its fresh ones, one line per difference."""
    stored, fresh = pngs_in(stored_outputs), pngs_in(fresh_outputs)
    if len(stored) != len(fresh):
        yield f"the cell stored {len(stored)} figures and drew {len(fresh)}"
        return
    for index, (old, new) in enumerate(zip(stored, fresh)):
        problem = compare_pngs(old, new)
        if problem:
            yield f"figure {index + 1} of {len(stored)}: {problem}"


class FigureChanged(AssertionError):
    pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    fresh = getattr(item, "test_outputs", None)
    cell = getattr(item, "cell", None)
    if fresh is None or cell is None or getattr(item, "options", {}).get("check") is False:
        return result
    problems = list(compare_cell(cell.get("outputs", []), fresh))
    if problems:
        raise FigureChanged(
            "a figure differs from the one stored in the notebook:\n  " + "\n  ".join(problems)
            + "\nIf the change is intended, re-execute the chapter: "
            "python scripts/execute_chapters.py " + str(item.fspath)
        )
    return result
