"""The book's chapters: self-contained for Colab and Binder, one repository URL everywhere."""

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [ROOT / f"{entry['file']}.ipynb" for entry in TOC["chapters"]]
URL = CONFIG["repository"]["url"]


def test_every_toc_chapter_exists_and_has_launch_buttons_configured():
    assert CHAPTERS and all(path.exists() for path in CHAPTERS)
    assert URL.startswith("https://github.com/")
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_chapter_starts_with_a_guarded_install_of_the_configured_repository(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    first = code[0].source
    assert 'if "google.colab" in sys.modules:' in first
    assert f'%pip install --quiet "git+{URL}"' in first
    everything = "\n".join(cell.source for cell in code)
    assert "sys.path" not in everything  # nothing depends on the local checkout's layout
    assert "import tms_tutorial" in everything or "from tms_tutorial" in everything


def test_readme_installs_from_the_configured_repository():
    assert f'pip install "git+{URL}"' in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_chapters_use_public_names_and_hide_their_plotting_code(path):
    """A chapter imports the library's public names, defines no library code, and reads as prose and figures."""
    import re

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = cell.source
        assert not re.search(r"tms_tutorial\.(fast|_\w+)|import _\w+|\.\b_[a-z]\w*\(", source), source[:200]
        assert not re.search(r"^class ", source, re.MULTILINE), "a chapter defines no classes"
        draws = re.search(r"\b(plt|ax|fig|plotting)\.|explorer\(", source)
        if draws:
            assert "hide-input" in cell.metadata.get("tags", []), f"plotting cell shown to readers: {source[:120]!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_chapters_are_stored_executed_top_to_bottom(path):
    """The book renders the stored outputs (it executes nothing), so every chapter must carry them:
    each code cell run once, in order, in one fresh kernel, and no error among its outputs."""
    notebook = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} is not stored executed in order ({counts}); run scripts/execute_chapters.py {path.name}")
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{path.name} stores an error: {output.get('ename')}"
    assert any(output.get("data", {}).get("image/png") for cell in notebook.cells for output in cell.get("outputs", []))


def test_readme_and_landing_page_open_each_student_notebook_in_colab():
    repo = URL.removeprefix("https://github.com/")
    for page in (ROOT / "README.md", ROOT / "book" / "intro.md"):
        text = page.read_text()
        assert "## Teaching with this book" in text
        for path in CHAPTERS:
            link = f"https://colab.research.google.com/github/{repo}/blob/main/assignments/{path.name}"
            assert link in text, f"{page.name} has no Colab link to assignments/{path.name}"
            assert (ROOT / "assignments" / path.name).exists()


def test_the_solutions_extension_strips_markers_and_refuses_an_unknown_mode():
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("solutions", ROOT / "book" / "_ext" / "solutions.py")
    solutions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solutions)
    cell = "# EXERCISE: f\ndef f(x):\n    # BEGIN SOLUTION\n    # HINT: double it\n    return 2 * x\n    # END SOLUTION"
    assert solutions.without_markers(cell) == "def f(x):\n    return 2 * x"
    app, config = SimpleNamespace(tags=set()), SimpleNamespace(tms_solutions="hidden", html_theme_options={})
    solutions.check_mode(app, config)  # the course edition: tagged, and every page says which edition it is
    assert app.tags == {"course"} and "Course edition" in config.html_theme_options["announcement"]
    shown = SimpleNamespace(tags=set())
    solutions.check_mode(shown, SimpleNamespace(tms_solutions="shown", html_theme_options={}))
    assert shown.tags == set()
    with pytest.raises(Exception, match="tms_solutions .* must be one of"):
        solutions.check_mode(app, SimpleNamespace(tms_solutions="hide"))
