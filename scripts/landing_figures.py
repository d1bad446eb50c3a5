"""Copy one figure of each chapter to book/figures/ for the landing page's chapter map.

    python scripts/landing_figures.py

In each chapter the code cell tagged "landing" supplies the figure (its first PNG
output, as stored by scripts/execute_chapters.py). Re-run after re-executing a chapter.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out = ROOT / "book" / "figures"
    out.mkdir(exist_ok=True)
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cells = [cell for cell in notebook.cells if "landing" in cell.metadata.get("tags", [])]
        if len(cells) != 1:
            sys.exit(f"{path.name}: expected one code cell tagged 'landing', found {len(cells)}")
        images = [o["data"]["image/png"] for o in cells[0].get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            sys.exit(f"{path.name}: the 'landing' cell has no stored PNG output; execute the chapter first")
        target = out / f"{path.stem[:2]}.png"
        target.write_bytes(base64.b64decode(images[0]))
        print(f"{path.name} -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
