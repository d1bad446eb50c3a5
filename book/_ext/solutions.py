"""Exercise solutions in the book: folded under each exercise, or left out for a running course.

An exercise's solution is a chapter code cell tagged ``solution`` (and ``hide-input``, so
that other renderers fold it too; scripts/assignments.py describes the markers inside
it). The chapter executes it, so the figures after it render. This extension, for each
such cell:

* strips the marker lines (``# EXERCISE:``, ``# BEGIN SOLUTION``, ``# END SOLUTION``,
  ``# HINT:``) from the code the page shows;
* with ``tms_solutions = "shown"`` (the default) folds the code under "Show solution";
* with ``tms_solutions = "hidden"`` removes the cell and says the solution is withheld.

In the hidden mode (the course's edition) no solution is left anywhere a student can
reach: the Colab and Binder buttons of a chapter open its student notebook
(``assignments/``), the chapter's downloadable source (``_sources/``, behind the
"Download" button) is replaced by that student notebook, every page carries an
announcement that says which edition it is, and the Sphinx tag ``course`` is set, so
that a page can say different things in the two editions (``{only} course``).

The mode comes from the environment variable TMS_SOLUTIONS when it is set, so that a
teacher builds the course's edition with ``make book SOLUTIONS=hidden`` (see README.md);
``-D tms_solutions=hidden`` on a plain Sphinx command line works too. A change of mode
rebuilds every page (the value is an "env" setting).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.errors import ConfigError

MODES = ("shown", "hidden")
MARKER = re.compile(r"^\s*# (EXERCISE:|BEGIN SOLUTION|END SOLUTION|HINT:)")
HIDDEN_NOTE = ("The solution is withheld in this edition of the book; the check below shows what a correct "
               "answer prints.")


def solution_cells(doctree):
    for node in list(doctree.findall(nodes.container)):
        if node.get("nb_element") == "cell_code" and "tag_solution" in node.get("classes", []):
            yield node


def without_markers(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not MARKER.match(line)).strip("\n")


def fold_or_remove(app, doctree) -> None:
    mode = app.config.tms_solutions
    for cell in solution_cells(doctree):
        if mode == "hidden":
            note = nodes.paragraph(text=HIDDEN_NOTE, classes=["tms-solution-withheld"])
            cell.replace_self(note)
            continue
        cell["hide_mode"] = "input"
        cell["prompt_show"], cell["prompt_hide"] = "Show solution", "Hide solution"
        cell["classes"].append("tms-solution")
        for block in list(cell.findall(nodes.literal_block)):
            text = without_markers(block.astext())
            shown = nodes.literal_block(text, text, **{k: v for k, v in block.attributes.items() if k != "ids"})
            block.replace_self(shown)


ANNOUNCEMENT = ("Course edition: the exercise solutions are withheld. The launch buttons open the student "
                "notebooks.")


def check_mode(app, config) -> None:
    if config.tms_solutions not in MODES:
        raise ConfigError(f"tms_solutions (or TMS_SOLUTIONS) must be one of {MODES}; got {config.tms_solutions!r}")
    if config.tms_solutions == "hidden":
        app.tags.add("course")
        options = dict(config.html_theme_options or {})
        options["announcement"] = ANNOUNCEMENT
        config.html_theme_options = options


def student_notebook(app, pagename: str):
    """The student notebook of a chapter page (book/NN_name -> assignments/NN_name.ipynb), or None."""
    if not pagename.startswith("book/"):
        return None
    path = Path(app.srcdir) / "assignments" / (pagename[len("book/"):] + ".ipynb")
    return path if path.exists() else None


def launch_students(app, pagename, templatename, context, doctree) -> None:
    """In the course edition a chapter's Colab and Binder buttons open its student notebook."""
    if app.config.tms_solutions != "hidden" or student_notebook(app, pagename) is None:
        return
    chapter, student = f"{pagename}.ipynb", f"assignments/{pagename[len('book/'):]}.ipynb"
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group.get("buttons", []):
                if "url" in button:
                    button["url"] = button["url"].replace(chapter, student)


def replace_sources(app, exception) -> None:
    """In the course edition each chapter's copied source (the download) is its student notebook."""
    if exception is not None or app.config.tms_solutions != "hidden" or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    for copied in sources.glob("book/*.ipynb*"):
        student = student_notebook(app, "book/" + copied.name.split(".ipynb")[0])
        if student is None:
            raise RuntimeError(f"{copied}: a chapter without a student notebook in assignments/ would give its "
                               "solutions away in the course edition (run make assignments)")
        shutil.copyfile(student, copied)


def setup(app):
    app.add_config_value("tms_solutions", os.environ.get("TMS_SOLUTIONS") or "shown", "env", [str])
    app.connect("config-inited", check_mode)
    app.connect("doctree-read", fold_or_remove)
    app.connect("html-page-context", launch_students, priority=900)  # after the theme adds its buttons
    app.connect("build-finished", replace_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
