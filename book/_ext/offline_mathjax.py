"""Serve MathJax from the built book itself, so that its equations render with no network.

Sphinx loads MathJax from a CDN by default; a reader of a downloaded or offline copy of
the book would see raw LaTeX. This extension copies MathJax 3's browser build (from the
PyPI package django-static-mathjax, which ships MathJax's files and nothing else that we
use) into the built book's _static/mathjax/, and _config.yml points mathjax_path there.
Only what the CommonHTML output needs is copied: the tex-mml-chtml bundle, the TeX
extensions it loads on demand, its web fonts, and the accessibility and menu components.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

PARTS = ["tex-mml-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "a11y", "ui", "sre", "adaptors"]


def mathjax_source() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("offline_mathjax needs the django-static-mathjax package (see requirements.txt)")
    source = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (source / "tex-mml-chtml.js").is_file():
        raise RuntimeError(f"no MathJax browser build at {source}")
    return source


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    mathjax_source()  # fail at the start of a build, not after it, when MathJax is missing
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
